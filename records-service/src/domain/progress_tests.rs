//! Progress rules, case by case.
use super::*;
use crate::domain::pathway::StepKind;

fn step(id: &str, required: bool, prerequisites: &[&str]) -> Step {
    Step {
        id: id.into(),
        title: id.to_uppercase(),
        kind: StepKind::Content,
        required,
        prerequisites: prerequisites.iter().map(|p| p.to_string()).collect(),
        assessment_id: String::new(),
        instructor: String::new(),
        cmi5: None,
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
    let fresh = compute(&p, &record(&[]), EnrolmentStatus::Active, None, at(0));
    assert_eq!(fresh.status, Status::NotStarted);
    assert_eq!(fresh.next_step_ids(), ["a"]);
    let c = fresh.step("c").unwrap();
    assert_eq!(
        (c.state, c.unlocked_by.clone()),
        (StepState::Locked, vec!["a".to_string()])
    );
    // The optional b is available once a is done and never gates c.
    let after_a = compute(
        &p,
        &record(&[("a", 1)]),
        EnrolmentStatus::Active,
        None,
        at(2),
    );
    assert_eq!(after_a.next_step_ids(), ["b", "c"]);
    assert_eq!(after_a.percent, 50.0);
    assert_eq!(after_a.status, Status::InProgress);
    let done = compute(
        &p,
        &record(&[("a", 1), ("c", 5)]),
        EnrolmentStatus::Active,
        None,
        at(6),
    );
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
    let fresh = compute(&p, &record(&[]), EnrolmentStatus::Active, None, at(0));
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
    let one = compute(
        &p,
        &record(&[("b", 1)]),
        EnrolmentStatus::Active,
        Some(at(3)),
        at(4),
    );
    assert_eq!((one.percent, one.status), (50.0, Status::Overdue));
    let two = compute(
        &p,
        &record(&[("b", 1), ("c", 7)]),
        EnrolmentStatus::Active,
        Some(at(3)),
        at(8),
    );
    assert_eq!((two.percent, two.status), (100.0, Status::Completed));
    assert_eq!(two.completed_at, Some(at(7)));
}

fn kind(mut s: Step, kind: StepKind) -> Step {
    s.kind = kind;
    s
}

#[test]
fn lock_reasons_name_titles_and_standing_comes_first() {
    let p = pathway(
        true,
        Completion::AllRequired,
        vec![
            step("a", true, &[]),
            step("b", true, &[]),
            step("c", true, &[]),
        ],
    );
    let fresh = compute(&p, &record(&[]), EnrolmentStatus::Active, None, at(0));
    let c = fresh.step("c").unwrap();
    assert_eq!(
        c.reason.as_ref().map(StepReason::text).unwrap(),
        "Complete “A” and “B” first."
    );
    let held = compute(
        &p,
        &record(&[("a", 1)]),
        EnrolmentStatus::Suspended,
        None,
        at(2),
    );
    assert_eq!(held.step("a").unwrap().state, StepState::Completed);
    for id in ["b", "c"] {
        let s = held.step(id).unwrap();
        assert_eq!(
            (s.state, s.reason.clone()),
            (StepState::Blocked, Some(StepReason::EnrolmentSuspended))
        );
    }
    assert!(held.next_step_ids().is_empty());
}

#[test]
fn dead_ends_and_steps_others_complete_are_not_offered() {
    let p = pathway(
        false,
        Completion::AllRequired,
        vec![
            kind(step("quiz", true, &[]), StepKind::Assessment),
            kind(step("session", true, &[]), StepKind::TrainingSession),
            kind(step("paper", true, &[]), StepKind::External),
            step("read", true, &[]),
        ],
    );
    let mut r = record(&[]);
    r.attempts_used.insert("quiz".into(), 3);
    r.evidence
        .insert("paper".into(), EvidenceStanding::AwaitingApproval);
    r.bookings.insert("session".into(), BookingState::Booked);
    let now = compute(&p, &r, EnrolmentStatus::Active, None, at(0));
    let state = |id: &str| {
        let s = now.step(id).unwrap();
        (s.state, s.reason.clone())
    };
    assert_eq!(
        state("quiz"),
        (StepState::Blocked, Some(StepReason::AttemptsUsed(3)))
    );
    assert_eq!(
        state("session"),
        (StepState::Waiting, Some(StepReason::AttendanceByInstructor))
    );
    assert_eq!(
        state("paper"),
        (
            StepState::Waiting,
            Some(StepReason::EvidenceAwaitingApproval)
        )
    );
    assert_eq!(now.next_step_ids(), ["read"]);
    r.evidence.insert(
        "paper".into(),
        EvidenceStanding::Rejected("Unsigned.".into()),
    );
    let again = compute(&p, &r, EnrolmentStatus::Active, None, at(1));
    let paper = again.step("paper").unwrap();
    assert_eq!(paper.state, StepState::Available);
    assert_eq!(
        paper.reason.as_ref().unwrap().text(),
        "Your evidence was not accepted: Unsigned. You may submit it again."
    );
    // Without a booking the learner acts next: they book; on the waitlist they wait.
    r.bookings.remove("session");
    let unbooked = compute(&p, &r, EnrolmentStatus::Active, None, at(1));
    let session = unbooked.step("session").unwrap();
    assert_eq!(
        (session.state, session.reason.clone()),
        (StepState::Available, Some(StepReason::BookASession))
    );
    r.bookings
        .insert("session".into(), BookingState::Waitlisted);
    let waiting = compute(&p, &r, EnrolmentStatus::Active, None, at(1));
    assert_eq!(
        waiting.step("session").unwrap().reason,
        Some(StepReason::OnWaitlist)
    );
}

#[test]
fn the_latest_outcome_decides_whether_attempts_are_used() {
    let outcome = |kind: ActivityKind, number: i32| Activity {
        id: format!("{number}"),
        enrolment_id: "e".into(),
        step_id: "quiz".into(),
        kind,
        source: ActivitySource::AssessmentOutcome,
        actor: "assessment-service".into(),
        score: 0.0,
        max_score: 1.0,
        attempt_number: number,
        max_attempts: 2,
        evidence_url: String::new(),
        note: String::new(),
        recorded_at: at(number as u32),
    };
    let mut r = Record::default();
    r.add(&outcome(ActivityKind::StepFailed, 1));
    assert!(r.attempts_used.is_empty(), "one attempt is left");
    r.add(&outcome(ActivityKind::StepFailed, 2));
    assert_eq!(r.attempts_used.get("quiz"), Some(&2));
    // A regrade of the last attempt that passes reopens it.
    r.add(&outcome(ActivityKind::StepStarted, 2));
    assert!(r.attempts_used.is_empty());
}
