//! Progress on an enrolment, computed the same way every time from the pathway version and the
//! completed steps: step states (and what unlocks a locked step), percent, status.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::activity::{Activity, ActivityKind};
use super::pathway::{Completion, PathwaySnapshot, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Locked,
    Available,
    Completed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepProgress {
    pub step: Step,
    pub state: StepState,
    /// For a locked step: the steps to complete first.
    pub unlocked_by: Vec<String>,
    pub completed_at: Option<NaiveDateTime>,
    pub score_percent: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    NotStarted,
    InProgress,
    Completed,
    Overdue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub steps: Vec<StepProgress>,
    pub percent: f64,
    pub status: Status,
    pub completed_at: Option<NaiveDateTime>,
}

impl Progress {
    pub fn step(&self, id: &str) -> Option<&StepProgress> {
        self.steps.iter().find(|s| s.step.id == id)
    }

    pub fn next_step_ids(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Available)
            .map(|s| s.step.id.clone())
            .collect()
    }
}

/// What the learner has done so far on an enrolment.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Step id → when it was first completed.
    pub completed: HashMap<String, NaiveDateTime>,
    /// Step id → best assessment score in percent.
    pub best_scores: HashMap<String, f64>,
    /// Whether anything at all was recorded (a start, a failed attempt...).
    pub any_activity: bool,
}

impl Record {
    /// Adds one activity of the log (oldest first).
    pub fn add(&mut self, activity: &Activity) {
        if activity.kind == ActivityKind::PathwayVersionMoved {
            // An admin's move is not the learner's doing: it starts nothing.
            return;
        }
        self.any_activity = true;
        if activity.max_score > 0.0 {
            let percent = activity.score / activity.max_score * 100.0;
            let best = self
                .best_scores
                .entry(activity.step_id.clone())
                .or_insert(percent);
            *best = best.max(percent);
        }
        if activity.kind == ActivityKind::StepCompleted {
            self.completed
                .entry(activity.step_id.clone())
                .or_insert(activity.recorded_at);
        }
    }
}

pub fn compute(
    pathway: &PathwaySnapshot,
    record: &Record,
    due_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Progress {
    let done = |id: &str| record.completed.contains_key(id);
    let mut steps = Vec::with_capacity(pathway.steps.len());
    for (index, step) in pathway.steps.iter().enumerate() {
        let mut unlocked_by: Vec<String> = Vec::new();
        if pathway.sequential {
            // Every required step before this one must be done; optional ones never gate.
            unlocked_by.extend(
                pathway.steps[..index]
                    .iter()
                    .filter(|s| s.required && !done(&s.id))
                    .map(|s| s.id.clone()),
            );
        }
        for prerequisite in &step.prerequisites {
            if !done(prerequisite) && !unlocked_by.contains(prerequisite) {
                unlocked_by.push(prerequisite.clone());
            }
        }
        let completed_at = record.completed.get(&step.id).copied();
        let state = if completed_at.is_some() {
            StepState::Completed
        } else if unlocked_by.is_empty() {
            StepState::Available
        } else {
            StepState::Locked
        };
        steps.push(StepProgress {
            step: step.clone(),
            state,
            unlocked_by: if state == StepState::Locked {
                unlocked_by
            } else {
                Vec::new()
            },
            completed_at,
            score_percent: record.best_scores.get(&step.id).copied().unwrap_or(0.0),
        });
    }
    let (counted, needed): (Vec<&StepProgress>, usize) = match pathway.completion {
        Completion::AllRequired => {
            let required: Vec<&StepProgress> = steps.iter().filter(|s| s.step.required).collect();
            if required.is_empty() {
                (steps.iter().collect(), steps.len())
            } else {
                let n = required.len();
                (required, n)
            }
        }
        Completion::MinSteps(n) => (steps.iter().collect(), n.min(steps.len())),
    };
    let done_count = counted
        .iter()
        .filter(|s| s.state == StepState::Completed)
        .count();
    let complete = needed > 0 && done_count >= needed;
    let percent = if needed == 0 {
        0.0
    } else {
        ((done_count.min(needed) as f64 / needed as f64) * 10_000.0).round() / 100.0
    };
    // Completed when the rule was first met: the latest of the counted completions needed.
    let completed_at = complete.then(|| {
        let mut times: Vec<NaiveDateTime> = counted.iter().filter_map(|s| s.completed_at).collect();
        times.sort();
        times[needed - 1]
    });
    let status = if complete {
        Status::Completed
    } else if due_at.is_some_and(|due| now > due) {
        Status::Overdue
    } else if record.any_activity || !record.completed.is_empty() {
        Status::InProgress
    } else {
        Status::NotStarted
    };
    Progress {
        steps,
        percent,
        status,
        completed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pathway::StepKind;

    fn step(id: &str, required: bool, prerequisites: &[&str]) -> Step {
        Step {
            id: id.into(),
            title: id.to_uppercase(),
            kind: StepKind::Content,
            required,
            prerequisites: prerequisites.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn pathway(sequential: bool, completion: Completion, steps: Vec<Step>) -> PathwaySnapshot {
        PathwaySnapshot {
            certification: None,
            pathway_id: "p".into(),
            version: 1,
            title: "P".into(),
            sequential,
            completion,
            steps,
        }
    }

    fn at(minute: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(10, minute, 0)
            .unwrap()
    }

    fn record(done: &[(&str, u32)]) -> Record {
        Record {
            completed: done
                .iter()
                .map(|(id, m)| (id.to_string(), at(*m)))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn sequential_steps_unlock_one_after_another_and_say_why() {
        let p = pathway(
            true,
            Completion::AllRequired,
            vec![
                step("a", true, &[]),
                step("b", false, &[]),
                step("c", true, &[]),
            ],
        );
        let fresh = compute(&p, &record(&[]), None, at(0));
        assert_eq!(fresh.status, Status::NotStarted);
        assert_eq!(fresh.next_step_ids(), ["a"]);
        let c = fresh.step("c").unwrap();
        assert_eq!(
            (c.state, c.unlocked_by.clone()),
            (StepState::Locked, vec!["a".to_string()])
        );
        // The optional b is available once a is done and never gates c.
        let after_a = compute(&p, &record(&[("a", 1)]), None, at(2));
        assert_eq!(after_a.next_step_ids(), ["b", "c"]);
        assert_eq!(after_a.percent, 50.0);
        assert_eq!(after_a.status, Status::InProgress);
        let done = compute(&p, &record(&[("a", 1), ("c", 5)]), None, at(6));
        assert_eq!(done.status, Status::Completed);
        assert_eq!(done.percent, 100.0);
        assert_eq!(done.completed_at, Some(at(5)));
    }

    #[test]
    fn free_sequencing_still_honours_prerequisites() {
        let p = pathway(
            false,
            Completion::AllRequired,
            vec![
                step("a", true, &[]),
                step("b", true, &["a"]),
                step("c", true, &[]),
            ],
        );
        let fresh = compute(&p, &record(&[]), None, at(0));
        assert_eq!(fresh.next_step_ids(), ["a", "c"]);
        assert_eq!(fresh.step("b").unwrap().unlocked_by, ["a"]);
    }

    #[test]
    fn n_of_m_completion_and_overdue() {
        let p = pathway(
            false,
            Completion::MinSteps(2),
            vec![
                step("a", false, &[]),
                step("b", false, &[]),
                step("c", false, &[]),
            ],
        );
        let one = compute(&p, &record(&[("b", 1)]), Some(at(3)), at(4));
        assert_eq!((one.percent, one.status), (50.0, Status::Overdue));
        let two = compute(&p, &record(&[("b", 1), ("c", 7)]), Some(at(3)), at(8));
        assert_eq!((two.percent, two.status), (100.0, Status::Completed));
        assert_eq!(two.completed_at, Some(at(7)));
    }
}
