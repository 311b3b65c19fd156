//! What records-service keeps of a published pathway version: its steps and the rules that
//! decide unlocking and completion.

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
    /// 0: never expires.
    pub validity_days: i32,
    /// How many days before expiry recertification opens.
    pub window_days: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathwaySnapshot {
    /// Set for CERTIFICATION pathways: completing one issues a certification.
    #[serde(default)]
    pub certification: Option<CertificationPolicy>,
    pub pathway_id: String,
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

    /// From pathway-service's published version.
    pub fn from_version(version: &lms_proto::pathway_v1::PathwayVersion) -> Option<Self> {
        use lms_proto::pathway_v1 as pb;
        let pathway = version.pathway.as_ref()?;
        let steps = pathway
            .steps
            .iter()
            .map(|s| {
                let kind = match s.kind.as_ref()? {
                    pb::step::Kind::Content(_) => StepKind::Content,
                    pb::step::Kind::Assessment(_) => StepKind::Assessment,
                    pb::step::Kind::TrainingSession(_) => StepKind::TrainingSession,
                    pb::step::Kind::External(_) => StepKind::External,
                    pb::step::Kind::Acknowledgement(_) => StepKind::Acknowledgement,
                };
                Some(Step {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    kind,
                    required: s.required,
                    prerequisites: s.prerequisite_step_ids.clone(),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let completion = match pathway
            .completion_rule
            .as_ref()
            .and_then(|r| r.rule.as_ref())
        {
            Some(pb::completion_rule::Rule::MinSteps(min)) => {
                Completion::MinSteps(min.count.max(1) as usize)
            }
            _ => Completion::AllRequired,
        };
        let certification = (pathway.outcome == pb::Outcome::Certification as i32).then(|| {
            let policy = pathway.certification.unwrap_or_default();
            CertificationPolicy {
                validity_days: policy.validity_days,
                window_days: policy.recertification_window_days,
            }
        });
        Some(PathwaySnapshot {
            certification,
            pathway_id: version.pathway_id.clone(),
            version: version.version,
            title: pathway.title.clone(),
            sequential: pathway.sequencing != pb::Sequencing::Free as i32,
            completion,
            steps,
        })
    }
}
