//! Moving the due dates of an assignment's existing enrolments to a new due policy: planned
//! the same way for the preview and for the update, so the preview shows what the update does.

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::outbox;
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal};

use super::EnrolmentApp;
use super::assignments::AssignmentPatch;
use crate::domain::assignment::DuePolicy;
use crate::domain::enrolment::{DueChange, Enrolment};
use crate::events;
use crate::storage::{
    assignments as assignment_rows, enrolments as enrolment_rows, people as people_rows,
};

/// One enrolment whose due date the new policy moves.
#[derive(Debug, Clone)]
pub struct DueMove {
    pub enrolment: Enrolment,
    pub due_at: NaiveDateTime,
}

/// What a due policy change does to an assignment's current enrolments.
#[derive(Debug, Clone, Default)]
pub struct DuePlan {
    pub moves: Vec<DueMove>,
    pub unchanged: usize,
}

/// The moves `policy` makes on the current enrolments of `assignment_id`: each gets the due
/// date the policy gives an enrolment made when it was (hire dates included).
pub(super) fn plan(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assignment_id: &str,
    policy: DuePolicy,
) -> AppResult<DuePlan> {
    let current = enrolment_rows::current_of_assignment(conn, tenant, assignment_id)?;
    let people: Vec<_> = current.iter().map(|e| e.person_id.clone()).collect();
    let hired = people_rows::hire_dates(conn, tenant, &people)?;
    let mut plan = DuePlan::default();
    for enrolment in current {
        let wanted = policy.due_at(
            enrolment.assigned_at,
            hired.get(&enrolment.person_id).copied(),
        );
        match wanted {
            Some(due_at) if enrolment.due_at != Some(due_at) => {
                plan.moves.push(DueMove { enrolment, due_at })
            }
            _ => plan.unchanged += 1,
        }
    }
    Ok(plan)
}

/// Applies a plan: each move is a due date change with its reason, sent to records-service.
pub(super) fn apply(
    conn: &mut DbConnection,
    tenant: &TenantId,
    plan: DuePlan,
    actor: &str,
    reason: &str,
) -> AppResult<()> {
    let at = now();
    let mut updated = Vec::with_capacity(plan.moves.len());
    for DueMove { enrolment, due_at } in plan.moves {
        let change = DueChange {
            previous_due_at: enrolment.due_at,
            due_at,
            reason: reason.to_string(),
            actor: actor.to_string(),
            changed_at: at,
        };
        enrolment_rows::change_due(conn, tenant, &enrolment, enrolment.revision, &change)?;
        updated.push(enrolment_rows::get(conn, tenant, &enrolment.id)?);
    }
    outbox::enqueue(conn, tenant, updated.iter().map(events::updated).collect())
}

impl EnrolmentApp {
    /// What `patch` would do to the due dates of the assignment's current enrolments, without
    /// changing anything.
    pub async fn preview_assignment_update(
        &self,
        who: &Principal,
        id: String,
        patch: AssignmentPatch,
    ) -> AppResult<DuePlan> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let assignment = assignment_rows::get(conn, &tenant, &id)?;
                let Some(policy) = patch.due_policy else {
                    return Err(AppError::invalid_field(
                        "update_mask",
                        "a preview shows a due_policy change: name due_policy",
                    ));
                };
                crate::app::assignments::check_due_policy(&assignment, policy)?;
                plan(conn, &tenant, &assignment.id, policy)
            })
            .await
    }
}
