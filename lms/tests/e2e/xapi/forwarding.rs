//! Forwarding a tenant's statements to another LRS through the outbox. The other store is a
//! real one: this suite's own, in another tenant, reached over HTTP with an LRS client's
//! credentials. Statements arrive (stored through `/xapi/` and the learner record's alike), an
//! outage loses nothing, and a statement the other store refuses for good becomes a dead
//! letter without holding back the ones after it. Endpoints are held to the webhook rules
//! (no private or metadata addresses beyond what the operator allowed), and one tenant's
//! unreachable store does not hold back another's (the outbox destination itself, offered
//! both tenants' statements in one batch).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lms_platform::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use lms_platform::egress::Destinations;
use lms_platform::outbox::EventSink;
use lms_proto::events_v1::Event;
use prost::Name;
use records_service::clients::external_lrs::{Destination, ExternalLrsSink, Lookup};

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
            json!({"enabled": true, "endpoint": "https://169.254.169.254/latest/"}),
            "forwarding.endpoint",
        ),
        (
            json!({"enabled": true, "endpoint": "https://10.1.2.3/xapi/"}),
            "forwarding.endpoint",
        ),
        (
            json!({"enabled": true, "endpoint": "https://[::ffff:192.168.0.1]/xapi/"}),
            "forwarding.endpoint",
        ),
        (
            json!({"enabled": true, "endpoint": "https://me:pw@lrs.example.com/xapi/"}),
            "forwarding.endpoint",
        ),
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

    // The metadata address is refused naming the setting that would allow it.
    let (_, refused) = forwarding(
        lms,
        admin,
        json!({"enabled": true, "endpoint": "https://169.254.169.254/latest/"}),
    )
    .await;
    assert!(
        refused
            .to_string()
            .contains("records.forwarding.allowed_networks"),
        "{refused}"
    );

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

/// A `StatementStored` event of `tenant`, as the outbox offers it.
fn stored_event(tenant: &str, statement: &Value) -> Event {
    let id = statement["id"].as_str().unwrap().to_string();
    let payload = lms_proto::xapi_v1::StatementStored {
        statement_id: id.clone(),
        statement: statement.to_string(),
    };
    Event {
        id: format!("event-{id}"),
        tenant_id: tenant.into(),
        payload: Some(prost_types::Any {
            type_url: lms_proto::xapi_v1::StatementStored::type_url(),
            value: prost::Message::encode_to_vec(&payload),
        }),
        ..Default::default()
    }
}

/// One batch holding a tenant whose store is down and a tenant whose store is up: the latter's
/// statement is delivered (acknowledged), the former's left for the outbox to retry — not the
/// whole batch failed, which would hold every tenant back while one store is down.
pub(super) async fn one_store_down_holds_back_only_its_tenant(lms: &Lms, admin: &str) {
    let sink = sink_beside(lms, admin, "down", "http://127.0.0.1:9/xapi/").await;
    let mut stuck = statement("ivy", "stuck", "outage");
    stuck["id"] = json!(uuid());
    let mut through = statement("ada", "forwarded", "beside");
    through["id"] = json!(uuid());
    let delivery = sink
        .deliver(vec![
            stored_event("down", &stuck),
            stored_event("up", &through),
        ])
        .await
        .expect("one store down does not fail the others' delivery");
    assert_eq!(
        delivery.acknowledged,
        [format!("event-{}", through["id"].as_str().unwrap())]
    );
    assert!(
        delivery.rejected.is_empty(),
        "nothing is a dead letter for being down"
    );
    let acme = Client {
        lms,
        token: Some(admin.to_string()),
        version: Some(V1),
    };
    assert!(holds(&acme, through["id"].as_str().unwrap()).await);
}

/// A store that takes the connection and never answers (a hung LRS) holds back only its own
/// tenant: the others' statements are sent beside it and acknowledged after at most the
/// sink's wait, and the hung store is left alone for a while, so the next delivery does not
/// wait on it (no new connection to it).
pub(super) async fn a_hung_store_holds_back_only_its_tenant(lms: &Lms, admin: &str) {
    // Takes connections, reads nothing, answers nothing; counts them.
    let hung = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hung_endpoint = format!("http://{}/xapi/", hung.local_addr().unwrap());
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hung.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let sink = sink_beside(lms, admin, "hung", &hung_endpoint)
        .await
        .with_wait(Duration::from_secs(2));
    let acme = Client {
        lms,
        token: Some(admin.to_string()),
        version: Some(V1),
    };
    for round in 0..2 {
        let mut stuck = statement("ivy", "stuck", "hung");
        stuck["id"] = json!(uuid());
        let mut through = statement("ada", "forwarded", "beside-the-hung-store");
        through["id"] = json!(uuid());
        let delivery = sink
            .deliver(vec![
                stored_event("hung", &stuck),
                stored_event("up", &through),
            ])
            .await
            .expect("a hung store does not fail the others' delivery");
        assert_eq!(
            delivery.acknowledged,
            [format!("event-{}", through["id"].as_str().unwrap())],
            "round {round}"
        );
        assert!(delivery.rejected.is_empty(), "round {round}");
        assert!(holds(&acme, through["id"].as_str().unwrap()).await);
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "round {round}: the hung store is tried once, then left alone"
        );
    }
}

/// The forwarding sink with tenant `odd`'s store at `odd_endpoint` and every other tenant's
/// this suite's own LRS, reached with a new LRS client of `admin`'s tenant.
async fn sink_beside(
    lms: &Lms,
    admin: &str,
    odd: &'static str,
    odd_endpoint: &str,
) -> ExternalLrsSink {
    let (status, client) = call(
        lms,
        Method::POST,
        "/v1/lrsClients",
        admin,
        Some(json!({"name": format!("Beside {odd}"), "canWrite": true, "canRead": true})),
    )
    .await;
    assert_eq!(status, 200, "{client}");
    let key = client["client"]["key"].as_str().unwrap().to_string();
    let secret = client["secret"].as_str().unwrap().to_string();
    let (up, odd_endpoint) = (format!("{}/xapi/", lms.gateway), odd_endpoint.to_string());
    let lookup: Lookup = Arc::new(move |tenant: String| {
        let endpoint = if tenant == odd {
            odd_endpoint.clone()
        } else {
            up.clone()
        };
        let (username, password) = (key.clone(), secret.clone());
        Box::pin(async move {
            Ok(Some(Destination {
                endpoint,
                username,
                password,
            }))
        })
    });
    let loopback = Destinations::new(true, &["127.0.0.0/8".into()], "test").unwrap();
    ExternalLrsSink::new("external-lrs", lookup, Arc::new(loopback)).unwrap()
}
