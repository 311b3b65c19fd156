//! Use cases: who may do what, in which transaction, calling the domain rules and storage.

use lms_platform::db::Db;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, Role, idempotency};

use crate::domain::person::{self, Person, PersonStatus, Profile, RowError, UploadRow};
use crate::storage::people::{self as people_rows, PeopleFilter};

pub const ADMINS: [Role; 1] = [Role::Admin];
/// Roles that read the whole directory.
pub const DIRECTORY_READERS: [Role; 2] = [Role::Admin, Role::Service];
/// Roles that may at least read their own record.
pub const ANY_ROLE: [Role; 4] = [Role::Admin, Role::Service, Role::Instructor, Role::Learner];

/// The most people one upload may carry.
pub const MAX_UPLOAD_ROWS: usize = 200_000;

/// What an upload did.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub deactivated: usize,
    pub errors: Vec<RowError>,
}

#[derive(Clone)]
pub struct EnrolmentApp {
    db: Db,
    /// A full sync may deactivate at most this share of the active directory unless forced.
    max_deactivation_share: f64,
}

impl EnrolmentApp {
    pub fn new(db: Db, max_deactivation_share: f64) -> Self {
        Self {
            db,
            max_deactivation_share,
        }
    }

    pub async fn create_person(
        &self,
        who: &Principal,
        external_id: String,
        profile: Profile,
        request_id: Option<String>,
    ) -> AppResult<Person> {
        who.require_any(&ADMINS)?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                if let Some(request_id) = &request_id
                    && let Some(id) = idempotency::find(conn, &tenant, "CreatePerson", request_id)?
                {
                    return people_rows::get(conn, &tenant, &id);
                }
                let person = Person {
                    id: new_id(),
                    external_id,
                    profile,
                    revision: 1,
                    audit: Audit::new(&actor),
                };
                people_rows::insert(conn, &tenant, &person)?;
                if let Some(request_id) = &request_id {
                    idempotency::record(
                        conn,
                        &tenant,
                        "CreatePerson",
                        request_id,
                        &person.id,
                        person.audit.created_at,
                    )?;
                }
                Ok(person)
            })
            .await
    }

    /// Admins and services read anyone; learners and instructors only themselves (anyone
    /// else is NOT_FOUND, as if absent).
    pub async fn get_person(&self, who: &Principal, id: String) -> AppResult<Person> {
        who.require_any(&ANY_ROLE)?;
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
        who.require_any(&DIRECTORY_READERS)?;
        let limit = pagination::page_size(page_size)?;
        let filters = filter.describe();
        let after = match pagination::decode(&page_token, &filters)?.as_deref() {
            None => None,
            Some([external_id]) => Some(external_id.clone()),
            Some(_) => return Err(AppError::invalid_field("page_token", "is malformed")),
        };
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
        id: String,
        etag: String,
        patch: F,
    ) -> AppResult<Person>
    where
        F: FnOnce(&Person) -> AppResult<Profile> + Send + 'static,
    {
        who.require_any(&ADMINS)?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let mut person = people_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, person.revision)?;
                let expected = person.revision;
                person.profile = patch(&person)?;
                person.revision += 1;
                person.audit.touch(&actor);
                people_rows::update(conn, &tenant, &person, expected)?;
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
        who.require_any(&ADMINS)?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let max_share = self.max_deactivation_share;
        self.db
            .write(move |conn| {
                let existing = people_rows::existing(conn, &tenant)?;
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
                let mut writes: Vec<(String, String, Profile)> =
                    Vec::with_capacity(created + updated);
                writes.extend(
                    plan.create
                        .into_iter()
                        .map(|(external_id, profile)| (new_id(), external_id, profile)),
                );
                writes.extend(plan.update);
                people_rows::upsert_many(conn, &tenant, &writes, &actor)?;
                let deactivated = people_rows::deactivate(conn, &tenant, &plan.deactivate, &actor)?;
                Ok(SyncOutcome {
                    created,
                    updated,
                    unchanged: plan.unchanged,
                    deactivated,
                    errors: plan.errors,
                })
            })
            .await
    }
}
