//! cmi5 end to end through the gateway, as an administrator, a learner's portal and an
//! assignable unit (AU) in the learner's browser see it: a course structure imported as
//! content steps, a launch with cmi5's parameters, the one-time fetch URL, the launch data,
//! the AU's statements held to cmi5's rules (403 for each broken one), moveOn completing
//! the step, `satisfied` for the course, `abandoned` sessions and an admin's waiver — on
//! `lms up` over SQLite and over PostgreSQL.

use base64::Engine;
use lms_platform::Role;
use lms_test_support::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Lms, call};

const NS: &str = "https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd";
const COURSE: &str = "https://vendor.example.com/courses/forklift";
const BLOCK: &str = "https://vendor.example.com/courses/forklift/block";
const AU_THEORY: &str = "https://vendor.example.com/courses/forklift/theory";
const AU_INTRO: &str = "https://vendor.example.com/courses/forklift/intro";
const CMI5: &str = "https://w3id.org/xapi/cmi5/context/categories/cmi5";
const MOVE_ON: &str = "https://w3id.org/xapi/cmi5/context/categories/moveon";
const SESSION: &str = "https://w3id.org/xapi/cmi5/context/extensions/sessionid";
const MASTERY: &str = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore";

fn course_structure(theory_title: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="{NS}">
  <course id="{COURSE}">
    <title><langstring lang="en-US">Forklift</langstring></title>
    <description><langstring lang="en-US">Safe driving</langstring></description>
  </course>
  <au id="{AU_INTRO}" launchMethod="OwnWindow">
    <title><langstring lang="en-US">Welcome</langstring></title>
    <description><langstring lang="en-US">What the course holds</langstring></description>
    <url>intro/index.html</url>
  </au>
  <block id="{BLOCK}">
    <title><langstring lang="en-US">Theory</langstring></title>
    <description><langstring lang="en-US">Rules</langstring></description>
    <au id="{AU_THEORY}" moveOn="CompletedAndPassed" masteryScore="0.8">
      <title><langstring lang="de-DE">Theorie</langstring><langstring lang="en-US">{theory_title}</langstring></title>
      <description><langstring lang="en-US">Loads, lifts</langstring></description>
      <url> https://content.example.com/forklift/theory.html?lang=en </url>
      <launchParameters>{{"level":2}}</launchParameters>
      <entitlementKey>lic-42</entitlementKey>
    </au>
  </block>
</courseStructure>"#
    )
}

async fn ok(lms: &Lms, method: Method, path: &str, token: &str, body: Value) -> Value {
    let body = (!body.is_null()).then_some(body);
    let (status, answer) = call(lms, method, path, token, body).await;
    assert_eq!(status, 200, "{path}: {answer}");
    answer
}

/// What an AU in the learner's browser holds after its launch.
struct Au {
    lms_endpoint: String,
    fetch: String,
    actor: Value,
    registration: String,
    activity_id: String,
    session: String,
    http: reqwest::Client,
    auth: Option<String>,
}

impl Au {
    fn from_launch(launch: &Value) -> Au {
        let url = url::Url::parse(launch["launchUrl"].as_str().unwrap()).unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("no {name} in {url}"))
        };
        Au {
            lms_endpoint: param("endpoint"),
            fetch: param("fetch"),
            actor: serde_json::from_str(&param("actor")).unwrap(),
            registration: param("registration"),
            activity_id: param("activityId"),
            session: launch["sessionId"].as_str().unwrap().to_string(),
            http: reqwest::Client::new(),
            auth: None,
        }
    }

    async fn fetch_token(&self) -> Value {
        let response = self.http.post(&self.fetch).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        response.json().await.unwrap()
    }

    async fn lrs(&self, method: Method, path: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.lms_endpoint))
            .header("X-Experience-API-Version", "1.0.3")
            .header(
                "Authorization",
                format!("Basic {}", self.auth.as_deref().unwrap()),
            );
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A cmi5 defined statement of this session (cmi5 9), which tests then bend.
    fn statement(&self, verb: &str, publisher_id: &str) -> Value {
        let mut statement = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "actor": self.actor,
            "verb": {"id": format!("http://adlnet.gov/expapi/verbs/{verb}")},
            "object": {"objectType": "Activity", "id": self.activity_id},
            "context": {
                "registration": self.registration,
                "contextActivities": {
                    "grouping": [{"id": publisher_id}],
                    "category": [{"id": CMI5}],
                },
                "extensions": {SESSION: self.session},
            },
            "timestamp": chrono::Utc::now().to_rfc3339(),
        });
        if matches!(verb, "completed" | "passed" | "failed") {
            statement["context"]["contextActivities"]["category"] =
                json!([{"id": CMI5}, {"id": MOVE_ON}]);
        }
        if verb != "initialized" {
            statement["result"] = json!({"duration": "PT30S"});
        }
        statement
    }

    async fn send(&self, statement: &Value) -> (StatusCode, Value) {
        self.lrs(Method::POST, "statements", Some(statement)).await
    }
}

fn step_state<'a>(progress: &'a Value, step: &str) -> &'a str {
    progress["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stepId"] == step)
        .and_then(|s| s["state"].as_str())
        .unwrap_or("")
}

async fn launch(lms: &Lms, token: &str, enrolment: &str, step: &str) -> (StatusCode, Value) {
    call(
        lms,
        Method::POST,
        &format!("/v1/enrolments/{enrolment}/steps/{step}:launch"),
        token,
        Some(json!({"returnUrl": "https://portal.example.com/pathways/back"})),
    )
    .await
}

/// The enrolment's first launch, once records-service has heard of it (it arrives by event).
async fn first_launch(lms: &Lms, token: &str, enrolment: &str, step: &str) -> Value {
    for _ in 0..150 {
        let (status, answer) = launch(lms, token, enrolment, step).await;
        if status == 200 {
            return answer;
        }
        assert!(
            matches!(status.as_u16(), 404 | 503),
            "launch: {status} {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the enrolment never reached records-service");
}

async fn cmi5_launches(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms.token("acme", Role::Admin);
    let pathway = ok(
        &lms,
        Method::POST,
        "/v1/pathways",
        &admin,
        json!({"title": "Forklift licence", "outcome": "TRAINING"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let import = format!("/v1/pathways/{pathway}:importCmi5Course");

    // A structure that breaks cmi5 is refused, naming each element, and adds nothing.
    let broken = course_structure("Theory")
        .replace(AU_INTRO, AU_THEORY)
        .replace("masteryScore=\"0.8\"", "masteryScore=\"1.5\"");
    let (status, refused) = call(
        &lms,
        Method::POST,
        &import,
        &admin,
        Some(json!({"courseStructure": broken})),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let fields: Vec<&str> = refused["details"][0]["fieldViolations"]
        .as_array()
        .unwrap_or_else(|| panic!("{refused}"))
        .iter()
        .map(|v| v["field"].as_str().unwrap())
        .collect();
    for field in [
        "course_structure.au[0].url",
        "course_structure.block[0].au[0].id",
        "course_structure.block[0].au[0].mastery_score",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    for (xml, why) in [
        ("<courseStructure/>".to_string(), "namespace"),
        ("<not xml".to_string(), "well-formed"),
        (
            course_structure("Theory").replace("?lang=en", "?lang=en&amp;fetch=x"),
            "launch parameters",
        ),
    ] {
        let (status, refused) = call(
            &lms,
            Method::POST,
            &import,
            &admin,
            Some(
                json!({"courseStructure": xml, "baseUrl": "https://content.example.com/forklift/"}),
            ),
        )
        .await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused.to_string().contains(why), "{why}: {refused}");
    }
    let unchanged = ok(
        &lms,
        Method::GET,
        &format!("/v1/pathways/{pathway}"),
        &admin,
        json!(null),
    )
    .await;
    assert!(
        unchanged["steps"].as_array().is_none_or(|s| s.is_empty()),
        "{unchanged}"
    );

    // Imported: one content step per AU, blocks flattened, relative URLs resolved.
    let body = |title: &str| {
        json!({
            "courseStructure": course_structure(title),
            "baseUrl": "https://content.example.com/forklift/",
            "language": "en-US",
        })
    };
    let imported = ok(&lms, Method::POST, &import, &admin, body("Old title")).await;
    let steps = imported["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{imported}");
    let (intro, theory) = (&steps[0], &steps[1]);
    assert_eq!(intro["title"], "Welcome");
    assert_eq!(
        intro["content"]["url"],
        "https://content.example.com/forklift/intro/index.html"
    );
    assert_eq!(intro["content"]["cmi5"]["moveOn"], "NOT_APPLICABLE");
    assert_eq!(intro["content"]["cmi5"]["launchMethod"], "OWN_WINDOW");
    assert_eq!(
        intro["required"], false,
        "nothing completes a NotApplicable AU"
    );
    assert_eq!(theory["content"]["cmi5"]["activityId"], AU_THEORY);
    assert_eq!(theory["content"]["cmi5"]["courseId"], COURSE);
    assert_eq!(theory["content"]["cmi5"]["masteryScore"], 0.8);
    assert_eq!(theory["content"]["cmi5"]["entitlementKey"], "lic-42");
    assert_eq!(theory["required"], true);
    // A re-import (the publisher changed the course) updates the same steps.
    let again = ok(&lms, Method::POST, &import, &admin, body("Theory")).await;
    let steps = again["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[1]["id"], theory["id"]);
    assert_eq!(steps[1]["title"], "Theory");
    let (intro, theory) = (
        intro["id"].as_str().unwrap().to_string(),
        theory["id"].as_str().unwrap().to_string(),
    );
    ok(
        &lms,
        Method::POST,
        &format!("/v1/pathways/{pathway}:publish"),
        &admin,
        json!({}),
    )
    .await;

    let mut enrolments = Vec::new();
    for learner in ["ada", "bob"] {
        let person = ok(
            &lms,
            Method::POST,
            "/v1/people",
            &admin,
            json!({"externalId": learner, "displayName": learner}),
        )
        .await;
        let enrolment = ok(
            &lms,
            Method::POST,
            "/v1/enrolments",
            &admin,
            json!({"personId": person["id"], "pathwayId": pathway}),
        )
        .await;
        enrolments.push(enrolment["id"].as_str().unwrap().to_string());
    }
    let (ada_enrolment, bob_enrolment) = (&enrolments[0], &enrolments[1]);
    let ada = lms.auth.token("acme", "ada", &[Role::Learner]);
    let bob = lms.auth.token("acme", "bob", &[Role::Learner]);

    // The learner launches; the launch URL carries cmi5's parameters.
    let launched = first_launch(&lms, &ada, ada_enrolment, &theory).await;
    let launch_url = launched["launchUrl"].as_str().unwrap();
    assert!(
        launch_url
            .starts_with("https://content.example.com/forklift/theory.html?lang=en&endpoint="),
        "{launch_url}"
    );
    let mut au = Au::from_launch(&launched);
    assert_eq!(au.lms_endpoint, format!("{}/xapi/", lms.gateway));
    assert_eq!(&au.registration, ada_enrolment);
    assert_eq!(
        au.activity_id,
        format!("urn:lms:pathway:{pathway}:step:{theory}")
    );
    assert_eq!(au.actor["account"]["name"], "ada");
    assert_eq!(launched["ownWindow"], false);
    // Nobody else launches Ada's content: not another learner, not an admin.
    let (status, _) = launch(&lms, &bob, ada_enrolment, &theory).await;
    assert_eq!(status, 404);
    let (status, _) = launch(&lms, &admin, ada_enrolment, &theory).await;
    assert_eq!(status, 403);

    // The fetch URL answers once (cmi5 8.2); it is public, and only POST.
    let fetched = au.fetch_token().await;
    let token = fetched["auth-token"]
        .as_str()
        .unwrap_or_else(|| panic!("{fetched}"));
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(token)
            .is_ok()
    );
    au.auth = Some(token.to_string());
    assert_eq!(au.fetch_token().await["error-code"], "1");
    let forged = au
        .fetch
        .replace(&au.session, &uuid::Uuid::new_v4().to_string());
    let answer: Value = au
        .http
        .post(&forged)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error-code"], "2", "{answer}");
    assert_eq!(
        au.http.get(&au.fetch).send().await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );

    // The launch data (cmi5 10), the AU's to read and never to change.
    let state = format!(
        "activities/state?activityId={}&agent={}&registration={}&stateId=LMS.LaunchData",
        enc(&au.activity_id),
        enc(&au.actor.to_string()),
        au.registration
    );
    let (status, data) = au.lrs(Method::GET, &state, None).await;
    assert_eq!(status, 200, "{data}");
    assert_eq!(data["contextTemplate"]["extensions"][SESSION], au.session);
    assert_eq!(
        data["contextTemplate"]["contextActivities"]["grouping"][0]["id"],
        AU_THEORY
    );
    assert_eq!(data["launchMode"], "Normal");
    assert_eq!(data["moveOn"], "CompletedAndPassed");
    assert_eq!(data["masteryScore"], 0.8);
    assert_eq!(data["launchParameters"], "{\"level\":2}");
    assert_eq!(data["entitlementKey"]["courseStructure"], "lic-42");
    assert_eq!(
        data["returnURL"],
        "https://portal.example.com/pathways/back"
    );
    let (status, _) = au.lrs(Method::PUT, &state, Some(&json!({"x": 1}))).await;
    assert_eq!(status, 403);
    // The launch was recorded before the AU ran; the AU reads its learner's statements only.
    let launched_query = format!(
        "statements?agent={}&verb={}",
        enc(&au.actor.to_string()),
        enc("http://adlnet.gov/expapi/verbs/launched")
    );
    let (status, found) = au.lrs(Method::GET, &launched_query, None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["statements"].as_array().unwrap().len(), 1);
    let (status, _) = au.lrs(Method::GET, "statements", None).await;
    assert_eq!(status, 403);

    // cmi5's rules: each broken one refused with 403, and nothing stored.
    let refused = |why: &'static str| {
        move |(status, body): (StatusCode, Value)| {
            assert_eq!(status, 403, "{why}: {body}");
        }
    };
    refused("completed before initialized")(au.send(&au.statement("completed", AU_THEORY)).await);
    let mut wrong_session = au.statement("initialized", AU_THEORY);
    wrong_session["context"]["extensions"][SESSION] = json!("another");
    refused("another session's id")(au.send(&wrong_session).await);
    let mut someone_else = au.statement("initialized", AU_THEORY);
    someone_else["actor"]["account"]["name"] = json!("bob");
    refused("another actor")(au.send(&someone_else).await);
    let (status, body) = au.send(&au.statement("initialized", AU_THEORY)).await;
    assert_eq!(status, 200, "{body}");
    refused("initialized twice")(au.send(&au.statement("initialized", AU_THEORY)).await);
    let mut low = au.statement("passed", AU_THEORY);
    low["result"] = json!({"success": true, "duration": "PT1M", "score": {"scaled": 0.5}});
    low["context"]["extensions"][MASTERY] = json!(0.8);
    refused("passed below the mastery score")(au.send(&low).await);
    let mut no_duration = au.statement("completed", AU_THEORY);
    no_duration["result"] = json!({"completion": true});
    refused("completed without a duration")(au.send(&no_duration).await);
    let mut voiding = au.statement("initialized", AU_THEORY);
    voiding["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/voided");
    voiding["object"] =
        json!({"objectType": "StatementRef", "id": uuid::Uuid::new_v4().to_string()});
    refused("voiding")(au.send(&voiding).await);
    let mut satisfied = au.statement("initialized", AU_THEORY);
    satisfied["verb"]["id"] = json!("https://w3id.org/xapi/adl/verbs/satisfied");
    refused("the LMS's verb")(au.send(&satisfied).await);

    // A cmi5 allowed statement (no cmi5 category) passes; then passed and completed.
    let allowed_now = || {
        let mut allowed = au.statement("initialized", AU_THEORY);
        allowed["verb"]["id"] = json!("http://adlnet.gov/expapi/verbs/answered");
        allowed["context"]["contextActivities"]["category"] = json!([]);
        allowed
    };
    assert_eq!(au.send(&allowed_now()).await.0, 200);
    // Order is the timestamps' (cmi5 9.3): nothing may be timestamped before initialized.
    let mut before_initialized = allowed_now();
    before_initialized["timestamp"] = json!("2020-01-01T00:00:00Z");
    refused("timestamped before initialized")(au.send(&before_initialized).await);
    let mut passed = au.statement("passed", AU_THEORY);
    passed["result"] = json!({"success": true, "duration": "PT1M", "score": {"scaled": 0.9}});
    passed["context"]["extensions"][MASTERY] = json!(0.8);
    assert_eq!(au.send(&passed).await.0, 200);
    // A retried request (the same statement again) is the same statement, not a second pass.
    assert_eq!(au.send(&passed).await.0, 200);
    let progress_path = format!("/v1/progress/{ada_enrolment}");
    let progress = ok(&lms, Method::GET, &progress_path, &ada, json!(null)).await;
    assert_eq!(
        step_state(&progress, &theory),
        "STEP_AVAILABLE",
        "moveOn wants completed too"
    );
    let mut failed = au.statement("failed", AU_THEORY);
    failed["result"] = json!({"success": false, "duration": "PT1M", "score": {"scaled": 0.1}});
    failed["context"]["extensions"][MASTERY] = json!(0.8);
    refused("failed after passed")(au.send(&failed).await);
    let mut completed = au.statement("completed", AU_THEORY);
    completed["result"] = json!({"completion": true, "duration": "PT2M"});
    assert_eq!(au.send(&completed).await.0, 200);
    let progress = ok(&lms, Method::GET, &progress_path, &ada, json!(null)).await;
    assert_eq!(step_state(&progress, &theory), "STEP_DONE", "{progress}");
    // Sent before terminated but arriving after it: taken, within the session's grace period
    // (cmi5 9.3.8); anything timestamped after terminated is not (it must be the last).
    let sent_before = allowed_now();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(au.send(&au.statement("terminated", AU_THEORY)).await.0, 200);
    assert_eq!(au.send(&sent_before).await.0, 200);
    let mut after_terminated = allowed_now();
    after_terminated["timestamp"] = json!("2100-01-01T00:00:00Z");
    refused("timestamped after terminated")(au.send(&after_terminated).await);
    refused("initialized again")(au.send(&au.statement("initialized", AU_THEORY)).await);

    // A learner cannot tick cmi5 content off by hand.
    let record = format!("/v1/progress/{ada_enrolment}:recordActivity");
    let (status, body) = call(
        &lms,
        Method::POST,
        &record,
        &ada,
        Some(json!({"stepId": intro, "kind": "STEP_COMPLETED"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("cmi5"), "{body}");

    // The NotApplicable AU completes on launch; with both AUs, the course is satisfied and
    // the pathway completed. (The block was satisfied with its one AU, the theory.)
    let intro_launch = first_launch(&lms, &ada, ada_enrolment, &intro).await;
    assert_eq!(intro_launch["ownWindow"], true);
    let progress = ok(&lms, Method::GET, &progress_path, &ada, json!(null)).await;
    assert_eq!(progress["status"], "COMPLETED", "{progress}");
    let reader = lms.token("acme", Role::Admin);
    let satisfied_query = format!(
        "/xapi/statements?agent={}&verb={}",
        enc(&au.actor.to_string()),
        enc("https://w3id.org/xapi/adl/verbs/satisfied")
    );
    let found = xapi_get(&lms, &reader, &satisfied_query).await;
    let statements = found["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "the block, then the course: {found}");
    assert_eq!(
        statements[0]["object"]["definition"]["type"],
        "https://w3id.org/xapi/cmi5/activitytype/course"
    );
    assert_ne!(
        statements[0]["object"]["id"], COURSE,
        "the LMS's course id, not the publisher's"
    );
    let block = &statements[1];
    assert_eq!(
        block["object"]["definition"]["type"],
        "https://w3id.org/xapi/cmi5/activitytype/block"
    );
    assert_ne!(block["object"]["id"], BLOCK, "the LMS's block id");
    assert_eq!(
        block["context"]["contextActivities"]["grouping"][0]["id"], BLOCK,
        "the publisher's block id in grouping"
    );

    // A launch left open is abandoned by the next one, and its credential stops working.
    let first = Au::from_launch(&first_launch(&lms, &ada, ada_enrolment, &intro).await);
    let mut first = first;
    first.auth = Some(
        first.fetch_token().await["auth-token"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    assert_eq!(
        first
            .send(&first.statement("initialized", AU_INTRO))
            .await
            .0,
        200
    );
    first_launch(&lms, &ada, ada_enrolment, &intro).await;
    assert_eq!(
        first.send(&first.statement("terminated", AU_INTRO)).await.0,
        401
    );
    let abandoned_query = format!(
        "/xapi/statements?agent={}&verb={}",
        enc(&au.actor.to_string()),
        enc("https://w3id.org/xapi/adl/verbs/abandoned")
    );
    let found = xapi_get(&lms, &reader, &abandoned_query).await;
    let abandoned = found["statements"].as_array().unwrap();
    assert!(
        abandoned
            .iter()
            .any(|s| s["context"]["extensions"][SESSION] == first.session.as_str()),
        "{found}"
    );

    // An admin waives Bob's theory: `waived`, and the step done.
    let bob_record = format!("/v1/progress/{bob_enrolment}:recordActivity");
    let mut waived = None;
    for _ in 0..150 {
        let (status, body) = call(
            &lms,
            Method::POST,
            &bob_record,
            &admin,
            Some(json!({"stepId": theory, "kind": "STEP_COMPLETED"})),
        )
        .await;
        if status == 200 {
            waived = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let waived = waived.expect("the admin's waiver");
    assert_eq!(step_state(&waived, &theory), "STEP_DONE", "{waived}");
    let bob_actor = json!({"objectType": "Agent", "account": {"homePage": "urn:lms:tenant:acme", "name": "bob"}});
    let found = xapi_get(
        &lms,
        &reader,
        &format!(
            "/xapi/statements?agent={}&verb={}",
            enc(&bob_actor.to_string()),
            enc("https://w3id.org/xapi/adl/verbs/waived")
        ),
    )
    .await;
    let statement = &found["statements"][0];
    assert_eq!(
        statement["result"]["extensions"]["https://w3id.org/xapi/cmi5/result/extensions/reason"],
        "Administrative",
        "{found}"
    );

    // Each launch is in the audit trail, as the learner's act.
    let trail = ok(
        &lms,
        Method::GET,
        "/v1/auditEntries?pageSize=200",
        &admin,
        json!(null),
    )
    .await;
    let launches: Vec<&Value> = trail["auditEntries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "lms.records.v1.Cmi5Service/LaunchAssignableUnit")
        .collect();
    assert_eq!(launches.len(), 4, "{launches:?}");
    assert!(launches.iter().all(|e| e["actor"] == "ada"), "{launches:?}");

    // Another tenant sees none of it.
    let globex = lms.token("globex", Role::Admin);
    let found = xapi_get(&lms, &globex, &satisfied_query).await;
    assert_eq!(found["statements"], json!([]));
}

async fn xapi_get(lms: &Lms, token: &str, path: &str) -> Value {
    let response = lms
        .http
        .get(format!("{}{path}", lms.gateway))
        .bearer_auth(token)
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn cmi5_launches() {
        super::cmi5_launches(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn cmi5_launches() {
        super::cmi5_launches(TestBackend::Postgres).await;
    }
}
