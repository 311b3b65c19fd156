//! Handlers of assignment updates and their preview: the same request, validated the same way.

use lms_platform::validate::{Violations, parse_id};
use lms_platform::{AppError, Principal};
use lms_proto::enrolment_v1 as pb;
use tonic::Status;

use super::convert;
use crate::app::{AssignmentPatch, DuePlan, EnrolmentApp};
use lms_platform::resource::timestamp;

/// The assignment's id, the patch, and the reason when existing enrolments are to follow.
fn read(
    req: pb::UpdateAssignmentRequest,
) -> Result<(pb::Assignment, AssignmentPatch, Option<String>), Status> {
    let assignment = req
        .assignment
        .ok_or_else(|| AppError::invalid_field("assignment", "is required"))?;
    parse_id("assignment.id", &assignment.id)?;
    let mut v = Violations::new();
    if req.apply_to_existing {
        v.required_text("reason", &req.reason, 500);
    } else {
        v.max_text("reason", &req.reason, 500);
    }
    v.finish()?;
    let patch = convert::assignment_patch(&assignment, req.update_mask)?;
    let apply = req.apply_to_existing.then(|| req.reason.trim().to_string());
    Ok((assignment, patch, apply))
}

pub async fn update(
    app: &EnrolmentApp,
    who: &Principal,
    req: pb::UpdateAssignmentRequest,
) -> Result<pb::Assignment, Status> {
    let (assignment, patch, apply) = read(req)?;
    let view = app
        .update_assignment(who, assignment.id, assignment.etag, patch, apply)
        .await?;
    Ok(convert::assignment(view))
}

pub async fn preview(
    app: &EnrolmentApp,
    who: &Principal,
    req: pb::UpdateAssignmentRequest,
) -> Result<pb::AssignmentUpdatePreview, Status> {
    let (assignment, patch, _) = read(req)?;
    let plan = app
        .preview_assignment_update(who, assignment.id, patch)
        .await?;
    Ok(preview_message(plan))
}

/// The first 200 moves are listed; the counts cover all.
fn preview_message(plan: DuePlan) -> pb::AssignmentUpdatePreview {
    pb::AssignmentUpdatePreview {
        moved_count: plan.moves.len() as i32,
        unchanged_count: plan.unchanged as i32,
        moves: plan
            .moves
            .into_iter()
            .take(200)
            .map(|m| pb::DueDateMove {
                enrolment_id: m.enrolment.id.into(),
                learner: m.enrolment.learner,
                previous_due_time: m.enrolment.due_at.map(timestamp),
                due_time: Some(timestamp(m.due_at)),
            })
            .collect(),
    }
}
