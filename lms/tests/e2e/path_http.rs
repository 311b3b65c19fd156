//! The whole path over HTTP, as a portal frontend and an admin console would drive it through
//! the gateway of `lms up`: an admin sets up a sequential certification pathway with every kind
//! of step and assigns it; the learner goes through each step with the people each needs; she
//! is certified; her recertification window opens and she recertifies.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use super::gateway::Suite;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn seconds(rfc3339: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339.as_str().unwrap())
        .unwrap()
        .timestamp()
}

/// Moves the clock of the first certificate: it now expires at `expires_at` (issued two days
/// before), as if the time between had passed. Written into `lms up`'s records database.
fn cycle_one_expires_at(suite: &Suite, expires_at: NaiveDateTime) {
    let path = suite.data.path().join("records.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .unwrap();
    let issued = expires_at - chrono::Duration::days(2);
    diesel::sql_query(
        "UPDATE certifications SET expires_at = ?, completed_at = ?, issued_at = ? WHERE cycle = 1",
    )
    .bind::<diesel::sql_types::Timestamp, _>(expires_at)
    .bind::<diesel::sql_types::Timestamp, _>(issued)
    .bind::<diesel::sql_types::Timestamp, _>(issued)
    .execute(&mut conn)
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_step_certify_and_recertify_over_http() {
    // The certification scheduler looks every second.
    let suite = Suite::start_with(&[("LMS__RECORDS__CERTIFICATION_SCAN_SECONDS", "1")]);
    let admin = suite.token("admin@acme", "admin");
    let ada = suite.token("ada", "learner");
    let ivan = suite.token("ivan", "instructor");

    // The admin: a sequential certification pathway with every kind of step.
    let pathway = id(&suite
        .ok(
            Method::POST,
            "/v1/pathways",
            &admin,
            json!({"title": "Crane operator", "outcome": "CERTIFICATION", "sequencing": "SEQUENTIAL",
                   "certification": {"validityDays": 2, "recertificationWindowDays": 1}}),
        )
        .await);
    let steps_path = format!("/v1/pathways/{pathway}/steps");
    let start = chrono::Utc::now() + chrono::Duration::hours(1);
    for step in [
        json!({"title": "Read the manual", "required": true,
               "content": {"url": "https://learn.example.com/crane", "mediaType": "DOCUMENT"}}),
        json!({"title": "Accept the rules", "required": true,
               "acknowledgement": {"statement": "I follow the site rules.", "policyUrl": "https://acme.example/rules"}}),
        json!({"title": "Practical session", "required": true,
               "trainingSession": {"startTime": start.to_rfc3339(), "endTime": (start + chrono::Duration::hours(1)).to_rfc3339(),
                                   "location": "Yard 1", "capacity": 6, "instructor": "ivan"}}),
        json!({"title": "Medical certificate", "required": true,
               "external": {"instructions": "Upload your certificate."}}),
    ] {
        suite.ok(Method::POST, &steps_path, &admin, step).await;
    }
    let bank = id(&suite
        .ok(
            Method::POST,
            "/v1/questionBanks",
            &admin,
            json!({"name": "Cranes"}),
        )
        .await);
    let question = id(&suite
        .ok(
            Method::POST,
            &format!("/v1/questionBanks/{bank}/questions"),
            &admin,
            json!({"text": "Never lift over people.", "trueFalse": {"answer": true}}),
        )
        .await);
    // The assessment and its step in one call.
    let test = suite
        .ok(
            Method::POST,
            "/v1/assessments",
            &admin,
            json!({"title": "Crane test", "pathwayId": pathway, "fixed": {"questionIds": [question]},
                   "passMarkPercent": 100, "addStep": {"title": "Final test", "required": true}}),
        )
        .await;
    let test_id = id(&test);
    suite
        .ok(
            Method::POST,
            &format!("/v1/pathways/{pathway}:publish"),
            &admin,
            json!({}),
        )
        .await;
    suite
        .ok(
            Method::POST,
            "/v1/people",
            &admin,
            json!({"externalId": "ada", "displayName": "Ada", "email": "ada@acme.example", "department": "Yard"}),
        )
        .await;
    let audience = id(&suite
        .ok(
            Method::POST,
            "/v1/audiences",
            &admin,
            json!({"name": "Yard", "kind": "DYNAMIC", "rule": "department = \"Yard\""}),
        )
        .await);
    suite
        .ok(
            Method::POST,
            "/v1/assignments",
            &admin,
            json!({"pathwayId": pathway, "audienceId": audience, "requirement": "MANDATORY",
                   "duePolicy": {"daysAfterAssignment": 30}}),
        )
        .await;

    // One cycle through the portal and the REST API.
    let go_through = |enrolment: String| {
        let (suite, admin, ada, ivan, pathway, test_id, question) =
            (&suite, &admin, &ada, &ivan, &pathway, &test_id, &question);
        async move {
            let mine = suite
                .get(&format!("/v1/portal/pathways/{pathway}"), ada)
                .await;
            let steps: Vec<String> = mine["progress"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["stepId"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(steps.len(), 5);
            assert_eq!(mine["progress"]["nextStepIds"], json!([steps[0]]));
            let record_path = format!("/v1/progress/{enrolment}:recordActivity");
            let record = |step: String, token: String| {
                let path = record_path.clone();
                async move {
                    suite
                        .ok(
                            Method::POST,
                            &path,
                            &token,
                            json!({"stepId": step, "kind": "STEP_COMPLETED"}),
                        )
                        .await
                }
            };
            record(steps[0].clone(), ada.clone()).await;
            let accepted = record(steps[1].clone(), ada.clone()).await;
            assert_eq!(accepted["steps"][2]["state"], "STEP_AVAILABLE");
            assert_eq!(accepted["steps"][2]["reason"], "BOOK_A_SESSION");
            attend_a_session(suite, admin, ada, ivan, pathway, &steps[2], &enrolment).await;
            let evidence = suite
                .ok(
                    Method::POST,
                    &format!("/v1/progress/{enrolment}:submitEvidence"),
                    ada,
                    json!({"stepId": steps[3], "url": "https://files.acme.example/ada/medical.pdf"}),
                )
                .await;
            let queue = suite
                .get("/v1/evidence?status=EVIDENCE_PENDING", ivan)
                .await;
            assert_eq!(queue["evidence"][0]["id"], evidence["id"]);
            suite
                .ok(
                    Method::POST,
                    &format!("/v1/evidence/{}:approve", id(&evidence)),
                    ivan,
                    json!({}),
                )
                .await;
            let attempt = suite
                .ok(
                    Method::POST,
                    &format!("/v1/assessments/{test_id}/attempts"),
                    ada,
                    json!({}),
                )
                .await;
            let graded = suite
                .ok(
                    Method::POST,
                    &format!("/v1/attempts/{}:submit", id(&attempt)),
                    ada,
                    json!({"answers": [{"questionId": question, "answer": {"trueFalse": true}}]}),
                )
                .await;
            assert_eq!(graded["passed"], true);
            suite
                .eventually(&format!("/v1/progress/{enrolment}"), ada, |p| {
                    p["status"] == "COMPLETED"
                })
                .await
        }
    };
    let learning = suite
        .eventually("/v1/portal/learning", &ada, |j| {
            j["items"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let first = learning["items"][0]["enrolmentId"]
        .as_str()
        .unwrap()
        .to_string();
    go_through(first.clone()).await;
    let certified = suite
        .eventually("/v1/portal/certifications", &ada, |j| {
            j["certifications"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(certified["certifications"][0]["status"], "CERT_ACTIVE");

    // A day and a half later the window is open: the scheduler starts a new cycle; Ada is still
    // compliant on her certificate, and recertifies.
    let expiry = chrono::Utc::now().naive_utc() + chrono::Duration::hours(12);
    cycle_one_expires_at(&suite, expiry);
    let renewed = suite
        .eventually("/v1/portal/learning", &ada, |j| {
            j["items"][0]["enrolmentId"]
                .as_str()
                .is_some_and(|e| e != first)
        })
        .await;
    let report = suite
        .http
        .get(format!("{}/v1/compliance/{pathway}", suite.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row: Value = serde_json::from_str(report.lines().next().unwrap()).unwrap();
    assert_eq!(row["row"]["state"], "COMPLIANCE_COMPLIANT", "{report}");
    assert_eq!(row["row"]["certificationStatus"], "CERT_EXPIRING");
    let second = renewed["items"][0]["enrolmentId"]
        .as_str()
        .unwrap()
        .to_string();
    go_through(second).await;
    let both = suite
        .eventually("/v1/portal/certifications", &ada, |j| {
            j["certifications"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let newest = &both["certifications"][0];
    assert_eq!(newest["cycle"], 2);
    assert_eq!(
        seconds(&newest["expireTime"]),
        expiry.and_utc().timestamp() + 2 * 86_400,
        "extended from the previous expiry: {newest}"
    );
}

/// The practical step over REST: the admin schedules a session an hour ahead taught by ivan,
/// Ada finds it in her portal and books it, downloads it for her calendar; the session is moved
/// to have started, and ivan marks her attended.
async fn attend_a_session(
    suite: &Suite,
    admin: &str,
    ada: &str,
    ivan: &str,
    pathway: &str,
    step: &str,
    enrolment: &str,
) {
    let now = chrono::Utc::now();
    let session = suite
        .ok(
            Method::POST,
            "/v1/sessions",
            admin,
            json!({"pathwayId": pathway, "stepId": step,
                   "startTime": (now + chrono::Duration::hours(1)).to_rfc3339(),
                   "endTime": (now + chrono::Duration::hours(2)).to_rfc3339(),
                   "timeZone": "Europe/Dublin", "location": "Yard 1", "capacity": 6,
                   "instructors": ["ivan"]}),
        )
        .await;
    let session_id = id(&session);
    let mine = suite.get("/v1/portal/sessions", ada).await;
    assert_eq!(mine["bookable"][0]["id"], session["id"], "{mine}");
    let booking = suite
        .ok(
            Method::POST,
            &format!("/v1/sessions/{session_id}/bookings"),
            ada,
            json!({"enrolmentId": enrolment}),
        )
        .await;
    assert_eq!(booking["state"], "BOOKED");
    let mine = suite.get("/v1/portal/sessions", ada).await;
    let listed = mine["bookings"].as_array().unwrap();
    assert!(listed.iter().any(|b| b["id"] == booking["id"]), "{mine}");
    assert_eq!(mine["bookable"], json!([]), "{mine}");
    let teaching = suite.get("/v1/portal/teaching", ivan).await;
    let taught = teaching["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["session"]["id"] == session["id"])
        .expect("ivan teaches the session");
    assert_eq!(taught["roster"][0]["learner"], "ada");
    let calendar = suite
        .http
        .get(format!("{}/v1/calendar:export", suite.base))
        .bearer_auth(ada)
        .send()
        .await
        .unwrap();
    assert_eq!(calendar.status(), 200);
    assert_eq!(
        calendar.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert_eq!(
        calendar.headers()["content-disposition"],
        "attachment; filename=\"calendar.ics\""
    );
    let text = calendar.text().await.unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
    assert!(
        text.contains(&format!("UID:{session_id}@sessions.lms")),
        "{text}"
    );

    suite
        .ok(
            Method::PATCH,
            &format!("/v1/sessions/{session_id}"),
            admin,
            json!({"startTime": (now - chrono::Duration::minutes(1)).to_rfc3339(),
                   "endTime": (now + chrono::Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    let marked = suite
        .ok(
            Method::POST,
            &format!("/v1/sessions/{session_id}:markAttendance"),
            ivan,
            json!({"marks": [{"learner": "ada", "status": "ATTENDED"}]}),
        )
        .await;
    assert_eq!(marked["entries"][0]["status"], "ATTENDED");
}
