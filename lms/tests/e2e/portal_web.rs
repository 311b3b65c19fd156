//! The Learning Portal's pages over plain HTTP, on SQLite and PostgreSQL: a person signed in
//! sees only their own tenant's and their own learning (another tenant's pathway, or another
//! learner's, is a page that says not found); a forged cookie is no session; a form without its
//! CSRF token changes nothing; `lms serve` refuses the development sign-in. The browser tests
//! (tests/portal/test_portal.py) drive the same pages in Chromium.

use lms_test_support::TestBackend;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::support::Lms;

/// A browser without a browser: keeps the portal's cookies, follows no redirect by itself.
struct Visitor {
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
}

impl Visitor {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.to_string(), value.to_string()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let location = location(&response);
        (response.status(), location, response.text().await.unwrap())
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep_cookies(&response);
        let location = location(&response);
        (response.status(), location, response.text().await.unwrap())
    }

    fn csrf(&self) -> String {
        self.cookies
            .iter()
            .find(|(n, _)| n == "lms_csrf")
            .map(|(_, v)| v.clone())
            .expect("the portal set its CSRF cookie")
    }

    /// The development sign-in `lms up` offers.
    async fn sign_in(&mut self, tenant: &str, person: &str) {
        let (status, _, page) = self.get("/signin").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("Development sign-in"), "{page}");
        let csrf = self.csrf();
        let (status, location, _) = self
            .post(
                "/auth/dev",
                &[
                    ("csrf", &csrf),
                    ("tenant", tenant),
                    ("person", person),
                    ("role", "learner"),
                    ("return_to", "/"),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "sign-in refused");
        assert_eq!(location, "/");
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn rest(lms: &Lms, token: &str, path: &str, body: Value) -> Value {
    let response = lms
        .http
        .post(format!("{}{path}", lms.gateway))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

/// A published pathway in `tenant` with `learner` enrolled on it; its id.
async fn enrolled_pathway(lms: &Lms, tenant: &str, title: &str, learner: &str) -> String {
    let admin = lms.auth.token(
        tenant,
        &format!("admin@{tenant}"),
        &[lms_platform::Role::Admin],
    );
    let pathway = rest(
        lms,
        &admin,
        "/v1/pathways",
        json!({"title": title, "outcome": "TRAINING"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    rest(
        lms,
        &admin,
        &format!("/v1/pathways/{pathway}/steps"),
        json!({"title": "Read", "required": true, "content": {"url": "https://learn.example.com/read"}}),
    )
    .await;
    rest(
        lms,
        &admin,
        &format!("/v1/pathways/{pathway}:publish"),
        json!({}),
    )
    .await;
    let person = rest(
        lms,
        &admin,
        "/v1/people",
        json!({"externalId": learner, "displayName": learner, "email": format!("{learner}@{tenant}.example")}),
    )
    .await;
    rest(
        lms,
        &admin,
        "/v1/enrolments",
        json!({"personId": person["id"], "pathwayId": pathway}),
    )
    .await;
    pathway
}

/// The page, once records-service has heard of the enrolment (it arrives by event).
async fn page_when_ready(visitor: &mut Visitor, path: &str) -> (StatusCode, String) {
    for _ in 0..100 {
        let (status, _, page) = visitor.get(path).await;
        if status == StatusCode::OK {
            return (status, page);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} never answered 200");
}

async fn a_learner_sees_only_their_own_tenant_and_learning(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let acme = enrolled_pathway(&lms, "acme", "Acme safety", "ada").await;
    let globex = enrolled_pathway(&lms, "globex", "Globex secrets", "ada").await;

    // ada of acme: her pathway, and nothing of globex's — the same person id elsewhere.
    let mut ada = Visitor::new(&lms.gateway);
    ada.sign_in("acme", "ada").await;
    let (_, page) = page_when_ready(&mut ada, &format!("/pathways/{acme}")).await;
    assert!(page.contains("Acme safety"), "{page}");
    let (_, _, learning) = ada.get("/").await;
    assert!(learning.contains("Acme safety") && !learning.contains("Globex"));
    let (status, _, page) = ada.get(&format!("/pathways/{globex}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("Globex secrets"), "{page}");

    // bob of acme, not enrolled: ada's pathway is not his to see.
    let mut bob = Visitor::new(&lms.gateway);
    bob.sign_in("acme", "bob").await;
    let (status, _, page) = bob.get(&format!("/pathways/{acme}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("Acme safety"));
    let (_, _, learning) = bob.get("/").await;
    assert!(!learning.contains("Acme safety"));
}

/// cmi5 content is launched, not ticked off: the page offers Launch, which sends the browser
/// on to the AU with cmi5's launch parameters.
async fn a_learner_launches_cmi5_content(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let admin = lms
        .auth
        .token("acme", "admin@acme", &[lms_platform::Role::Admin]);
    let pathway = rest(
        &lms,
        &admin,
        "/v1/pathways",
        json!({"title": "Forklift", "outcome": "TRAINING"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let unit = json!({"activityId": "https://vendor.example.com/au", "moveOn": "COMPLETED"});
    let with_step = rest(
        &lms,
        &admin,
        &format!("/v1/pathways/{pathway}/steps"),
        json!({"title": "Theory", "required": true,
               "content": {"url": "https://content.example.com/au.html", "cmi5": unit}}),
    )
    .await;
    let step = with_step["steps"][0]["id"].as_str().unwrap().to_string();
    rest(
        &lms,
        &admin,
        &format!("/v1/pathways/{pathway}:publish"),
        json!({}),
    )
    .await;
    let person = rest(
        &lms,
        &admin,
        "/v1/people",
        json!({"externalId": "ada", "displayName": "Ada"}),
    )
    .await;
    rest(
        &lms,
        &admin,
        "/v1/enrolments",
        json!({"personId": person["id"], "pathwayId": pathway}),
    )
    .await;

    let mut ada = Visitor::new(&lms.gateway);
    ada.sign_in("acme", "ada").await;
    let (_, page) = page_when_ready(&mut ada, &format!("/pathways/{pathway}")).await;
    assert!(page.contains(&format!("/steps/{step}/launch")), "{page}");
    assert!(
        !page.contains(&format!("/steps/{step}/complete")),
        "cmi5 content is not ticked off"
    );
    let enrolment = page
        .split("name=\"enrolment_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let csrf = ada.csrf();
    let (status, location, _) = ada
        .post(
            &format!("/pathways/{pathway}/steps/{step}/launch"),
            &[("csrf", &csrf), ("enrolment_id", &enrolment)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let launch = url::Url::parse(&location).unwrap();
    assert_eq!(launch.host_str(), Some("content.example.com"), "{location}");
    let endpoint = launch
        .query_pairs()
        .find(|(k, _)| k == "endpoint")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(endpoint, format!("{}/xapi/", lms.gateway));
    let registration = launch
        .query_pairs()
        .find(|(k, _)| k == "registration")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(registration, enrolment);
    // A forged form launches nothing.
    let (status, _, _) = ada
        .post(
            &format!("/pathways/{pathway}/steps/{step}/launch"),
            &[("csrf", "forged"), ("enrolment_id", &enrolment)],
        )
        .await;
    assert_ne!(status, StatusCode::SEE_OTHER);
}

async fn a_forged_cookie_or_form_changes_nothing(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let pathway = enrolled_pathway(&lms, "acme", "Acme safety", "ada").await;
    let mut ada = Visitor::new(&lms.gateway);
    ada.sign_in("acme", "ada").await;
    let (_, page) = page_when_ready(&mut ada, &format!("/pathways/{pathway}")).await;
    let enrolment = page
        .split("name=\"enrolment_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the content step's form")
        .to_string();
    let step = page
        .split("/steps/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    let complete = format!("/pathways/{pathway}/steps/{step}/complete");

    // Without the CSRF token: refused, and the step is not done.
    let (status, _, _) = ada
        .post(
            &complete,
            &[
                ("csrf", "forged"),
                ("enrolment_id", &enrolment),
                ("kind", "content"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, _, page) = ada.get(&format!("/pathways/{pathway}")).await;
    assert!(page.contains(">Available<"), "{page}");

    // A session cookie altered by one character is no session: off to sign in, and back.
    let mut forged = Visitor::new(&lms.gateway);
    forged.cookies = ada.cookies.clone();
    for (name, value) in &mut forged.cookies {
        if name == "lms_session" {
            let last = value.pop().unwrap();
            value.push(if last == 'A' { 'B' } else { 'A' });
        }
    }
    let (status, location, _) = forged.get(&format!("/pathways/{pathway}")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        location,
        format!("/signin?return_to=%2Fpathways%2F{pathway}")
    );

    // With it: done.
    let csrf = ada.csrf();
    let (status, location, _) = ada
        .post(
            &complete,
            &[
                ("csrf", &csrf),
                ("enrolment_id", &enrolment),
                ("kind", "content"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.ends_with("notice=step_done"));
    let (_, _, page) = ada.get(&format!("/pathways/{pathway}")).await;
    assert!(page.contains(">Done<"), "{page}");

    // Signed out: the session cookie is cleared, pages ask to sign in again.
    let (status, location, _) = ada.post("/signout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::SEE_OTHER, "/signin?signed_out=1")
    );
    let (status, _, _) = ada.get("/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[test]
fn lms_serve_refuses_the_development_sign_in() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lms"))
        .args(["serve", "gateway"])
        .env(
            "LMS__AUTH__HS256_SECRET",
            "a-development-secret-of-32-bytes-or-more",
        )
        .env("LMS__WEB__DEV_SIGN_IN", "true")
        .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("web.dev_sign_in is for development only"),
        "{said}"
    );
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_learner_sees_only_their_own_tenant_and_learning() {
        super::a_learner_sees_only_their_own_tenant_and_learning(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_cookie_or_form_changes_nothing() {
        super::a_forged_cookie_or_form_changes_nothing(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_learner_launches_cmi5_content() {
        super::a_learner_launches_cmi5_content(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_learner_sees_only_their_own_tenant_and_learning() {
        super::a_learner_sees_only_their_own_tenant_and_learning(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_cookie_or_form_changes_nothing() {
        super::a_forged_cookie_or_form_changes_nothing(TestBackend::Postgres).await;
    }
}
