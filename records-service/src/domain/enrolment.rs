//! Enrolments as records-service knows them: projected from enrolment-service's events, each
//! as of the enrolment's revision there.

use chrono::NaiveDateTime;
use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::text_enum;

text_enum!(EnrolmentStatus {
    Active = "ACTIVE",
    Suspended = "SUSPENDED",
    Withdrawn = "WITHDRAWN",
});

#[derive(Debug, Clone, PartialEq)]
pub struct Enrolment {
    pub id: EnrolmentId,
    pub learner: String,
    pub pathway_id: PathwayId,
    pub pathway_version: i32,
    pub status: EnrolmentStatus,
    /// MANDATORY, OPTIONAL or OPEN, as enrolment-service says.
    pub requirement: String,
    pub assigned_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    /// When its pathway's completion rule was first met (set here, not by events).
    pub completed_at: Option<NaiveDateTime>,
    /// enrolment-service's revision of it: an older event never overwrites a newer one.
    pub source_revision: i64,
}
