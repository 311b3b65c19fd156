//! State, Activity Profile and Agent Profile documents, Activities and Agents.

use lms_platform::Role;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Client, V1, V2, agent, enc, statement, uuid};
use crate::support::Lms;

/// A document request: the status, the headers and the body's bytes.
async fn doc(
    lms: &Lms,
    token: &str,
    version: &str,
    method: Method,
    path_and_query: &str,
    body: Option<(&str, &str)>,
    conditions: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = lms
        .http
        .request(method, format!("{}/xapi{path_and_query}", lms.gateway))
        .bearer_auth(token)
        .header("X-Experience-API-Version", version);
    for (name, value) in conditions {
        request = request.header(*name, *value);
    }
    if let Some((content_type, content)) = body {
        request = request
            .header("Content-Type", content_type)
            .body(content.to_string());
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

/// State, Activity Profile and Agent Profile documents, Activities and Agents (C 2.2–2.7).
pub(super) async fn documents(lms: &Lms, admin: &str) {
    let activity = enc("http://example.com/activities/sim");
    let ann = enc(&agent("ann").to_string());
    let registration = uuid();
    let state = format!("/activities/state?activityId={activity}&agent={ann}&stateId=bookmark");
    let json_body = Some(("application/json", r#"{"x": "foo", "y": "bar"}"#));
    // PUT: 204 with the content's SHA-1 as ETag; GET gives it back with its type.
    let (status, headers, _) = doc(lms, admin, V1, Method::PUT, &state, json_body, &[]).await;
    assert_eq!(status, 204);
    let etag = headers["etag"].to_str().unwrap().to_string();
    let (status, headers, body) = doc(lms, admin, V1, Method::GET, &state, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["etag"].to_str().unwrap(), etag);
    assert!(headers.contains_key("last-modified"));
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body, br#"{"x": "foo", "y": "bar"}"#);
    // 1.0.3 lets State be replaced without preconditions; 2.0.0 wants If-Match (409 without).
    assert_eq!(
        doc(lms, admin, V1, Method::PUT, &state, json_body, &[])
            .await
            .0,
        204
    );
    assert_eq!(
        doc(lms, admin, V2, Method::PUT, &state, json_body, &[])
            .await
            .0,
        409
    );
    assert_eq!(
        doc(
            lms,
            admin,
            V2,
            Method::PUT,
            &state,
            json_body,
            &[("If-Match", &etag)]
        )
        .await
        .0,
        204
    );
    let stale = [("If-Match", "\"0000000000000000000000000000000000000000\"")];
    assert_eq!(
        doc(lms, admin, V2, Method::PUT, &state, json_body, &stale)
            .await
            .0,
        412
    );
    // POST merges JSON objects (C 2.2); not JSON: 400, nothing changed.
    let merge = Some(("application/json", r#"{"x": "bash", "z": "faz"}"#));
    assert_eq!(
        doc(lms, admin, V1, Method::POST, &state, merge, &[])
            .await
            .0,
        204
    );
    let merged: Value =
        serde_json::from_slice(&doc(lms, admin, V1, Method::GET, &state, None, &[]).await.2)
            .unwrap();
    assert_eq!(merged, json!({"x": "bash", "y": "bar", "z": "faz"}));
    assert_eq!(
        doc(
            lms,
            admin,
            V1,
            Method::POST,
            &state,
            Some(("text/plain", "hello")),
            &[]
        )
        .await
        .0,
        400
    );
    // Registrations keep their own state; the list names ids, since a time.
    let registered = format!(
        "/activities/state?activityId={activity}&agent={ann}&registration={registration}&stateId=suspend"
    );
    assert_eq!(
        doc(
            lms,
            admin,
            V1,
            Method::PUT,
            &registered,
            Some(("text/plain", "p3")),
            &[]
        )
        .await
        .0,
        204
    );
    let list = |query: String| async move {
        let (status, _, body) = doc(lms, admin, V1, Method::GET, &query, None, &[]).await;
        assert_eq!(status, 200, "{query}");
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    assert_eq!(
        list(format!(
            "/activities/state?activityId={activity}&agent={ann}"
        ))
        .await,
        json!(["bookmark"])
    );
    assert_eq!(
        list(format!(
            "/activities/state?activityId={activity}&agent={ann}&registration={registration}"
        ))
        .await,
        json!(["suspend"])
    );
    let later = enc("2999-01-01T00:00:00Z");
    assert_eq!(
        list(format!(
            "/activities/state?activityId={activity}&agent={ann}&since={later}"
        ))
        .await,
        json!([])
    );
    // Another tenant sees none of it.
    let globex = lms.token("globex", Role::Admin);
    assert_eq!(
        doc(lms, &globex, V1, Method::GET, &state, None, &[])
            .await
            .0,
        404
    );
    // DELETE without stateId removes the agent's state for the activity (that registration's
    // when one is named).
    let all = format!("/activities/state?activityId={activity}&agent={ann}");
    assert_eq!(
        doc(lms, admin, V1, Method::DELETE, &all, None, &[]).await.0,
        204
    );
    assert_eq!(
        doc(lms, admin, V1, Method::GET, &state, None, &[]).await.0,
        404
    );
    assert_eq!(
        doc(lms, admin, V1, Method::GET, &registered, None, &[])
            .await
            .0,
        200
    );

    // Activity Profile: a PUT over an existing profile must say which version it replaces.
    let profile = format!("/activities/profile?activityId={activity}&profileId=rubric");
    let v1 = Some(("application/json", r#"{"pass": 70}"#));
    assert_eq!(
        doc(
            lms,
            admin,
            V1,
            Method::PUT,
            &profile,
            v1,
            &[("If-None-Match", "*")]
        )
        .await
        .0,
        204
    );
    assert_eq!(
        doc(lms, admin, V1, Method::PUT, &profile, v1, &[]).await.0,
        409
    );
    assert_eq!(
        doc(
            lms,
            admin,
            V1,
            Method::PUT,
            &profile,
            v1,
            &[("If-None-Match", "*")]
        )
        .await
        .0,
        412
    );
    assert_eq!(
        doc(lms, admin, V1, Method::DELETE, &profile, None, &stale)
            .await
            .0,
        412
    );
    assert_eq!(
        doc(lms, admin, V1, Method::DELETE, &profile, None, &[])
            .await
            .0,
        204
    );
    assert_eq!(
        doc(lms, admin, V1, Method::GET, &profile, None, &[])
            .await
            .0,
        404
    );
    // Agent Profile: the agent must be an Agent.
    let agent_profile = format!("/agents/profile?agent={ann}&profileId=preferences");
    assert_eq!(
        doc(
            lms,
            admin,
            V1,
            Method::PUT,
            &agent_profile,
            Some(("text/plain", "dark")),
            &[]
        )
        .await
        .0,
        204
    );
    assert_eq!(
        doc(lms, admin, V1, Method::GET, &agent_profile, None, &[])
            .await
            .2,
        b"dark"
    );
    let group = enc(&json!({"objectType": "Group", "mbox": "mailto:g@example.com"}).to_string());
    for bad in [
        format!("/agents/profile?agent={group}&profileId=p"),
        "/agents/profile?profileId=p".to_string(),
        format!("/activities/state?activityId=not%20an%20iri&agent={ann}&stateId=s"),
        format!("/activities/state?activityId={activity}&agent={ann}&registration=42&stateId=s"),
        format!("/activities/profile?activityId={activity}&agent={ann}&profileId=p"),
    ] {
        assert_eq!(
            doc(lms, admin, V1, Method::GET, &bad, None, &[]).await.0,
            400,
            "{bad}"
        );
    }

    // Activities: the definition gathered from statements, languages merged (XAPI-00254);
    // an unknown activity still answers with its id.
    let v = Client {
        lms,
        token: Some(admin.into()),
        version: Some(V1),
    };
    let mut first = statement("ann", "did", "definitions");
    first["object"]["definition"] = json!({"name": {"en-US": "Definitions"}});
    let mut second = statement("ann", "did", "definitions");
    second["object"]["definition"] =
        json!({"name": {"fr": "Définitions"}, "type": "http://example.com/types/sim"});
    assert_eq!(v.post(&first).await.status, 200);
    assert_eq!(v.post(&second).await.status, 200);
    let id = "http://example.com/activities/definitions";
    let (status, _, body) = doc(
        lms,
        admin,
        V1,
        Method::GET,
        &format!("/activities?activityId={}", enc(id)),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"objectType": "Activity", "id": id, "definition": {
            "name": {"en-US": "Definitions", "fr": "Définitions"}, "type": "http://example.com/types/sim"}})
    );
    // Concurrent requests naming the same activity all succeed (each merges its definition;
    // none fails on another's first write of it).
    let shared = |n: usize| {
        let mut s = statement("ann", "did", "shared");
        s["object"]["definition"] = json!({"name": {format!("x-n{n}"): "Shared"}});
        s
    };
    let batches: Vec<_> = (0..8)
        .map(|batch| {
            let body = Value::from((0..20).map(|n| shared(batch * 20 + n)).collect::<Vec<_>>());
            let v = Client {
                lms,
                token: Some(admin.into()),
                version: Some(V1),
            };
            async move { v.post(&body).await.status }
        })
        .collect();
    for status in futures::future::join_all(batches).await {
        assert_eq!(status, 200);
    }
    let unknown = "http://example.com/activities/never";
    let (_, _, body) = doc(
        lms,
        admin,
        V1,
        Method::GET,
        &format!("/activities?activityId={}", enc(unknown)),
        None,
        &[],
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"objectType": "Activity", "id": unknown})
    );
    // Agents: the Person object (XAPI-00236..00248).
    let (status, _, body) = doc(
        lms,
        admin,
        V1,
        Method::GET,
        &format!("/agents?agent={ann}"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"objectType": "Person", "mbox": ["mailto:ann@example.com"]})
    );
    assert_eq!(
        doc(
            lms,
            admin,
            V1,
            Method::GET,
            &format!("/agents?agent={group}"),
            None,
            &[]
        )
        .await
        .0,
        400
    );
}

/// Clients creating the same new document at once: each request is judged as if it came
/// alone, one after another — never refused for meeting the other's first write.
pub(super) async fn created_at_once(lms: &Lms, admin: &str) {
    let activity = enc("http://example.com/activities/raced");
    let ann = enc(&agent("ann").to_string());
    // State under 1.0.3 takes a PUT without preconditions: every one is accepted.
    let state = format!(
        "/activities/state?activityId={activity}&agent={ann}&stateId={}",
        uuid()
    );
    let puts = (0..8).map(|n| {
        let state = state.clone();
        async move {
            let body = format!(r#"{{"n": {n}}}"#);
            let request = Some(("application/json", body.as_str()));
            doc(lms, admin, V1, Method::PUT, &state, request, &[])
                .await
                .0
        }
    });
    for status in futures::future::join_all(puts).await {
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    // If-None-Match: * ("only if there is none"): exactly one creates it, the others are told
    // it exists now (412), as they would be one after another.
    let profile = format!("/agents/profile?agent={ann}&profileId={}", uuid());
    let creations = (0..8).map(|_| {
        let profile = profile.clone();
        async move {
            let request = Some(("application/json", r#"{"a": 1}"#));
            let only_new = [("If-None-Match", "*")];
            doc(lms, admin, V2, Method::PUT, &profile, request, &only_new)
                .await
                .0
        }
    });
    let mut statuses: Vec<u16> = futures::future::join_all(creations)
        .await
        .into_iter()
        .map(|s| s.as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, [204, 412, 412, 412, 412, 412, 412, 412]);
}
