//! Assignments, enrolments and access decisions.

use chrono::NaiveDateTime;
use lms_platform::ids::{PathwayId, PersonId};
use lms_platform::resource::{etag, from_timestamp, now, timestamp};
use lms_platform::validate::Violations;
use lms_platform::{AppError, AppResult};

use super::*;
use lms_proto::enrolment_v1 as pb;
use prost_types::FieldMask;

use crate::app::{AssignmentPatch, AssignmentView};
use crate::domain::assignment::{
    self, Assignment, AssignmentFilter, DuePolicy, LeavePolicy, Requirement, Target,
};
use crate::domain::enrolment::{self, AccessDecision, AccessReason, EnrolmentFilter, Status};
use crate::domain::person::{self};

// ---- assignments and enrolments -----------------------------------------------------------

/// A timestamp field, or a violation when it is out of range.
fn time_field(v: &mut Violations, field: &str, t: prost_types::Timestamp) -> Option<NaiveDateTime> {
    let at = from_timestamp(&t);
    if at.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    at
}

fn leave_policy_to_wire(p: LeavePolicy) -> pb::LeavePolicy {
    match p {
        LeavePolicy::Keep => pb::LeavePolicy::Keep,
        LeavePolicy::Suspend => pb::LeavePolicy::Suspend,
        LeavePolicy::WithdrawIfNotStarted => pb::LeavePolicy::WithdrawIfNotStarted,
    }
}

fn due_policy_to_wire(d: DuePolicy) -> Option<pb::DuePolicy> {
    use pb::due_policy::Policy;
    let policy = match d {
        DuePolicy::None => return None,
        DuePolicy::Fixed(at) => Policy::FixedTime(timestamp(at)),
        DuePolicy::DaysAfterAssignment(days) => Policy::DaysAfterAssignment(days),
        DuePolicy::DaysAfterHire(days) => Policy::DaysAfterHire(days),
    };
    Some(pb::DuePolicy {
        policy: Some(policy),
    })
}

pub fn assignment(view: AssignmentView) -> pb::Assignment {
    let a = view.assignment;
    let (audience_id, class_id) = match a.target {
        Target::Audience(id) => (id, String::new()),
        Target::Class(id) => (String::new(), id),
    };
    pb::Assignment {
        etag: etag(a.revision),
        audit: Some(a.audit.to_proto()),
        id: a.id,
        pathway_id: a.pathway_id.into(),
        audience_id,
        class_id,
        requirement: crate::events::requirement(a.requirement) as i32,
        due_policy: due_policy_to_wire(a.due_policy),
        leave_policy: leave_policy_to_wire(a.leave_policy) as i32,
        pathway_version: a.pathway_version,
        enrolled_count: view.enrolled,
    }
}

fn due_policy(v: &mut Violations, field: &str, d: Option<&pb::DuePolicy>) -> DuePolicy {
    use pb::due_policy::Policy;
    match d.and_then(|d| d.policy) {
        None => DuePolicy::None,
        Some(Policy::FixedTime(t)) => time_field(v, &format!("{field}.fixed_time"), t)
            .map(DuePolicy::Fixed)
            .unwrap_or(DuePolicy::None),
        Some(Policy::DaysAfterAssignment(days)) => DuePolicy::DaysAfterAssignment(days),
        Some(Policy::DaysAfterHire(days)) => DuePolicy::DaysAfterHire(days),
    }
}

fn leave_policy(v: &mut Violations, field: &str, value: i32) -> LeavePolicy {
    match pb::LeavePolicy::try_from(value) {
        Ok(pb::LeavePolicy::Unspecified | pb::LeavePolicy::Keep) => LeavePolicy::Keep,
        Ok(pb::LeavePolicy::Suspend) => LeavePolicy::Suspend,
        Ok(pb::LeavePolicy::WithdrawIfNotStarted) => LeavePolicy::WithdrawIfNotStarted,
        Err(_) => {
            v.add(field, format!("unknown leave policy {value}"));
            LeavePolicy::Keep
        }
    }
}

pub fn new_assignment(req: pb::CreateAssignmentRequest) -> AppResult<(Assignment, Option<String>)> {
    let Some(a) = req.assignment else {
        return Err(AppError::invalid_field("assignment", "is required"));
    };
    let mut v = Violations::new();
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    v.id("assignment.pathway_id", &a.pathway_id);
    let target = match (a.audience_id.is_empty(), a.class_id.is_empty()) {
        (false, true) => {
            v.id("assignment.audience_id", &a.audience_id);
            Some(Target::Audience(a.audience_id.clone()))
        }
        (true, false) => {
            v.id("assignment.class_id", &a.class_id);
            Some(Target::Class(a.class_id.clone()))
        }
        _ => {
            v.add(
                "assignment.audience_id",
                "set exactly one of audience_id and class_id",
            );
            None
        }
    };
    let requirement = match pb::Requirement::try_from(a.requirement) {
        Ok(pb::Requirement::Mandatory) => Requirement::Mandatory,
        Ok(pb::Requirement::Optional) => Requirement::Optional,
        Ok(pb::Requirement::Open) => Requirement::Open,
        _ => {
            v.add(
                "assignment.requirement",
                "is required: MANDATORY, OPTIONAL or OPEN",
            );
            Requirement::Optional
        }
    };
    let due = due_policy(&mut v, "assignment.due_policy", a.due_policy.as_ref());
    if v.is_empty() {
        assignment::validate_due_policy(&mut v, "assignment.due_policy", requirement, due, now());
    }
    let leave = leave_policy(&mut v, "assignment.leave_policy", a.leave_policy);
    v.finish()?;
    Ok((
        Assignment {
            id: String::new(),
            pathway_id: a.pathway_id.into(),
            target: target.ok_or_else(|| {
                AppError::invalid_field("assignment.audience_id", "set exactly one target")
            })?,
            requirement,
            due_policy: due,
            leave_policy: leave,
            pathway_version: 0,
            revision: 0,
            audit: lms_platform::resource::Audit::new(""),
        },
        request_id,
    ))
}

pub fn assignment_patch(a: &pb::Assignment, mask: Option<FieldMask>) -> AppResult<AssignmentPatch> {
    let paths =
        lms_platform::field_mask::update_paths(mask.as_ref(), a, &["due_policy", "leave_policy"])?;
    let mut v = Violations::new();
    let mut patch = AssignmentPatch::default();
    for path in &paths {
        match path.as_str() {
            "due_policy" => {
                patch.due_policy = Some(due_policy(
                    &mut v,
                    "assignment.due_policy",
                    a.due_policy.as_ref(),
                ))
            }
            "leave_policy" => {
                patch.leave_policy = Some(leave_policy(
                    &mut v,
                    "assignment.leave_policy",
                    a.leave_policy,
                ))
            }
            other => v.add(
                "update_mask",
                format!("unknown or read-only path {other:?}; updatable: due_policy, leave_policy"),
            ),
        }
    }
    v.finish()?;
    Ok(patch)
}

pub fn assignment_filter(req: &pb::ListAssignmentsRequest) -> AppResult<AssignmentFilter> {
    let mut v = Violations::new();
    let pathway_id = v.optional_typed_id("pathway_id", &req.pathway_id);
    let audience_id = v
        .optional_id("audience_id", &req.audience_id)
        .map(|_| req.audience_id.clone());
    let class_id = v
        .optional_id("class_id", &req.class_id)
        .map(|_| req.class_id.clone());
    v.finish()?;
    Ok(AssignmentFilter {
        pathway_id,
        audience_id,
        class_id,
    })
}

pub fn enrolment_filter(req: &pb::ListEnrolmentsRequest) -> AppResult<EnrolmentFilter> {
    let mut v = Violations::new();
    let person_id = v.optional_typed_id("person_id", &req.person_id);
    let pathway_id = v.optional_typed_id("pathway_id", &req.pathway_id);
    v.max_text("learner", &req.learner, person::MAX_EXTERNAL_ID_CHARS);
    let status = match pb::EnrolmentStatus::try_from(req.status) {
        Ok(pb::EnrolmentStatus::Unspecified) => None,
        Ok(pb::EnrolmentStatus::EnrolmentActive) => Some(Status::Active),
        Ok(pb::EnrolmentStatus::EnrolmentSuspended) => Some(Status::Suspended),
        Ok(pb::EnrolmentStatus::EnrolmentWithdrawn) => Some(Status::Withdrawn),
        Err(_) => {
            v.add("status", format!("unknown status {}", req.status));
            None
        }
    };
    v.finish()?;
    Ok(EnrolmentFilter {
        learner: (!req.learner.is_empty()).then(|| req.learner.clone()),
        person_id,
        pathway_id,
        status,
    })
}

/// (person id, pathway id, due, request id) of an admin enrolment.
pub fn enrol_person(
    req: pb::EnrolPersonRequest,
) -> AppResult<(PersonId, PathwayId, Option<NaiveDateTime>, Option<String>)> {
    let mut v = Violations::new();
    let person_id = v.typed_id("person_id", &req.person_id);
    let pathway_id = v.typed_id("pathway_id", &req.pathway_id);
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    let due = req.due_time.and_then(|t| time_field(&mut v, "due_time", t));
    if let Some(due) = due
        && due <= now()
    {
        v.add("due_time", "must be in the future");
    }
    v.finish()?;
    match (person_id, pathway_id) {
        (Some(person_id), Some(pathway_id)) => Ok((person_id, pathway_id, due, request_id)),
        // Not reached: both are recorded as violations when missing.
        _ => Err(AppError::invalid_field("person_id", "must be a UUID")),
    }
}

/// (due, reason) of a due-date extension.
pub fn due_extension(req: &pb::ExtendDueDateRequest) -> AppResult<(NaiveDateTime, String)> {
    let mut v = Violations::new();
    v.id("id", &req.id);
    v.required_text("reason", &req.reason, enrolment::MAX_REASON_CHARS);
    let due = match req.due_time {
        None => {
            v.add("due_time", "is required");
            None
        }
        Some(t) => time_field(&mut v, "due_time", t),
    };
    if let Some(due) = due
        && due <= now()
    {
        v.add("due_time", "must be in the future");
    }
    v.finish()?;
    let due = due.ok_or_else(|| AppError::invalid_field("due_time", "is required"))?;
    Ok((due, req.reason.trim().to_string()))
}

pub fn access_decision(d: AccessDecision) -> pb::AccessDecision {
    pb::AccessDecision {
        allowed: d.allowed,
        reason: match d.reason {
            AccessReason::Enrolled => pb::AccessReason::Enrolled,
            AccessReason::UnknownLearner => pb::AccessReason::UnknownLearner,
            AccessReason::LearnerInactive => pb::AccessReason::LearnerInactive,
            AccessReason::NotEnrolled => pb::AccessReason::NotEnrolled,
            AccessReason::MaySelfEnrol => pb::AccessReason::MaySelfEnrol,
            AccessReason::Suspended => pb::AccessReason::AccessSuspended,
        } as i32,
        message: d.message,
        enrolment: d.enrolment.map(enrolment),
    }
}
