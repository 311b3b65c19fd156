//! Where enrolment-service keeps a person's identity — the directory entry itself, its custom
//! attributes, the reporting lines that name them, enrolments, and the administrators who made
//! and changed things — and the erasures it remembers (`lms.privacy.v1`, `docs/security.md`
//! "Personal data").

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::db::DbConnection;
use lms_platform::error::AppResult;
use lms_platform::ids::{PersonId, TenantId};
use lms_platform::privacy::PersonalTables;

use super::schema::{people, person_attributes};

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub const TABLES: PersonalTables = PersonalTables {
    service: "enrolment-service",
    identity: &[
        ("people", "external_id"),
        ("people", "manager_external_id"),
        ("people", "created_by"),
        ("people", "updated_by"),
        ("audiences", "created_by"),
        ("audiences", "updated_by"),
        ("classes", "created_by"),
        ("classes", "updated_by"),
        ("assignments", "created_by"),
        ("assignments", "updated_by"),
        ("enrolments", "learner"),
        ("enrolments", "created_by"),
        ("enrolments", "updated_by"),
        ("enrolment_due_changes", "actor"),
        ("role_bindings", "principal"),
        ("role_bindings", "created_by"),
    ],
    cleared: &[(
        "people",
        "external_id",
        // A person always has a display name (the API promises one).
        "display_name = 'Erased person', email = '', department = '', job_title = '', \
         location = '', manager_external_id = '', hire_date = NULL",
    )],
    other: None,
};

diesel::table! {
    person_erasures (tenant_id, person_hash) {
        tenant_id -> Text,
        person_hash -> Text,
        pseudonym -> Text,
        erased_at -> Timestamp,
        erased_by -> Text,
    }
}

/// A person's custom attributes (by key), for an export.
pub fn attributes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &PersonId,
) -> AppResult<Vec<(String, String)>> {
    Ok(person_attributes::table
        .filter(person_attributes::tenant_id.eq(tenant.as_str()))
        .filter(person_attributes::person_id.eq(person.as_str()))
        .select((person_attributes::key, person_attributes::value))
        .order(person_attributes::key.asc())
        .load(conn)?)
}

/// The email addresses the directory holds for a person (none, or their one address).
pub fn email_addresses(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &PersonId,
) -> AppResult<Vec<String>> {
    let email: String = people::table
        .filter(people::tenant_id.eq(tenant.as_str()))
        .filter(people::id.eq(person.as_str()))
        .select(people::email)
        .first(conn)?;
    Ok(Some(email).filter(|e| !e.is_empty()).into_iter().collect())
}

/// Of `addresses` (as given, or in lower case), those the directory holds for someone other
/// than `person` (an external id), with whose they are.
pub fn held_by_others(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &str,
    addresses: &[String],
) -> AppResult<Vec<(String, String)>> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    // Compared in lower case: the directory keeps an address as it was given.
    let lowered: Vec<String> = addresses.iter().map(|a| a.to_lowercase()).collect();
    Ok(people::table
        .filter(people::tenant_id.eq(tenant.as_str()))
        .filter(lower(people::email).eq_any(&lowered))
        .filter(people::external_id.ne(person))
        .select((people::email, people::external_id))
        .load(conn)?)
}

/// Removes a person's custom attributes (erasure); how many there were.
pub fn remove_attributes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &PersonId,
) -> AppResult<i64> {
    Ok(diesel::delete(
        person_attributes::table
            .filter(person_attributes::tenant_id.eq(tenant.as_str()))
            .filter(person_attributes::person_id.eq(person.as_str())),
    )
    .execute(conn)? as i64)
}

/// The erasure remembered under `person_hash`: its pseudonym and time.
pub fn erasure(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person_hash: &str,
) -> AppResult<Option<(String, NaiveDateTime)>> {
    Ok(person_erasures::table
        .filter(person_erasures::tenant_id.eq(tenant.as_str()))
        .filter(person_erasures::person_hash.eq(person_hash))
        .select((person_erasures::pseudonym, person_erasures::erased_at))
        .first(conn)
        .optional()?)
}

pub fn remember_erasure(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person_hash: &str,
    pseudonym: &str,
    at: NaiveDateTime,
    by: &str,
) -> AppResult<()> {
    diesel::insert_into(person_erasures::table)
        .values((
            person_erasures::tenant_id.eq(tenant.as_str()),
            person_erasures::person_hash.eq(person_hash),
            person_erasures::pseudonym.eq(pseudonym),
            person_erasures::erased_at.eq(at),
            person_erasures::erased_by.eq(by),
        ))
        .execute(conn)?;
    Ok(())
}
