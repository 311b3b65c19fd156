//! records-service: the learner record. It keeps its own projection of enrolments (from
//! enrolment-service's events) and caches the published pathway versions they are on, records
//! activities, and computes progress — with no call to another service on a learner's request.
//!
//! Layout (the same in every service): `domain` holds the rules (unlocking, completion,
//! status), `storage` the rows, `app` the use cases and event application, `grpc` the handlers,
//! `events` the payloads it reads and writes, `clients` the services it calls (published
//! versions while applying events, audience members for scoped reports).

pub mod app;
pub mod clients;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod storage;

use std::time::Duration;

use lms_platform::access::Access;
use lms_platform::client::Peer;
use lms_platform::config::{ServiceSettings, seconds};
use lms_platform::db::{DatabaseUrl, Db};
use lms_platform::egress::Destinations;
use lms_platform::inbox::EventConsumerGrpc;
use lms_platform::outbox::{DEAD_LETTERS_SERVICE_NAME, Subscriber};
use lms_platform::server::Context;
use lms_proto::events_v1::event_consumer_server::EventConsumerServer;
use lms_proto::records_v1::calendar_feed_service_server::CalendarFeedServiceServer;
use lms_proto::records_v1::certificate_verification_server::CertificateVerificationServer;
use lms_proto::records_v1::cmi5_fetch_service_server::Cmi5FetchServiceServer;
use lms_proto::records_v1::cmi5_service_server::Cmi5ServiceServer;
use lms_proto::records_v1::records_service_server::RecordsServiceServer;
use lms_proto::records_v1::training_session_service_server::TrainingSessionServiceServer;
use lms_proto::xapi_v1::learning_record_store_service_server::LearningRecordStoreServiceServer;
use lms_proto::xapi_v1::lrs_client_service_server::LrsClientServiceServer;
use lms_proto::xapi_v1::lrs_forwarding_service_server::LrsForwardingServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tower::Layer;

/// The component's name: in logs, traces, service tokens and messages of its callers.
pub const NAME: &str = "records-service";
pub const SERVICE_NAME: &str = "lms.records.v1.RecordsService";
/// Where enrolment-service and assessment-service deliver their events.
pub const EVENTS_SERVICE_NAME: &str = "lms.events.v1.EventConsumer";
/// Training sessions, bookings and attendance.
pub const SESSIONS_SERVICE_NAME: &str = "lms.records.v1.TrainingSessionService";
/// Calendar feeds read by their secret (public).
pub const CALENDAR_FEEDS_SERVICE_NAME: &str = "lms.records.v1.CalendarFeedService";
/// The Learning Record Store (xAPI statements).
pub const XAPI_SERVICE_NAME: &str = "lms.xapi.v1.LearningRecordStoreService";
/// LRS client credentials.
pub const XAPI_CLIENTS_SERVICE_NAME: &str = "lms.xapi.v1.LrsClientService";
/// Forwarding statements to another LRS.
pub const XAPI_FORWARDING_SERVICE_NAME: &str = "lms.xapi.v1.LrsForwardingService";
/// cmi5 launches.
pub const CMI5_SERVICE_NAME: &str = "lms.records.v1.Cmi5Service";
/// A cmi5 launch's fetch URL (public).
pub const CMI5_FETCH_SERVICE_NAME: &str = "lms.records.v1.Cmi5FetchService";
/// Public certificate verification.
pub const VERIFICATION_SERVICE_NAME: &str = "lms.records.v1.CertificateVerification";

/// `[records]`: this service's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[records]
listen = "127.0.0.1:50054"
database_url = ""
db_pool_size = 8
certification_scan_seconds = 300
public_url = ""
max_attachment_bytes = 268435456

[records.forwarding]
allow_http = false
allowed_networks = []
"#;

/// `[records]`'s own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Own {
    /// How often the certification scheduler looks for opened recertification windows; 0
    /// disables it.
    #[serde(rename = "certification_scan_seconds", deserialize_with = "seconds")]
    pub certification_scan: Duration,
    /// Where browsers and cmi5 content reach the gateway: launch URLs name its `/xapi/` as
    /// the LRS endpoint and its `/cmi5/fetch/` for the credential. Empty: `web.public_url`,
    /// else `http://<gateway.listen>` (filled in by the topology).
    pub public_url: String,
    /// The most bytes of attachments (their raw data, in all) one streamed store request
    /// may carry.
    pub max_attachment_bytes: u64,
    pub forwarding: ForwardingSettings,
}

/// `[records.forwarding]`: where statements may be forwarded (another LRS), by the same rules
/// as webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingSettings {
    /// Accept `http://` endpoints (tests and local trials; stores in production use HTTPS).
    pub allow_http: bool,
    /// Private, loopback or link-local networks endpoints may nevertheless point to, as CIDR
    /// blocks (e.g. `["10.20.0.0/16"]`); refused otherwise.
    pub allowed_networks: Vec<String>,
}

pub type Settings = ServiceSettings<Own>;

/// The services records-service calls.
#[derive(Clone)]
pub struct Peers {
    /// Asked for published versions while applying enrolment events.
    pub pathway: Peer,
    /// Asked who is in an audience, class or department for scoped reports.
    pub enrolment: Peer,
    /// Where this service's events go (enrolment-service, notification-service); empty: they wait in the outbox.
    pub event_consumers: Vec<Subscriber>,
    /// The decision point (role bindings from enrolment-service): whose records a reporting
    /// viewer or an instructor of a group may read.
    pub access: Access,
}

lms_platform::embedded_migrations!();

pub async fn open_database(url: DatabaseUrl, pool_size: u32, migrate: bool) -> anyhow::Result<Db> {
    let sets = vec![
        migrations(),
        lms_platform::outbox::migrations(),
        lms_platform::audit::migrations(),
    ];
    Db::open(url, pool_size, NAME, sets, migrate).await
}

/// The service's use cases over its database.
pub fn app(db: Db, peers: &Peers) -> app::RecordsApp {
    app::RecordsApp::new(
        db,
        clients::pathways::PathwayVersions::new(peers.pathway.clone()),
        clients::directory::Directory::new(peers.enrolment.clone()),
        peers.access.clone(),
    )
}

pub fn routes(app: app::RecordsApp, context: &Context) -> Routes {
    let limit = context.server.max_message_bytes;
    let records = RecordsServiceServer::new(grpc::RecordsGrpc::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let sessions = TrainingSessionServiceServer::new(grpc::SessionsGrpc::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let xapi = LearningRecordStoreServiceServer::new(grpc::XapiGrpc::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let xapi_clients = LrsClientServiceServer::new(grpc::LrsClientsGrpc::new(app.clone()));
    let xapi_forwarding =
        LrsForwardingServiceServer::new(grpc::LrsForwardingGrpc::new(app.clone()));
    // LRS clients' Basic credentials are checked before the role policy (grpc::lrs_auth).
    let xapi = grpc::lrs_auth::LrsClientsLayer::new(app.clone())
        .layer(context.authorize(xapi, grpc::policy::XAPI_POLICY));
    let events = EventConsumerServer::new(EventConsumerGrpc::new(app.clone()))
        .max_decoding_message_size(limit);
    // Public: whoever holds a feed's secret reads its calendar, without a token.
    let feeds = CalendarFeedServiceServer::new(grpc::CalendarFeedsGrpc::new(app.clone()))
        .max_encoding_message_size(limit);
    let cmi5 = Cmi5ServiceServer::new(grpc::Cmi5Grpc::new(app.clone()));
    // Public: a launch's fetch token is its own credential (cmi5 8.2).
    let cmi5_fetch = Cmi5FetchServiceServer::new(grpc::Cmi5FetchGrpc::new(app.clone()));
    // Public: anyone holding a certificate's code may verify it, without a token.
    let verification = CertificateVerificationServer::new(grpc::VerificationGrpc::new(app));
    Routes::new(context.authorize(records, grpc::policy::POLICY))
        .add_service(context.authorize(sessions, grpc::policy::SESSIONS_POLICY))
        .add_service(context.authorize(events, grpc::policy::EVENTS_POLICY))
        .add_service(xapi)
        .add_service(context.authorize(xapi_clients, grpc::policy::XAPI_CLIENTS_POLICY))
        .add_service(context.authorize(xapi_forwarding, grpc::policy::XAPI_FORWARDING_POLICY))
        .add_service(context.authorize(cmi5, grpc::policy::CMI5_POLICY))
        .add_service(cmi5_fetch)
        .add_service(verification)
        .add_service(feeds)
}

/// Serves records-service on `listener` until the context's shutdown, with its certification
/// scheduler and outbox delivery.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    context: Context,
    settings: Settings,
    peers: Peers,
) -> anyhow::Result<()> {
    let forwarding = &settings.own.forwarding;
    let destinations = Destinations::new(
        forwarding.allow_http,
        &forwarding.allowed_networks,
        app::FORWARDING_NETWORKS,
    )
    .map_err(|why| anyhow::anyhow!("invalid configuration: {}: {why}", app::FORWARDING_NETWORKS))?;
    let destinations = std::sync::Arc::new(destinations);
    let app = app(db.clone(), &peers)
        .with_public_url(&settings.own.public_url)
        .with_max_attachment_bytes(settings.own.max_attachment_bytes)
        .with_forwarding_destinations(destinations.clone());
    // The learner record's statements for records kept before it made them: resumed at each
    // start until every tenant's are made (app::statement_backfill).
    let backfill = app.clone();
    tokio::spawn(async move {
        match backfill.backfill_statements().await {
            Ok(0) => {}
            Ok(stored) => tracing::info!(stored, "statements made for earlier learner records"),
            Err(error) => tracing::warn!(
                %error,
                "making statements for earlier learner records stopped; the next start resumes"
            ),
        }
    });
    let scheduler = app.clone();
    context.every(settings.own.certification_scan, move || {
        let app = scheduler.clone();
        async move {
            app.announce_expiring_and_log().await;
            let finished = chrono::Utc::now().timestamp();
            lms_platform::telemetry::metrics()
                .certification_scheduler_last_run
                .set(finished);
        }
    });
    // The outbox also carries statements to the tenants' other stores (app::xapi_forwarding).
    let forwarding = app::xapi_forwarding::sink(db.clone(), destinations)?;
    let routes = context.with_outbox_and(
        routes(app, &context),
        &db,
        peers.event_consumers,
        vec![forwarding],
        NAME,
    );
    let routes = context.with_audit_trail(routes, &db);
    let routes = context.with_personal_data(routes, &db, &storage::personal_data::TABLES);
    let names = [
        SERVICE_NAME,
        SESSIONS_SERVICE_NAME,
        EVENTS_SERVICE_NAME,
        XAPI_SERVICE_NAME,
        XAPI_CLIENTS_SERVICE_NAME,
        XAPI_FORWARDING_SERVICE_NAME,
        VERIFICATION_SERVICE_NAME,
        CALENDAR_FEEDS_SERVICE_NAME,
        CMI5_SERVICE_NAME,
        CMI5_FETCH_SERVICE_NAME,
        DEAD_LETTERS_SERVICE_NAME,
        lms_platform::audit::SERVICE_NAME,
        lms_platform::privacy::SERVICE_NAME,
    ];
    context.serve(listener, routes, &names, &db).await
}
