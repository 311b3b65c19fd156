//! A person's data on request: everything the directory and enrolments hold about them, and
//! erasure — their identity replaced by a pseudonym here (and, through the gateway, in every
//! other service), their profile cleared, the erasure remembered without who they were.

use chrono::NaiveDateTime;
use lms_platform::audit::{self, Change};
use lms_platform::privacy::{self, Person, person_hash};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal};
use serde_json::{Map, Value, json};

use super::EnrolmentApp;
use crate::storage::people as people_rows;
use crate::storage::personal_data::{self as personal, TABLES};

/// What an erasure did.
pub struct Erasure {
    /// The email addresses the directory held for the person (now cleared).
    pub email_addresses: Vec<String>,
    pub pseudonym: String,
    pub erased_at: NaiveDateTime,
    /// Rows whose identity was replaced or cleared.
    pub rows: i64,
    /// The person had been erased before; this call replaced what still named them.
    pub erased_before: bool,
}

impl EnrolmentApp {
    /// Every row that names `person`, by table, and the email addresses the directory holds
    /// for them (NOT_FOUND for someone the directory does not know).
    pub async fn export_personal_data(
        &self,
        who: &Principal,
        person: String,
        requested: Vec<String>,
    ) -> AppResult<(Map<String, Value>, Vec<String>)> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let Some((id, _)) = people_rows::key_facts_by_external_id(conn, &tenant, &person)?
                else {
                    return Err(AppError::not_found(format!("person {person}")));
                };
                refuse_others_addresses(conn, &tenant, &person, &requested)?;
                let addresses = personal::email_addresses(conn, &tenant, &id)?;
                refuse_too_many(&requested, &addresses)?;
                let mut data = privacy::export(conn, &tenant, &Person::by_id(&person), &TABLES)?;
                let attributes: Map<String, Value> = personal::attributes(conn, &tenant, &id)?
                    .into_iter()
                    .map(|(key, value)| (key, Value::String(value)))
                    .collect();
                if !attributes.is_empty() {
                    data.insert("person_attributes".into(), Value::Object(attributes));
                }
                Ok((data, addresses))
            })
            .await
    }

    /// Erases `person`: a new pseudonym in every identity column, the profile and custom
    /// attributes cleared, the audit entries on their profile emptied, the erasure remembered
    /// by hash and recorded (with `reason`) in the audit trail — one transaction. A person
    /// erased before gets their old pseudonym back (with `erased_before`), so an interrupted
    /// erasure can be completed; one never known is NOT_FOUND.
    pub async fn erase_personal_data(
        &self,
        who: &Principal,
        person: String,
        reason: String,
        requested: Vec<String>,
    ) -> AppResult<Erasure> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                refuse_others_addresses(conn, &tenant, &person, &requested)?;
                let hash = person_hash(&tenant, &person);
                let found = people_rows::key_facts_by_external_id(conn, &tenant, &person)?;
                let Some((id, _)) = found else {
                    let Some((pseudonym, erased_at)) = personal::erasure(conn, &tenant, &hash)?
                    else {
                        return Err(AppError::not_found(format!("person {person}")));
                    };
                    let rows = privacy::erase(
                        conn,
                        &tenant,
                        &Person::by_id(&person),
                        &pseudonym,
                        &TABLES,
                    )?;
                    return Ok(Erasure {
                        email_addresses: Vec::new(),
                        pseudonym,
                        erased_at,
                        rows,
                        erased_before: true,
                    });
                };
                let pseudonym = privacy::new_pseudonym();
                let erased_at = now();
                personal::remember_erasure(
                    conn,
                    &tenant,
                    &hash,
                    &pseudonym,
                    erased_at,
                    &who.subject,
                )?;
                // Read before the profile is cleared: the other services erase by them too.
                let email_addresses = personal::email_addresses(conn, &tenant, &id)?;
                refuse_too_many(&requested, &email_addresses)?;
                let mut rows = personal::remove_attributes(conn, &tenant, &id)?;
                rows +=
                    privacy::erase(conn, &tenant, &Person::by_id(&person), &pseudonym, &TABLES)?;
                let profile = format!("people/{id}");
                rows += audit::clear_fields(conn, &tenant, &profile)?;
                let erased = json!({ "erased": true, "reason": reason });
                audit::record(conn, &who, Change::acted(profile, &erased)?)?;
                Ok(Erasure {
                    email_addresses,
                    pseudonym,
                    erased_at,
                    rows,
                    erased_before: false,
                })
            })
            .await
    }
}

/// A request's addresses must not be another person's in the directory: the statements found
/// by them would be that person's, handed out or renamed as this one's.
fn refuse_others_addresses(
    conn: &mut lms_platform::db::DbConnection,
    tenant: &lms_platform::ids::TenantId,
    person: &str,
    requested: &[String],
) -> AppResult<()> {
    let held = personal::held_by_others(conn, tenant, person, requested)?;
    let mut v = lms_platform::validate::Violations::new();
    for (i, address) in requested.iter().enumerate() {
        if held
            .iter()
            .any(|(email, _)| email.eq_ignore_ascii_case(address))
        {
            v.add(
                format!("email_addresses[{i}]"),
                "is another person's address in the directory",
            );
        }
    }
    v.finish()
}

/// With the directory's own address, the request's may be no more than every service takes
/// (refused before anything is erased, rather than by the services after the directory).
fn refuse_too_many(requested: &[String], own: &[String]) -> AppResult<()> {
    let all = privacy::all_addresses(requested, own).len();
    if all > privacy::MAX_ADDRESSES {
        return Err(AppError::invalid_field(
            "email_addresses",
            format!(
                "at most {} addresses with the directory's own, not {all}",
                privacy::MAX_ADDRESSES
            ),
        ));
    }
    Ok(())
}
