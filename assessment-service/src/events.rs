//! The events assessment-service writes to its outbox: each final attempt result, for
//! records-service.

use lms_platform::outbox::NewEvent;
use lms_platform::resource::timestamp;
use lms_proto::assessment_v1 as pb;

use crate::domain::attempt::AttemptResult;

/// How an attempt's final result came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Graded {
    /// Scored by the service when the learner submitted.
    OnSubmission,
    /// A person graded the attempt's last essay.
    ByPerson,
    /// A regrade after a corrected answer key: it replaces an earlier result.
    Corrected,
}

/// An attempt's final result, and how it came about.
pub fn outcome(result: &AttemptResult, graded: Graded) -> NewEvent {
    NewEvent::new(
        result.attempt_id.clone(),
        &pb::AssessmentOutcome {
            attempt_id: result.attempt_id.clone(),
            assessment_id: result.assessment_id.clone(),
            pathway_id: result.pathway_id.clone().into(),
            step_id: result.step_id.clone(),
            learner: result.learner.clone(),
            attempt_number: result.attempt_number,
            max_attempts: result.max_attempts,
            score: result.score,
            max_score: result.max_score,
            passed: result.passed,
            result_percent: result.result_percent,
            result_passed: result.result_passed,
            grade_time: Some(timestamp(result.graded_at)),
            corrected: graded == Graded::Corrected,
            graded_by_person: graded == Graded::ByPerson,
        },
    )
}
