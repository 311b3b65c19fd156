//! assessment-service: question banks (with GIFT import and export), assessments, attempts,
//! server-side grading, the manual grading queue for essays, and assessment outcomes written
//! through the platform outbox.
//!
//! Layout (the same in every service): `domain` holds the rules (grading, GIFT, scoring),
//! `storage` the rows and queries, `app` the use cases (authorisation, transactions), `grpc`
//! the handlers. `access` asks enrolment-service whether a learner may take a pathway.

pub mod access;
pub mod app;
pub mod domain;
pub mod grpc;
pub mod storage;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use lms_platform::auth::{TokenVerifier, interceptor};
use lms_platform::config::ServerConfig;
use lms_platform::db::{DatabaseUrl, Db, Migrations};
use lms_proto::assessment_v1::assessment_service_server::AssessmentServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.assessment.v1.AssessmentService";

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub fn migrations() -> Migrations {
    Migrations {
        postgres: POSTGRES_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    }
}

/// Settings of this service beyond the common ones.
#[derive(Clone)]
pub struct Options {
    /// Where this service's outbox is delivered (records-service for enrolment and assessment
    /// events, enrolment-service for records'); None: events wait in the outbox.
    pub deliver_events_to: Option<lms_platform::outbox::Destination>,
    /// enrolment-service, asked whether a learner may take an assessment's pathway.
    pub access: access::EnrolmentAccess,
}

/// Opens the service's database and applies pending migrations (its own and the outbox's).
pub async fn open_database(url: DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
    let db = Db::connect(url, pool_size)?;
    let applied = db.migrate("assessment-service", migrations()).await?
        + db.migrate("assessment-service", lms_platform::outbox::migrations())
            .await?;
    tracing::info!(applied, "assessment-service database ready");
    Ok(db)
}

/// The service's routes: the gRPC service behind token verification and message size limits.
pub fn routes(db: Db, verifier: TokenVerifier, server: &ServerConfig, options: &Options) -> Routes {
    let app = app::AssessmentApp::new(db, options.access.clone());
    let service = AssessmentServiceServer::new(grpc::AssessmentGrpc::new(app))
        .max_decoding_message_size(server.max_message_bytes)
        .max_encoding_message_size(server.max_message_bytes);
    Routes::new(tonic::service::interceptor::InterceptedService::new(
        service,
        interceptor(verifier),
    ))
}

/// Serves assessment-service on `listener` until `shutdown` is cancelled.
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
            "assessment-service",
            shutdown.clone(),
        )?;
    }
    let routes = routes(db, verifier, server, &options);
    lms_platform::server::serve(listener, routes, &[SERVICE_NAME], server, shutdown).await
}
