//! Enrolments: admin and self enrolment, withdrawals, due dates, access checks.

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, PathwayId, PersonId, TenantId};
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, now};
use lms_platform::{AppError, AppResult, Principal, audit, idempotency};

use super::reconcile::lock_tenant_enrolments;
use super::{ACCESS_CHECKERS, EnrolmentApp};
use crate::domain::assignment::Requirement;
use crate::domain::enrolment::{
    self, AccessDecision, DueChange, Enrolment, EnrolmentFilter, JoinablePathway,
    PathwayAvailability, Source, Status, Withdrawal,
};
use crate::domain::person::PersonStatus;
use crate::events::{self};
use crate::storage::coverage;
use crate::storage::enrolments::{self as enrolment_rows, Change};
use crate::storage::{assignments as assignment_rows, people as people_rows};

use super::role_bindings::require_person_in_reach;
use lms_platform::access::Permission;

impl EnrolmentApp {
    /// An admin enrols one active person.
    pub async fn enrol_person(
        &self,
        who: &Principal,
        person_id: PersonId,
        pathway_id: PathwayId,
        due_at: Option<NaiveDateTime>,
        request_id: Option<String>,
    ) -> AppResult<Enrolment> {
        let reach = self.access.reach(who, Permission::Administer).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        let version = self
            .catalog
            .availability(&tenant, &pathway_id)
            .await?
            .version_for_enrolment(&pathway_id)?;
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "EnrolPerson",
                    request_id.as_deref(),
                    |conn, id| enrolment_rows::get(conn, &tenant, &EnrolmentId::from(id)),
                    |conn| {
                        let person = people_rows::get(conn, &tenant, &person_id)?;
                        require_person_in_reach(
                            conn,
                            &tenant,
                            &reach,
                            &person.external_id,
                            || AppError::not_found(format!("person {person_id}")),
                        )?;
                        if person.profile.status != PersonStatus::Active {
                            return Err(AppError::FailedPrecondition(format!(
                                "person {person_id} is deactivated and cannot be enrolled"
                            )));
                        }
                        let requirement = if due_at.is_some() {
                            crate::domain::assignment::Requirement::Mandatory
                        } else {
                            crate::domain::assignment::Requirement::Optional
                        };
                        let enrolment = enrol_one(
                            conn,
                            &tenant,
                            &actor,
                            (person.id, person.external_id),
                            (pathway_id, version),
                            Source::Admin,
                            requirement,
                            due_at,
                        )?;
                        let resource = format!("enrolments/{}", enrolment.id);
                        audit::record(conn, &who, audit::Change::created(resource, &enrolment)?)?;
                        Ok((enrolment.id.clone(), enrolment))
                    },
                )
            })
            .await
    }

    /// The calling learner enrols in a pathway an assignment of theirs makes available.
    pub async fn self_enrol(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        request_id: Option<String>,
    ) -> AppResult<Enrolment> {
        let tenant = who.tenant_id.clone();
        let learner = who.subject.clone();
        let who = who.clone();
        let version = self
            .catalog
            .availability(&tenant, &pathway_id)
            .await?
            .version_for_enrolment(&pathway_id)?;
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    &format!("SelfEnrol/{learner}"),
                    request_id.as_deref(),
                    |conn, id| enrolment_rows::get(conn, &tenant, &EnrolmentId::from(id)),
                    |conn| {
                        let (person_id, status) =
                            people_rows::key_facts_by_external_id(conn, &tenant, &learner)?
                                .ok_or_else(|| {
                                    AppError::FailedPrecondition(
                                        "you are not in the learner directory".into(),
                                    )
                                })?;
                        if status != PersonStatus::Active {
                            return Err(AppError::FailedPrecondition(
                                "your directory record is deactivated".into(),
                            ));
                        }
                        if coverage::covering_assignment(conn, &tenant, &person_id, &pathway_id)?
                            .is_none()
                        {
                            return Err(AppError::PermissionDenied(format!(
                                "pathway {pathway_id} is not open to you: no assignment of your \
                                 audiences or classes offers it"
                            )));
                        }
                        let enrolment = enrol_one(
                            conn,
                            &tenant,
                            &learner,
                            (person_id, learner.clone()),
                            (pathway_id, version),
                            Source::SelfEnrolled,
                            crate::domain::assignment::Requirement::Optional,
                            None,
                        )?;
                        let resource = format!("enrolments/{}", enrolment.id);
                        audit::record(conn, &who, audit::Change::created(resource, &enrolment)?)?;
                        Ok((enrolment.id.clone(), enrolment))
                    },
                )
            })
            .await
    }

    /// Admins and services read any enrolment; learners only their own.
    pub async fn get_enrolment(&self, who: &Principal, id: EnrolmentId) -> AppResult<Enrolment> {
        let tenant = who.tenant_id.clone();
        let enrolment = self
            .db
            .read(move |conn| enrolment_rows::get(conn, &tenant, &id))
            .await?;
        if who.has_any(&ACCESS_CHECKERS) || enrolment.learner == who.subject {
            Ok(enrolment)
        } else {
            Err(AppError::not_found(format!("enrolment {}", enrolment.id)))
        }
    }

    pub async fn list_enrolments(
        &self,
        who: &Principal,
        mut filter: EnrolmentFilter,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Enrolment>> {
        if !who.has_any(&ACCESS_CHECKERS) {
            // Learners and instructors list their own enrolments only.
            match &filter.learner {
                Some(learner) if *learner != who.subject => {
                    return Err(AppError::PermissionDenied(
                        "you may list only your own enrolments".into(),
                    ));
                }
                _ => filter.learner = Some(who.subject.clone()),
            }
            if filter.person_id.is_some() {
                return Err(AppError::PermissionDenied(
                    "you may list only your own enrolments".into(),
                ));
            }
        } else if filter.learner.is_none()
            && filter.person_id.is_none()
            && filter.pathway_id.is_none()
        {
            return Err(AppError::invalid_field(
                "learner",
                "name a learner, a person_id or a pathway_id",
            ));
        }
        let limit = pagination::page_size(page_size)?;
        let filters = filter.describe();
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| enrolment_rows::list(conn, &tenant, &filter, before, limit + 1))
            .await?;
        Ok(paginate(items, limit, &filters, |e: &Enrolment| {
            vec![e.id.to_string()]
        }))
    }

    pub async fn withdraw_enrolment(
        &self,
        who: &Principal,
        id: EnrolmentId,
        etag: String,
        reason: String,
    ) -> AppResult<Enrolment> {
        let reach = self.access.reach(who, Permission::Administer).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let current = enrolment_rows::get(conn, &tenant, &id)?;
                require_person_in_reach(conn, &tenant, &reach, &current.learner, || {
                    AppError::not_found(format!("enrolment {id}"))
                })?;
                check_etag(&etag, current.revision)?;
                if current.status == Status::Withdrawn {
                    return Err(AppError::FailedPrecondition(format!(
                        "enrolment {id} is withdrawn already"
                    )));
                }
                let change = Change {
                    at: now(),
                    actor: &actor,
                };
                let ids = [id.clone()];
                enrolment_rows::withdraw(
                    conn,
                    &tenant,
                    &ids,
                    Withdrawal::ByAdmin,
                    &reason,
                    &change,
                )?;
                let enrolment = enrolment_rows::get(conn, &tenant, &id)?;
                let resource = format!("enrolments/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &current, &enrolment)?,
                )?;
                outbox::enqueue(conn, &tenant, vec![events::withdrawn(&enrolment)])?;
                Ok(enrolment)
            })
            .await
    }

    pub async fn extend_due_date(
        &self,
        who: &Principal,
        id: EnrolmentId,
        etag: String,
        due_at: NaiveDateTime,
        reason: String,
    ) -> AppResult<Enrolment> {
        let reach = self.access.reach(who, Permission::Administer).await?;
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let current = enrolment_rows::get(conn, &tenant, &id)?;
                require_person_in_reach(conn, &tenant, &reach, &current.learner, || {
                    AppError::not_found(format!("enrolment {id}"))
                })?;
                check_etag(&etag, current.revision)?;
                if current.status == Status::Withdrawn {
                    return Err(AppError::FailedPrecondition(format!(
                        "enrolment {id} is withdrawn; its due date cannot move"
                    )));
                }
                let change = DueChange {
                    previous_due_at: current.due_at,
                    due_at,
                    reason,
                    actor: actor.clone(),
                    changed_at: now(),
                };
                enrolment_rows::change_due(conn, &tenant, &current, current.revision, &change)?;
                let enrolment = enrolment_rows::get(conn, &tenant, &id)?;
                let resource = format!("enrolments/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &current, &enrolment)?,
                )?;
                outbox::enqueue(conn, &tenant, vec![events::updated(&enrolment)])?;
                Ok(enrolment)
            })
            .await
    }

    /// The published pathways `learner` (the caller when None) may enrol themselves in: an
    /// assignment covering them offers each, and they have no current enrolment in it. Each is
    /// asked of pathway-service (a draft or archived pathway takes no enrolment).
    pub async fn joinable_pathways(
        &self,
        who: &Principal,
        learner: Option<String>,
    ) -> AppResult<Vec<JoinablePathway>> {
        let learner = match learner {
            Some(learner) if learner != who.subject && !who.has_any(&ACCESS_CHECKERS) => {
                return Err(AppError::PermissionDenied(
                    "you may list only what you may join yourself".into(),
                ));
            }
            Some(learner) => learner,
            None => who.subject.clone(),
        };
        let tenant = who.tenant_id.clone();
        let offers = {
            let tenant = tenant.clone();
            self.db
                .read(move |conn| {
                    match people_rows::key_facts_by_external_id(conn, &tenant, &learner)? {
                        Some((person_id, PersonStatus::Active)) => {
                            coverage::offers(conn, &tenant, &person_id)
                        }
                        _ => Ok(Vec::new()),
                    }
                })
                .await?
        };
        let mut joinable = Vec::with_capacity(offers.len());
        for offer in offers {
            let pathway_id = PathwayId::from(offer.pathway_id);
            match self.catalog.availability(&tenant, &pathway_id).await {
                Ok(PathwayAvailability::Published { .. }) => {}
                Ok(_) | Err(AppError::NotFound(_)) => continue,
                Err(error) => return Err(error),
            }
            let requirement = Requirement::parse(&offer.requirement).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "assignment {} has requirement {:?}",
                    offer.assignment_id,
                    offer.requirement
                ))
            })?;
            joinable.push(JoinablePathway {
                pathway_id,
                assignment_id: offer.assignment_id,
                requirement,
            });
        }
        Ok(joinable)
    }

    /// May `learner` (an external id; the caller when None) take `pathway_id` now?
    pub async fn check_access(
        &self,
        who: &Principal,
        learner: Option<String>,
        pathway_id: PathwayId,
    ) -> AppResult<AccessDecision> {
        let learner = match learner {
            None => who.subject.clone(),
            Some(learner) if learner == who.subject => learner,
            Some(learner) => {
                who.has_any(&ACCESS_CHECKERS).then_some(()).ok_or_else(|| {
                    AppError::PermissionDenied("you may check only your own access".into())
                })?;
                learner
            }
        };
        let tenant = who.tenant_id.clone();
        // The hot path of every attempt start: one statement, no transaction around it.
        self.db
            .read_one(move |conn| {
                let facts = enrolment_rows::access_facts(conn, &tenant, &learner, &pathway_id)?;
                let (person, current) = match facts {
                    Some((status, current)) => (Some(status), current),
                    None => (None, None),
                };
                // Only a learner without an enrolment needs the second look: is the pathway
                // offered to them?
                let open_to_learner = person == Some(PersonStatus::Active)
                    && current.is_none()
                    && match people_rows::key_facts_by_external_id(conn, &tenant, &learner)? {
                        Some((person_id, _)) => {
                            coverage::covering_assignment(conn, &tenant, &person_id, &pathway_id)?
                                .is_some()
                        }
                        None => false,
                    };
                Ok(enrolment::decide_access(
                    person,
                    current,
                    open_to_learner,
                    &pathway_id,
                ))
            })
            .await
    }
}

/// Writes one enrolment (admin or self) with its event, unless the learner has a current one.
#[allow(clippy::too_many_arguments)]
fn enrol_one(
    conn: &mut DbConnection,
    tenant: &TenantId,
    actor: &str,
    (person_id, learner): (PersonId, String),
    (pathway_id, version): (PathwayId, i32),
    source: Source,
    requirement: crate::domain::assignment::Requirement,
    due_at: Option<NaiveDateTime>,
) -> AppResult<Enrolment> {
    lock_tenant_enrolments(conn, tenant)?;
    if enrolment_rows::current(conn, tenant, &learner, &pathway_id)?.is_some() {
        return Err(AppError::AlreadyExists(format!(
            "{learner} is already enrolled in pathway {pathway_id}"
        )));
    }
    assignment_rows::set_pathway_version(conn, tenant, &pathway_id, version)?;
    let at = now();
    let enrolment = Enrolment {
        id: EnrolmentId::generate(),
        person_id,
        learner,
        pathway_id,
        pathway_version: version,
        source,
        assignment_id: String::new(),
        requirement,
        status: Status::Active,
        assigned_at: at,
        due_at,
        started_at: None,
        withdrawn_at: None,
        withdrawal: None,
        withdraw_reason: String::new(),
        due_changes: Vec::new(),
        revision: 1,
        audit: Audit::new(actor),
    };
    enrolment_rows::insert_many(conn, tenant, std::slice::from_ref(&enrolment))?;
    outbox::enqueue(conn, tenant, vec![events::created(&enrolment)])?;
    Ok(enrolment)
}
