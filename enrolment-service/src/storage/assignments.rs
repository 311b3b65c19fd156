//! Assignment rows.

use lms_platform::ids::TenantId;
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::resource::Audit;

use super::schema::{assignments, enrolments};
use crate::domain::assignment::{
    Assignment, AssignmentFilter, DuePolicy, LeavePolicy, Requirement, Target,
};
use crate::domain::enrolment::Status;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments)]
struct AssignmentRow {
    id: String,
    tenant_id: String,
    pathway_id: String,
    audience_id: String,
    class_id: String,
    requirement: String,
    due_kind: String,
    due_fixed_at: Option<NaiveDateTime>,
    due_days: i32,
    leave_policy: String,
    pathway_version: i32,
    removed_at: Option<NaiveDateTime>,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

fn corrupt(what: &str, value: &str) -> AppError {
    AppError::internal(anyhow::anyhow!("stored assignment {what} {value:?}"))
}

impl AssignmentRow {
    fn into_assignment(self) -> Result<Assignment, AppError> {
        let target = if !self.audience_id.is_empty() {
            Target::Audience(self.audience_id)
        } else {
            Target::Class(self.class_id)
        };
        Ok(Assignment {
            requirement: Requirement::parse(&self.requirement)
                .ok_or_else(|| corrupt("requirement", &self.requirement))?,
            due_policy: DuePolicy::from_parts(&self.due_kind, self.due_fixed_at, self.due_days)
                .ok_or_else(|| corrupt("due policy", &self.due_kind))?,
            leave_policy: LeavePolicy::parse(&self.leave_policy)
                .ok_or_else(|| corrupt("leave policy", &self.leave_policy))?,
            id: self.id,
            pathway_id: self.pathway_id.into(),
            target,
            pathway_version: self.pathway_version,
            revision: self.revision,
            audit: Audit {
                created_at: self.created_at,
                created_by: self.created_by,
                updated_at: self.updated_at,
                updated_by: self.updated_by,
            },
        })
    }
}

fn target_columns(target: &Target) -> (String, String) {
    match target {
        Target::Audience(id) => (id.clone(), String::new()),
        Target::Class(id) => (String::new(), id.clone()),
    }
}

pub fn insert(conn: &mut DbConnection, tenant: &TenantId, a: &Assignment) -> Result<(), AppError> {
    let (audience_id, class_id) = target_columns(&a.target);
    let (due_kind, due_fixed_at, due_days) = a.due_policy.to_parts();
    diesel::insert_into(assignments::table)
        .values(AssignmentRow {
            id: a.id.clone(),
            tenant_id: tenant.to_string(),
            pathway_id: a.pathway_id.to_string(),
            audience_id,
            class_id,
            requirement: a.requirement.as_str().into(),
            due_kind: due_kind.into(),
            due_fixed_at,
            due_days,
            leave_policy: a.leave_policy.as_str().into(),
            pathway_version: a.pathway_version,
            removed_at: None,
            revision: a.revision,
            created_at: a.audit.created_at,
            created_by: a.audit.created_by.clone(),
            updated_at: a.audit.updated_at,
            updated_by: a.audit.updated_by.clone(),
        })
        .execute(conn)
        .map_err(|error| {
            AppError::on_conflict(error, || {
                AppError::AlreadyExists(format!(
                    "pathway {} is already assigned to this {}",
                    a.pathway_id,
                    match a.target {
                        Target::Audience(_) => "audience",
                        Target::Class(_) => "class",
                    }
                ))
            })
        })?;
    Ok(())
}

/// A live (not removed) assignment.
pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Assignment, AppError> {
    assignments::table
        .filter(assignments::tenant_id.eq(tenant))
        .filter(assignments::id.eq(id))
        .filter(assignments::removed_at.is_null())
        .select(AssignmentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("assignment {id}")))?
        .into_assignment()
}

/// Live assignments, newest first, before the id `before`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &AssignmentFilter,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<Assignment>, AppError> {
    let mut query = assignments::table
        .filter(assignments::tenant_id.eq(tenant))
        .filter(assignments::removed_at.is_null())
        .into_boxed();
    if let Some(pathway) = &filter.pathway_id {
        query = query.filter(assignments::pathway_id.eq(pathway.clone()));
    }
    if let Some(audience) = &filter.audience_id {
        query = query.filter(assignments::audience_id.eq(audience.clone()));
    }
    if let Some(class) = &filter.class_id {
        query = query.filter(assignments::class_id.eq(class.clone()));
    }
    if let Some(before) = before {
        query = query.filter(assignments::id.lt(before));
    }
    query
        .order(assignments::id.desc())
        .limit(limit)
        .select(AssignmentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AssignmentRow::into_assignment)
        .collect()
}

/// Writes the policies and revision of `a` if its revision is still `expected`.
pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    a: &Assignment,
    expected_revision: i64,
) -> Result<(), AppError> {
    let (due_kind, due_fixed_at, due_days) = a.due_policy.to_parts();
    let changed = diesel::update(
        assignments::table
            .filter(assignments::tenant_id.eq(tenant))
            .filter(assignments::id.eq(&a.id))
            .filter(assignments::removed_at.is_null())
            .filter(assignments::revision.eq(expected_revision)),
    )
    .set((
        assignments::due_kind.eq(due_kind),
        assignments::due_fixed_at.eq(due_fixed_at),
        assignments::due_days.eq(due_days),
        assignments::leave_policy.eq(a.leave_policy.as_str()),
        assignments::revision.eq(a.revision),
        assignments::updated_at.eq(a.audit.updated_at),
        assignments::updated_by.eq(&a.audit.updated_by),
    ))
    .execute(conn)?;
    AppError::unless_updated(changed, "assignment")
}

/// Marks an assignment removed (its enrolments may still point at it).
pub fn remove(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
    at: NaiveDateTime,
    actor: &str,
) -> Result<(), AppError> {
    diesel::update(
        assignments::table
            .filter(assignments::tenant_id.eq(tenant))
            .filter(assignments::id.eq(id)),
    )
    .set((
        assignments::removed_at.eq(Some(at)),
        assignments::updated_at.eq(at),
        assignments::updated_by.eq(actor),
    ))
    .execute(conn)?;
    Ok(())
}

/// The published version new enrolments of this pathway get, as last seen in pathway-service.
pub fn set_pathway_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &str,
    version: i32,
) -> Result<(), AppError> {
    diesel::update(
        assignments::table
            .filter(assignments::tenant_id.eq(tenant))
            .filter(assignments::pathway_id.eq(pathway_id))
            .filter(assignments::removed_at.is_null())
            .filter(assignments::pathway_version.lt(version)),
    )
    .set(assignments::pathway_version.eq(version))
    .execute(conn)?;
    Ok(())
}

/// How many live assignments target an audience (`audience_id`) or a class.
pub fn count_for_target(
    conn: &mut DbConnection,
    tenant: &TenantId,
    target: &Target,
) -> Result<i64, AppError> {
    let query = assignments::table
        .filter(assignments::tenant_id.eq(tenant))
        .filter(assignments::removed_at.is_null())
        .into_boxed();
    let query = match target {
        Target::Audience(id) => query.filter(assignments::audience_id.eq(id.clone())),
        Target::Class(id) => query.filter(assignments::class_id.eq(id.clone())),
    };
    Ok(query.count().get_result(conn)?)
}

/// Active enrolments made by each of `ids`.
pub fn enrolled_counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, i64>, AppError> {
    let rows: Vec<(String, i64)> = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::assignment_id.eq_any(ids))
        .filter(enrolments::status.eq(Status::Active.as_str()))
        .group_by(enrolments::assignment_id)
        .select((enrolments::assignment_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Tenants with at least one live assignment (for the reconciliation sweep).
pub fn tenants_with_assignments(conn: &mut DbConnection) -> Result<Vec<TenantId>, AppError> {
    Ok(assignments::table
        .filter(assignments::removed_at.is_null())
        .select(assignments::tenant_id)
        .distinct()
        .load(conn)?)
}

/// The newest published version this service has seen for a pathway (from its live
/// assignments), if any.
pub fn latest_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &str,
) -> Result<Option<i32>, AppError> {
    Ok(assignments::table
        .filter(assignments::tenant_id.eq(tenant))
        .filter(assignments::pathway_id.eq(pathway_id))
        .filter(assignments::removed_at.is_null())
        .select(diesel::dsl::max(assignments::pathway_version))
        .first::<Option<i32>>(conn)?)
}
