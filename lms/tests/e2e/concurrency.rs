//! Races a user could cause, against a real `lms up` on SQLite and on PostgreSQL: concurrent
//! updates with one etag (exactly one wins, none is lost silently), concurrent assignments of
//! one audience and concurrent idempotent creates (each person enrolled once), concurrent
//! completions of one step (recorded once). Concurrent attempt starts and submits are raced in
//! assessment-service's own tests (`attempt_limits_hold_under_concurrent_starts`,
//! `concurrent_submits_grade_once`).

use crate::support::Lms;
use futures::future::join_all;
use lms_platform::Role;
use lms_test_support::TestBackend;
use serde_json::{Value, json};
use tonic::Code;

const RACERS: usize = 12;

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap().to_string()
}

/// `RACERS` calls of `rpc` at once, one request each; their outcomes.
async fn race(lms: &Lms, rpc: &str, requests: Vec<Value>, token: &str) -> Vec<Result<Value, Code>> {
    join_all(requests.into_iter().map(|request| async move {
        lms.rpc(rpc, request, Some(token))
            .await
            .map_err(|s| s.code())
    }))
    .await
}

/// Exactly one winner; every loser told ABORTED (the etag moved), none silently overwritten.
fn one_winner(outcomes: &[Result<Value, Code>]) -> Value {
    let winners: Vec<&Value> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    let losers: Vec<Code> = outcomes.iter().filter_map(|o| o.clone().err()).collect();
    assert_eq!(winners.len(), 1, "outcomes: {outcomes:?}");
    assert!(
        losers.iter().all(|code| *code == Code::Aborted),
        "losers: {losers:?}"
    );
    winners[0].clone()
}

async fn concurrent_updates_with_one_etag_let_exactly_one_win(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms.token("acme", Role::Admin);

    let pathway = lms
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            json!({"pathway": {"title": "Onboarding", "outcome": "ONBOARDING"}}),
            &admin,
        )
        .await;
    let requests = (0..RACERS)
        .map(|n| json!({"pathway": {"id": id(&pathway), "title": format!("Title {n}"), "etag": pathway["etag"]},
                        "updateMask": "title"}))
        .collect();
    let winner = one_winner(
        &race(
            &lms,
            "lms.pathway.v1.PathwayService/UpdatePathway",
            requests,
            &admin,
        )
        .await,
    );
    let stored = lms
        .ok(
            "lms.pathway.v1.PathwayService/GetPathway",
            json!({"id": id(&pathway)}),
            &admin,
        )
        .await;
    assert_eq!(stored["title"], winner["title"]);
    assert_eq!(stored["etag"], winner["etag"]);

    let person = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreatePerson",
            json!({"person": {"externalId": "ada", "displayName": "Ada", "email": "ada@acme.example"}}),
            &admin,
        )
        .await;
    let requests = (0..RACERS)
        .map(|n| json!({"person": {"id": id(&person), "department": format!("Dept {n}"), "etag": person["etag"]},
                        "updateMask": "department"}))
        .collect();
    let winner = one_winner(
        &race(
            &lms,
            "lms.enrolment.v1.EnrolmentService/UpdatePerson",
            requests,
            &admin,
        )
        .await,
    );
    let stored = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/GetPerson",
            json!({"id": id(&person)}),
            &admin,
        )
        .await;
    assert_eq!(stored["department"], winner["department"]);

    let bank = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestionBank",
            json!({"bank": {"name": "Bank"}}),
            &admin,
        )
        .await;
    let question = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestion",
            json!({"bankId": id(&bank), "question": {"text": "Sky is blue.", "trueFalse": {"answer": true}}}),
            &admin,
        )
        .await;
    let assessment = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateAssessment",
            json!({"assessment": {"title": "Quiz", "pathwayId": id(&pathway),
                   "fixed": {"questionIds": [id(&question)]}, "passMarkPercent": 50}}),
            &admin,
        )
        .await;
    let requests = (0..RACERS)
        .map(|n| json!({"assessment": {"id": id(&assessment), "title": format!("Quiz {n}"), "etag": assessment["etag"]},
                        "updateMask": "title"}))
        .collect();
    let winner = one_winner(
        &race(
            &lms,
            "lms.assessment.v1.AssessmentService/UpdateAssessment",
            requests,
            &admin,
        )
        .await,
    );
    let stored = lms
        .ok(
            "lms.assessment.v1.AssessmentService/GetAssessment",
            json!({"id": id(&assessment)}),
            &admin,
        )
        .await;
    assert_eq!(stored["title"], winner["title"]);
}

/// A published pathway of one content step, and `people` people in a dynamic audience.
async fn pathway_and_audience(lms: &Lms, people: usize) -> (String, String, String) {
    let admin = lms.token("acme", Role::Admin);
    let pathway = lms
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            json!({"pathway": {"title": "Fire safety", "outcome": "COMPLIANCE"}}),
            &admin,
        )
        .await;
    let with_step = lms
        .ok(
            "lms.pathway.v1.PathwayService/AddStep",
            json!({"pathwayId": id(&pathway), "step": {"title": "Watch", "required": true,
                   "content": {"url": "https://learn.example.com/fire", "mediaType": "VIDEO"}}}),
            &admin,
        )
        .await;
    lms.ok(
        "lms.pathway.v1.PathwayService/PublishPathway",
        json!({"id": id(&pathway)}),
        &admin,
    )
    .await;
    let rows: Vec<Value> = (0..people)
        .map(|n| {
            json!({"externalId": format!("p{n}"), "displayName": format!("P {n}"),
                        "email": format!("p{n}@acme.example"), "department": "Plant"})
        })
        .collect();
    lms.ok(
        "lms.enrolment.v1.EnrolmentService/UpsertPeople",
        json!({"people": rows}),
        &admin,
    )
    .await;
    let audience = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAudience",
            json!({"audience": {"name": "Plant", "kind": "DYNAMIC", "rule": "department = \"Plant\""}}),
            &admin,
        )
        .await;
    (
        id(&pathway),
        id(&audience),
        with_step["steps"][0]["id"].as_str().unwrap().to_string(),
    )
}

async fn enrolments_by_learner(
    lms: &Lms,
    pathway: &str,
) -> std::collections::BTreeMap<String, usize> {
    let admin = lms.token("acme", Role::Admin);
    let listed = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/ListEnrolments",
            json!({"pathwayId": pathway, "pageSize": 1000}),
            &admin,
        )
        .await;
    let mut counts = std::collections::BTreeMap::new();
    for enrolment in listed["enrolments"].as_array().unwrap() {
        *counts
            .entry(enrolment["learner"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

async fn concurrent_assignments_of_one_audience_enrol_each_person_once(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms.token("acme", Role::Admin);
    const PEOPLE: usize = 60;
    let (pathway, audience, _) = pathway_and_audience(&lms, PEOPLE).await;

    // The same create retried at once (one request id): one assignment.
    let request_id = uuid::Uuid::new_v4().to_string();
    let assignment = json!({"assignment": {"pathwayId": pathway, "audienceId": audience,
                            "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}},
                            "requestId": request_id});
    let outcomes = race(
        &lms,
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        vec![assignment; RACERS],
        &admin,
    )
    .await;
    let ids: std::collections::BTreeSet<String> = outcomes
        .iter()
        .map(|o| id(o.as_ref().expect("an idempotent create succeeds")))
        .collect();
    assert_eq!(ids.len(), 1, "one assignment for one request id: {ids:?}");

    // Other admins assign the same audience at once: it is assigned already.
    let again = (0..RACERS)
        .map(|_| {
            json!({"assignment": {"pathwayId": pathway, "audienceId": audience,
                        "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}}})
        })
        .collect();
    for outcome in race(
        &lms,
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        again,
        &admin,
    )
    .await
    {
        assert_eq!(outcome.err(), Some(Code::AlreadyExists));
    }
    // A second audience overlapping the first, assigned at once by several admins: one
    // assignment, and still one enrolment per person.
    let overlapping = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAudience",
            json!({"audience": {"name": "Everyone", "kind": "DYNAMIC", "rule": "department != \"Nowhere\""}}),
            &admin,
        )
        .await;
    let requests = (0..RACERS)
        .map(|_| {
            json!({"assignment": {"pathwayId": pathway, "audienceId": id(&overlapping),
                        "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}}})
        })
        .collect();
    let outcomes = race(
        &lms,
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        requests,
        &admin,
    )
    .await;
    assert_eq!(
        outcomes.iter().filter(|o| o.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(_) | Err(Code::AlreadyExists))),
        "{outcomes:?}"
    );
    let counts = enrolments_by_learner(&lms, &pathway).await;
    assert_eq!(counts.len(), PEOPLE, "everyone enrolled");
    assert!(
        counts.values().all(|n| *n == 1),
        "someone enrolled twice: {counts:?}"
    );
}

async fn concurrent_completions_of_one_step_are_recorded_once(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms.token("acme", Role::Admin);
    let (pathway, audience, step) = pathway_and_audience(&lms, 1).await;
    lms.ok(
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        json!({"assignment": {"pathwayId": pathway, "audienceId": audience,
               "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}}}),
        &admin,
    )
    .await;
    let learner = lms.auth.token("acme", "p0", &[Role::Learner]);
    let progress = lms
        .eventually(
            "lms.records.v1.RecordsService/ListProgress",
            json!({"learner": "p0"}),
            &learner,
            |v| v["progress"].as_array().is_some_and(|p| !p.is_empty()),
        )
        .await;
    let enrolment = progress["progress"][0]["enrolmentId"]
        .as_str()
        .unwrap()
        .to_string();
    let requests = (0..RACERS)
        .map(|_| json!({"enrolmentId": enrolment, "stepId": step, "kind": "STEP_COMPLETED"}))
        .collect();
    for outcome in race(
        &lms,
        "lms.records.v1.RecordsService/RecordActivity",
        requests,
        &learner,
    )
    .await
    {
        let progress = outcome.expect("a repeated completion is accepted");
        assert_eq!(progress["status"], "COMPLETED", "{progress}");
    }
    let activities = lms
        .ok(
            "lms.records.v1.RecordsService/ListActivities",
            json!({"enrolmentId": enrolment}),
            &admin,
        )
        .await;
    let completions = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "STEP_COMPLETED")
        .count();
    assert_eq!(completions, 1, "{activities}");
    let certifications = lms
        .ok(
            "lms.records.v1.RecordsService/ListTranscript",
            json!({"learner": "p0"}),
            &admin,
        )
        .await;
    assert_eq!(certifications["entries"].as_array().unwrap().len(), 1);
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_updates_with_one_etag_let_exactly_one_win() {
        super::concurrent_updates_with_one_etag_let_exactly_one_win(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_assignments_of_one_audience_enrol_each_person_once() {
        super::concurrent_assignments_of_one_audience_enrol_each_person_once(TestBackend::Sqlite)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_completions_of_one_step_are_recorded_once() {
        super::concurrent_completions_of_one_step_are_recorded_once(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_updates_with_one_etag_let_exactly_one_win() {
        super::concurrent_updates_with_one_etag_let_exactly_one_win(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_assignments_of_one_audience_enrol_each_person_once() {
        super::concurrent_assignments_of_one_audience_enrol_each_person_once(TestBackend::Postgres)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_completions_of_one_step_are_recorded_once() {
        super::concurrent_completions_of_one_step_are_recorded_once(TestBackend::Postgres).await;
    }
}
