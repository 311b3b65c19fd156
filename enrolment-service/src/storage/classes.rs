//! Class rows and their members.

use lms_platform::ids::{PersonId, TenantId};
use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::resource::Audit;

use super::schema::{class_members, classes, people};
use crate::domain::class::{AcademicClass, ClassRole};
use crate::domain::person::PersonRef;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = classes)]
struct ClassRow {
    id: String,
    tenant_id: String,
    code: String,
    code_key: String,
    name: String,
    term: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

impl From<ClassRow> for AcademicClass {
    fn from(row: ClassRow) -> Self {
        AcademicClass {
            id: row.id,
            code: row.code,
            name: row.name,
            term: row.term,
            start_date: row.start_date,
            end_date: row.end_date,
            revision: row.revision,
            audit: Audit {
                created_at: row.created_at,
                created_by: row.created_by,
                updated_at: row.updated_at,
                updated_by: row.updated_by,
            },
        }
    }
}

fn code_key(code: &str) -> String {
    code.trim().to_lowercase()
}

fn code_taken(code: &str) -> AppError {
    AppError::AlreadyExists(format!("a class already has the code {code:?}"))
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    c: &AcademicClass,
) -> Result<(), AppError> {
    diesel::insert_into(classes::table)
        .values(ClassRow {
            id: c.id.clone(),
            tenant_id: tenant.to_string(),
            code: c.code.clone(),
            code_key: code_key(&c.code),
            name: c.name.clone(),
            term: c.term.clone(),
            start_date: c.start_date,
            end_date: c.end_date,
            revision: c.revision,
            created_at: c.audit.created_at,
            created_by: c.audit.created_by.clone(),
            updated_at: c.audit.updated_at,
            updated_by: c.audit.updated_by.clone(),
        })
        .execute(conn)
        .map_err(|e| AppError::on_conflict(e, || code_taken(&c.code)))?;
    Ok(())
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<AcademicClass, AppError> {
    Ok(classes::table
        .filter(classes::tenant_id.eq(tenant))
        .filter(classes::id.eq(id))
        .select(ClassRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("class {id}")))?
        .into())
}

/// Classes ordered by code, after the code key `after`, optionally of one term.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    term: Option<String>,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<AcademicClass>, AppError> {
    let mut query = classes::table
        .filter(classes::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(term) = term {
        query = query.filter(classes::term.eq(term));
    }
    if let Some(after) = after {
        query = query.filter(classes::code_key.gt(after));
    }
    Ok(query
        .order(classes::code_key.asc())
        .limit(limit)
        .select(ClassRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AcademicClass::from)
        .collect())
}

pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    c: &AcademicClass,
    expected_revision: i64,
) -> Result<(), AppError> {
    let changed = diesel::update(
        classes::table
            .filter(classes::tenant_id.eq(tenant))
            .filter(classes::id.eq(&c.id))
            .filter(classes::revision.eq(expected_revision)),
    )
    .set((
        classes::code.eq(&c.code),
        classes::code_key.eq(code_key(&c.code)),
        classes::name.eq(&c.name),
        classes::term.eq(&c.term),
        classes::start_date.eq(c.start_date),
        classes::end_date.eq(c.end_date),
        classes::revision.eq(c.revision),
        classes::updated_at.eq(c.audit.updated_at),
        classes::updated_by.eq(&c.audit.updated_by),
    ))
    .execute(conn)
    .map_err(|e| AppError::on_conflict(e, || code_taken(&c.code)))?;
    AppError::unless_updated(changed, "class")
}

pub fn delete(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<(), AppError> {
    diesel::delete(
        class_members::table
            .filter(class_members::tenant_id.eq(tenant))
            .filter(class_members::class_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(
        classes::table
            .filter(classes::tenant_id.eq(tenant))
            .filter(classes::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// (students, instructors) per class.
pub fn counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, (i64, i64)>, AppError> {
    let rows: Vec<(String, String, i64)> = class_members::table
        .filter(class_members::tenant_id.eq(tenant))
        .filter(class_members::class_id.eq_any(ids))
        .group_by((class_members::class_id, class_members::role))
        .select((
            class_members::class_id,
            class_members::role,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    let mut counts: HashMap<String, (i64, i64)> = HashMap::new();
    for (class, role, count) in rows {
        let entry = counts.entry(class).or_default();
        match ClassRole::parse(&role) {
            Some(ClassRole::Student) => entry.0 = count,
            Some(ClassRole::Instructor) => entry.1 = count,
            None => {}
        }
    }
    Ok(counts)
}

/// Puts `person_ids` in the class with `role`, replacing any role they had: two set-based
/// statements per chunk. Returns how many were not members before.
pub fn set_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    class_id: &str,
    person_ids: &[PersonId],
    role: ClassRole,
) -> Result<usize, AppError> {
    let at = lms_platform::resource::now();
    let mut added = 0;
    for chunk in person_ids.chunks(5_000) {
        let replaced = diesel::delete(
            class_members::table
                .filter(class_members::tenant_id.eq(tenant))
                .filter(class_members::class_id.eq(class_id))
                .filter(class_members::person_id.eq_any(chunk)),
        )
        .execute(conn)?;
        added += chunk.len() - replaced;
        let rows: Vec<_> = chunk
            .iter()
            .map(|person| {
                (
                    class_members::tenant_id.eq(tenant),
                    class_members::class_id.eq(class_id),
                    class_members::person_id.eq(person),
                    class_members::role.eq(role.as_str()),
                    class_members::added_at.eq(at),
                )
            })
            .collect();
        let insert = diesel::insert_into(class_members::table).values(rows);
        lms_platform::execute_on_backend!(conn, insert)?;
    }
    Ok(added)
}

pub fn remove_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    class_id: &str,
    person_ids: &[PersonId],
) -> Result<usize, AppError> {
    let mut removed = 0;
    for chunk in person_ids.chunks(5_000) {
        removed += diesel::delete(
            class_members::table
                .filter(class_members::tenant_id.eq(tenant))
                .filter(class_members::class_id.eq(class_id))
                .filter(class_members::person_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(removed)
}

/// Members with their role, by external id, after `after_external_id`.
pub fn list_members(
    conn: &mut DbConnection,
    tenant: &TenantId,
    class_id: &str,
    role: Option<ClassRole>,
    after_external_id: Option<String>,
    limit: i64,
) -> Result<Vec<(PersonRef, ClassRole)>, AppError> {
    let mut query = class_members::table
        .inner_join(people::table.on(people::id.eq(class_members::person_id)))
        .filter(class_members::tenant_id.eq(tenant))
        // Also on people: lets PostgreSQL walk people by (tenant_id, external_id) in page order
        // instead of joining and sorting every member for each page.
        .filter(people::tenant_id.eq(tenant))
        .filter(class_members::class_id.eq(class_id))
        .into_boxed();
    if let Some(role) = role {
        query = query.filter(class_members::role.eq(role.as_str()));
    }
    if let Some(after) = after_external_id {
        query = query.filter(people::external_id.gt(after));
    }
    let rows: Vec<(String, String, String, String)> = query
        .order(people::external_id.asc())
        .limit(limit)
        .select((
            people::id,
            people::external_id,
            people::display_name,
            class_members::role,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, external_id, name, role)| {
            ClassRole::parse(&role).map(|role| ((id.into(), external_id, name), role))
        })
        .collect())
}
