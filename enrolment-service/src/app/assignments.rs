//! Assignments: a published pathway given to an audience or a class.
use lms_platform::ids::{EnrolmentId, TenantId};
use std::collections::HashMap;

use lms_platform::db::DbConnection;
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, now};
use lms_platform::validate::new_id;
use lms_platform::{AppResult, Principal, audit, idempotency};

use super::EnrolmentApp;
use super::reconcile::{lock_tenant_enrolments, reconcile};
use crate::domain::assignment::{Assignment, AssignmentFilter, DuePolicy, LeavePolicy, Target};
use crate::domain::enrolment::Withdrawal;
use crate::events::{self};
use crate::storage::coverage::{self, Scope};
use crate::storage::enrolments::{self as enrolment_rows, Change};
use crate::storage::{
    assignments as assignment_rows, audiences as audience_rows, classes as class_rows,
};

/// An assignment as shown: the assignment and its active enrolments.
pub struct AssignmentView {
    pub assignment: Assignment,
    pub enrolled: i64,
}

fn assignment_view(
    conn: &mut DbConnection,
    tenant: &TenantId,
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
fn check_target(conn: &mut DbConnection, tenant: &TenantId, target: &Target) -> AppResult<()> {
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

/// A new due policy must suit the assignment's requirement (and a fixed date be ahead).
pub(super) fn check_due_policy(assignment: &Assignment, due: DuePolicy) -> AppResult<()> {
    let mut v = lms_platform::validate::Violations::new();
    crate::domain::assignment::validate_due_policy(
        &mut v,
        "assignment.due_policy",
        assignment.requirement,
        due,
        now(),
    );
    v.finish()
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
        let who = who.clone();
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
                        let resource = format!("assignments/{}", assignment.id);
                        audit::record(conn, &who, audit::Change::created(resource, &assignment)?)?;
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
    /// Changes an assignment's policies. With `apply_to_existing` (a reason), a new due policy
    /// also moves the due dates of its current enrolments, in the same transaction.
    pub async fn update_assignment(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        patch: AssignmentPatch,
        apply_to_existing: Option<String>,
    ) -> AppResult<AssignmentView> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut assignment = assignment_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, assignment.revision)?;
                let expected = assignment.revision;
                let before = assignment.clone();
                if let Some(due) = patch.due_policy {
                    check_due_policy(&assignment, due)?;
                    assignment.due_policy = due;
                    if let Some(reason) = &apply_to_existing {
                        let moves = super::due_moves::plan(conn, &tenant, &assignment.id, due)?;
                        super::due_moves::apply(conn, &tenant, moves, &actor, reason)?;
                    }
                }
                if let Some(leave) = patch.leave_policy {
                    assignment.leave_policy = leave;
                }
                assignment.revision += 1;
                assignment.audit.touch(&actor);
                assignment_rows::update(conn, &tenant, &assignment, expected)?;
                let resource = format!("assignments/{id}");
                let change = audit::Change::updated(resource, &before, &assignment)?;
                audit::record(conn, &who, change)?;
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
        let who = who.clone();
        self.db
            .write(move |conn| {
                let assignment = assignment_rows::get(conn, &tenant, &id)?;
                check_etag(&etag, assignment.revision)?;
                lock_tenant_enrolments(conn, &tenant)?;
                let resource = format!("assignments/{id}");
                audit::record(conn, &who, audit::Change::deleted(resource, &assignment)?)?;
                let at = now();
                assignment_rows::remove(conn, &tenant, &id, at, &actor)?;
                // Handed over first: someone another assignment covers keeps learning.
                let mut handover: HashMap<String, Vec<EnrolmentId>> = HashMap::new();
                for candidate in coverage::handover(conn, &tenant, &id)? {
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
}
