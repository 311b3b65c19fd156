//! Use cases: what each request does, in which transaction, calling the domain rules and
//! storage. Who may call each RPC is the gRPC layer's policy; what a caller may see (a learner
//! their own attempts, without answer keys) is decided here.

mod assessments;
mod attempts;
mod banks;
mod grading;

use lms_platform::access::{Access, Permission, Target};
use lms_platform::db::Db;
use lms_platform::{AppResult, Principal, Role};

use crate::clients::enrolment::EnrolmentAccess;
use crate::clients::pathways::Pathways;
use crate::clients::records::StepAuthority;
use crate::domain::attempt::AttemptRecord;
use crate::domain::bank::Bank;

/// The largest GIFT text one import takes.
pub const MAX_GIFT_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AssessmentApp {
    db: Db,
    access: EnrolmentAccess,
    steps: StepAuthority,
    pathways: Pathways,
    /// The decision point: whose work a grader or instructor binding lets its holder grade.
    decisions: Access,
}

impl AssessmentApp {
    pub fn new(
        db: Db,
        access: EnrolmentAccess,
        steps: StepAuthority,
        pathways: Pathways,
        decisions: Access,
    ) -> Self {
        Self {
            db,
            access,
            steps,
            pathways,
            decisions,
        }
    }

    pub fn decisions(&self) -> &Access {
        &self.decisions
    }

    /// Whether the caller may grade `learner`'s work: staff anyone's, a binding's holder the
    /// people of its groups.
    async fn grades(&self, who: &Principal, learner: &str) -> AppResult<bool> {
        self.decisions
            .allows(who, Permission::Grade, Target::Person(learner))
            .await
    }
}

pub struct BankView {
    pub bank: Bank,
    pub questions: i64,
}

/// An attempt and whether its viewer may see per-question results.
pub struct AttemptView {
    pub attempt: AttemptRecord,
    pub show_results: bool,
}

/// One essay answer waiting for a grade.
pub struct PendingGrade {
    pub attempt: AttemptRecord,
    pub question_id: String,
    pub question_text: String,
    pub answer_text: String,
    pub max_points: f64,
}

/// Staff and services see answer keys and everyone's attempts.
fn is_staff(who: &Principal) -> bool {
    who.has_any(&[Role::Admin, Role::Instructor, Role::Service])
}
