//! assessment-service: question banks (with GIFT import and export), assessments, attempts,
//! server-side grading, the manual grading queue for essays, and assessment outcomes written
//! through the platform outbox.
//!
//! Layout (the same in every service): `domain` holds the rules (grading, GIFT, scoring),
//! `storage` the rows and queries, `app` the use cases (transactions), `grpc` the handlers,
//! `clients` the services it calls (pathway-service: does an assessment's pathway and step
//! exist; enrolment-service: may a learner take a pathway; records-service: may they act on
//! the assessment's step now).

pub mod app;
pub mod clients;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod storage;

use lms_platform::access::Access;
use lms_platform::client::Peer;
use lms_platform::config::ServiceSettings;
use lms_platform::db::{DatabaseUrl, Db};
use lms_platform::outbox::{DEAD_LETTERS_SERVICE_NAME, Subscriber};
use lms_platform::server::Context;
use lms_proto::assessment_v1::assessment_service_server::AssessmentServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The component's name: in logs, traces, service tokens and messages of its callers.
pub const NAME: &str = "assessment-service";
/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.assessment.v1.AssessmentService";

/// `[assessment]`: this service's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[assessment]
listen = "127.0.0.1:50053"
database_url = ""
db_pool_size = 8
"#;

/// `[assessment]` has only the keys every service has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Own {}

pub type Settings = ServiceSettings<Own>;

/// The services assessment-service calls.
#[derive(Clone)]
pub struct Peers {
    /// Asked whether an assessment's pathway and step exist; adds an assessment's step.
    pub pathway: Peer,
    /// Asked whether a learner may take an assessment's pathway.
    pub enrolment: Peer,
    /// Asked whether the learner may act on the assessment's step now (records-service keeps
    /// the learner's path).
    pub records: Peer,
    /// Where assessment outcomes are delivered (records-service, notification-service); empty: they wait.
    pub event_consumers: Vec<Subscriber>,
    /// The decision point (role bindings from enrolment-service): whose work a grader of a
    /// group may grade.
    pub access: Access,
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
pub fn app(db: Db, peers: &Peers) -> app::AssessmentApp {
    let access = clients::enrolment::EnrolmentAccess::new(peers.enrolment.clone());
    let steps = clients::records::StepAuthority::new(peers.records.clone());
    let pathways = clients::pathways::Pathways::new(peers.pathway.clone());
    app::AssessmentApp::new(db, access, steps, pathways, peers.access.clone())
}

/// The service's routes: the gRPC service behind token verification and message size limits.
pub fn routes(app: app::AssessmentApp, context: &Context) -> Routes {
    let limit = context.server.max_message_bytes;
    let decisions = app.decisions().clone();
    let service = AssessmentServiceServer::new(grpc::AssessmentGrpc::new(app))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let service = context
        .authorize(service, grpc::policy::POLICY)
        .with_bindings(grpc::policy::SCOPED, decisions);
    Routes::new(service)
}

/// Serves assessment-service on `listener` until the context's shutdown, with its outbox
/// delivery.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    context: Context,
    peers: Peers,
) -> anyhow::Result<()> {
    let app = app(db.clone(), &peers);
    let routes = context.with_outbox(routes(app, &context), &db, peers.event_consumers, NAME);
    let routes = context.with_audit_trail(routes, &db);
    let routes = context.with_bindings_listener(routes, &peers.access);
    let routes = context.with_personal_data(routes, &db, &storage::personal_data::TABLES);
    let names = [
        SERVICE_NAME,
        "lms.events.v1.EventConsumer",
        DEAD_LETTERS_SERVICE_NAME,
        lms_platform::audit::SERVICE_NAME,
        lms_platform::privacy::SERVICE_NAME,
    ];
    context.serve(listener, routes, &names, &db).await
}
