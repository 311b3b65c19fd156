//! Progress on an enrolment, computed the same way every time from the pathway version, the
//! enrolment's standing and what the learner has done: step states (and, for every step the
//! learner cannot take now, the reason in words), percent, status. This is the one answer to
//! "may this learner do this now, and if not, why": RecordActivity, the assessment outcome and
//! assessment-service's StartAttempt all ask it.

use std::collections::HashMap;

use chrono::NaiveDateTime;

use super::activity::{Activity, ActivityKind, ActivitySource};
use super::enrolment::EnrolmentStatus;
use super::pathway::{Completion, PathwaySnapshot, Step, StepKind};
use super::session::BookingState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    /// Waiting for earlier steps of the pathway.
    Locked,
    /// The learner can take it now.
    Available,
    Completed,
    /// Nobody is about to unblock it: the attempts are used, the enrolment is on hold or ended.
    Blocked,
    /// Someone other than the learner acts next: an instructor marks attendance, a reviewer
    /// decides on submitted evidence.
    Waiting,
}

/// Why a step is not simply available (or, for rejected evidence, what to do again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepReason {
    /// The titles of the steps to complete first.
    CompleteEarlierSteps(Vec<String>),
    /// Every allowed attempt is used and none passed.
    AttemptsUsed(i32),
    EnrolmentSuspended,
    EnrolmentWithdrawn,
    /// A training session: an instructor marks attendance.
    AttendanceByInstructor,
    /// A training step without a booking: book one of its sessions.
    BookASession,
    /// Every seat of the booked session is taken: waiting for one.
    OnWaitlist,
    EvidenceAwaitingApproval,
    /// The reviewer's reason; the learner may submit again.
    EvidenceRejected(String),
}

impl StepReason {
    /// The machine-readable name (the API's `StepReason`).
    pub fn code(&self) -> &'static str {
        match self {
            StepReason::CompleteEarlierSteps(_) => "COMPLETE_EARLIER_STEPS",
            StepReason::AttemptsUsed(_) => "ATTEMPTS_USED",
            StepReason::EnrolmentSuspended => "ENROLMENT_ON_HOLD",
            StepReason::EnrolmentWithdrawn => "ENROLMENT_ENDED",
            StepReason::AttendanceByInstructor => "ATTENDANCE_BY_INSTRUCTOR",
            StepReason::BookASession => "BOOK_A_SESSION",
            StepReason::OnWaitlist => "ON_WAITLIST",
            StepReason::EvidenceAwaitingApproval => "EVIDENCE_AWAITING_APPROVAL",
            StepReason::EvidenceRejected(_) => "RESUBMIT_EVIDENCE",
        }
    }

    /// The reason as a learner reads it.
    pub fn text(&self) -> String {
        match self {
            StepReason::CompleteEarlierSteps(titles) => {
                let quoted: Vec<String> = titles.iter().map(|t| format!("“{t}”")).collect();
                format!("Complete {} first.", join_words(&quoted))
            }
            StepReason::AttemptsUsed(1) => {
                "Your only attempt is used and did not pass. An administrator can allow another."
                    .into()
            }
            StepReason::AttemptsUsed(n) => format!(
                "All {n} attempts are used and none passed. An administrator can allow another."
            ),
            StepReason::EnrolmentSuspended => {
                "Your enrolment is on hold; nothing can be done on it until it is resumed.".into()
            }
            StepReason::EnrolmentWithdrawn => {
                "Your enrolment has ended; nothing more can be done on it.".into()
            }
            StepReason::AttendanceByInstructor => {
                "Attend the training session; an instructor records your attendance.".into()
            }
            StepReason::BookASession => "Book one of the step's training sessions.".into(),
            StepReason::OnWaitlist => {
                "The session is full and you are on its waitlist; a seat that frees up goes to \
                 the first learner waiting."
                    .into()
            }
            StepReason::EvidenceAwaitingApproval => {
                "Your evidence is waiting for a reviewer's decision.".into()
            }
            StepReason::EvidenceRejected(reason) => {
                format!("Your evidence was not accepted: {reason} You may submit it again.")
            }
        }
    }
}

/// "a", "a and b", "a, b and c".
fn join_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepProgress {
    pub step: Step,
    pub state: StepState,
    /// For a locked step: the ids of the steps to complete first.
    pub unlocked_by: Vec<String>,
    /// Set for every state but Completed and a plain Available.
    pub reason: Option<StepReason>,
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

    /// The steps the learner can take now: never one that is locked, blocked or waiting on
    /// somebody else.
    pub fn next_step_ids(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| s.state == StepState::Available)
            .map(|s| s.step.id.clone())
            .collect()
    }
}

/// Where a learner's evidence for an external step stands (the latest submission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvidenceStanding {
    AwaitingApproval,
    Rejected(String),
}

/// What the learner has done so far on an enrolment.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Step id → when it was first completed.
    pub completed: HashMap<String, NaiveDateTime>,
    /// Step id → best assessment score in percent.
    pub best_scores: HashMap<String, f64>,
    /// Step id → the attempt limit, for assessment steps whose last allowed attempt failed.
    pub attempts_used: HashMap<String, i32>,
    /// Step id → the latest evidence submission's standing (approved ones complete the step).
    pub evidence: HashMap<String, EvidenceStanding>,
    /// Step id → the live session booking of a training step.
    pub bookings: HashMap<String, BookingState>,
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
        if activity.source == ActivitySource::AssessmentOutcome {
            // The latest outcome decides: a regrade or a raised limit can undo "used".
            let used_up = activity.kind == ActivityKind::StepFailed
                && activity.max_attempts > 0
                && activity.attempt_number >= activity.max_attempts;
            if used_up {
                self.attempts_used
                    .insert(activity.step_id.clone(), activity.max_attempts);
            } else {
                self.attempts_used.remove(&activity.step_id);
            }
        }
        match activity.kind {
            ActivityKind::StepCompleted => {
                self.completed
                    .entry(activity.step_id.clone())
                    .or_insert(activity.recorded_at);
            }
            // A corrected attendance mark: the step is open again until completed anew.
            ActivityKind::StepReopened => {
                self.completed.remove(&activity.step_id);
            }
            _ => {}
        }
    }
}

pub fn compute(
    pathway: &PathwaySnapshot,
    record: &Record,
    standing: EnrolmentStatus,
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
        let (state, reason) = if completed_at.is_some() {
            (StepState::Completed, None)
        } else {
            open_step_state(pathway, record, standing, step, &unlocked_by)
        };
        steps.push(StepProgress {
            step: step.clone(),
            state,
            unlocked_by: if state == StepState::Locked {
                unlocked_by
            } else {
                Vec::new()
            },
            reason,
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

/// The state of a step not completed yet, and why. The enrolment's standing comes first (on
/// hold or ended blocks everything), then the steps to complete first, then what the step
/// itself waits for.
fn open_step_state(
    pathway: &PathwaySnapshot,
    record: &Record,
    standing: EnrolmentStatus,
    step: &Step,
    unlocked_by: &[String],
) -> (StepState, Option<StepReason>) {
    match standing {
        EnrolmentStatus::Suspended => {
            return (StepState::Blocked, Some(StepReason::EnrolmentSuspended));
        }
        EnrolmentStatus::Withdrawn => {
            return (StepState::Blocked, Some(StepReason::EnrolmentWithdrawn));
        }
        EnrolmentStatus::Active => {}
    }
    if !unlocked_by.is_empty() {
        let titles = unlocked_by
            .iter()
            .map(|id| pathway.step(id).map_or(id.clone(), |s| s.title.clone()))
            .collect();
        return (
            StepState::Locked,
            Some(StepReason::CompleteEarlierSteps(titles)),
        );
    }
    match step.kind {
        StepKind::Assessment => match record.attempts_used.get(&step.id) {
            Some(limit) => (StepState::Blocked, Some(StepReason::AttemptsUsed(*limit))),
            None => (StepState::Available, None),
        },
        StepKind::TrainingSession => match record.bookings.get(&step.id) {
            Some(BookingState::Booked) => {
                (StepState::Waiting, Some(StepReason::AttendanceByInstructor))
            }
            Some(BookingState::Waitlisted) => (StepState::Waiting, Some(StepReason::OnWaitlist)),
            Some(BookingState::Cancelled) | None => {
                (StepState::Available, Some(StepReason::BookASession))
            }
        },
        StepKind::External => match record.evidence.get(&step.id) {
            Some(EvidenceStanding::AwaitingApproval) => (
                StepState::Waiting,
                Some(StepReason::EvidenceAwaitingApproval),
            ),
            Some(EvidenceStanding::Rejected(why)) => (
                StepState::Available,
                Some(StepReason::EvidenceRejected(why.clone())),
            ),
            None => (StepState::Available, None),
        },
        StepKind::Content | StepKind::Acknowledgement => (StepState::Available, None),
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
