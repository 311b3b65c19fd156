//! Audience rows, their members, and audience rules compiled to SQL.

use lms_platform::ids::{PersonId, TenantId};
use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::resource::Audit;

use super::schema::{audience_members, audiences, people};
use crate::domain::audience::{Audience, AudienceKind};
use crate::domain::person::PersonRef;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audiences)]
struct AudienceRow {
    id: String,
    tenant_id: String,
    name: String,
    name_key: String,
    description: String,
    kind: String,
    rule: String,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

impl AudienceRow {
    fn into_audience(self) -> Result<Audience, AppError> {
        Ok(Audience {
            kind: AudienceKind::parse(&self.kind).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("stored audience kind {:?}", self.kind))
            })?,
            id: self.id,
            name: self.name,
            description: self.description,
            rule: self.rule,
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

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn name_taken(name: &str) -> AppError {
    AppError::AlreadyExists(format!("an audience is already named {name:?}"))
}

pub fn insert(conn: &mut DbConnection, tenant: &TenantId, a: &Audience) -> Result<(), AppError> {
    diesel::insert_into(audiences::table)
        .values(AudienceRow {
            id: a.id.clone(),
            tenant_id: tenant.to_string(),
            name: a.name.clone(),
            name_key: name_key(&a.name),
            description: a.description.clone(),
            kind: a.kind.as_str().to_string(),
            rule: a.rule.clone(),
            revision: a.revision,
            created_at: a.audit.created_at,
            created_by: a.audit.created_by.clone(),
            updated_at: a.audit.updated_at,
            updated_by: a.audit.updated_by.clone(),
        })
        .execute(conn)
        .map_err(|e| AppError::on_conflict(e, || name_taken(&a.name)))?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Audience, AppError> {
    audiences::table
        .filter(audiences::tenant_id.eq(tenant))
        .filter(audiences::id.eq(id))
        .select(AudienceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("audience {id}")))?
        .into_audience()
}

/// Audiences ordered by name, after the name key `after`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Audience>, AppError> {
    let mut query = audiences::table
        .filter(audiences::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(audiences::name_key.gt(after));
    }
    query
        .order(audiences::name_key.asc())
        .limit(limit)
        .select(AudienceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AudienceRow::into_audience)
        .collect()
}

/// Tenants that have at least one dynamic audience (for the reconciliation sweep).
pub fn tenants_with_dynamic_audiences(conn: &mut DbConnection) -> Result<Vec<TenantId>, AppError> {
    Ok(audiences::table
        .filter(audiences::kind.eq(AudienceKind::Dynamic.as_str()))
        .select(audiences::tenant_id)
        .distinct()
        .load(conn)?)
}

/// Every dynamic audience of the tenant.
pub fn dynamic(conn: &mut DbConnection, tenant: &TenantId) -> Result<Vec<Audience>, AppError> {
    audiences::table
        .filter(audiences::tenant_id.eq(tenant))
        .filter(audiences::kind.eq(AudienceKind::Dynamic.as_str()))
        .select(AudienceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AudienceRow::into_audience)
        .collect()
}

pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    a: &Audience,
    expected_revision: i64,
) -> Result<(), AppError> {
    let changed = diesel::update(
        audiences::table
            .filter(audiences::tenant_id.eq(tenant))
            .filter(audiences::id.eq(&a.id))
            .filter(audiences::revision.eq(expected_revision)),
    )
    .set((
        audiences::name.eq(&a.name),
        audiences::name_key.eq(name_key(&a.name)),
        audiences::description.eq(&a.description),
        audiences::rule.eq(&a.rule),
        audiences::revision.eq(a.revision),
        audiences::updated_at.eq(a.audit.updated_at),
        audiences::updated_by.eq(&a.audit.updated_by),
    ))
    .execute(conn)
    .map_err(|e| AppError::on_conflict(e, || name_taken(&a.name)))?;
    AppError::unless_updated(changed, "audience")
}

pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<(), AppError> {
    diesel::delete(
        audience_members::table
            .filter(audience_members::tenant_id.eq(tenant))
            .filter(audience_members::audience_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(
        audiences::table
            .filter(audiences::tenant_id.eq(tenant))
            .filter(audiences::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Members per audience, for the given audiences.
pub fn member_counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, i64>, AppError> {
    let rows: Vec<(String, i64)> = audience_members::table
        .filter(audience_members::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq_any(ids))
        .group_by(audience_members::audience_id)
        .select((audience_members::audience_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

pub fn members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
) -> Result<HashSet<PersonId>, AppError> {
    Ok(audience_members::table
        .filter(audience_members::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq(audience_id))
        .select(audience_members::person_id)
        .load::<PersonId>(conn)?
        .into_iter()
        .collect())
}

/// Whether one person is a member of one audience.
pub fn is_member(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    person_id: &PersonId,
) -> Result<bool, AppError> {
    let found: i64 = audience_members::table
        .filter(audience_members::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq(audience_id))
        .filter(audience_members::person_id.eq(person_id))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Adds members in multi-row inserts (the caller passes only people not yet members).
pub fn add_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    person_ids: &[PersonId],
) -> Result<(), AppError> {
    let at = lms_platform::resource::now();
    for chunk in person_ids.chunks(5_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|person| {
                (
                    audience_members::tenant_id.eq(tenant),
                    audience_members::audience_id.eq(audience_id),
                    audience_members::person_id.eq(person),
                    audience_members::added_at.eq(at),
                )
            })
            .collect();
        let insert = diesel::insert_into(audience_members::table).values(rows);
        lms_platform::execute_on_backend!(conn, insert)?;
    }
    Ok(())
}

pub fn remove_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    person_ids: &[PersonId],
) -> Result<(), AppError> {
    for chunk in person_ids.chunks(5_000) {
        diesel::delete(
            audience_members::table
                .filter(audience_members::tenant_id.eq(tenant))
                .filter(audience_members::audience_id.eq(audience_id))
                .filter(audience_members::person_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Members with their names, ordered by external id, after `after_external_id`.
pub fn list_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    after_external_id: Option<String>,
    limit: i64,
) -> Result<Vec<PersonRef>, AppError> {
    let mut query = audience_members::table
        .inner_join(people::table.on(people::id.eq(audience_members::person_id)))
        .filter(audience_members::tenant_id.eq(tenant))
        // Also on people: lets PostgreSQL walk people by (tenant_id, external_id) in page order
        // instead of joining and sorting every member for each page.
        .filter(people::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq(audience_id))
        .into_boxed();
    if let Some(after) = after_external_id {
        query = query.filter(people::external_id.gt(after));
    }
    Ok(query
        .order(people::external_id.asc())
        .limit(limit)
        .select((people::id, people::external_id, people::display_name))
        .load(conn)?)
}

/// Names of the given people, by external id.
pub fn people_refs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[PersonId],
) -> Result<Vec<PersonRef>, AppError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(5_000) {
        found.extend(
            people::table
                .filter(people::tenant_id.eq(tenant))
                .filter(people::id.eq_any(chunk))
                .select((people::id, people::external_id, people::display_name))
                .load::<PersonRef>(conn)?,
        );
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// Which of `ids` are people of the tenant (ids of another tenant are not).
pub fn existing_people(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[PersonId],
) -> Result<HashSet<PersonId>, AppError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(5_000) {
        found.extend(
            people::table
                .filter(people::tenant_id.eq(tenant))
                .filter(people::id.eq_any(chunk))
                .select(people::id)
                .load::<PersonId>(conn)?,
        );
    }
    Ok(found)
}
