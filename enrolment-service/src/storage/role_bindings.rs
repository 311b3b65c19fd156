//! Role binding rows, and the group memberships the decision point asks about.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::access::{Scope, ScopedRole};
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::{audience_members, class_members, people, role_bindings};
use crate::domain::class::ClassRole;
use crate::domain::role_binding::RoleBinding;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = role_bindings)]
struct BindingRow {
    id: String,
    tenant_id: String,
    principal: String,
    role: String,
    scope_kind: String,
    scope_id: String,
    created_at: NaiveDateTime,
    created_by: String,
}

impl TryFrom<BindingRow> for RoleBinding {
    type Error = AppError;

    fn try_from(row: BindingRow) -> Result<Self, AppError> {
        let corrupt =
            || AppError::internal(anyhow::anyhow!("role binding {} is unreadable", row.id));
        Ok(RoleBinding {
            role: ScopedRole::parse(&row.role).ok_or_else(corrupt)?,
            scope: Scope::from_parts(&row.scope_kind, &row.scope_id).ok_or_else(corrupt)?,
            id: row.id,
            principal: row.principal,
            created_at: row.created_at,
            created_by: row.created_by,
        })
    }
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    binding: &RoleBinding,
) -> Result<(), AppError> {
    let (kind, id) = binding.scope.parts();
    diesel::insert_into(role_bindings::table)
        .values(BindingRow {
            id: binding.id.clone(),
            tenant_id: tenant.to_string(),
            principal: binding.principal.clone(),
            role: binding.role.as_str().to_string(),
            scope_kind: kind.to_string(),
            scope_id: id.to_string(),
            created_at: binding.created_at,
            created_by: binding.created_by.clone(),
        })
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<RoleBinding, AppError> {
    role_bindings::table
        .filter(role_bindings::tenant_id.eq(tenant))
        .filter(role_bindings::id.eq(id))
        .select(BindingRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("role binding {id}")))?
        .try_into()
}

/// Whether the principal already holds this role on this scope.
pub fn exists(
    conn: &mut DbConnection,
    tenant: &TenantId,
    binding: &RoleBinding,
) -> Result<bool, AppError> {
    let (kind, id) = binding.scope.parts();
    let found: i64 = role_bindings::table
        .filter(role_bindings::tenant_id.eq(tenant))
        .filter(role_bindings::principal.eq(&binding.principal))
        .filter(role_bindings::role.eq(binding.role.as_str()))
        .filter(role_bindings::scope_kind.eq(kind))
        .filter(role_bindings::scope_id.eq(id))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

pub fn count_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    principal: &str,
) -> Result<i64, AppError> {
    Ok(role_bindings::table
        .filter(role_bindings::tenant_id.eq(tenant))
        .filter(role_bindings::principal.eq(principal))
        .count()
        .get_result(conn)?)
}

/// Bindings in creation order after the id `after`, optionally of one principal and role.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    principal: Option<&str>,
    role: Option<ScopedRole>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RoleBinding>, AppError> {
    let mut query = role_bindings::table
        .filter(role_bindings::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(principal) = principal {
        query = query.filter(role_bindings::principal.eq(principal.to_string()));
    }
    if let Some(role) = role {
        query = query.filter(role_bindings::role.eq(role.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(role_bindings::id.gt(after.to_string()));
    }
    query
        .order(role_bindings::id.asc())
        .limit(limit)
        .select(BindingRow::as_select())
        .load(conn)?
        .into_iter()
        .map(RoleBinding::try_from)
        .collect()
}

pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<(), AppError> {
    diesel::delete(
        role_bindings::table
            .filter(role_bindings::tenant_id.eq(tenant))
            .filter(role_bindings::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Whether anyone in the directory works in `department` (a binding's scope must exist).
pub fn department_exists(
    conn: &mut DbConnection,
    tenant: &TenantId,
    department: &str,
) -> Result<bool, AppError> {
    let found: i64 = people::table
        .filter(people::tenant_id.eq(tenant))
        .filter(people::department.eq(department))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// The ones of `groups` the person (by external id) is in: their department, the audiences
/// they are a member of, the classes they are a student of. Unknown people are in none.
pub fn groups_holding(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &str,
    groups: &[Scope],
) -> Result<Vec<Scope>, AppError> {
    let Some((person_id, department)) = people::table
        .filter(people::tenant_id.eq(tenant))
        .filter(people::external_id.eq(person))
        .select((people::id, people::department))
        .first::<(String, String)>(conn)
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let ids = |kind: fn(&Scope) -> Option<&String>| -> Vec<String> {
        groups.iter().filter_map(kind).cloned().collect()
    };
    let audiences = ids(|g| match g {
        Scope::Audience(id) => Some(id),
        _ => None,
    });
    let classes = ids(|g| match g {
        Scope::Class(id) => Some(id),
        _ => None,
    });
    let in_audiences: Vec<String> = if audiences.is_empty() {
        Vec::new()
    } else {
        audience_members::table
            .filter(audience_members::tenant_id.eq(tenant))
            .filter(audience_members::person_id.eq(&person_id))
            .filter(audience_members::audience_id.eq_any(&audiences))
            .select(audience_members::audience_id)
            .load(conn)?
    };
    let in_classes: Vec<String> = if classes.is_empty() {
        Vec::new()
    } else {
        class_members::table
            .filter(class_members::tenant_id.eq(tenant))
            .filter(class_members::person_id.eq(&person_id))
            .filter(class_members::role.eq(ClassRole::Student.as_str()))
            .filter(class_members::class_id.eq_any(&classes))
            .select(class_members::class_id)
            .load(conn)?
    };
    Ok(groups
        .iter()
        .filter(|group| match group {
            Scope::Department(name) => !department.is_empty() && *name == department,
            Scope::Audience(id) => in_audiences.contains(id),
            Scope::Class(id) => in_classes.contains(id),
            _ => false,
        })
        .cloned()
        .collect())
}
