//! Who may call each RPC: one line per RPC, applied before any handler runs (see
//! `lms_platform::auth::Authorize`). What a caller then sees is the use case's business: a
//! learner reads their own attempts, and no answer key.

use lms_platform::Role::{self, Admin, Instructor, Learner, Service};
use lms_platform::access::Permission::Grade;
use lms_platform::access::ScopedPolicy;
use lms_platform::auth::Policy;

/// Who writes and grades assessments.
const STAFF: &[Role] = &[Admin, Instructor];
/// Who may read answer keys: staff, and the other services.
const KEY_READERS: &[Role] = &[Admin, Instructor, Service];
const LEARNERS: &[Role] = &[Learner];
const ANY_ROLE: &[Role] = &[Admin, Instructor, Learner, Service];

pub const POLICY: Policy = &[
    ("CreateQuestionBank", STAFF),
    ("GetQuestionBank", KEY_READERS),
    ("ListQuestionBanks", KEY_READERS),
    ("CreateQuestion", STAFF),
    ("GetQuestion", KEY_READERS),
    ("ListQuestions", KEY_READERS),
    ("UpdateQuestion", STAFF),
    ("RegradeQuestion", STAFF),
    ("ImportGift", STAFF),
    ("ExportGift", STAFF),
    ("CreateAssessment", STAFF),
    ("UpdateAssessment", STAFF),
    ("GetAssessment", ANY_ROLE),
    ("ListAssessments", ANY_ROLE),
    ("StartAttempt", LEARNERS),
    ("GetAttempt", ANY_ROLE),
    ("ListAttempts", ANY_ROLE),
    ("SaveAnswers", LEARNERS),
    ("SubmitAttempt", LEARNERS),
    ("ListPendingGrades", STAFF),
    ("GradeAnswer", STAFF),
];

/// What a grader or instructor binding on a group opens: grading its people's work (the use
/// case decides on the attempt's learner).
pub const SCOPED: ScopedPolicy = &[("GradeAnswer", Grade)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_has_exactly_one_policy_line() {
        lms_platform::auth::check_policy(POLICY, "lms.assessment.v1.AssessmentService").unwrap();
    }
}
