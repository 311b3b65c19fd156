//! Person rows and their custom attributes.

use lms_platform::ids::{PersonId, TenantId};
use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;
use lms_platform::AppError;
use lms_platform::db::{DbConnection, like_pattern, lower};
use lms_platform::resource::Audit;

use super::schema::{people, person_attributes};
use crate::domain::person::{Existing, PeopleFilter, Person, PersonStatus, Profile};

/// Rows per multi-row statement: 16 columns × 2000 rows stays under the bundled SQLite's
/// 32 766 bind parameters (PostgreSQL allows 65 535).
const ROWS_PER_STATEMENT: usize = 2_000;

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = people)]
struct PersonRow {
    id: String,
    tenant_id: String,
    external_id: String,
    email: String,
    display_name: String,
    status: String,
    department: String,
    job_title: String,
    location: String,
    manager_external_id: String,
    hire_date: Option<NaiveDate>,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

#[derive(Insertable)]
#[diesel(table_name = person_attributes)]
struct AttributeRow {
    tenant_id: String,
    person_id: String,
    key: String,
    value: String,
}

/// Hire dates of these people (those without one are absent), read in chunks.
pub fn hire_dates(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[PersonId],
) -> Result<std::collections::HashMap<PersonId, NaiveDate>, AppError> {
    let mut dates = std::collections::HashMap::new();
    for chunk in ids.chunks(1_000) {
        let rows: Vec<(PersonId, Option<NaiveDate>)> = people::table
            .filter(people::tenant_id.eq(tenant))
            .filter(people::id.eq_any(chunk))
            .select((people::id, people::hire_date))
            .load(conn)?;
        dates.extend(rows.into_iter().filter_map(|(id, d)| Some((id, d?))));
    }
    Ok(dates)
}

fn row(
    tenant: &TenantId,
    id: &str,
    external_id: &str,
    p: &Profile,
    revision: i64,
    audit: &Audit,
) -> PersonRow {
    PersonRow {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        external_id: external_id.to_string(),
        email: p.email.clone(),
        display_name: p.display_name.clone(),
        status: p.status.as_str().to_string(),
        department: p.department.clone(),
        job_title: p.job_title.clone(),
        location: p.location.clone(),
        manager_external_id: p.manager_external_id.clone(),
        hire_date: p.hire_date,
        revision,
        created_at: audit.created_at,
        created_by: audit.created_by.clone(),
        updated_at: audit.updated_at,
        updated_by: audit.updated_by.clone(),
    }
}

/// A row as insert values. Not `#[derive(Insertable)]`: that turns `hire_date: None` into
/// `DEFAULT`, which SQLite's multi-row insert cannot take; `column.eq(None)` is a plain NULL.
macro_rules! insert_values {
    ($r:expr) => {{
        let r = $r;
        (
            people::id.eq(r.id.clone()),
            people::tenant_id.eq(r.tenant_id.clone()),
            people::external_id.eq(r.external_id.clone()),
            people::email.eq(r.email.clone()),
            people::display_name.eq(r.display_name.clone()),
            people::status.eq(r.status.clone()),
            people::department.eq(r.department.clone()),
            people::job_title.eq(r.job_title.clone()),
            people::location.eq(r.location.clone()),
            people::manager_external_id.eq(r.manager_external_id.clone()),
            people::hire_date.eq(r.hire_date),
            people::revision.eq(r.revision),
            people::created_at.eq(r.created_at),
            people::created_by.eq(r.created_by.clone()),
            people::updated_at.eq(r.updated_at),
            people::updated_by.eq(r.updated_by.clone()),
        )
    }};
}

impl PersonRow {
    fn into_person(self, attributes: BTreeMap<String, String>) -> Result<Person, AppError> {
        let status = PersonStatus::parse(&self.status).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "stored person status {:?} is unknown",
                self.status
            ))
        })?;
        Ok(Person {
            id: self.id.into(),
            external_id: self.external_id,
            profile: Profile {
                email: self.email,
                display_name: self.display_name,
                status,
                department: self.department,
                job_title: self.job_title,
                location: self.location,
                manager_external_id: self.manager_external_id,
                hire_date: self.hire_date,
                attributes,
            },
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

/// Custom attributes of the given people, by person id.
fn attributes_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, BTreeMap<String, String>>, AppError> {
    let mut found: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for chunk in ids.chunks(5_000) {
        let rows: Vec<(String, String, String)> = person_attributes::table
            .filter(person_attributes::tenant_id.eq(tenant))
            .filter(person_attributes::person_id.eq_any(chunk))
            .select((
                person_attributes::person_id,
                person_attributes::key,
                person_attributes::value,
            ))
            .load(conn)?;
        for (person, key, value) in rows {
            found.entry(person).or_default().insert(key, value);
        }
    }
    Ok(found)
}

fn with_attributes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rows: Vec<PersonRow>,
) -> Result<Vec<Person>, AppError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut attributes = attributes_of(conn, tenant, &ids)?;
    rows.into_iter()
        .map(|row| {
            let attrs = attributes.remove(&row.id).unwrap_or_default();
            row.into_person(attrs)
        })
        .collect()
}

/// Replaces the custom attributes of `people` (id, attributes) in set-based statements.
fn replace_attributes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    people: &[(&str, &BTreeMap<String, String>)],
) -> Result<(), AppError> {
    let ids: Vec<&str> = people.iter().map(|(id, _)| *id).collect();
    for chunk in ids.chunks(5_000) {
        diesel::delete(
            person_attributes::table
                .filter(person_attributes::tenant_id.eq(tenant))
                .filter(person_attributes::person_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    let rows: Vec<AttributeRow> = people
        .iter()
        .flat_map(|(id, attributes)| {
            attributes.iter().map(move |(key, value)| AttributeRow {
                tenant_id: tenant.to_string(),
                person_id: id.to_string(),
                key: key.clone(),
                value: value.clone(),
            })
        })
        .collect();
    // Multi-row inserts are dialect-specific in diesel, so this branches per backend.
    // 4 columns a row.
    for chunk in rows.chunks(5_000) {
        let insert = diesel::insert_into(person_attributes::table).values(chunk);
        lms_platform::execute_on_backend!(conn, insert)?;
    }
    Ok(())
}

pub fn insert(conn: &mut DbConnection, tenant: &TenantId, person: &Person) -> Result<(), AppError> {
    let new = row(
        tenant,
        &person.id,
        &person.external_id,
        &person.profile,
        person.revision,
        &person.audit,
    );
    diesel::insert_into(people::table)
        .values(insert_values!(&new))
        .execute(conn)
        .map_err(|error| {
            AppError::on_conflict(error, || {
                AppError::AlreadyExists(format!(
                    "a person with external_id {:?} already exists",
                    person.external_id
                ))
            })
        })?;
    replace_attributes(conn, tenant, &[(&person.id, &person.profile.attributes)])
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &PersonId) -> Result<Person, AppError> {
    let row = people::table
        .filter(people::tenant_id.eq(tenant))
        .filter(people::id.eq(id))
        .select(PersonRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("person {id}")))?;
    with_attributes(conn, tenant, vec![row]).map(|mut p| p.remove(0))
}

/// People ordered by external id, after `after_external_id`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &PeopleFilter,
    after_external_id: Option<String>,
    limit: i64,
) -> Result<Vec<Person>, AppError> {
    let mut query = people::table
        .filter(people::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(people::status.eq(status.as_str()));
    }
    if let Some(department) = &filter.department {
        query = query.filter(lower(people::department).eq(department.to_lowercase()));
    }
    if let Some(location) = &filter.location {
        query = query.filter(lower(people::location).eq(location.to_lowercase()));
    }
    if let Some(external_id) = &filter.external_id {
        query = query.filter(people::external_id.eq(external_id));
    }
    if !filter.ids.is_empty() {
        query = query.filter(people::id.eq_any(filter.ids.clone()));
    }
    if let Some(text) = &filter.query {
        let pattern = like_pattern(text);
        query = query.filter(
            lower(people::external_id)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(people::display_name)
                    .like(pattern.clone())
                    .escape('\\'))
                .or(lower(people::email).like(pattern).escape('\\')),
        );
    }
    if let Some(after) = after_external_id {
        query = query.filter(people::external_id.gt(after));
    }
    let rows = query
        .order(people::external_id.asc())
        .limit(limit)
        .select(PersonRow::as_select())
        .load(conn)?;
    with_attributes(conn, tenant, rows)
}

/// The people with these external ids (the ones that exist), in no particular order.
pub fn by_external_ids(
    conn: &mut DbConnection,
    tenant: &TenantId,
    external_ids: &[String],
) -> Result<Vec<Person>, AppError> {
    let rows = people::table
        .filter(people::tenant_id.eq(tenant))
        .filter(people::external_id.eq_any(external_ids))
        .select(PersonRow::as_select())
        .load(conn)?;
    with_attributes(conn, tenant, rows)
}

/// Writes a changed person if its revision is still `expected_revision`.
pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person,
    expected_revision: i64,
) -> Result<(), AppError> {
    let p = &person.profile;
    let changed = diesel::update(
        people::table
            .filter(people::tenant_id.eq(tenant))
            .filter(people::id.eq(&person.id))
            .filter(people::revision.eq(expected_revision)),
    )
    .set((
        people::email.eq(&p.email),
        people::display_name.eq(&p.display_name),
        people::status.eq(p.status.as_str()),
        people::department.eq(&p.department),
        people::job_title.eq(&p.job_title),
        people::location.eq(&p.location),
        people::manager_external_id.eq(&p.manager_external_id),
        people::hire_date.eq(p.hire_date),
        people::revision.eq(person.revision),
        people::updated_at.eq(person.audit.updated_at),
        people::updated_by.eq(&person.audit.updated_by),
    ))
    .execute(conn)?;
    AppError::unless_updated(changed, "person")?;
    replace_attributes(conn, tenant, &[(&person.id, &p.attributes)])
}

/// Every person of the tenant by external id, for planning a full sync (two queries in all).
pub fn existing(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> Result<HashMap<String, Existing>, AppError> {
    let rows = people::table
        .filter(people::tenant_id.eq(tenant))
        .select(PersonRow::as_select())
        .load(conn)?;
    let all: Vec<(String, String, String)> = person_attributes::table
        .filter(person_attributes::tenant_id.eq(tenant))
        .select((
            person_attributes::person_id,
            person_attributes::key,
            person_attributes::value,
        ))
        .load(conn)?;
    by_external_id(rows, all)
}

/// The people of the tenant with these external ids, for planning an upload that is not a
/// full sync (it touches only its own rows).
pub fn existing_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    external_ids: &[String],
) -> Result<HashMap<String, Existing>, AppError> {
    let mut rows = Vec::new();
    for chunk in external_ids.chunks(ROWS_PER_STATEMENT) {
        // Not `eq_any`: an upload's first statement ran 2 s at 100 000 people, on
        // statistics older than the import (see `in_set`; issue 22).
        let of_ids = lms_platform::db::in_set(conn, "people.external_id", chunk);
        rows.extend(
            people::table
                .filter(people::tenant_id.eq(tenant))
                .filter(of_ids)
                .select(PersonRow::as_select())
                .load(conn)?,
        );
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut all = Vec::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        all.extend(
            person_attributes::table
                .filter(person_attributes::tenant_id.eq(tenant))
                .filter(person_attributes::person_id.eq_any(chunk))
                .select((
                    person_attributes::person_id,
                    person_attributes::key,
                    person_attributes::value,
                ))
                .load::<(String, String, String)>(conn)?,
        );
    }
    by_external_id(rows, all)
}

fn by_external_id(
    rows: Vec<PersonRow>,
    all: Vec<(String, String, String)>,
) -> Result<HashMap<String, Existing>, AppError> {
    let mut attributes: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    for (person, key, value) in all {
        attributes.entry(person).or_default().insert(key, value);
    }
    rows.into_iter()
        .map(|row| {
            let attrs = attributes.remove(&row.id).unwrap_or_default();
            let person = row.into_person(attrs)?;
            Ok((
                person.external_id.clone(),
                Existing {
                    id: person.id,
                    profile: person.profile,
                },
            ))
        })
        .collect()
}

/// Creates or updates many people at once: multi-row `INSERT ... ON CONFLICT (tenant_id,
/// external_id) DO UPDATE`, keeping each person's id and creation audit and bumping its
/// revision, then their attributes in set-based statements — except for the ids in
/// `same_attributes`, whose attributes did not change.
pub fn upsert_many(
    conn: &mut DbConnection,
    tenant: &TenantId,
    people_rows: &[(PersonId, String, Profile)],
    same_attributes: &std::collections::HashSet<PersonId>,
    actor: &str,
) -> Result<(), AppError> {
    let audit = Audit::new(actor);
    let rows: Vec<PersonRow> = people_rows
        .iter()
        .map(|(id, external_id, profile)| row(tenant, id, external_id, profile, 1, &audit))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<_> = chunk.iter().map(|r| insert_values!(r)).collect();
        let upsert = diesel::insert_into(people::table)
            .values(values)
            .on_conflict((people::tenant_id, people::external_id))
            .do_update()
            .set((
                people::email.eq(excluded(people::email)),
                people::display_name.eq(excluded(people::display_name)),
                people::status.eq(excluded(people::status)),
                people::department.eq(excluded(people::department)),
                people::job_title.eq(excluded(people::job_title)),
                people::location.eq(excluded(people::location)),
                people::manager_external_id.eq(excluded(people::manager_external_id)),
                people::hire_date.eq(excluded(people::hire_date)),
                people::revision.eq(people::revision + 1),
                people::updated_at.eq(excluded(people::updated_at)),
                people::updated_by.eq(excluded(people::updated_by)),
            ));
        match conn {
            DbConnection::Postgres(pg) => upsert.execute(pg)?,
            DbConnection::Sqlite(sqlite) => upsert.execute(sqlite)?,
        };
    }
    let attributes: Vec<(&str, &BTreeMap<String, String>)> = people_rows
        .iter()
        .filter(|(id, _, _)| !same_attributes.contains(id))
        .map(|(id, _, profile)| (id.as_str(), &profile.attributes))
        .collect();
    replace_attributes(conn, tenant, &attributes)
}

/// Deactivates the given people in set-based statements.
pub fn deactivate(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[PersonId],
    actor: &str,
) -> Result<usize, AppError> {
    let at = lms_platform::resource::now();
    let mut changed = 0;
    for chunk in ids.chunks(5_000) {
        changed += diesel::update(
            people::table
                .filter(people::tenant_id.eq(tenant))
                .filter(people::id.eq_any(chunk))
                .filter(people::status.eq(PersonStatus::Active.as_str())),
        )
        .set((
            people::status.eq(PersonStatus::Inactive.as_str()),
            people::revision.eq(people::revision + 1),
            people::updated_at.eq(at),
            people::updated_by.eq(actor),
        ))
        .execute(conn)?;
    }
    Ok(changed)
}

/// A person's id and status by external id (the learner's token subject): what
/// enrolling and access checks need, in one index probe.
pub fn key_facts_by_external_id(
    conn: &mut DbConnection,
    tenant: &TenantId,
    external_id: &str,
) -> Result<Option<(PersonId, PersonStatus)>, AppError> {
    let row: Option<(String, String)> = people::table
        .filter(people::tenant_id.eq(tenant))
        .filter(people::external_id.eq(external_id))
        .select((people::id, people::status))
        .first(conn)
        .optional()?;
    row.map(|(id, status)| {
        let status = PersonStatus::parse(&status).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("stored person status {status:?}"))
        })?;
        Ok((id.into(), status))
    })
    .transpose()
}
