//! Forwarding a tenant's statements to another LRS through the outbox. The other store is a
//! real one: this suite's own, in another tenant, reached over HTTP with an LRS client's
//! credentials. Statements arrive (stored through `/xapi/` and the learner record's alike), an
//! outage loses nothing, and a statement the other store refuses for good becomes a dead
//! letter without holding back the ones after it.

use std::time::{Duration, Instant};

use lms_platform::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Client, V1, statement, uuid};
use crate::support::{Lms, call};

async fn forwarding(lms: &Lms, admin: &str, body: Value) -> (StatusCode, Value) {
    call(lms, Method::PUT, "/v1/lrsForwarding", admin, Some(body)).await
}

/// Whether `id` is in `client`'s store (it may be voided there: either way it arrived).
async fn holds(client: &Client<'_>, id: &str) -> bool {
    client.get(&format!("statementId={id}")).await.status == 200
}

async fn arrives(client: &Client<'_>, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !holds(client, id).await {
        assert!(Instant::now() < deadline, "{id} never arrived");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(super) async fn statements_reach_the_other_store(lms: &Lms, admin: &str) {
    let acme = Client {
        lms,
        token: Some(admin.to_string()),
        version: Some(V1),
    };
    let globex_admin = lms.token("globex", Role::Admin);
    let globex = Client {
        lms,
        token: Some(globex_admin.clone()),
        version: Some(V1),
    };
    let (status, client) = call(
        lms,
        Method::POST,
        "/v1/lrsClients",
        &globex_admin,
        Some(json!({"name": "Acme's forwarding", "canWrite": true})),
    )
    .await;
    assert_eq!(status, 200, "{client}");
    let key = client["client"]["key"].as_str().unwrap().to_string();
    let secret = client["secret"].as_str().unwrap().to_string();

    // Nothing is set at first; a bad setting is refused, field by field.
    let (status, unset) = call(lms, Method::GET, "/v1/lrsForwarding", admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(unset["enabled"], false, "{unset}");
    assert_eq!(unset["endpoint"], "", "{unset}");
    for (body, field) in [
        (json!({"enabled": true}), "forwarding.endpoint"),
        (
            json!({"enabled": true, "endpoint": "ftp://lrs.example.com/"}),
            "forwarding.endpoint",
        ),
        (
            json!({"enabled": true, "endpoint": "https://lrs.example.com/", "username": "a:b", "password": "x"}),
            "forwarding.username",
        ),
        (
            json!({"enabled": true, "endpoint": "https://lrs.example.com/", "username": "a"}),
            "forwarding.password",
        ),
    ] {
        let (status, refused) = forwarding(lms, admin, body).await;
        assert_eq!(status, 400, "{refused}");
        assert_eq!(
            refused["details"][0]["fieldViolations"][0]["field"], field,
            "{refused}"
        );
    }
    let endpoint = format!("{}/xapi", lms.gateway);
    let (status, set) = forwarding(
        lms,
        admin,
        json!({"enabled": true, "endpoint": endpoint, "username": key, "password": secret}),
    )
    .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["endpoint"], format!("{endpoint}/"));
    assert_eq!(
        set["password"].as_str().unwrap_or(""),
        "",
        "never answered: {set}"
    );
    // Only admins see or change it; another tenant's is its own.
    let learner = lms.token("acme", Role::Learner);
    let (status, _) = call(lms, Method::GET, "/v1/lrsForwarding", &learner, None).await;
    assert_eq!(status, 403);
    let (_, theirs) = call(lms, Method::GET, "/v1/lrsForwarding", &globex_admin, None).await;
    assert_eq!(theirs["endpoint"], "", "{theirs}");

    // Statements stored from now on arrive, as they were (their own ids and content).
    let first = uuid();
    let mut sent = statement("ada", "forwarded", "forklift");
    sent["id"] = json!(first);
    assert_eq!(acme.post(&sent).await.status, 200);
    arrives(&globex, &first).await;
    let there = globex.get(&format!("statementId={first}")).await.body;
    assert_eq!(there["verb"], sent["verb"]);
    assert_eq!(there["object"]["id"], sent["object"]["id"]);

    // An outage loses nothing: the statement waits in the outbox and follows the fix.
    let (status, _) = forwarding(
        lms,
        admin,
        json!({"enabled": true, "endpoint": "http://127.0.0.1:9/xapi/", "username": key}),
    )
    .await;
    assert_eq!(status, 200, "the password set before is kept");
    let during = uuid();
    let mut waiting = statement("ada", "forwarded", "outage");
    waiting["id"] = json!(during);
    assert_eq!(acme.post(&waiting).await.status, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!holds(&globex, &during).await);
    let (status, _) = forwarding(
        lms,
        admin,
        json!({"enabled": true, "endpoint": endpoint, "username": key}),
    )
    .await;
    assert_eq!(status, 200);
    arrives(&globex, &during).await;

    // A statement the other store refuses for good (it holds that id with other content) is a
    // dead letter; the next one still arrives.
    let clash = uuid();
    let mut theirs = statement("bob", "wrote", "their-own");
    theirs["id"] = json!(clash);
    assert_eq!(globex.post(&theirs).await.status, 200);
    let mut ours = statement("ada", "forwarded", "clash");
    ours["id"] = json!(clash);
    let after = uuid();
    let mut next = statement("ada", "forwarded", "after");
    next["id"] = json!(after);
    assert_eq!(acme.post(&json!([ours, next])).await.status, 200);
    arrives(&globex, &after).await;
    let dead = lms
        .call(
            "records-service",
            "lms.events.v1.DeadLetters/ListDeadLetters",
            json!({"destination": "external-lrs"}),
            Some(admin),
        )
        .await
        .unwrap();
    let letters = dead["deadLetters"].as_array().cloned().unwrap_or_default();
    assert_eq!(letters.len(), 1, "{dead}");
    assert!(
        letters[0].to_string().contains("409"),
        "the other store's answer is kept: {dead}"
    );

    // Disabled: statements stored meanwhile stay home.
    let (status, _) = forwarding(lms, admin, json!({"enabled": false, "endpoint": endpoint})).await;
    assert_eq!(status, 200);
    let home = uuid();
    let mut kept = statement("ada", "forwarded", "home");
    kept["id"] = json!(home);
    assert_eq!(acme.post(&kept).await.status, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!holds(&globex, &home).await);
}
