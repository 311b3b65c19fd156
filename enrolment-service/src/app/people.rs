//! The learner directory: people, one by one and in HR uploads.

use lms_platform::ids::PersonId;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag};
use lms_platform::{AppError, AppResult, Principal, Role, audit, idempotency};

use super::EnrolmentApp;
use super::audiences::{FOLLOW_PEOPLE_ONE_BY_ONE, follow_person, refresh_dynamic_audiences};
use super::reconcile::reconcile;
use crate::domain::person::{
    self, PeopleFilter, Person, PersonStatus, Profile, RowError, UploadRow,
};
use crate::domain::reporting;
use crate::storage::coverage::Scope;
use crate::storage::people as people_rows;
use crate::storage::team as team_rows;

/// Who reads the whole directory (a learner reads only their own person).
const DIRECTORY_READERS: [Role; 2] = [Role::Admin, Role::Service];

/// What an upload did.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deactivated: usize,
    pub errors: Vec<RowError>,
    /// Loops in the reporting lines the uploaded people are in (reported, not refused).
    pub reporting_cycles: Vec<Vec<String>>,
}

impl EnrolmentApp {
    pub async fn create_person(
        &self,
        who: &Principal,
        external_id: String,
        profile: Profile,
        request_id: Option<String>,
    ) -> AppResult<Person> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreatePerson",
                    request_id.as_deref(),
                    |conn, id| people_rows::get(conn, &tenant, &PersonId::from(id)),
                    |conn| {
                        let person = Person {
                            id: PersonId::generate(),
                            external_id,
                            profile,
                            revision: 1,
                            audit: Audit::new(&actor),
                        };
                        people_rows::insert(conn, &tenant, &person)?;
                        let resource = format!("people/{}", person.id);
                        audit::record(conn, &who, audit::Change::created(resource, &person)?)?;
                        follow_person(conn, &tenant, &person, &actor)?;
                        let id = person.id.clone();
                        Ok((id, person))
                    },
                )
            })
            .await
    }

    /// Admins and services read anyone; learners and instructors only themselves (anyone
    /// else is NOT_FOUND, as if absent).
    pub async fn get_person(&self, who: &Principal, id: PersonId) -> AppResult<Person> {
        let tenant = who.tenant_id.clone();
        let whole_directory = DIRECTORY_READERS.iter().any(|r| who.has_role(*r));
        let subject = who.subject.clone();
        let person = self
            .db
            .read(move |conn| people_rows::get(conn, &tenant, &id))
            .await?;
        if whole_directory || person.external_id == subject {
            Ok(person)
        } else {
            Err(AppError::not_found(format!("person {}", person.id)))
        }
    }

    pub async fn list_people(
        &self,
        who: &Principal,
        filter: PeopleFilter,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Person>> {
        let limit = pagination::page_size(page_size)?;
        let filters = filter.describe();
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| people_rows::list(conn, &tenant, &filter, after, limit + 1))
            .await?;
        Ok(paginate(items, limit, &filters, |p| {
            vec![p.external_id.clone()]
        }))
    }

    /// Applies `patch` (the masked fields) to a person's profile.
    pub async fn update_person<F>(
        &self,
        who: &Principal,
        id: PersonId,
        etag: String,
        patch: F,
    ) -> AppResult<Person>
    where
        F: FnOnce(&Person) -> AppResult<Profile> + Send + 'static,
    {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut person = people_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, person.revision)?;
                let expected = person.revision;
                let before = person.clone();
                person.profile = patch(&person)?;
                person.revision += 1;
                person.audit.touch(&actor);
                people_rows::update(conn, &tenant, &person, expected)?;
                let resource = format!("people/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &person)?,
                )?;
                follow_person(conn, &tenant, &person, &actor)?;
                Ok(person)
            })
            .await
    }

    /// The HR sync: plans the whole upload, refuses a full sync that would deactivate too much,
    /// then writes creates, updates and deactivations in one transaction.
    pub async fn upsert_people(
        &self,
        who: &Principal,
        rows: Vec<UploadRow>,
        row_errors: Vec<RowError>,
        full_sync: bool,
        force: bool,
    ) -> AppResult<SyncOutcome> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let max_share = self.max_deactivation_share;
        let who = who.clone();
        self.db
            .write(move |conn| {
                // A full sync compares the upload with everyone; any other upload only
                // touches its own rows.
                let existing = if full_sync {
                    people_rows::existing(conn, &tenant)?
                } else {
                    let external_ids: Vec<String> =
                        rows.iter().map(|r| r.external_id.clone()).collect();
                    people_rows::existing_of(conn, &tenant, &external_ids)?
                };
                let active = existing
                    .values()
                    .filter(|p| p.profile.status == PersonStatus::Active)
                    .count();
                let plan = person::plan_sync(rows, row_errors, &existing, full_sync);
                let share = plan.deactivate.len() as f64 / active.max(1) as f64;
                if !force && share > max_share {
                    return Err(AppError::FailedPrecondition(format!(
                        "this full sync would deactivate {} of {active} active people ({:.0} %), \
                         more than the {:.0} % allowed; check the export, or set force",
                        plan.deactivate.len(),
                        share * 100.0,
                        max_share * 100.0
                    )));
                }
                let created = plan.create.len();
                let updated = plan.update.len();
                let mut writes: Vec<(PersonId, String, Profile)> =
                    Vec::with_capacity(created + updated);
                writes.extend(
                    plan.create
                        .into_iter()
                        .map(|(external_id, profile)| (PersonId::generate(), external_id, profile)),
                );
                writes.extend(plan.update);
                people_rows::upsert_many(conn, &tenant, &writes, &plan.same_attributes, &actor)?;
                let deactivated = people_rows::deactivate(conn, &tenant, &plan.deactivate, &actor)?;
                let uploaded: Vec<String> =
                    writes.iter().map(|(_, external_id, _)| external_id.clone()).collect();
                let reporting_cycles = if uploaded.is_empty() {
                    Vec::new()
                } else {
                    reporting::cycles(&team_rows::reporting_lines(conn, &tenant)?, &uploaded)
                };
                let upload = serde_json::json!({
                    "full_sync": full_sync,
                    "created": created,
                    "updated": updated,
                    "deactivated": deactivated,
                    "written": writes.iter().map(|(_, external_id, _)| external_id).collect::<Vec<_>>(),
                    "deactivated_ids": &plan.deactivate,
                });
                audit::record(conn, &who, audit::Change::acted("people", &upload)?)?;
                if deactivated == 0 && writes.len() <= FOLLOW_PEOPLE_ONE_BY_ONE {
                    // A few changed people (an HR feed's trickle): each one's memberships and
                    // enrolments, rather than every audience of the tenant.
                    for (id, _, _) in &writes {
                        let person = people_rows::get(conn, &tenant, id)?;
                        follow_person(conn, &tenant, &person, &actor)?;
                    }
                } else {
                    refresh_dynamic_audiences(conn, &tenant)?;
                    let report = reconcile(conn, &tenant, Scope::Tenant, &actor)?;
                    tracing::info!(?report, "HR sync applied to enrolments");
                }
                Ok(SyncOutcome {
                    created,
                    updated,
                    unchanged: plan.unchanged,
                    deactivated,
                    errors: plan.errors,
                    reporting_cycles,
                })
            })
            .await
    }
}
