//! The API guide's "What a learner sees" stays true: it names every step state and every
//! reason, and its example texts are the ones records-service writes.

use lms_proto::records_v1 as pb;
use records_service::domain::progress::StepReason;

fn section() -> String {
    let guide = include_str!("../../docs/api.md");
    let start = guide
        .find("### What a learner sees")
        .expect("the API guide has the section");
    let rest = &guide[start..];
    let end = rest.find("**Training history.**").unwrap_or(rest.len());
    rest[..end].to_string()
}

#[test]
fn the_guide_names_every_step_state_and_reason() {
    let section = section();
    for state in [
        pb::StepState::StepAvailable,
        pb::StepState::StepDone,
        pb::StepState::StepLocked,
        pb::StepState::StepBlocked,
        pb::StepState::StepWaiting,
    ] {
        let name = format!("`{}`", state.as_str_name());
        assert!(section.contains(&name), "{name} is not in the guide");
    }
    for reason in (1..).map_while(|n| pb::StepReason::try_from(n).ok()) {
        let name = format!("`{}`", reason.as_str_name());
        assert!(section.contains(&name), "{name} is not in the guide");
    }
}

#[test]
fn the_guides_reason_texts_are_the_ones_learners_read() {
    let section = section();
    let examples = [
        StepReason::CompleteEarlierSteps(vec!["Read".into(), "Accept".into()]),
        StepReason::AttemptsUsed(1),
        StepReason::AttemptsUsed(3),
        StepReason::EnrolmentSuspended,
        StepReason::EnrolmentWithdrawn,
        StepReason::BookASession,
        StepReason::OnWaitlist,
        StepReason::AttendanceByInstructor,
        StepReason::EvidenceAwaitingApproval,
        StepReason::EvidenceRejected("The certificate is unsigned.".into()),
    ];
    for reason in examples {
        let row = format!("| `{}` |", reason.code());
        let text = format!(" | {} |", reason.text());
        assert!(
            section
                .lines()
                .any(|line| line.starts_with(&row) && line.ends_with(&text)),
            "no row `{row} … {text}` in the guide"
        );
        // The API's enum has the same name.
        assert!(pb::StepReason::from_str_name(reason.code()).is_some());
    }
}
