//! Use cases of assignments and enrolments, and the reconciliation that keeps assigned
//! enrolments in line with audience and class membership.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use lms_platform::db::{DbConnection, lock_until_commit};
use lms_platform::outbox::{self, NewEvent};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, from_timestamp, now};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, Role, idempotency};

use super::EnrolmentApp;
use crate::domain::assignment::{Assignment, DuePolicy, LeaveAction, LeavePolicy, Target};
use crate::domain::enrolment::{
    self, AccessDecision, DueChange, Enrolment, Source, Status, Withdrawal,
};
use crate::domain::person::PersonStatus;
use crate::events;
use crate::storage::assignments::{self as assignment_rows, AssignmentFilter};
use crate::storage::enrolments::{self as enrolment_rows, Change, EnrolmentFilter, Scope};
use crate::storage::{audiences as audience_rows, classes as class_rows, people as people_rows};

/// Roles that may ask about any learner's access.
pub const ACCESS_CHECKERS: [Role; 2] = [Role::Admin, Role::Service];
/// Roles that take pathways themselves.
pub const LEARNERS: [Role; 2] = [Role::Learner, Role::Instructor];

/// An assignment as shown: the assignment and its active enrolments.
pub struct AssignmentView {
    pub assignment: Assignment,
    pub enrolled: i64,
}

/// What a reconciliation changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileReport {
    pub enrolled: usize,
    pub suspended: usize,
    pub resumed: usize,
    pub withdrawn: usize,
}

impl ReconcileReport {
    pub fn is_empty(&self) -> bool {
        *self == ReconcileReport::default()
    }
}

/// Enrolment changes of one tenant are serialised (on PostgreSQL), so two reconciliations
/// cannot both enrol the same person.
fn lock_tenant_enrolments(conn: &mut DbConnection, tenant: &str) -> AppResult<()> {
    lock_until_commit(conn, &format!("enrolments/{tenant}"))
}

/// Brings assigned enrolments in scope in line with who the assignments cover now: leavers
/// get their assignment's leave policy (or move to another assignment of the pathway that
/// still covers them), returners are resumed, joiners are enrolled — all in batches, each
/// change with its outbox event, in the caller's transaction.
pub(crate) fn reconcile(
    conn: &mut DbConnection,
    tenant: &str,
    scope: Scope,
    actor: &str,
) -> AppResult<ReconcileReport> {
    lock_tenant_enrolments(conn, tenant)?;
    let at = now();
    let change = Change { at, actor };
    let mut report = ReconcileReport::default();

    // Leavers.
    let mut handover: HashMap<String, Vec<String>> = HashMap::new();
    let (mut lapse, mut suspend, mut withdraw) = (Vec::new(), Vec::new(), Vec::new());
    for leaver in enrolment_rows::leavers(conn, tenant, scope)? {
        if let Some(other) = leaver.other_assignment.clone() {
            handover.entry(other).or_default().push(leaver.id);
            continue;
        }
        match leaver.leave_policy()?.on_leave(leaver.started_at.is_some()) {
            LeaveAction::Keep => lapse.push(leaver.id),
            LeaveAction::Suspend if leaver.status == Status::Suspended.as_str() => {
                lapse.push(leaver.id)
            }
            LeaveAction::Suspend => suspend.push(leaver.id),
            LeaveAction::Withdraw => withdraw.push(leaver.id),
        }
    }
    for (assignment, ids) in &handover {
        enrolment_rows::relink(conn, tenant, ids, assignment)?;
    }
    enrolment_rows::set_lapse(conn, tenant, &lapse, Some(at))?;
    enrolment_rows::set_status_and_lapse(
        conn,
        tenant,
        &suspend,
        Status::Suspended,
        Some(at),
        &change,
    )?;
    enrolment_rows::withdraw(
        conn,
        tenant,
        &withdraw,
        Withdrawal::LeftTarget,
        "left the assignment's audience or class",
        &change,
    )?;

    // Returners.
    let (mut resume, mut unlapse) = (Vec::new(), Vec::new());
    for returner in enrolment_rows::returners(conn, tenant, scope)? {
        if returner.status == Status::Suspended.as_str() {
            resume.push(returner.id);
        } else {
            unlapse.push(returner.id);
        }
    }
    enrolment_rows::set_lapse(conn, tenant, &unlapse, None)?;
    enrolment_rows::set_status_and_lapse(conn, tenant, &resume, Status::Active, None, &change)?;

    let mut events: Vec<NewEvent> = Vec::new();
    for e in enrolment_rows::by_ids(conn, tenant, &suspend)? {
        events.push(events::updated(&e));
    }
    for e in enrolment_rows::by_ids(conn, tenant, &resume)? {
        events.push(events::updated(&e));
    }
    for e in enrolment_rows::by_ids(conn, tenant, &withdraw)? {
        events.push(events::withdrawn(&e));
    }
    report.suspended = suspend.len();
    report.resumed = resume.len();
    report.withdrawn = withdraw.len();

    // Joiners.
    let joiners = enrolment_rows::joiners(conn, tenant, scope)?;
    let mut assignments: HashMap<String, Assignment> = HashMap::new();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut new = Vec::with_capacity(joiners.len());
    for joiner in joiners {
        if !assignments.contains_key(&joiner.assignment_id) {
            let assignment = assignment_rows::get(conn, tenant, &joiner.assignment_id)?;
            assignments.insert(joiner.assignment_id.clone(), assignment);
        }
        let assignment = &assignments[&joiner.assignment_id];
        // A person two assignments of one pathway cover is enrolled once, by the oldest.
        if !seen.insert((joiner.person_id.clone(), assignment.pathway_id.clone())) {
            continue;
        }
        new.push(Enrolment {
            id: new_id(),
            person_id: joiner.person_id,
            learner: joiner.external_id,
            pathway_id: assignment.pathway_id.clone(),
            pathway_version: assignment.pathway_version,
            source: Source::Assignment,
            assignment_id: assignment.id.clone(),
            requirement: assignment.requirement,
            status: Status::Active,
            assigned_at: at,
            due_at: assignment.due_policy.due_at(at, joiner.hire_date),
            started_at: None,
            withdrawn_at: None,
            withdrawal: None,
            withdraw_reason: String::new(),
            due_changes: Vec::new(),
            revision: 1,
            audit: Audit::new(actor),
        });
    }
    enrolment_rows::insert_many(conn, tenant, &new)?;
    events.extend(new.iter().map(events::created));
    report.enrolled = new.len();

    outbox::enqueue(conn, tenant, events)?;
    Ok(report)
}

fn assignment_view(
    conn: &mut DbConnection,
    tenant: &str,
    assignment: Assignment,
) -> AppResult<AssignmentView> {
    let counts =
        assignment_rows::enrolled_counts(conn, tenant, std::slice::from_ref(&assignment.id))?;
    Ok(AssignmentView {
        enrolled: counts.get(&assignment.id).copied().unwrap_or(0),
        assignment,
    })
}

/// The live target must exist in the tenant.
fn check_target(conn: &mut DbConnection, tenant: &str, target: &Target) -> AppResult<()> {
    match target {
        Target::Audience(id) => audience_rows::get(conn, tenant, id).map(|_| ()),
        Target::Class(id) => class_rows::get(conn, tenant, id).map(|_| ()),
    }
}

/// New values for the fields named in an update mask.
#[derive(Default)]
pub struct AssignmentPatch {
    pub due_policy: Option<DuePolicy>,
    pub leave_policy: Option<LeavePolicy>,
}

impl EnrolmentApp {
    /// Assigns a published pathway to an audience or class and enrols its members at once.
    pub async fn create_assignment(
        &self,
        who: &Principal,
        mut assignment: Assignment,
        request_id: Option<String>,
    ) -> AppResult<AssignmentView> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        // Asked before the transaction: no database transaction waits on another service.
        let version = self
            .catalog
            .availability(&tenant, &assignment.pathway_id)
            .await?
            .version_for_enrolment(&assignment.pathway_id)?;
        assignment.id = new_id();
        assignment.pathway_version = version;
        assignment.revision = 1;
        assignment.audit = Audit::new(&actor);
        self.db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateAssignment",
                    request_id.as_deref(),
                    |conn, id| {
                        let existing = assignment_rows::get(conn, &tenant, id)?;
                        assignment_view(conn, &tenant, existing)
                    },
                    |conn| {
                        check_target(conn, &tenant, &assignment.target)?;
                        assignment_rows::insert(conn, &tenant, &assignment)?;
                        assignment_rows::set_pathway_version(
                            conn,
                            &tenant,
                            &assignment.pathway_id,
                            version,
                        )?;
                        let report =
                            reconcile(conn, &tenant, Scope::Assignment(&assignment.id), &actor)?;
                        tracing::info!(
                            assignment = %assignment.id,
                            enrolled = report.enrolled,
                            "assignment created"
                        );
                        let id = assignment.id.clone();
                        Ok((id, assignment_view(conn, &tenant, assignment)?))
                    },
                )
            })
            .await
    }

    pub async fn get_assignment(&self, who: &Principal, id: String) -> AppResult<AssignmentView> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let assignment = assignment_rows::get(conn, &tenant, &id)?;
                assignment_view(conn, &tenant, assignment)
            })
            .await
    }

    pub async fn list_assignments(
        &self,
        who: &Principal,
        filter: AssignmentFilter,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<AssignmentView>> {
        let limit = pagination::page_size(page_size)?;
        let filters = filter.describe();
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                let list = assignment_rows::list(conn, &tenant, &filter, before, limit + 1)?;
                let ids: Vec<String> = list.iter().map(|a| a.id.clone()).collect();
                let counts = assignment_rows::enrolled_counts(conn, &tenant, &ids)?;
                Ok(list
                    .into_iter()
                    .map(|assignment| AssignmentView {
                        enrolled: counts.get(&assignment.id).copied().unwrap_or(0),
                        assignment,
                    })
                    .collect())
            })
            .await?;
        Ok(paginate(items, limit, &filters, |v: &AssignmentView| {
            vec![v.assignment.id.clone()]
        }))
    }

    /// Changes the due or leave policy; validated against the stored requirement.
    pub async fn update_assignment(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        patch: AssignmentPatch,
    ) -> AppResult<AssignmentView> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let mut assignment = assignment_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, assignment.revision)?;
                let expected = assignment.revision;
                if let Some(due) = patch.due_policy {
                    let mut v = lms_platform::validate::Violations::new();
                    crate::domain::assignment::validate_due_policy(
                        &mut v,
                        "assignment.due_policy",
                        assignment.requirement,
                        due,
                        now(),
                    );
                    v.finish()?;
                    assignment.due_policy = due;
                }
                if let Some(leave) = patch.leave_policy {
                    assignment.leave_policy = leave;
                }
                assignment.revision += 1;
                assignment.audit.touch(&actor);
                assignment_rows::update(conn, &tenant, &assignment, expected)?;
                assignment_view(conn, &tenant, assignment)
            })
            .await
    }

    /// Removes an assignment. Its enrolments move to another assignment of the pathway that
    /// covers the person; otherwise those not started are withdrawn and started ones kept.
    /// Returns (withdrawn, kept).
    pub async fn delete_assignment(
        &self,
        who: &Principal,
        id: String,
        etag: String,
    ) -> AppResult<(usize, usize)> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let assignment = assignment_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, assignment.revision)?;
                lock_tenant_enrolments(conn, &tenant)?;
                let at = now();
                assignment_rows::remove(conn, &tenant, &id, at, &actor)?;
                // Handed over first: someone another assignment covers keeps learning.
                let mut handover: HashMap<String, Vec<String>> = HashMap::new();
                for candidate in enrolment_rows::handover(conn, &tenant, &id)? {
                    handover.entry(candidate.1).or_default().push(candidate.0);
                }
                for (other, ids) in &handover {
                    enrolment_rows::relink(conn, &tenant, ids, other)?;
                }
                let (not_started, started) = enrolment_rows::of_assignment(conn, &tenant, &id)?;
                enrolment_rows::withdraw(
                    conn,
                    &tenant,
                    &not_started,
                    Withdrawal::AssignmentRemoved,
                    "the assignment was removed",
                    &Change { at, actor: &actor },
                )?;
                let withdrawn = enrolment_rows::by_ids(conn, &tenant, &not_started)?;
                outbox::enqueue(
                    conn,
                    &tenant,
                    withdrawn.iter().map(events::withdrawn).collect(),
                )?;
                Ok((not_started.len(), started.len()))
            })
            .await
    }

    /// An admin enrols one active person.
    pub async fn enrol_person(
        &self,
        who: &Principal,
        person_id: String,
        pathway_id: String,
        due_at: Option<NaiveDateTime>,
        request_id: Option<String>,
    ) -> AppResult<Enrolment> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
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
                    |conn, id| enrolment_rows::get(conn, &tenant, id),
                    |conn| {
                        let person = people_rows::get(conn, &tenant, &person_id)?;
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
        pathway_id: String,
        request_id: Option<String>,
    ) -> AppResult<Enrolment> {
        let tenant = who.tenant_id.clone();
        let learner = who.subject.clone();
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
                    |conn, id| enrolment_rows::get(conn, &tenant, id),
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
                        if enrolment_rows::covering_assignment(
                            conn,
                            &tenant,
                            &person_id,
                            &pathway_id,
                        )?
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
                        Ok((enrolment.id.clone(), enrolment))
                    },
                )
            })
            .await
    }

    /// Admins and services read any enrolment; learners only their own.
    pub async fn get_enrolment(&self, who: &Principal, id: String) -> AppResult<Enrolment> {
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
            vec![e.id.clone()]
        }))
    }

    pub async fn withdraw_enrolment(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        reason: String,
    ) -> AppResult<Enrolment> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let current = enrolment_rows::get(conn, &tenant, &id)?;
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
                outbox::enqueue(conn, &tenant, vec![events::withdrawn(&enrolment)])?;
                Ok(enrolment)
            })
            .await
    }

    pub async fn extend_due_date(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        due_at: NaiveDateTime,
        reason: String,
    ) -> AppResult<Enrolment> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                let current = enrolment_rows::get(conn, &tenant, &id)?;
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
                outbox::enqueue(conn, &tenant, vec![events::updated(&enrolment)])?;
                Ok(enrolment)
            })
            .await
    }

    /// May `learner` (an external id; the caller when None) take `pathway_id` now?
    pub async fn check_access(
        &self,
        who: &Principal,
        learner: Option<String>,
        pathway_id: String,
    ) -> AppResult<AccessDecision> {
        let learner = match learner {
            None => who.subject.clone(),
            Some(learner) if learner == who.subject => learner,
            Some(learner) => {
                who.require_any(&ACCESS_CHECKERS).map_err(|_| {
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
                Ok(enrolment::decide_access(person, current, &pathway_id))
            })
            .await
    }

    /// Applies records-service's events: `EnrolmentStarted` (the enrolment has progress, so
    /// removing its assignment keeps it), `CertificationExpiring` (a new enrolment cycle) and
    /// `EnrolmentVersionMoved` (an admin moved the learner to a newer pathway version).
    pub async fn apply_events(
        &self,
        events: Vec<lms_proto::events_v1::Event>,
    ) -> AppResult<lms_proto::events_v1::DeliverEventsResponse> {
        if events.len() > 500 {
            return Err(AppError::invalid_field(
                "events",
                "at most 500 per delivery",
            ));
        }
        Ok(lms_platform::inbox::consume(&self.db, events, apply_event).await)
    }
}

/// Writes one enrolment (admin or self) with its event, unless the learner has a current one.
#[allow(clippy::too_many_arguments)]
fn enrol_one(
    conn: &mut DbConnection,
    tenant: &str,
    actor: &str,
    (person_id, learner): (String, String),
    (pathway_id, version): (String, i32),
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
        id: new_id(),
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

/// Applies one of records-service's events inside its transaction.
fn apply_event(
    conn: &mut DbConnection,
    event: &lms_proto::events_v1::Event,
) -> Result<(), lms_platform::inbox::EventError> {
    use lms_platform::inbox::{EventError, payload};
    use prost::Name;
    let tenant = event.tenant_id.as_str();
    let type_url = event
        .payload
        .as_ref()
        .map(|p| p.type_url.as_str())
        .unwrap_or_default();
    let known = |conn: &mut DbConnection, id: &str| match enrolment_rows::get(conn, tenant, id) {
        Ok(enrolment) => Ok(enrolment),
        Err(AppError::NotFound(_)) => Err(EventError::Reject(format!("unknown enrolment {id}"))),
        Err(other) => Err(other.into()),
    };
    if type_url == lms_proto::records_v1::CertificationExpiring::type_url() {
        let expiring: lms_proto::records_v1::CertificationExpiring = payload(event)?;
        let previous = known(conn, &expiring.enrolment_id)?;
        start_recertification(
            conn,
            tenant,
            previous,
            expiring.expire_time.as_ref().and_then(from_timestamp),
        )?;
        return Ok(());
    }
    if type_url == lms_proto::records_v1::EnrolmentVersionMoved::type_url() {
        let moved: lms_proto::records_v1::EnrolmentVersionMoved = payload(event)?;
        known(conn, &moved.enrolment_id)?;
        if enrolment_rows::move_to_version(
            conn,
            tenant,
            &moved.enrolment_id,
            moved.to_version,
            &Change {
                at: now(),
                actor: &moved.actor,
            },
        )? {
            assignment_rows::set_pathway_version(
                conn,
                tenant,
                &moved.pathway_id,
                moved.to_version,
            )?;
            let events =
                enrolment_rows::by_ids(conn, tenant, std::slice::from_ref(&moved.enrolment_id))?
                    .iter()
                    .map(events::updated)
                    .collect();
            outbox::enqueue(conn, tenant, events)?;
        }
        return Ok(());
    }
    let started: lms_proto::enrolment_v1::EnrolmentStarted = payload(event)?;
    let at = started
        .start_time
        .as_ref()
        .and_then(from_timestamp)
        .ok_or_else(|| EventError::Reject("EnrolmentStarted without start_time".into()))?;
    known(conn, &started.enrolment_id)?;
    enrolment_rows::mark_started(conn, tenant, &started.enrolment_id, at)?;
    Ok(())
}

/// A certification's recertification window opened: the enrolment that earned it is closed
/// (kept as a record) and a new cycle starts, due when the certification expires, on the
/// newest version this service knows. Nothing happens when a newer cycle exists already or the
/// person has left.
fn start_recertification(
    conn: &mut DbConnection,
    tenant: &str,
    previous: Enrolment,
    due_at: Option<NaiveDateTime>,
) -> AppResult<()> {
    lock_tenant_enrolments(conn, tenant)?;
    if let Some(current) =
        enrolment_rows::current(conn, tenant, &previous.learner, &previous.pathway_id)?
        && current.id != previous.id
    {
        return Ok(());
    }
    let person = people_rows::key_facts_by_external_id(conn, tenant, &previous.learner)?;
    if !matches!(person, Some((_, PersonStatus::Active))) {
        return Ok(());
    }
    let at = now();
    let actor = "records-service";
    let mut events = Vec::new();
    if previous.status != Status::Withdrawn {
        enrolment_rows::withdraw(
            conn,
            tenant,
            std::slice::from_ref(&previous.id),
            Withdrawal::Recertification,
            "closed: a recertification cycle started",
            &Change { at, actor },
        )?;
        events.extend(
            enrolment_rows::by_ids(conn, tenant, std::slice::from_ref(&previous.id))?
                .iter()
                .map(events::withdrawn),
        );
    }
    let version = assignment_rows::latest_version(conn, tenant, &previous.pathway_id)?
        .unwrap_or(previous.pathway_version)
        .max(previous.pathway_version);
    let next = Enrolment {
        id: new_id(),
        pathway_version: version,
        requirement: crate::domain::assignment::Requirement::Mandatory,
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
        ..previous
    };
    enrolment_rows::insert_many(conn, tenant, std::slice::from_ref(&next))?;
    events.push(events::created(&next));
    outbox::enqueue(conn, tenant, events)?;
    Ok(())
}
