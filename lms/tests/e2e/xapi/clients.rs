//! LRS clients and the alternate request syntax: how xAPI content gets in.

use lms_platform::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, V1, statement, uuid};
use crate::support::Lms;

/// LRS clients: Basic credentials an admin makes over REST, within their scopes and tenant.
pub(super) async fn lrs_clients(lms: &Lms, admin: &str) {
    let make = |name: &str, read: bool, write: bool| {
        let body = json!({"name": name, "canRead": read, "canWrite": write});
        async move {
            let made = lms
                .http
                .post(format!("{}/v1/lrsClients", lms.gateway))
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(made.status(), 200);
            let made: Value = made.json().await.unwrap();
            let key = made["client"]["key"].as_str().unwrap().to_string();
            (key, made["secret"].as_str().unwrap().to_string())
        }
    };
    let (writer, writer_secret) = make("Vendor simulations", false, true).await;
    let (reader, reader_secret) = make("Analytics", true, false).await;
    let basic = |key: &str, secret: &str, method: Method, query: &str, body: Option<Value>| {
        let mut request = lms
            .http
            .request(method, format!("{}/xapi/statements{query}", lms.gateway))
            .basic_auth(key, Some(secret))
            .header("X-Experience-API-Version", V1);
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let version = response.headers().get("x-experience-api-version").cloned();
            (
                status,
                version,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let registration = uuid();
    let mut sent = statement("sim", "completed", "simulation");
    sent["context"] = json!({"registration": registration});
    // The writer stores; its statements' authority is the client.
    let (status, _, ids) = basic(&writer, &writer_secret, Method::POST, "", Some(sent)).await;
    assert_eq!(status, 200, "{ids}");
    let id = ids[0].as_str().unwrap().to_string();
    let (status, _, found) = basic(
        &reader,
        &reader_secret,
        Method::GET,
        &format!("?statementId={id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        found["authority"]["account"]["name"],
        json!(format!("lrs-client:{writer}"))
    );
    // Each only within its scopes.
    let query = format!("?registration={registration}");
    assert_eq!(
        basic(&writer, &writer_secret, Method::GET, &query, None)
            .await
            .0,
        403
    );
    let other = Some(statement("sim", "did", "x"));
    assert_eq!(
        basic(&reader, &reader_secret, Method::POST, "", other.clone())
            .await
            .0,
        403
    );
    // Wrong or malformed credentials: 401, with the version header.
    let (status, version, _) = basic(&writer, "wrong", Method::POST, "", other.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(version.as_ref().and_then(|v| v.to_str().ok()), Some(V1));
    let garbled = lms
        .http
        .get(format!("{}/xapi/statements{query}", lms.gateway))
        .header("Authorization", "Basic !!!")
        .header("X-Experience-API-Version", V1)
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 401);
    // A client reads its own tenant's statements only.
    let globex = Client {
        lms,
        token: Some(lms.token("globex", Role::Admin)),
        version: Some(V1),
    };
    let mut theirs = statement("zed", "did", "other");
    theirs["context"] = json!({"registration": registration});
    assert_eq!(globex.post(&theirs).await.status, 200);
    let (status, _, page) = basic(&reader, &reader_secret, Method::GET, &query, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&Value> = page["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["id"])
        .collect();
    assert_eq!(ids, [&json!(id)]);
    // The list shows no secret; a deleted client's next request is refused.
    let listed: Value = lms
        .http
        .get(format!("{}/v1/lrsClients", lms.gateway))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [reader.as_str(), writer.as_str()]);
    assert!(!listed.to_string().contains(&writer_secret));
    let deleted = lms
        .http
        .delete(format!("{}/v1/lrsClients/{writer}", lms.gateway))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        basic(&writer, &writer_secret, Method::POST, "", other)
            .await
            .0,
        401
    );
    // No scope at all is refused when made.
    let none = lms
        .http
        .post(format!("{}/v1/lrsClients", lms.gateway))
        .bearer_auth(admin)
        .json(&json!({"name": "Nothing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 400);
}

/// xAPI 1.0.3's alternate request syntax (C 1.3, XAPI-00336): a form POST standing for a
/// PUT or a GET, its headers and parameters in the form.
pub(super) async fn alternate_syntax(lms: &Lms, admin: &str) {
    let id = uuid();
    let form = |method: &str, version: &str, extra: &[(&str, String)]| {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Authorization", &format!("Bearer {admin}"));
        form.append_pair("X-Experience-API-Version", version);
        for (name, value) in extra {
            form.append_pair(name, value);
        }
        (method.to_string(), form.finish())
    };
    let post = |(method, body): (String, String), query: &str| {
        let request = lms
            .http
            .post(format!(
                "{}/xapi/statements?method={method}{query}",
                lms.gateway
            ))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let put = form(
        "PUT",
        V1,
        &[
            ("Content-Type", "application/json".into()),
            ("statementId", id.clone()),
            ("content", statement("ann", "did", "alternate").to_string()),
        ],
    );
    let (status, answer) = post(put.clone(), "").await;
    assert_eq!(status, 204, "{answer}");
    let (status, found) = post(form("GET", V1, &[("statementId", id.clone())]), "").await;
    assert_eq!(status, 200);
    assert_eq!(found["id"], json!(id));
    // Nothing but method in the query; and 2.0.0 has no such syntax.
    assert_eq!(post(put.clone(), "&statementId=x").await.0, 400);
    let (method, body) = put;
    let two = (method, body.replace("1.0.3", "2.0.0"));
    assert_eq!(post(two, "").await.0, 400);
}
