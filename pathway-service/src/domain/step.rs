//! Steps of a pathway: their kinds, order and prerequisites.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use lms_platform::AppError;
use lms_platform::text_enum;
use lms_platform::validate::Violations;
use serde::{Deserialize, Serialize};

use super::cmi5::{Cmi5Unit, validate_unit};
use super::{Audit, MAX_DESCRIPTION_CHARS, MAX_MINUTES, MAX_NAME_CHARS, MAX_URL_CHARS};

pub const MAX_STEPS: usize = 500;
pub const MAX_PREREQUISITES: usize = 50;

text_enum!(MediaType {
    Unspecified = "UNSPECIFIED",
    Document = "DOCUMENT",
    Video = "VIDEO",
    Audio = "AUDIO",
    WebPage = "WEB_PAGE",
    Scorm = "SCORM",
});

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
        /// Set when the material is a cmi5 assignable unit.
        #[serde(default)]
        cmi5: Option<Cmi5Unit>,
    },
    Assessment {
        assessment_id: String,
    },
    /// Sessions (with their own times, places and seats) are scheduled per step in
    /// records-service; what the step itself says of a session is a description only, and
    /// optional.
    TrainingSession {
        #[serde(default)]
        start_time: Option<DateTime<Utc>>,
        #[serde(default)]
        end_time: Option<DateTime<Utc>>,
        location: String,
        /// 0: not said.
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
        StepDetail::Content { url, cmi5, .. } => {
            v.url("step.content.url", url, MAX_URL_CHARS);
            if let Some(unit) = cmi5 {
                validate_unit(v, "step.content.cmi5", unit, url, "step.content.url");
            }
        }
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
            match (start_time, end_time) {
                (Some(start), Some(end)) if end <= start => {
                    v.add("step.training_session.end_time", "must be after start_time");
                }
                (Some(_), None) => v.add(
                    "step.training_session.end_time",
                    "is required with start_time",
                ),
                (None, Some(_)) => v.add(
                    "step.training_session.start_time",
                    "is required with end_time",
                ),
                _ => {}
            }
            v.max_text("step.training_session.location", location, 500);
            v.in_range(
                "step.training_session.capacity",
                (*capacity).into(),
                0,
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
