//! Unit tests of the pathway rules.

use lms_platform::AppError;

use super::Audit;
use super::pathway::*;
use super::step::*;

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
        start_time: chrono::DateTime::from_timestamp(1_800_000_000, 0),
        end_time: chrono::DateTime::from_timestamp(1_800_003_600, 0),
        location: "Room 4".into(),
        capacity: 12,
        instructor: "kim".into(),
    };
    let json = serde_json::to_string(&detail).unwrap();
    assert!(json.contains("\"kind\":\"TRAINING_SESSION\""));
    assert_eq!(serde_json::from_str::<StepDetail>(&json).unwrap(), detail);
    // Steps stored before sessions were scheduled separately read as they were written; a
    // training step now needs no date at all.
    let stored = r#"{"kind":"TRAINING_SESSION","start_time":"2027-01-15T08:00:00Z","end_time":"2027-01-15T09:00:00Z","location":"Room 4","capacity":12,"instructor":"kim"}"#;
    assert_eq!(serde_json::from_str::<StepDetail>(stored).unwrap(), detail);
    let undated = r#"{"kind":"TRAINING_SESSION","location":"","capacity":0,"instructor":"kim"}"#;
    assert!(matches!(
        serde_json::from_str::<StepDetail>(undated).unwrap(),
        StepDetail::TrainingSession {
            start_time: None,
            end_time: None,
            ..
        }
    ));
}
