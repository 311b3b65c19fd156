//! Managers and their teams over HTTP, on SQLite and PostgreSQL: the reporting lines in the
//! directory decide who sees whose learning — a manager sees a report's progress, transcript
//! and certifications and not a peer's; someone else's team is refused; an HR move changes
//! access at once; a cycle in the reporting lines ends the walk; the portal's "my team".

use lms_platform::Role;
use lms_test_support::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Lms, call};

async fn ok(lms: &Lms, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, answer) = call(lms, method, path, token, body).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

fn external_ids(team: &Value) -> Vec<(String, i64)> {
    team["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["person"]["externalId"].as_str().unwrap().to_string(),
                m["level"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn a_manager_sees_their_team_and_no_one_else(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms.auth.token("acme", "admin@acme", &[Role::Admin]);
    let person = |id: &str, manager: &str| {
        json!({"externalId": id, "displayName": format!("Name {id}"),
               "email": format!("{id}@acme.example"), "managerExternalId": manager})
    };
    let mut ids = std::collections::HashMap::new();
    // mona manages ada, ada manages ben; pete reports to zed; x and y report to each other.
    for (id, manager) in [
        ("mona", ""),
        ("ada", "mona"),
        ("ben", "ada"),
        ("zed", ""),
        ("pete", "zed"),
        ("x", "y"),
        ("y", "x"),
    ] {
        let created = ok(
            &lms,
            Method::POST,
            "/v1/people",
            &admin,
            Some(person(id, manager)),
        )
        .await;
        ids.insert(id, created["id"].as_str().unwrap().to_string());
    }
    let pathway = ok(
        &lms,
        Method::POST,
        "/v1/pathways",
        &admin,
        Some(json!({"title": "Fire safety", "outcome": "COMPLIANCE"})),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &lms,
        Method::POST,
        &format!("/v1/pathways/{pathway}/steps"),
        &admin,
        Some(json!({"title": "Read", "required": true, "content": {"url": "https://learn.example.com/fire"}})),
    )
    .await;
    ok(
        &lms,
        Method::POST,
        &format!("/v1/pathways/{pathway}:publish"),
        &admin,
        Some(json!({})),
    )
    .await;
    for learner in ["ada", "ben", "pete"] {
        ok(
            &lms,
            Method::POST,
            "/v1/enrolments",
            &admin,
            Some(json!({"personId": ids[learner], "pathwayId": pathway})),
        )
        .await;
    }
    let mona = lms.auth.token("acme", "mona", &[Role::Learner]);
    let ada = lms.auth.token("acme", "ada", &[Role::Learner]);

    // The team: direct reports by default, the whole subtree on request.
    let direct = ok(&lms, Method::GET, "/v1/team", &mona, None).await;
    assert_eq!(external_ids(&direct), [("ada".to_string(), 1)]);
    assert_eq!(direct["totalSize"], 1);
    let subtree = ok(&lms, Method::GET, "/v1/team?wholeSubtree=true", &mona, None).await;
    assert_eq!(
        external_ids(&subtree),
        [("ada".to_string(), 1), ("ben".to_string(), 2)]
    );
    // Paged: one member a page, nearest first.
    let first = ok(
        &lms,
        Method::GET,
        "/v1/team?wholeSubtree=true&pageSize=1",
        &mona,
        None,
    )
    .await;
    assert_eq!(external_ids(&first), [("ada".to_string(), 1)]);
    let token = first["nextPageToken"].as_str().unwrap();
    let second = ok(
        &lms,
        Method::GET,
        &format!("/v1/team?wholeSubtree=true&pageSize=1&pageToken={token}"),
        &mona,
        None,
    )
    .await;
    assert_eq!(external_ids(&second), [("ben".to_string(), 2)]);
    assert_eq!(second["nextPageToken"], "");

    // Someone else's team: refused to a learner, shown to an admin.
    let (status, _) = call(&lms, Method::GET, "/v1/team?manager=mona", &ada, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let by_admin = ok(&lms, Method::GET, "/v1/team?manager=ada", &admin, None).await;
    assert_eq!(external_ids(&by_admin), [("ben".to_string(), 1)]);

    // A cycle in the reporting lines ends the walk: each once, never oneself.
    let cycle = ok(
        &lms,
        Method::GET,
        "/v1/team?manager=x&wholeSubtree=true",
        &admin,
        None,
    )
    .await;
    assert_eq!(external_ids(&cycle), [("y".to_string(), 1)]);

    // Records follow the reporting lines: a report's (and their report's) learning, not a peer's.
    for learner in ["ada", "ben"] {
        let progress = records_caught_up(&lms, &mona, learner).await;
        assert_eq!(progress["progress"][0]["pathwayId"], pathway.as_str());
        let (status, _) = call(
            &lms,
            Method::GET,
            &format!("/v1/transcript?learner={learner}"),
            &mona,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(
            &lms,
            Method::GET,
            &format!("/v1/certifications?learner={learner}"),
            &mona,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    for path in [
        "/v1/progress?learner=pete",
        "/v1/transcript?learner=pete",
        "/v1/certifications?learner=pete",
    ] {
        let (status, answer) = call(&lms, Method::GET, path, &mona, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }
    // Upwards is not downwards: ada may not read her manager's record.
    let (status, _) = call(&lms, Method::GET, "/v1/progress?learner=mona", &ada, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The team compliance report: the manager's team on a pathway (direct reports, or with
    // the whole subtree), as CSV; another manager's team is refused, an admin asks for any.
    let learners_of = |csv: &str| -> Vec<String> {
        csv.lines()
            .skip(1)
            .map(|row| row.split(',').next().unwrap().to_string())
            .collect()
    };
    let report = |query: &str, token: &str| {
        let url = format!("{}/v1/compliance/{pathway}:export{query}", lms.gateway);
        let request = lms.http.get(url).bearer_auth(token.to_string());
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, direct) = report("", &mona).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the whole pathway is for staff: {direct}"
    );
    let (status, direct) = report("?team.manager=mona", &mona).await;
    assert_eq!(status, StatusCode::OK, "{direct}");
    assert_eq!(learners_of(&direct), ["ada"]);
    let (_, subtree) = report("?team.wholeSubtree=true", &mona).await;
    assert_eq!(learners_of(&subtree), ["ada", "ben"]);
    let (status, _) = report("?team.manager=zed", &mona).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another manager's team");
    let (status, of_zed) = report("?team.manager=zed", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(learners_of(&of_zed), ["pete"]);

    // The portal's "my team": each report with their learning and counts.
    let team = ok(
        &lms,
        Method::GET,
        "/v1/portal/team?wholeSubtree=true",
        &mona,
        None,
    )
    .await;
    assert_eq!(team["totalSize"], 2);
    assert_eq!(team["members"][0]["person"]["externalId"], "ada");
    assert_eq!(
        team["members"][0]["items"][0]["pathwayTitle"],
        "Fire safety"
    );
    assert_eq!(team["members"][0]["notStarted"], 1);
    let (status, _) = call(
        &lms,
        Method::GET,
        "/v1/portal/team?pageSize=-1",
        &mona,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // HR moves ada to zed: mona's access to ada (and ben, below her) ends at once.
    ok(
        &lms,
        Method::PATCH,
        &format!("/v1/people/{}?updateMask=manager_external_id", ids["ada"]),
        &admin,
        Some(json!({"managerExternalId": "zed"})),
    )
    .await;
    let (status, _) = call(&lms, Method::GET, "/v1/progress?learner=ada", &mona, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&lms, Method::GET, "/v1/progress?learner=ben", &mona, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let team = ok(&lms, Method::GET, "/v1/portal/team", &mona, None).await;
    assert_eq!(team["members"], json!([]));
    let zed = lms.auth.token("acme", "zed", &[Role::Learner]);
    let (status, _) = call(&lms, Method::GET, "/v1/progress?learner=ben", &zed, None).await;
    assert_eq!(status, StatusCode::OK);
}

/// `learner`'s progress as `manager` reads it, once records-service has heard of the
/// enrolment (it arrives by event).
async fn records_caught_up(lms: &Lms, manager: &str, learner: &str) -> Value {
    for _ in 0..100 {
        let (status, answer) = call(
            lms,
            Method::GET,
            &format!("/v1/progress?learner={learner}"),
            manager,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{learner}: {answer}");
        if answer["progress"].as_array().is_some_and(|p| !p.is_empty()) {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{learner}'s enrolment never reached records-service");
}

/// An HR upload whose reporting lines loop is applied and the loop reported (once, in
/// reporting order); the team walk still ends, and a later upload that breaks the loop reports
/// nothing.
async fn an_upload_reports_the_loops_it_leaves(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms.auth.token("acme", "admin@acme", &[Role::Admin]);
    let person = |id: &str, manager: &str| {
        json!({"externalId": id, "displayName": id, "email": format!("{id}@acme.example"),
               "managerExternalId": manager})
    };
    let upload = json!({"people": [person("kai", "lee"), person("lee", "max"), person("max", "kai"),
                                    person("ned", "kai"), person("ola", "")]});
    let answer = ok(
        &lms,
        Method::POST,
        "/v1/people:upsert",
        &admin,
        Some(upload),
    )
    .await;
    assert_eq!(answer["created"], 5, "{answer}");
    assert_eq!(
        answer["reportingCycles"],
        json!([{"people": ["kai", "lee", "max"]}]),
        "{answer}"
    );
    let team = ok(
        &lms,
        Method::GET,
        "/v1/team?manager=kai&wholeSubtree=true",
        &admin,
        None,
    )
    .await;
    let mut members: Vec<String> = external_ids(&team).into_iter().map(|(id, _)| id).collect();
    members.sort();
    assert_eq!(members, ["lee", "max", "ned"], "{team}");
    // HR fixes its data: max reports to ola now; nothing loops.
    let fixed = json!({"people": [person("max", "ola")]});
    let answer = ok(&lms, Method::POST, "/v1/people:upsert", &admin, Some(fixed)).await;
    assert_eq!(answer["reportingCycles"], json!([]), "{answer}");
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_manager_sees_their_team_and_no_one_else() {
        super::a_manager_sees_their_team_and_no_one_else(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_reports_the_loops_it_leaves() {
        super::an_upload_reports_the_loops_it_leaves(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_manager_sees_their_team_and_no_one_else() {
        super::a_manager_sees_their_team_and_no_one_else(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upload_reports_the_loops_it_leaves() {
        super::an_upload_reports_the_loops_it_leaves(TestBackend::Postgres).await;
    }
}
