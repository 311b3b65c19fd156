//! The suite end to end over HTTP only, as portal frontends see it: `lms up` (a real process)
//! and its gateway. An admin sets up a certification pathway and assigns it; a learner takes it
//! through the portal; the admin reads the compliance report. Then the edge's refusals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) struct Suite {
    child: Child,
    pub(crate) base: String,
    pub(crate) data: tempfile::TempDir,
    pub(crate) http: reqwest::Client,
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lms() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lms"));
    command.env_remove("LMS_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("LMS__") {
            command.env_remove(key);
        }
    }
    command
}

impl Suite {
    pub(crate) fn start() -> Suite {
        Suite::start_with(&[])
    }

    pub(crate) fn start_with(settings: &[(&str, &str)]) -> Suite {
        let data = tempfile::tempdir().unwrap();
        let mut command = lms();
        for (key, value) in settings {
            command.env(key, value);
        }
        let mut child = command
            .args(["up", "--data-dir"])
            .arg(data.path())
            .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
            .env("LMS__ENROLMENT__LISTEN", "127.0.0.1:0")
            .env("LMS__ASSESSMENT__LISTEN", "127.0.0.1:0")
            .env("LMS__RECORDS__LISTEN", "127.0.0.1:0")
            .env("LMS__NOTIFICATION__LISTEN", "127.0.0.1:0")
            .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
            .env("LMS__GATEWAY__MAX_BODY_BYTES", "65536")
            .env("LMS__TELEMETRY__METRICS_LISTEN", "")
            .env("LMS__TELEMETRY__LOG_LEVEL", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lms starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("lms up prints the gateway").unwrap();
            if line.trim_start().starts_with("gateway")
                && let Some(at) = line.find("http://")
            {
                break line[at..].trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Suite {
            child,
            base,
            data,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) fn token(&self, subject: &str, role: &str) -> String {
        let output = lms()
            .args([
                "token",
                "--tenant",
                "acme",
                "--subject",
                subject,
                "--role",
                role,
            ])
            .arg("--data-dir")
            .arg(self.data.path())
            .output()
            .unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub(crate) async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> Value {
        let (status, json) = self.call(method, path, Some(token), Some(body)).await;
        assert_eq!(status, 200, "{path}: {json}");
        json
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> Value {
        let (status, json) = self
            .call(reqwest::Method::GET, path, Some(token), None)
            .await;
        assert_eq!(status, 200, "{path}: {json}");
        json
    }

    /// Polls `path` until `ready` holds (events travel through outboxes).
    pub(crate) async fn eventually(
        &self,
        path: &str,
        token: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let json = self.get(path, token).await;
            if ready(&json) {
                return json;
            }
            assert!(Instant::now() < deadline, "{path} never got there: {json}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_and_a_learner_go_through_the_whole_flow_over_http() {
    let suite = Suite::start();
    let admin = suite.token("admin@acme", "admin");
    let ada = suite.token("ada", "learner");

    // The document the portal is generated from.
    let (status, openapi) = suite.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(openapi["paths"]["/v1/portal/learning"]["get"].is_object());

    // Admin: a category, a certification pathway with content + assessment steps.
    let category = suite
        .ok(
            Method::POST,
            "/v1/categories",
            &admin,
            json!({"name": "Safety"}),
        )
        .await;
    let pathway = suite
        .ok(
            Method::POST,
            "/v1/pathways",
            &admin,
            json!({
                "title": "Forklift licence",
                "categoryId": category["id"],
                "outcome": "CERTIFICATION",
                "sequencing": "SEQUENTIAL",
                "certification": {"validityDays": 365, "recertificationWindowDays": 30},
            }),
        )
        .await;
    let pathway_id = pathway["id"].as_str().unwrap().to_string();
    let bank = suite
        .ok(
            Method::POST,
            "/v1/questionBanks",
            &admin,
            json!({"name": "Forklift"}),
        )
        .await;
    let question = suite
        .ok(
            Method::POST,
            &format!(
                "/v1/questionBanks/{}/questions",
                bank["id"].as_str().unwrap()
            ),
            &admin,
            json!({"text": "Loads travel low.", "trueFalse": {"answer": true}}),
        )
        .await;
    let assessment = suite
        .ok(
            Method::POST,
            "/v1/assessments",
            &admin,
            json!({
                "title": "Forklift test",
                "pathwayId": pathway_id,
                "fixed": {"questionIds": [question["id"]]},
                "passMarkPercent": 100,
            }),
        )
        .await;
    let steps_path = format!("/v1/pathways/{pathway_id}/steps");
    suite
        .ok(
            Method::POST,
            &steps_path,
            &admin,
            json!({"title": "Watch", "required": true, "content": {"url": "https://learn.example.com/forklift", "mediaType": "VIDEO"}}),
        )
        .await;
    let with_steps = suite
        .ok(
            Method::POST,
            &steps_path,
            &admin,
            json!({"title": "Test", "required": true, "assessment": {"assessmentId": assessment["id"]}}),
        )
        .await;
    let watch = with_steps["steps"][0]["id"].as_str().unwrap().to_string();
    suite
        .ok(
            Method::POST,
            &format!("/v1/pathways/{pathway_id}:publish"),
            &admin,
            json!({}),
        )
        .await;

    // People, a dynamic audience, an assignment.
    for (id, department) in [("ada", "Warehouse"), ("bob", "Office")] {
        suite
            .ok(
                Method::POST,
                "/v1/people",
                &admin,
                json!({"externalId": id, "displayName": id, "email": format!("{id}@acme.example"), "department": department}),
            )
            .await;
    }
    let audience = suite
        .ok(
            Method::POST,
            "/v1/audiences",
            &admin,
            json!({"name": "Warehouse", "kind": "DYNAMIC", "rule": "department = \"Warehouse\""}),
        )
        .await;
    suite
        .ok(
            Method::POST,
            "/v1/assignments",
            &admin,
            json!({
                "pathwayId": pathway_id,
                "audienceId": audience["id"],
                "requirement": "MANDATORY",
                "duePolicy": {"daysAfterAssignment": 30},
            }),
        )
        .await;

    // Learner: the pathway appears on "my learning"; steps, then the test.
    let learning = suite
        .eventually("/v1/portal/learning", &ada, |j| {
            j["items"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    assert_eq!(learning["notStarted"], 1);
    let item = &learning["items"][0];
    assert_eq!(item["pathwayTitle"], "Forklift licence");
    // The assignment reached Ada's inbox too: the page says so.
    suite
        .eventually("/v1/portal/learning", &ada, |j| {
            j["unreadNotifications"] == 1
        })
        .await;
    let enrolment = item["enrolmentId"].as_str().unwrap().to_string();
    let mine = suite
        .get(&format!("/v1/portal/pathways/{pathway_id}"), &ada)
        .await;
    let states: Vec<&str> = mine["progress"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["STEP_AVAILABLE", "STEP_LOCKED"]);
    assert_eq!(
        mine["progress"]["steps"][1]["unlockedBy"][0],
        watch.as_str()
    );
    assert_eq!(
        mine["progress"]["steps"][1]["reason"],
        "COMPLETE_EARLIER_STEPS"
    );
    assert_eq!(
        mine["progress"]["steps"][1]["reasonText"],
        "Complete “Watch” first."
    );
    // The locked test cannot be started out of order: 400 with the same words.
    let attempts_path = format!(
        "/v1/assessments/{}/attempts",
        assessment["id"].as_str().unwrap()
    );
    let (status, refused) = suite
        .call(Method::POST, &attempts_path, Some(&ada), Some(json!({})))
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["message"],
        "“Test” cannot be taken now: Complete “Watch” first."
    );
    assert_eq!(
        mine["version"]["pathway"]["steps"][0]["content"]["url"],
        "https://learn.example.com/forklift"
    );
    suite
        .ok(
            Method::POST,
            &format!("/v1/progress/{enrolment}:recordActivity"),
            &ada,
            json!({"stepId": watch, "kind": "STEP_COMPLETED"}),
        )
        .await;
    let attempt = suite
        .ok(
            Method::POST,
            &format!(
                "/v1/assessments/{}/attempts",
                assessment["id"].as_str().unwrap()
            ),
            &ada,
            json!({}),
        )
        .await;
    let graded = suite
        .ok(
            Method::POST,
            &format!("/v1/attempts/{}:submit", attempt["id"].as_str().unwrap()),
            &ada,
            json!({"answers": [{"questionId": attempt["questions"][0]["questionId"], "answer": {"trueFalse": true}}]}),
        )
        .await;
    assert_eq!(graded["passed"], true);
    // The learner record as xAPI statements (docs/xapi.md): the step Ada completed and the
    // test she passed (applied from assessment-service's event) are statements of hers in the
    // tenant's store, her enrolment their registration.
    let her = json!({"account": {"homePage": "urn:lms:tenant:acme", "name": "ada"}}).to_string();
    let statements_of_ada = || {
        let request = suite
            .http
            .get(format!(
                "{}/xapi/statements?ascending=true&agent={}",
                suite.base,
                form_urlencoded::byte_serialize(her.as_bytes()).collect::<String>()
            ))
            .bearer_auth(&admin)
            .header("X-Experience-API-Version", "1.0.3");
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let told = loop {
        let page = statements_of_ada().await;
        let verbs: Vec<String> = page["statements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["verb"]["id"].as_str().unwrap().to_string())
            .collect();
        if verbs.iter().any(|v| v.ends_with("/passed")) {
            break page;
        }
        assert!(Instant::now() < deadline, "no passed statement: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let told = told["statements"].as_array().unwrap();
    let completed = told
        .iter()
        .find(|s| s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/completed")
        .expect("the completed step is a statement");
    assert_eq!(
        completed["object"]["id"],
        json!(format!("urn:lms:pathway:{pathway_id}:step:{watch}"))
    );
    assert_eq!(completed["context"]["registration"], json!(enrolment));
    assert_eq!(completed["result"]["completion"], true);
    let passed = told
        .iter()
        .find(|s| s["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed")
        .unwrap();
    assert_eq!(passed["result"]["success"], true);
    assert_eq!(passed["result"]["score"]["scaled"], json!(1.0));
    // Stable: the same statements, with the same ids, when read again.
    let again = statements_of_ada().await;
    assert!(again["statements"].as_array().unwrap().contains(completed));
    let certifications = suite
        .eventually("/v1/portal/certifications", &ada, |j| {
            j["certifications"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .await;
    let code = certifications["certifications"][0]["verificationCode"]
        .as_str()
        .unwrap()
        .to_string();
    // Training done elsewhere, recorded by an admin, is in the learner's transcript too.
    let manual = suite
        .ok(
            Method::POST,
            "/v1/manualRecords",
            &admin,
            json!({"record": {"learner": "ada", "title": "First aid", "provider": "Red Cross",
                   "completeTime": "2026-01-15T00:00:00Z", "hours": 8},
                   "reason": "Paper certificate"}),
        )
        .await;
    // The certification and the manual record are statements of hers too; a change to the
    // record voids its earlier statement and tells the new one.
    let manual_object = format!("urn:lms:manual-record:{}", manual["id"].as_str().unwrap());
    let told_of = |page: &Value, verb: &str, object: &str| -> Vec<Value> {
        page["statements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["verb"]["id"] == verb && s["object"]["id"] == object)
            .cloned()
            .collect()
    };
    let page = statements_of_ada().await;
    let earned = told_of(
        &page,
        "http://id.tincanapi.com/verb/earned",
        &format!("urn:lms:pathway:{pathway_id}:certification"),
    );
    assert_eq!(earned.len(), 1, "{page}");
    assert_eq!(earned[0]["context"]["registration"], json!(enrolment));
    let first = told_of(
        &page,
        "http://adlnet.gov/expapi/verbs/completed",
        &manual_object,
    );
    assert_eq!(first.len(), 1, "{page}");
    assert_eq!(first[0]["result"]["duration"], "PT28800S");
    suite
        .ok(
            Method::PATCH,
            &format!("/v1/manualRecords/{}", manual["id"].as_str().unwrap()),
            &admin,
            json!({"record": {"hours": 9}, "updateMask": "hours", "reason": "Typo"}),
        )
        .await;
    let page = statements_of_ada().await;
    let now_told = told_of(
        &page,
        "http://adlnet.gov/expapi/verbs/completed",
        &manual_object,
    );
    assert_eq!(now_told.len(), 1, "the earlier revision is voided: {page}");
    assert_eq!(now_told[0]["result"]["duration"], "PT32400S");
    let voided = suite
        .http
        .get(format!(
            "{}/xapi/statements?voidedStatementId={}",
            suite.base,
            first[0]["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin)
        .header("X-Experience-API-Version", "1.0.3")
        .send()
        .await
        .unwrap();
    assert_eq!(voided.status(), 200);
    let transcript = suite.get("/v1/portal/transcript", &ada).await;
    assert_eq!(transcript["entries"][0]["status"], "COMPLETED");
    assert_eq!(transcript["entries"][0]["source"], "TRANSCRIPT_ENROLMENT");
    assert_eq!(
        transcript["entries"][1]["source"],
        "TRANSCRIPT_MANUAL_RECORD"
    );
    assert_eq!(transcript["entries"][1]["title"], "First aid");
    // An OPEN pathway offered to the Warehouse: Ada's catalogue lists it, ready to join.
    let open = suite
        .ok(
            Method::POST,
            "/v1/pathways",
            &admin,
            json!({"title": "Excel basics", "outcome": "TRAINING"}),
        )
        .await;
    let open_id = open["id"].as_str().unwrap().to_string();
    suite
        .ok(
            Method::POST,
            &format!("/v1/pathways/{open_id}/steps"),
            &admin,
            json!({"title": "Watch", "required": true, "content": {"url": "https://learn.example.com/excel", "mediaType": "VIDEO"}}),
        )
        .await;
    suite
        .ok(
            Method::POST,
            &format!("/v1/pathways/{open_id}:publish"),
            &admin,
            json!({}),
        )
        .await;
    suite
        .ok(
            Method::POST,
            "/v1/assignments",
            &admin,
            json!({"pathwayId": open_id, "audienceId": audience["id"], "requirement": "OPEN"}),
        )
        .await;
    let catalogue = suite.get("/v1/portal/catalogue", &ada).await;
    assert_eq!(
        catalogue["entries"][0]["pathway"]["title"], "Excel basics",
        "{catalogue}"
    );
    assert_eq!(catalogue["entries"][0]["requirement"], "OPEN");
    assert_eq!(catalogue["entries"].as_array().unwrap().len(), 1);

    // Anyone can verify the certificate, without a token.
    let (status, verified) = suite
        .call(Method::GET, &format!("/v1/verify/{code}"), None, None)
        .await;
    assert_eq!(status, 200, "{verified}");

    // Admin: the compliance report, streamed as newline-delimited JSON.
    let report = suite
        .http
        .get(format!("{}/v1/compliance/{pathway_id}", suite.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        report.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let lines: Vec<Value> = report
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["row"]["learner"], "ada");
    assert_eq!(lines[0]["row"]["state"], "COMPLIANCE_COMPLIANT");
    // int64 travels as a string in proto3 JSON.
    assert_eq!(lines.last().unwrap()["totals"]["compliant"], "1");

    // A deleted manual record is no longer a statement of hers: its last revision is voided.
    let (status, _) = suite
        .call(
            Method::DELETE,
            &format!(
                "/v1/manualRecords/{}?reason=Entered%20twice",
                manual["id"].as_str().unwrap()
            ),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let page = statements_of_ada().await;
    let left = told_of(
        &page,
        "http://adlnet.gov/expapi/verbs/completed",
        &manual_object,
    );
    assert!(left.is_empty(), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mistakes_get_precise_statuses_and_json_errors() {
    let suite = Suite::start();
    let admin = suite.token("admin@acme", "admin");
    let ada = suite.token("ada", "learner");
    let post = |token: Option<String>, body: &'static str| {
        let mut request = suite
            .http
            .post(format!("{}/v1/categories", suite.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let expect = |response: reqwest::Response, status: u16| async move {
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.expect("a JSON error body");
        body
    };
    let malformed = expect(post(Some(admin.clone()), "{\"name\": ").await.unwrap(), 400).await;
    assert_eq!(malformed["status"], "INVALID_ARGUMENT");
    let unknown = expect(
        post(Some(admin.clone()), r#"{"name": "x", "colour": "red"}"#)
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(
        unknown["message"].as_str().unwrap().contains("colour"),
        "{unknown}"
    );
    let wrong_type = expect(
        post(Some(admin.clone()), r#"{"name": 42}"#).await.unwrap(),
        400,
    )
    .await;
    assert_eq!(wrong_type["status"], "INVALID_ARGUMENT");
    assert_eq!(
        wrong_type["details"][0]["fieldViolations"][0]["field"], "category.name",
        "a decode error names its field: {wrong_type}"
    );
    let missing = expect(post(Some(admin.clone()), "{}").await.unwrap(), 400).await;
    assert_eq!(
        missing["details"][0]["fieldViolations"][0]["field"],
        "category.name"
    );
    let no_token = expect(post(None, r#"{"name": "x"}"#).await.unwrap(), 401).await;
    assert_eq!(no_token["status"], "UNAUTHENTICATED");
    assert_eq!(no_token["code"], 16);
    let forged = format!("{}x", admin);
    expect(post(Some(forged), r#"{"name": "x"}"#).await.unwrap(), 401).await;
    let learner = expect(
        post(Some(ada.clone()), r#"{"name": "x"}"#).await.unwrap(),
        403,
    )
    .await;
    assert_eq!(learner["status"], "PERMISSION_DENIED");
    let (status, not_an_id) = suite
        .call(Method::GET, "/v1/pathways/not-an-id", Some(&admin), None)
        .await;
    assert_eq!(status, 400, "{not_an_id}");
    let (status, _) = suite
        .call(Method::GET, "/v1/no/such/route", Some(&admin), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = suite
        .call(Method::PUT, "/v1/categories", Some(&admin), Some(json!({})))
        .await;
    assert_eq!(status, 405);
    let huge = format!(
        r#"{{"name": "x", "description": "{}"}}"#,
        "a".repeat(100_000)
    );
    let oversized = suite
        .http
        .post(format!("{}/v1/categories", suite.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status().as_u16(), 413);
    let (status, _) = suite
        .call(
            Method::GET,
            "/v1/categories?pageSize=lots",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 400);
    let service = suite.token("records-service", "service");
    let (status, _) = suite
        .call(Method::GET, "/v1/categories", Some(&service), None)
        .await;
    assert_eq!(status, 403, "service identities stay inside");

    // A flood from one principal is limited (429 with Retry-After); others are not.
    let flood = suite.token("flood", "learner");
    let mut requests = Vec::new();
    for _ in 0..300 {
        requests.push(
            suite
                .http
                .get(format!("{}/v1/no/such/route", suite.base))
                .bearer_auth(&flood)
                .send(),
        );
    }
    let responses = futures_join_all(requests).await;
    let limited: Vec<&reqwest::Response> = responses
        .iter()
        .filter(|r| r.status().as_u16() == 429)
        .collect();
    assert!(!limited.is_empty(), "300 requests at once are limited");
    assert!(limited[0].headers().contains_key("retry-after"));
    let (status, _) = suite
        .call(Method::GET, "/v1/categories", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "another principal is not limited");
}

async fn futures_join_all<F>(requests: Vec<F>) -> Vec<reqwest::Response>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut out = Vec::new();
    let mut set = Vec::new();
    for request in requests {
        set.push(request);
    }
    for response in futures::future::join_all(set).await {
        out.push(response.unwrap());
    }
    out
}

/// The document validates as OpenAPI 3, and Schemathesis (property-based requests generated from
/// it, a fixed seed, bounded examples) finds no server error and no answer that breaks the
/// document's schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_fuzzing_it_with_every_check_finds_nothing() {
    // The fuzzer is one principal sending as fast as it can: lift the rate limit for it.
    let suite = Suite::start_with(&[
        ("LMS__GATEWAY__REQUESTS_PER_SECOND", "1000000"),
        ("LMS__GATEWAY__BURST", "1000000"),
    ]);
    let admin = suite.token("admin@acme", "admin");
    let document = suite
        .http
        .get(format!("{}/openapi.json", suite.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let file = suite.data.path().join("openapi.json");
    std::fs::write(&file, document).unwrap();
    let validated = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 runs (scripts/test.sh installs tests/requirements.txt)");
    assert!(
        validated.status.success(),
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    let examples = std::env::var("LMS_FUZZ_EXAMPLES").unwrap_or_else(|_| "5".into());
    // Every check Schemathesis has; tests/schemathesis.toml says which statuses answer
    // schema-valid data the schema cannot fully describe (rules across fields).
    let fuzz = Command::new("python3")
        .args(["-m", "schemathesis.cli", "--config-file"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/schemathesis.toml"
        ))
        .arg("run")
        .arg(format!("{}/openapi.json", suite.base))
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args([
            "--checks",
            "all",
            "--seed",
            "1",
            "--max-examples",
            &examples,
            "--no-color",
        ])
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&fuzz.stdout).to_string();
    println!("{report}");
    assert!(
        fuzz.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&fuzz.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_cors_request_ids_and_grpc_web() {
    let suite = Suite::start_with(&[("LMS__GATEWAY__CORS_ORIGINS", "https://portal.example.com")]);
    let admin = suite.token("admin@acme", "admin");
    let preflight = |origin: &'static str| {
        suite
            .http
            .request(Method::OPTIONS, format!("{}/v1/categories", suite.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://portal.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{allowed:?}");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://portal.example.com"
    );
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    // Request ids: the caller's is kept, otherwise one is made.
    let given = suite
        .http
        .get(format!("{}/v1/categories", suite.base))
        .bearer_auth(&admin)
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "req-42");
    let made = suite
        .http
        .get(format!("{}/v1/no/such/route", suite.base))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 401);
    assert!(!made.headers()["x-request-id"].is_empty());

    // gRPC-Web, as a generated browser client sends it: an empty ListCategoriesRequest frame.
    let answer = suite
        .http
        .post(format!(
            "{}/lms.pathway.v1.PathwayService/ListCategories",
            suite.base
        ))
        .bearer_auth(&admin)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web")
    );
    let body = answer.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("grpc-status:0"), "{text:?}");
    // A learner's gRPC-Web call reaches the service, whose own role check answers in gRPC.
    let learner = suite
        .http
        .post(format!(
            "{}/lms.pathway.v1.PathwayService/CreateCategory",
            suite.base
        ))
        .bearer_auth(suite.token("ada", "learner"))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8, 0, 0, 0, 0])
        .send()
        .await
        .unwrap();
    let code = learner
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    let body = learner.bytes().await.unwrap();
    let status_seven =
        code.as_deref() == Some("7") || String::from_utf8_lossy(&body).contains("grpc-status:7");
    assert!(
        status_seven,
        "PERMISSION_DENIED expected: {code:?} {body:?}"
    );
    // gRPC-Web bodies have the JSON bodies' limit (64 KiB in this suite).
    let oversized = suite
        .http
        .post(format!(
            "{}/lms.pathway.v1.PathwayService/CreateCategory",
            suite.base
        ))
        .bearer_auth(suite.token("admin@acme", "admin"))
        .header("content-type", "application/grpc-web+proto")
        .body(vec![0u8; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), 413);
}
