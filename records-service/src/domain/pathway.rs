//! What records-service keeps of a published pathway version: its steps and the rules that
//! decide unlocking and completion.

use lms_platform::ids::PathwayId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepKind {
    Content,
    Assessment,
    TrainingSession,
    External,
    Acknowledgement,
}

impl StepKind {
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Content => "content",
            StepKind::Assessment => "assessment",
            StepKind::TrainingSession => "training_session",
            StepKind::External => "external",
            StepKind::Acknowledgement => "acknowledgement",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub kind: StepKind,
    pub required: bool,
    pub prerequisites: Vec<String>,
    /// For an assessment step: the assessment it links to (empty in versions cached before
    /// steps' links were kept).
    #[serde(default)]
    pub assessment_id: String,
    /// For a training step: the subject of its instructor, who manages its sessions (empty
    /// when none is named, or in versions cached before it was kept).
    #[serde(default)]
    pub instructor: String,
    /// For a content step that is a cmi5 assignable unit: what cmi5 needs of it.
    #[serde(default)]
    pub cmi5: Option<super::cmi5::Cmi5Unit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Completion {
    /// Every required step (every step when none is marked required).
    AllRequired,
    /// Any N steps.
    MinSteps(usize),
}

/// How long a certification from this pathway lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationPolicy {
    /// 0: never expires (unless calendar-anchored).
    pub validity_days: i32,
    /// How many days before expiry recertification opens.
    pub window_days: i32,
    /// Calendar-anchored expiry: (month, day), e.g. (3, 31); None: completion + validity.
    #[serde(default)]
    pub expiry_date: Option<(u32, u32)>,
    /// Days after expiry the holder stays compliant (the certification EXPIRING).
    #[serde(default)]
    pub grace_days: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathwaySnapshot {
    /// Set for CERTIFICATION pathways: completing one issues a certification.
    #[serde(default)]
    pub certification: Option<CertificationPolicy>,
    pub pathway_id: PathwayId,
    pub version: i32,
    pub title: String,
    /// Steps unlock one after another (required ones gate what follows).
    pub sequential: bool,
    pub completion: Completion,
    /// In pathway order.
    pub steps: Vec<Step>,
}

impl PathwaySnapshot {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The step an assessment counts for: the step it names, else the step that links it.
    /// A version cached before links were kept knows none: its first assessment step counts.
    /// None: the assessment is not on this version's path (practice).
    pub fn assessment_step(&self, step_id: &str, assessment_id: &str) -> Option<&Step> {
        if !step_id.is_empty() {
            return self.step(step_id);
        }
        let assessments = || self.steps.iter().filter(|s| s.kind == StepKind::Assessment);
        if assessments().all(|s| s.assessment_id.is_empty()) {
            return assessments().next();
        }
        assessments().find(|s| s.assessment_id == assessment_id)
    }
}
