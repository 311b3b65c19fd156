//! Pathways, their steps and the rules of publishing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use lms_platform::AppError;
use serde::{Deserialize, Serialize};

use lms_platform::validate::Violations;

use super::{Audit, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS};

pub const MAX_STEPS: usize = 500;
pub const MAX_PREREQUISITES: usize = 50;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;
pub const MAX_MINUTES: i64 = 100_000;

macro_rules! text_enum {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(Outcome {
    Onboarding = "ONBOARDING",
    Certification = "CERTIFICATION",
    Training = "TRAINING",
    Compliance = "COMPLIANCE",
    Academic = "ACADEMIC",
});

text_enum!(Sequencing {
    Sequential = "SEQUENTIAL",
    Free = "FREE",
});

text_enum!(PathwayStatus {
    Draft = "DRAFT",
    Published = "PUBLISHED",
    Archived = "ARCHIVED",
});

text_enum!(MediaType {
    Unspecified = "UNSPECIFIED",
    Document = "DOCUMENT",
    Video = "VIDEO",
    Audio = "AUDIO",
    WebPage = "WEB_PAGE",
    Scorm = "SCORM",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompletionRule {
    /// Every required step.
    AllRequired,
    /// Any `n` steps.
    MinSteps(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationPolicy {
    /// 0: never expires.
    pub validity_days: i32,
    pub recertification_window_days: i32,
}

/// What an admin sets on a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathwaySettings {
    pub title: String,
    pub description: String,
    /// Empty when uncategorised.
    pub category_id: String,
    pub outcome: Outcome,
    pub sequencing: Sequencing,
    pub completion_rule: CompletionRule,
    pub estimated_duration_minutes: i32,
    pub tags: Vec<String>,
    pub certification: Option<CertificationPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pathway {
    pub id: String,
    pub settings: PathwaySettings,
    pub status: PathwayStatus,
    pub latest_version: i32,
    pub has_unpublished_changes: bool,
    pub revision: i64,
    pub audit: Audit,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    pub prerequisites: Vec<String>,
    pub position: i32,
    pub estimated_minutes: i32,
    pub detail: StepDetail,
    pub audit: Audit,
}

/// The kind of a step and what that kind needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepDetail {
    Content {
        url: String,
        media_type: MediaType,
    },
    Assessment {
        assessment_id: String,
    },
    TrainingSession {
        start_time: DateTime<Utc>,
        end_time: DateTime<Utc>,
        location: String,
        capacity: i32,
        instructor: String,
    },
    External {
        instructions: String,
    },
    Acknowledgement {
        policy_url: String,
        statement: String,
    },
}

impl StepDetail {
    pub fn kind(&self) -> &'static str {
        match self {
            StepDetail::Content { .. } => "CONTENT",
            StepDetail::Assessment { .. } => "ASSESSMENT",
            StepDetail::TrainingSession { .. } => "TRAINING_SESSION",
            StepDetail::External { .. } => "EXTERNAL",
            StepDetail::Acknowledgement { .. } => "ACKNOWLEDGEMENT",
        }
    }
}

/// Field checks on pathway settings, reported against `pathway.*` fields.
pub fn validate_settings(v: &mut Violations, s: &PathwaySettings) {
    v.required_text("pathway.title", &s.title, MAX_NAME_CHARS);
    v.max_text("pathway.description", &s.description, MAX_DESCRIPTION_CHARS);
    v.in_range(
        "pathway.estimated_duration_minutes",
        s.estimated_duration_minutes.into(),
        0,
        MAX_MINUTES,
    );
    if s.tags.len() > MAX_TAGS {
        v.add("pathway.tags", format!("at most {MAX_TAGS} tags"));
    }
    for (i, tag) in s.tags.iter().enumerate() {
        v.required_text(&format!("pathway.tags[{i}]"), tag, MAX_TAG_CHARS);
    }
    if let CompletionRule::MinSteps(n) = s.completion_rule {
        v.in_range(
            "pathway.completion_rule.min_steps.count",
            n.into(),
            1,
            MAX_STEPS as i64,
        );
    }
    match (s.outcome, s.certification) {
        (Outcome::Certification, Some(c)) => {
            v.in_range(
                "pathway.certification.validity_days",
                c.validity_days.into(),
                0,
                36_500,
            );
            if c.recertification_window_days < 0
                || (c.validity_days > 0 && c.recertification_window_days >= c.validity_days)
                || (c.validity_days == 0 && c.recertification_window_days != 0)
            {
                v.add(
                    "pathway.certification.recertification_window_days",
                    "must be 0..validity_days-1 (and 0 when certifications never expire)",
                );
            }
        }
        (Outcome::Certification, None) => {}
        (_, Some(_)) => v.add(
            "pathway.certification",
            "only a CERTIFICATION pathway has a certification policy",
        ),
        (_, None) => {}
    }
}

/// Field checks on a step, reported against `step.*` fields.
pub fn validate_step(v: &mut Violations, step: &Step) {
    v.required_text("step.title", &step.title, MAX_NAME_CHARS);
    v.max_text("step.description", &step.description, MAX_DESCRIPTION_CHARS);
    v.in_range(
        "step.estimated_minutes",
        step.estimated_minutes.into(),
        0,
        MAX_MINUTES,
    );
    if step.prerequisites.len() > MAX_PREREQUISITES {
        v.add(
            "step.prerequisite_step_ids",
            format!("at most {MAX_PREREQUISITES} prerequisites"),
        );
    }
    for (i, id) in step.prerequisites.iter().enumerate() {
        v.id(&format!("step.prerequisite_step_ids[{i}]"), id);
    }
    match &step.detail {
        StepDetail::Content { url, .. } => v.url("step.content.url", url, MAX_URL_CHARS),
        StepDetail::Assessment { assessment_id } => {
            v.id("step.assessment.assessment_id", assessment_id);
        }
        StepDetail::TrainingSession {
            start_time,
            end_time,
            location,
            capacity,
            instructor,
        } => {
            if end_time <= start_time {
                v.add("step.training_session.end_time", "must be after start_time");
            }
            v.required_text("step.training_session.location", location, 500);
            v.in_range(
                "step.training_session.capacity",
                (*capacity).into(),
                1,
                100_000,
            );
            v.max_text("step.training_session.instructor", instructor, 256);
        }
        StepDetail::External { instructions } => {
            v.max_text(
                "step.external.instructions",
                instructions,
                MAX_DESCRIPTION_CHARS,
            );
        }
        StepDetail::Acknowledgement {
            policy_url,
            statement,
        } => {
            v.url("step.acknowledgement.policy_url", policy_url, MAX_URL_CHARS);
            v.required_text("step.acknowledgement.statement", statement, 2000);
        }
    }
}

/// Inserts `step` at `position` (the end when absent or past the end).
pub fn add_step(steps: &mut Vec<Step>, step: Step, position: Option<i32>) -> Result<(), AppError> {
    if steps.len() >= MAX_STEPS {
        return Err(AppError::FailedPrecondition(format!(
            "a pathway holds at most {MAX_STEPS} steps"
        )));
    }
    let at = match position {
        Some(p) if p < 0 => {
            return Err(AppError::invalid_field("position", "must not be negative"));
        }
        Some(p) => (p as usize).min(steps.len()),
        None => steps.len(),
    };
    steps.insert(at, step);
    renumber(steps);
    Ok(())
}

/// Puts the steps in the order of `ids`, which must name each step exactly once.
pub fn reorder_steps(steps: &mut Vec<Step>, ids: &[String]) -> Result<(), AppError> {
    let mut by_id: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut order = Vec::with_capacity(ids.len());
    for id in ids {
        match by_id.remove(id.as_str()) {
            Some(index) => order.push(index),
            None => {
                return Err(AppError::invalid_field(
                    "step_ids",
                    format!("{id} is not a step of this pathway, or is named twice"),
                ));
            }
        }
    }
    if !by_id.is_empty() {
        return Err(AppError::invalid_field(
            "step_ids",
            format!("must name every step; {} missing", by_id.len()),
        ));
    }
    let mut reordered: Vec<Step> = order.into_iter().map(|i| steps[i].clone()).collect();
    renumber(&mut reordered);
    *steps = reordered;
    Ok(())
}

/// Removes a step that no other step needs as a prerequisite.
pub fn remove_step(steps: &mut Vec<Step>, id: &str) -> Result<(), AppError> {
    let index = steps
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| AppError::not_found(format!("step {id}")))?;
    if let Some(dependant) = steps
        .iter()
        .find(|s| s.prerequisites.iter().any(|p| p == id))
    {
        return Err(AppError::FailedPrecondition(format!(
            "step {:?} needs this step as a prerequisite; change it first",
            dependant.title
        )));
    }
    steps.remove(index);
    renumber(steps);
    Ok(())
}

fn renumber(steps: &mut [Step]) {
    for (position, step) in steps.iter_mut().enumerate() {
        step.position = position as i32;
    }
}

/// Checks that every prerequisite names another step of the same pathway and that they form no
/// cycle (a cycle would lock its steps forever).
pub fn check_prerequisites(steps: &[Step]) -> Result<(), AppError> {
    let ids: HashSet<&str> = steps.iter().map(|s| s.id.as_str()).collect();
    for (index, step) in steps.iter().enumerate() {
        for prerequisite in &step.prerequisites {
            if prerequisite == &step.id {
                return Err(AppError::invalid_field(
                    "step.prerequisite_step_ids",
                    "a step cannot be its own prerequisite",
                ));
            }
            if !ids.contains(prerequisite.as_str()) {
                return Err(AppError::invalid_field(
                    "step.prerequisite_step_ids",
                    format!("{prerequisite} is not a step of this pathway"),
                ));
            }
        }
        if step.prerequisites.len() > MAX_PREREQUISITES {
            return Err(AppError::invalid_field(
                "step.prerequisite_step_ids",
                format!("at most {MAX_PREREQUISITES} prerequisites (step {index})"),
            ));
        }
    }
    if let Some(step) = find_cycle(steps) {
        return Err(AppError::invalid_field(
            "step.prerequisite_step_ids",
            format!("prerequisites form a cycle through step {step}"),
        ));
    }
    Ok(())
}

/// A step on a prerequisite cycle, if any (depth-first search with colours).
fn find_cycle(steps: &[Step]) -> Option<String> {
    let edges: HashMap<&str, &[String]> = steps
        .iter()
        .map(|s| (s.id.as_str(), s.prerequisites.as_slice()))
        .collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    for start in steps.iter().map(|s| s.id.as_str()) {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative DFS: (node, index of the next edge to follow).
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Visiting);
        while let Some((node, next)) = stack.pop() {
            let targets = edges.get(node).copied().unwrap_or(&[]);
            if next < targets.len() {
                stack.push((node, next + 1));
                let target = targets[next].as_str();
                match marks.get(target) {
                    Some(Mark::Visiting) => return Some(target.to_string()),
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(target, Mark::Visiting);
                        stack.push((target, 0));
                    }
                }
            } else {
                marks.insert(node, Mark::Done);
            }
        }
    }
    None
}

/// Whether the draft can become a version; `FAILED_PRECONDITION` says what stands in the way.
pub fn check_publishable(pathway: &Pathway) -> Result<(), AppError> {
    let refuse = |why: String| Err(AppError::FailedPrecondition(why));
    if pathway.status == PathwayStatus::Archived {
        return refuse("an archived pathway cannot be published".into());
    }
    if pathway.steps.is_empty() {
        return refuse("a pathway needs at least one step to be published".into());
    }
    if pathway.latest_version > 0 && !pathway.has_unpublished_changes {
        return refuse(format!(
            "nothing changed since version {}",
            pathway.latest_version
        ));
    }
    match pathway.settings.completion_rule {
        CompletionRule::AllRequired => {
            if !pathway.steps.iter().any(|s| s.required) {
                return refuse(
                    "the completion rule needs every required step, but no step is required".into(),
                );
            }
        }
        CompletionRule::MinSteps(n) => {
            if n as usize > pathway.steps.len() {
                return refuse(format!(
                    "the completion rule needs {n} steps, but the pathway has {}",
                    pathway.steps.len()
                ));
            }
        }
    }
    if pathway.settings.sequencing == Sequencing::Sequential {
        // In a sequential pathway a step unlocks after the steps before it; a prerequisite
        // placed after its step could never be reached first.
        let positions: HashMap<&str, usize> = pathway
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        for (index, step) in pathway.steps.iter().enumerate() {
            if let Some(later) = step
                .prerequisites
                .iter()
                .find(|p| positions.get(p.as_str()).is_some_and(|&at| at > index))
            {
                return refuse(format!(
                    "step {:?} has prerequisite {later}, which comes after it in a sequential pathway",
                    step.title
                ));
            }
        }
    }
    check_prerequisites(&pathway.steps)
        .map_err(|error| AppError::FailedPrecondition(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> Audit {
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        Audit {
            created_at: at,
            created_by: "t".into(),
            updated_at: at,
            updated_by: "t".into(),
        }
    }

    fn step(id: &str, prerequisites: &[&str], required: bool) -> Step {
        Step {
            id: id.into(),
            title: id.into(),
            description: String::new(),
            required,
            prerequisites: prerequisites.iter().map(|p| p.to_string()).collect(),
            position: 0,
            estimated_minutes: 0,
            detail: StepDetail::External {
                instructions: String::new(),
            },
            audit: audit(),
        }
    }

    fn pathway(steps: Vec<Step>, sequencing: Sequencing, rule: CompletionRule) -> Pathway {
        Pathway {
            id: "p".into(),
            settings: PathwaySettings {
                title: "P".into(),
                description: String::new(),
                category_id: String::new(),
                outcome: Outcome::Training,
                sequencing,
                completion_rule: rule,
                estimated_duration_minutes: 0,
                tags: vec![],
                certification: None,
            },
            status: PathwayStatus::Draft,
            latest_version: 0,
            has_unpublished_changes: true,
            revision: 1,
            audit: audit(),
            steps,
        }
    }

    #[test]
    fn prerequisite_cycles_are_refused() {
        let steps = vec![
            step("a", &["c"], true),
            step("b", &["a"], true),
            step("c", &["b"], true),
        ];
        assert!(check_prerequisites(&steps).is_err());
    }

    #[test]
    fn a_diamond_of_prerequisites_is_fine() {
        let steps = vec![
            step("a", &[], true),
            step("b", &["a"], true),
            step("c", &["a"], true),
            step("d", &["b", "c"], true),
        ];
        assert!(check_prerequisites(&steps).is_ok());
    }

    #[test]
    fn prerequisites_outside_the_pathway_are_refused() {
        let steps = vec![step("a", &["elsewhere"], true)];
        assert!(check_prerequisites(&steps).is_err());
        let steps = vec![step("a", &["a"], true)];
        assert!(check_prerequisites(&steps).is_err());
    }

    #[test]
    fn an_empty_pathway_cannot_be_published() {
        let p = pathway(vec![], Sequencing::Free, CompletionRule::AllRequired);
        assert!(matches!(
            check_publishable(&p),
            Err(AppError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn a_completion_rule_that_cannot_be_met_blocks_publishing() {
        let p = pathway(
            vec![step("a", &[], true)],
            Sequencing::Free,
            CompletionRule::MinSteps(2),
        );
        assert!(check_publishable(&p).is_err());
        let p = pathway(
            vec![step("a", &[], false)],
            Sequencing::Free,
            CompletionRule::AllRequired,
        );
        assert!(check_publishable(&p).is_err());
        let p = pathway(
            vec![step("a", &[], false)],
            Sequencing::Free,
            CompletionRule::MinSteps(1),
        );
        assert!(check_publishable(&p).is_ok());
    }

    #[test]
    fn sequential_pathways_need_prerequisites_before_their_step() {
        let steps = vec![step("a", &["b"], true), step("b", &[], true)];
        let p = pathway(
            steps.clone(),
            Sequencing::Sequential,
            CompletionRule::AllRequired,
        );
        assert!(check_publishable(&p).is_err());
        let p = pathway(steps, Sequencing::Free, CompletionRule::AllRequired);
        assert!(check_publishable(&p).is_ok());
    }

    #[test]
    fn an_unchanged_published_pathway_is_not_republished() {
        let mut p = pathway(
            vec![step("a", &[], true)],
            Sequencing::Free,
            CompletionRule::AllRequired,
        );
        p.latest_version = 1;
        p.status = PathwayStatus::Published;
        p.has_unpublished_changes = false;
        assert!(check_publishable(&p).is_err());
    }

    #[test]
    fn step_details_round_trip_through_json() {
        let detail = StepDetail::TrainingSession {
            start_time: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            end_time: chrono::DateTime::from_timestamp(1_800_003_600, 0).unwrap(),
            location: "Room 4".into(),
            capacity: 12,
            instructor: "kim".into(),
        };
        let json = serde_json::to_string(&detail).unwrap();
        assert!(json.contains("\"kind\":\"TRAINING_SESSION\""));
        assert_eq!(serde_json::from_str::<StepDetail>(&json).unwrap(), detail);
    }
}
