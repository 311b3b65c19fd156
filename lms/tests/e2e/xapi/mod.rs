//! The Learning Record Store through the gateway's `/xapi/`, as an xAPI client sees it: the
//! Statement Resource and About, requirement by requirement (xAPI 1.0.3 Data and
//! Communication, the conformance requirements' XAPI-nnnnn ids where they have one), on
//! `lms up` over SQLite and over PostgreSQL.

use lms_platform::Role;
use lms_test_support::TestBackend;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::Lms;

mod attachments;
mod clients;
mod documents;
mod forwarding;
mod queries;
mod statements;

const V1: &str = "1.0.3";
const V2: &str = "2.0.0";
const VOIDED: &str = "http://adlnet.gov/expapi/verbs/voided";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Client<'a> {
    lms: &'a Lms,
    token: Option<String>,
    version: Option<&'a str>,
}

impl Client<'_> {
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let mut request = self
            .lms
            .http
            .request(method, format!("{}/xapi{path}", self.lms.gateway));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(version) = self.version {
            request = request.header("X-Experience-API-Version", version);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn post(&self, body: &Value) -> Answer {
        self.send(Method::POST, "/statements", Some(body)).await
    }

    async fn put(&self, id: &str, body: &Value) -> Answer {
        self.send(
            Method::PUT,
            &format!("/statements?statementId={id}"),
            Some(body),
        )
        .await
    }

    async fn get(&self, query: &str) -> Answer {
        self.send(Method::GET, &format!("/statements?{query}"), None)
            .await
    }

    /// Every statement a query returns, following `more` to the end.
    async fn all(&self, query: &str) -> Vec<Value> {
        let mut found = Vec::new();
        let mut answer = self.get(query).await;
        loop {
            assert_eq!(answer.status, 200, "{query}: {}", answer.body);
            found.extend(answer.body["statements"].as_array().unwrap().clone());
            let more = answer.body["more"].as_str().unwrap_or("").to_string();
            if more.is_empty() {
                return found;
            }
            assert!(more.starts_with("/xapi/statements?more="), "{more}");
            answer = self
                .send(Method::GET, more.trim_start_matches("/xapi"), None)
                .await;
        }
    }
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn agent(name: &str) -> Value {
    json!({"objectType": "Agent", "mbox": format!("mailto:{name}@example.com")})
}

fn statement(actor: &str, verb: &str, activity: &str) -> Value {
    json!({
        "actor": agent(actor),
        "verb": {"id": format!("http://example.com/verbs/{verb}"), "display": {"en-US": verb, "de": format!("de-{verb}")}},
        "object": {"id": format!("http://example.com/activities/{activity}"),
                   "definition": {"name": {"en-US": activity, "fr": format!("fr-{activity}")}}}
    })
}

/// `ids` in the order `at` names.
fn pick(ids: &[String], at: &[usize]) -> Vec<String> {
    at.iter().map(|&i| ids[i].clone()).collect()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn the_statement_resource(backend: TestBackend) {
    // Forwarding goes to this suite's own store on loopback, over plain HTTP: allowed here as
    // an operator would for a store on a private network.
    let forwarding = [
        ("LMS__RECORDS__FORWARDING__ALLOW_HTTP", "true"),
        (
            "LMS__RECORDS__FORWARDING__ALLOWED_NETWORKS",
            "127.0.0.0/8,::1",
        ),
        ("LMS__RECORDS__MAX_ATTACHMENT_BYTES", "8388608"),
    ];
    let Some(lms) = Lms::start_with(backend, &forwarding).await else {
        return;
    };
    let admin = lms.token("acme", Role::Admin);
    statements::about_and_versions(&lms, &admin).await;
    let client = Client {
        lms: &lms,
        token: Some(admin.clone()),
        version: Some(V1),
    };
    statements::storing(&client).await;
    statements::malformed(&client).await;
    queries::voiding(&client).await;
    queries::querying(&client).await;
    statements::version_rules(&lms, &admin).await;
    statements::tenants_are_apart(&lms, &admin).await;
    clients::lrs_clients(&lms, &admin).await;
    documents::documents(&lms, &admin).await;
    documents::created_at_once(&lms, &admin).await;
    attachments::attachments(&lms, &admin).await;
    attachments::streamed(&lms, &admin).await;
    clients::alternate_syntax(&lms, &admin).await;
    forwarding::statements_reach_the_other_store(&lms, &admin).await;
    forwarding::one_store_down_holds_back_only_its_tenant(&lms, &admin).await;
    forwarding::a_hung_store_holds_back_only_its_tenant(&lms, &admin).await;
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn the_statement_resource() {
        super::the_statement_resource(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn the_statement_resource() {
        super::the_statement_resource(TestBackend::Postgres).await;
    }
}
