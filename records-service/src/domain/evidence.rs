//! Evidence a learner submits for an EXTERNAL step, and the reviewer's decision on it.

use chrono::NaiveDateTime;
use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::text_enum;

text_enum!(EvidenceStatus {
    Pending = "PENDING",
    Approved = "APPROVED",
    Rejected = "REJECTED",
});

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evidence {
    pub id: String,
    pub enrolment_id: EnrolmentId,
    pub step_id: String,
    pub step_title: String,
    pub learner: String,
    pub pathway_id: PathwayId,
    pub description: String,
    pub url: String,
    pub file_reference: String,
    pub status: EvidenceStatus,
    pub submitted_at: NaiveDateTime,
    pub decided_by: String,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_reason: String,
}

/// What a learner submits.
#[derive(Debug, Clone)]
pub struct EvidenceSubmission {
    pub enrolment_id: EnrolmentId,
    pub step_id: String,
    pub description: String,
    pub url: String,
    pub file_reference: String,
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}
