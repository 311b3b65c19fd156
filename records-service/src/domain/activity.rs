//! The learner record: append-only activities on an enrolment's steps.

use chrono::NaiveDateTime;
use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::text_enum;

text_enum!(ActivityKind {
    StepStarted = "STEP_STARTED",
    StepCompleted = "STEP_COMPLETED",
    StepFailed = "STEP_FAILED",
    /// A completion undone by a corrected attendance mark.
    StepReopened = "STEP_REOPENED",
    /// An admin moved the enrolment to a newer pathway version (not the learner's doing).
    PathwayVersionMoved = "PATHWAY_VERSION_MOVED",
});

text_enum!(ActivitySource {
    Learner = "LEARNER",
    AssessmentOutcome = "ASSESSMENT_OUTCOME",
    InstructorAttendance = "INSTRUCTOR_ATTENDANCE",
    AdminEntry = "ADMIN_ENTRY",
    /// A cmi5 step's content: launched, or its statements met the step's moveOn rule.
    ContentStatements = "CONTENT_STATEMENTS",
});

#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub id: String,
    pub enrolment_id: EnrolmentId,
    /// Empty for an activity about the whole enrolment (a version move).
    pub step_id: String,
    pub kind: ActivityKind,
    pub source: ActivitySource,
    pub actor: String,
    pub score: f64,
    pub max_score: f64,
    /// For assessment outcomes: which attempt, and the assessment's limit (0: unlimited).
    pub attempt_number: i32,
    pub max_attempts: i32,
    pub evidence_url: String,
    pub note: String,
    pub recorded_at: NaiveDateTime,
}

impl Activity {
    /// A new entry of the log without a score or an attempt (set those, the evidence and the
    /// note with struct update syntax where they apply).
    pub fn new(
        enrolment_id: EnrolmentId,
        step_id: String,
        kind: ActivityKind,
        source: ActivitySource,
        actor: String,
        recorded_at: NaiveDateTime,
    ) -> Activity {
        Activity {
            id: lms_platform::validate::new_id(),
            enrolment_id,
            step_id,
            kind,
            source,
            actor,
            score: 0.0,
            max_score: 0.0,
            attempt_number: 0,
            max_attempts: 0,
            evidence_url: String::new(),
            note: String::new(),
            recorded_at,
        }
    }
}

/// A learner's wish to record something on a step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewActivity {
    pub enrolment_id: EnrolmentId,
    pub step_id: String,
    pub completed: bool,
    pub evidence_url: String,
    pub note: String,
}

/// An assessment's final result for a learner, as assessment-service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssessmentResult {
    pub learner: String,
    pub pathway_id: PathwayId,
    pub assessment_id: String,
    /// The step it counts for; empty: the step that links the assessment.
    pub step_id: String,
    pub attempt_id: String,
    pub attempt_number: i32,
    /// The assessment's attempt limit when it was graded (0: unlimited).
    pub max_attempts: i32,
    pub score: f64,
    pub max_score: f64,
    /// The attempt passed.
    pub passed: bool,
    /// The assessment is passed (this attempt or the best one).
    pub result_passed: bool,
}
