//! The Statement Resource and About: versions, storing, malformed statements, voiding,
//! queries, 1.0.3 against 2.0.0 rules, tenants.

use lms_platform::Role;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, V1, V2, VOIDED, agent, statement, uuid};
use crate::support::Lms;

pub(super) async fn about_and_versions(lms: &Lms, admin: &str) {
    // About answers without credentials or version (C 2.8), naming both versions.
    let anonymous = Client {
        lms,
        token: None,
        version: None,
    };
    let about = anonymous.send(Method::GET, "/about", None).await;
    assert_eq!(about.status, 200);
    assert_eq!(about.body, json!({"version": [V1, V2]}));
    assert_eq!(about.header("x-experience-api-version"), Some(V2));
    // Every other resource wants a supported version (XAPI-00321, 00331), and says so.
    for version in [
        None,
        Some("0.95"),
        Some("1.1.0"),
        Some("3.0.0"),
        Some("abc"),
    ] {
        let client = Client {
            lms,
            token: Some(admin.into()),
            version,
        };
        let refused = client.get("limit=1").await;
        assert_eq!(refused.status, 400, "{version:?}");
        assert!(refused.header("x-experience-api-version").is_some());
    }
    // 1.0 and 1.0.x are answered as 1.0.3; 2.0.x as 2.0.0 (C 3.3).
    for (asked, answered) in [("1.0", V1), ("1.0.1", V1), ("2.0", V2), ("2.0.0", V2)] {
        let client = Client {
            lms,
            token: Some(admin.into()),
            version: Some(asked),
        };
        let answer = client.get("limit=1").await;
        assert_eq!(answer.status, 200, "{asked}");
        assert_eq!(answer.header("x-experience-api-version"), Some(answered));
        assert!(
            answer
                .header("x-experience-api-consistent-through")
                .is_some()
        );
    }
    // Refusals at the edge carry the version too (XAPI-00333).
    let anonymous = Client {
        lms,
        token: None,
        version: Some(V1),
    };
    let unauthenticated = anonymous.get("limit=1").await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.header("x-experience-api-version"), Some(V1));
    // Learners are not LRS clients (403).
    let learner = Client {
        lms,
        token: Some(lms.token("acme", Role::Learner)),
        version: Some(V1),
    };
    assert_eq!(
        learner.post(&statement("ann", "did", "a")).await.status,
        403
    );
}

pub(super) async fn storing(client: &Client<'_>) {
    // The same new statement PUT by eight clients at once (a retry racing its original): the
    // same statement, so every one is accepted, and it is stored once.
    let raced = uuid();
    let same = statement("ann", "raced", "intro");
    let puts = (0..8).map(|_| client.put(&raced, &same));
    for answer in futures::future::join_all(puts).await {
        assert_eq!(answer.status, 204, "{}", answer.body);
    }
    let found = client
        .all("verb=http%3A%2F%2Fexample.com%2Fverbs%2Fraced")
        .await;
    assert_eq!(found.len(), 1);
    // POST one: 200 and its generated id (XAPI-00026, 00146).
    let posted = client.post(&statement("ann", "completed", "intro")).await;
    assert_eq!(posted.status, 200, "{}", posted.body);
    assert!(
        posted
            .header("x-experience-api-consistent-through")
            .is_some()
    );
    let id = posted.body[0].as_str().unwrap().to_string();
    let got = client.get(&format!("statementId={id}")).await;
    assert_eq!(got.status, 200);
    assert!(got.header("last-modified").is_some());
    let stored = &got.body;
    assert_eq!(stored["id"], json!(id));
    assert_eq!(
        stored["verb"]["id"],
        json!("http://example.com/verbs/completed")
    );
    // The store sets stored, timestamp (= stored when absent), version and authority (D 2.4).
    assert_eq!(stored["timestamp"], stored["stored"]);
    assert_eq!(stored["version"], json!("1.0.0"));
    assert_eq!(stored["authority"]["account"]["name"], json!("admin@acme"));
    // HEAD: GET's status and headers, no body (C 1.1).
    let head = client
        .send(Method::HEAD, &format!("/statements?statementId={id}"), None)
        .await;
    assert_eq!(head.status, 200);
    assert!(head.header("last-modified").is_some());
    assert!(head.header("x-experience-api-consistent-through").is_some());
    assert_eq!(head.body, Value::Null);

    // PUT: 204; the same again: 204 and nothing changes; other content: 409 (C 2.1.1).
    let put_id = uuid();
    let mut original = statement("ann", "attempted", "intro");
    original["stored"] = json!("2011-07-15T00:00:00Z");
    assert_eq!(client.put(&put_id, &original).await.status, 204);
    let first = client.get(&format!("statementId={put_id}")).await.body;
    assert_ne!(
        first["stored"],
        json!("2011-07-15T00:00:00Z"),
        "stored is the store's"
    );
    assert_eq!(client.put(&put_id, &original).await.status, 204);
    assert_eq!(
        client.get(&format!("statementId={put_id}")).await.body,
        first
    );
    let conflicting = client
        .put(&put_id, &statement("ann", "failed", "intro"))
        .await;
    assert_eq!(conflicting.status, 409, "{}", conflicting.body);
    assert_eq!(
        client.get(&format!("statementId={put_id}")).await.body,
        first
    );
    // A POST of the same id and content is accepted too; of other content, 409.
    let mut again = original.clone();
    again["id"] = json!(put_id.to_uppercase());
    assert_eq!(client.post(&again).await.status, 200);
    let mut other = statement("bob", "attempted", "intro");
    other["id"] = json!(put_id);
    assert_eq!(
        client
            .post(&json!([statement("cy", "did", "a"), other]))
            .await
            .status,
        409
    );

    // PUT needs statementId (XAPI-00145) matching the body's id, and one statement.
    let no_id = client
        .send(Method::PUT, "/statements", Some(&statement("a", "b", "c")))
        .await;
    assert_eq!(no_id.status, 400);
    let mut mismatched = statement("ann", "did", "x");
    mismatched["id"] = json!(uuid());
    assert_eq!(client.put(&uuid(), &mismatched).await.status, 400);
    assert_eq!(
        client
            .put(&uuid(), &json!([statement("a", "b", "c")]))
            .await
            .status,
        400
    );

    // A batch is stored whole or not at all (XAPI-00326); ids repeat in none (C 2.1.2).
    let registration = uuid();
    let mut good = statement("ann", "did", "batch");
    good["context"] = json!({"registration": registration});
    let mut bad = good.clone();
    bad["verb"] = json!({"id": "not an iri"});
    let refused = client.post(&json!([good.clone(), bad])).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.to_string().contains("statements[1].verb.id"),
        "{}",
        refused.body
    );
    assert!(
        refused
            .header("x-experience-api-consistent-through")
            .is_some()
    );
    let same = uuid();
    let (mut one, mut two) = (good.clone(), good.clone());
    one["id"] = json!(same);
    two["id"] = json!(same);
    assert_eq!(client.post(&json!([one, two])).await.status, 400);
    assert!(
        client
            .all(&format!("registration={registration}"))
            .await
            .is_empty()
    );
    // Content types: JSON only for now (attachment parts are not accepted yet).
    let text = client
        .lms
        .http
        .post(format!("{}/xapi/statements", client.lms.gateway))
        .bearer_auth(client.token.as_deref().unwrap())
        .header("X-Experience-API-Version", V1)
        .header("Content-Type", "text/plain")
        .body(good.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 400);
}

/// Statements the specification says an LRS rejects with 400, each on its own, and none
/// of them stored.
pub(super) async fn malformed(client: &Client<'_>) {
    let registration = uuid();
    let base = || {
        let mut s = statement("ann", "did", "malformed");
        s["context"] = json!({"registration": registration});
        s
    };
    let with = |path: &[&str], value: Value| {
        let mut s = base();
        let mut at = &mut s;
        for key in &path[..path.len() - 1] {
            at = at
                .as_object_mut()
                .unwrap()
                .entry(key.to_string())
                .or_insert(json!({}));
        }
        at[path[path.len() - 1]] = value;
        s
    };
    let without = |key: &str| {
        let mut s = base();
        s.as_object_mut().unwrap().remove(key);
        s
    };
    let cases = [
        ("XAPI-00003 no actor", without("actor")),
        ("XAPI-00004 no verb", without("verb")),
        ("XAPI-00005 no object", without("object")),
        ("XAPI-00001 null", with(&["result"], json!(null))),
        (
            "XAPI-00006 string for bool",
            with(&["result", "success"], json!("true")),
        ),
        ("XAPI-00008 key case", with(&["Actor"], agent("x"))),
        (
            "XAPI-00009 value case",
            with(&["actor", "objectType"], json!("agent")),
        ),
        ("XAPI-00010 extra property", with(&["foo"], json!(1))),
        (
            "XAPI-00011 IRI without scheme",
            with(&["verb", "id"], json!("verbs/did")),
        ),
        (
            "XAPI-00027 id not a UUID",
            with(&["id"], json!("not-a-uuid")),
        ),
        (
            "XAPI-00034 two IFIs",
            with(&["actor", "openid"], json!("http://openid.example.com/ann")),
        ),
        (
            "XAPI-00038 mbox without mailto",
            with(&["actor", "mbox"], json!("ann@example.com")),
        ),
        (
            "XAPI-00036 group in group",
            with(
                &["actor"],
                json!({"objectType": "Group", "member": [{"objectType": "Group", "mbox": "mailto:g@example.com"}]}),
            ),
        ),
        (
            "XAPI-00042 account without homePage",
            with(&["actor"], json!({"account": {"name": "ann"}})),
        ),
        (
            "XAPI-00045 display not a language map",
            with(&["verb", "display"], json!({"en_US": "did"})),
        ),
        (
            "XAPI-00046 unknown objectType",
            with(&["object", "objectType"], json!("Thing")),
        ),
        (
            "XAPI-00049 interactionType",
            with(
                &["object", "definition", "interactionType"],
                json!("Choice"),
            ),
        ),
        (
            "XAPI-00064 pattern without interactionType",
            with(
                &["object", "definition", "correctResponsesPattern"],
                json!(["a"]),
            ),
        ),
        (
            "XAPI-00070 SubStatement with id",
            with(
                &["object"],
                json!({"objectType": "SubStatement", "id": uuid(), "actor": agent("a"), "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/o"}}),
            ),
        ),
        (
            "XAPI-00071 nested SubStatement",
            with(
                &["object"],
                json!({"objectType": "SubStatement", "actor": agent("a"), "verb": {"id": "http://example.com/v"}, "object": {"objectType": "SubStatement", "actor": agent("a"), "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/o"}}}),
            ),
        ),
        (
            "XAPI-00083 scaled above 1",
            with(&["result", "score", "scaled"], json!(1.01)),
        ),
        (
            "XAPI-00080 min not below max",
            with(&["result", "score"], json!({"min": 5, "max": 5})),
        ),
        (
            "XAPI-00082 raw above max",
            with(&["result", "score"], json!({"raw": 11, "max": 10})),
        ),
        (
            "XAPI-00077 duration",
            with(&["result", "duration"], json!("P0003-01-29T04:35:59")),
        ),
        (
            "XAPI-00087 registration",
            with(&["context", "registration"], json!("12345")),
        ),
        (
            "XAPI-00088 team is an agent",
            with(&["context", "team"], agent("t")),
        ),
        (
            "XAPI-00091 language",
            with(&["context", "language"], json!("en_US")),
        ),
        (
            "XAPI-00118 extension key",
            with(&["context", "extensions"], json!({"not an iri": 1})),
        ),
        (
            "XAPI-00022 timestamp -00:00",
            with(&["timestamp"], json!("2008-09-15T15:53:00.601-00:00")),
        ),
        (
            "XAPI-00022 timestamp",
            with(&["timestamp"], json!("01/011/2015")),
        ),
        ("XAPI-00101 version", with(&["version"], json!("1.1.0"))),
        (
            "XAPI-00100 authority group of three",
            with(
                &["authority"],
                json!({"objectType": "Group", "member": [agent("a"), agent("b"), agent("c")]}),
            ),
        ),
        ("XAPI-00084 revision on an agent object", {
            let mut s = with(&["object"], agent("o"));
            s["context"]["revision"] = json!("1");
            s
        }),
        (
            "XAPI-00017 voiding an activity",
            with(&["verb", "id"], json!(VOIDED)),
        ),
        (
            "XAPI-00103 attachment without sha2",
            with(
                &["attachments"],
                json!([{"usageType": "http://example.com/u", "display": {"en": "x"}, "contentType": "text/plain", "length": 1, "fileUrl": "http://example.com/f"}]),
            ),
        ),
    ];
    for (requirement, body) in cases {
        let answer = client.post(&body).await;
        assert_eq!(answer.status, 400, "{requirement}: {}", answer.body);
        assert!(
            answer.body["message"].as_str().is_some(),
            "{requirement}: a message"
        );
    }
    // A property given twice (XAPI-00021) and text that is not JSON.
    for raw in [
        r#"{"actor": {"mbox": "mailto:a@example.com", "mbox": "mailto:b@example.com"}, "verb": {"id": "http://example.com/v"}, "object": {"id": "http://example.com/o"}}"#,
        "{not json",
    ] {
        let answer = client
            .lms
            .http
            .post(format!("{}/xapi/statements", client.lms.gateway))
            .bearer_auth(client.token.as_deref().unwrap())
            .header("X-Experience-API-Version", V1)
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{raw}");
    }
    assert!(
        client
            .all(&format!("registration={registration}"))
            .await
            .is_empty()
    );
}

pub(super) async fn version_rules(lms: &Lms, admin: &str) {
    let v1 = Client {
        lms,
        token: Some(admin.into()),
        version: Some(V1),
    };
    let v2 = Client {
        lms,
        token: Some(admin.into()),
        version: Some(V2),
    };
    // The version property a statement is stored with: its own, else the request's line.
    let under_v2 = v2.post(&statement("ann", "did", "v2")).await.body[0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v1.get(&format!("statementId={under_v2}")).await.body["version"],
        json!("2.0.0")
    );
    // 2.0.0's contextAgents and version "2.0.0" are unknown to a 1.0.3 request.
    let mut with_context_agents = statement("ann", "did", "v2");
    with_context_agents["context"] = json!({"contextAgents": [{"objectType": "contextAgent", "agent": agent("peer"), "relevantTypes": ["http://example.com/peer"]}]});
    assert_eq!(v2.post(&with_context_agents).await.status, 200);
    assert_eq!(v1.post(&with_context_agents).await.status, 400);
    let mut two = statement("ann", "did", "v2");
    two["version"] = json!("2.0.0");
    assert_eq!(v2.post(&two).await.status, 200);
    assert_eq!(v1.post(&two).await.status, 400);
}

pub(super) async fn tenants_are_apart(lms: &Lms, admin: &str) {
    let acme = Client {
        lms,
        token: Some(admin.into()),
        version: Some(V1),
    };
    let globex = Client {
        lms,
        token: Some(lms.token("globex", Role::Admin)),
        version: Some(V1),
    };
    let id = uuid();
    let registration = uuid();
    let mut mine = statement("ann", "did", "secret");
    mine["context"] = json!({"registration": registration});
    assert_eq!(acme.put(&id, &mine).await.status, 204);
    assert_eq!(globex.get(&format!("statementId={id}")).await.status, 404);
    assert!(
        globex
            .all(&format!("registration={registration}"))
            .await
            .is_empty()
    );
    // The same id in another tenant is another statement, not a conflict.
    let theirs = statement("zed", "did", "other");
    assert_eq!(globex.put(&id, &theirs).await.status, 204);
    assert_eq!(
        acme.get(&format!("statementId={id}")).await.body["actor"],
        agent("ann")
    );
    assert_eq!(
        globex.get(&format!("statementId={id}")).await.body["actor"],
        agent("zed")
    );
}
