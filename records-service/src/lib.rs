//! records-service: the learner record. It keeps its own projection of enrolments (from
//! enrolment-service's events) and caches the published pathway versions they are on, records
//! activities, and computes progress — with no call to another service on a learner's request.
//!
//! Layout (the same in every service): `domain` holds the rules (unlocking, completion,
//! status), `storage` the rows, `app` the use cases and event application, `grpc` the handlers.
//! `pathways` fetches published versions while applying events.

pub mod app;
pub mod directory;
pub mod domain;
pub mod grpc;
pub mod manual;
pub mod pathways;
pub mod storage;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use lms_platform::auth::{TokenVerifier, interceptor};
use lms_platform::config::ServerConfig;
use lms_platform::db::{DatabaseUrl, Db, Migrations};
use lms_proto::events_v1::event_consumer_server::EventConsumerServer;
use lms_proto::records_v1::records_service_server::RecordsServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

pub const SERVICE_NAME: &str = "lms.records.v1.RecordsService";
/// Where enrolment-service and assessment-service deliver their events.
pub const EVENTS_SERVICE_NAME: &str = "lms.events.v1.EventConsumer";
/// Public certificate verification.
pub const VERIFICATION_SERVICE_NAME: &str = "lms.records.v1.CertificateVerification";

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub fn migrations() -> Migrations {
    Migrations {
        postgres: POSTGRES_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    }
}

#[derive(Clone)]
pub struct Options {
    /// Where this service's outbox is delivered (records-service for enrolment and assessment
    /// events, enrolment-service for records'); None: events wait in the outbox.
    pub deliver_events_to: Option<lms_platform::outbox::Destination>,
    /// How often the certification scheduler looks for recertification windows that opened;
    /// zero disables it.
    pub certification_scan: std::time::Duration,
    /// pathway-service, asked for published versions while applying enrolment events.
    pub pathways: pathways::PathwayVersions,
    /// enrolment-service, asked who is in an audience, class or department for scoped reports.
    pub directory: directory::Directory,
}

pub async fn open_database(url: DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
    let db = Db::connect(url, pool_size)?;
    let applied = db.migrate("records-service", migrations()).await?
        + db.migrate("records-service", lms_platform::outbox::migrations())
            .await?;
    tracing::info!(applied, "records-service database ready");
    Ok(db)
}

pub fn routes(db: Db, verifier: TokenVerifier, server: &ServerConfig, options: &Options) -> Routes {
    let app = app::RecordsApp::new(db, options.pathways.clone(), options.directory.clone());
    let records = RecordsServiceServer::new(grpc::RecordsGrpc::new(app.clone()))
        .max_decoding_message_size(server.max_message_bytes)
        .max_encoding_message_size(server.max_message_bytes);
    let events = EventConsumerServer::new(grpc::EventsGrpc::new(app.clone()))
        .max_decoding_message_size(server.max_message_bytes);
    // Public: anyone holding a certificate's code may verify it, without a token.
    let verification =
        lms_proto::records_v1::certificate_verification_server::CertificateVerificationServer::new(
            grpc::VerificationGrpc::new(app),
        );
    Routes::new(tonic::service::interceptor::InterceptedService::new(
        records,
        interceptor(verifier.clone()),
    ))
    .add_service(tonic::service::interceptor::InterceptedService::new(
        events,
        interceptor(verifier),
    ))
    .add_service(verification)
}

pub async fn serve(
    listener: TcpListener,
    db: Db,
    verifier: TokenVerifier,
    server: &ServerConfig,
    options: Options,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Some(delivery) = &options.deliver_events_to {
        lms_platform::outbox::spawn_delivery(
            db.clone(),
            delivery,
            "records-service",
            shutdown.clone(),
        )?;
    }
    if !options.certification_scan.is_zero() {
        let app = app::RecordsApp::new(
            db.clone(),
            options.pathways.clone(),
            options.directory.clone(),
        );
        tokio::spawn(scan_certifications(
            app,
            options.certification_scan,
            shutdown.clone(),
        ));
    }
    let routes = routes(db, verifier, server, &options);
    lms_platform::server::serve(
        listener,
        routes,
        &[SERVICE_NAME, EVENTS_SERVICE_NAME, VERIFICATION_SERVICE_NAME],
        server,
        shutdown,
    )
    .await
}

/// The certification scheduler: announces opened recertification windows every `every`.
async fn scan_certifications(
    app: app::RecordsApp,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match app.announce_expiring(lms_platform::resource::now()).await {
            Ok(0) => {}
            Ok(announced) => tracing::info!(announced, "recertification windows announced"),
            Err(error) => tracing::warn!(%error, "certification scan failed; retrying next time"),
        }
    }
}
