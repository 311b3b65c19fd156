//! enrolment-service: people, target audiences, academic classes, assignments, enrolments.
//!
//! Layout (the same in every service): `domain` holds the rules, `storage` the rows and
//! queries, `app` the use cases (transactions), `grpc` the handlers, `events` the payloads it
//! writes to its outbox, `clients` the services it calls. Assigned enrolments follow audience
//! and class membership through `app::reconcile`, called in the transaction of every change
//! that moves people in or out of a target.

pub mod app;
pub mod clients;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod storage;

use std::time::Duration;

use lms_platform::client::Peer;
use lms_platform::config::{ServiceSettings, seconds};
use lms_platform::db::{DatabaseUrl, Db};
use lms_platform::inbox::EventConsumerGrpc;
use lms_platform::outbox::{DEAD_LETTERS_SERVICE_NAME, Subscriber};
use lms_platform::server::Context;
use lms_proto::enrolment_v1::enrolment_service_server::EnrolmentServiceServer;
use lms_proto::events_v1::event_consumer_server::EventConsumerServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The component's name: in logs, traces, service tokens and messages of its callers.
pub const NAME: &str = "enrolment-service";
/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.enrolment.v1.EnrolmentService";
/// Role bindings: scoped administration.
pub const ROLE_BINDINGS_SERVICE_NAME: &str = "lms.enrolment.v1.RoleBindingService";
/// Where records-service delivers the events this service consumes.
pub const EVENTS_SERVICE_NAME: &str = "lms.events.v1.EventConsumer";

/// `[enrolment]`: this service's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[enrolment]
listen = "127.0.0.1:50052"
database_url = ""
db_pool_size = 8
max_deactivation_share = 0.2
audience_sweep_seconds = 3600
"#;

/// `[enrolment]`'s own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Own {
    /// A full HR sync may deactivate at most this share (0..1) of the active directory unless
    /// the upload sets `force`.
    #[serde(deserialize_with = "share")]
    pub max_deactivation_share: f64,
    /// How often every dynamic audience is re-evaluated in full (0 disables the sweep).
    #[serde(rename = "audience_sweep_seconds", deserialize_with = "seconds")]
    pub audience_sweep: Duration,
}

pub type Settings = ServiceSettings<Own>;

fn share<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    let share = f64::deserialize(deserializer)?;
    if (0.0..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(serde::de::Error::custom(format!(
            "max_deactivation_share = {share} must be between 0 and 1"
        )))
    }
}

/// The services enrolment-service calls.
#[derive(Clone)]
pub struct Peers {
    /// Asked whether pathways are published, at which version.
    pub pathway: Peer,
    /// Where this service's outbox is delivered (records-service, notification-service); empty: events wait.
    pub event_consumers: Vec<Subscriber>,
    /// How long the decision point keeps its answers (`auth.bindings_cache_seconds`); a
    /// binding changed here is forgotten at once.
    pub bindings_cache: Duration,
}

lms_platform::embedded_migrations!();

/// Opens the service's database and applies pending migrations (its own and the outbox's).
pub async fn open_database(url: DatabaseUrl, pool_size: u32, migrate: bool) -> anyhow::Result<Db> {
    let sets = vec![
        migrations(),
        lms_platform::outbox::migrations(),
        lms_platform::audit::migrations(),
    ];
    Db::open(url, pool_size, NAME, sets, migrate).await
}

/// The service's use cases over its database.
pub fn app(db: Db, settings: &Settings, peers: &Peers) -> app::EnrolmentApp {
    let catalog = clients::pathways::PathwayCatalog::new(peers.pathway.clone());
    app::EnrolmentApp::new(
        db,
        settings.own.max_deactivation_share,
        catalog,
        peers.bindings_cache,
    )
}

/// The service's routes: the gRPC services behind token verification and message size limits.
pub fn routes(app: app::EnrolmentApp, context: &Context) -> Routes {
    let limit = context.server.max_message_bytes;
    let service = EnrolmentServiceServer::new(grpc::EnrolmentGrpc::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let events = EventConsumerServer::new(EventConsumerGrpc::new(app.clone()))
        .max_decoding_message_size(limit);
    let bindings = grpc::role_bindings::RoleBindings::server(app.clone());
    let access = app.access().clone();
    let personal_data = grpc::privacy::PersonalData::server(app);
    let service = context
        .authorize(service, grpc::policy::POLICY)
        .with_bindings(grpc::policy::SCOPED, access);
    Routes::new(service)
        .add_service(context.authorize(bindings, grpc::policy::ROLE_BINDINGS_POLICY))
        .add_service(context.authorize(events, grpc::policy::EVENTS_POLICY))
        .add_service(context.authorize(personal_data, lms_platform::privacy::POLICY))
}

/// Serves enrolment-service on `listener` until the context's shutdown, with its audience
/// sweep and outbox delivery.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    context: Context,
    settings: Settings,
    peers: Peers,
) -> anyhow::Result<()> {
    let app = app(db.clone(), &settings, &peers);
    let sweeper = app.clone();
    context.every(settings.own.audience_sweep, move || {
        let app = sweeper.clone();
        async move { app.sweep_and_log().await }
    });
    let routes = context.with_outbox(routes(app, &context), &db, peers.event_consumers, NAME);
    let routes = context.with_audit_trail(routes, &db);
    context
        .serve(
            listener,
            routes,
            &[
                SERVICE_NAME,
                ROLE_BINDINGS_SERVICE_NAME,
                EVENTS_SERVICE_NAME,
                DEAD_LETTERS_SERVICE_NAME,
                lms_platform::audit::SERVICE_NAME,
                lms_platform::privacy::SERVICE_NAME,
            ],
            &db,
        )
        .await
}
