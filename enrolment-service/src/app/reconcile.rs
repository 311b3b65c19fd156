//! Keeping assigned enrolments in line with who the assignments cover.
use lms_platform::ids::{EnrolmentId, PathwayId, PersonId, TenantId};
use std::collections::{HashMap, HashSet};

use lms_platform::AppResult;
use lms_platform::db::{DbConnection, lock_until_commit};
use lms_platform::outbox::{self, NewEvent};
use lms_platform::resource::{Audit, now};

use crate::domain::assignment::{Assignment, LeaveAction};
use crate::domain::enrolment::{Enrolment, Source, Status, Withdrawal};
use crate::events::{self};
use crate::storage::assignments as assignment_rows;
use crate::storage::coverage::{self, Scope};
use crate::storage::enrolments::{self as enrolment_rows, Change};

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
pub(super) fn lock_tenant_enrolments(conn: &mut DbConnection, tenant: &TenantId) -> AppResult<()> {
    lock_until_commit(conn, &format!("enrolments/{tenant}"))
}

/// Brings assigned enrolments in scope in line with who the assignments cover now: leavers
/// get their assignment's leave policy (or move to another assignment of the pathway that
/// still covers them), returners are resumed, joiners are enrolled — all in batches, each
/// change with its outbox event, in the caller's transaction.
pub(super) fn reconcile(
    conn: &mut DbConnection,
    tenant: &TenantId,
    scope: Scope,
    actor: &str,
) -> AppResult<ReconcileReport> {
    lock_tenant_enrolments(conn, tenant)?;
    let at = now();
    let change = Change { at, actor };
    let mut report = ReconcileReport::default();

    // Leavers.
    let mut handover: HashMap<String, Vec<EnrolmentId>> = HashMap::new();
    let (mut lapse, mut suspend, mut withdraw) = (Vec::new(), Vec::new(), Vec::new());
    for leaver in coverage::leavers(conn, tenant, scope)? {
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
    for returner in coverage::returners(conn, tenant, scope)? {
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
    let joiners = coverage::joiners(conn, tenant, scope)?;
    let mut assignments: HashMap<String, Assignment> = HashMap::new();
    let mut seen: HashSet<(PersonId, PathwayId)> = HashSet::new();
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
            id: EnrolmentId::generate(),
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
