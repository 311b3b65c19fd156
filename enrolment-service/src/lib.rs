//! enrolment-service: people, target audiences, academic classes, assignments, enrolments.
//!
//! Layout (the same in every service): `domain` holds the rules, `storage` the rows and
//! queries, `app` the use cases (authorisation, transactions), `grpc` the handlers.
//! Assigned enrolments follow audience and class membership through `app::reconcile`, called
//! in the transaction of every change that moves people in or out of a target.

pub mod app;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod pathways;
pub mod storage;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use lms_platform::auth::{TokenVerifier, interceptor};
use lms_platform::config::ServerConfig;
use lms_platform::db::{DatabaseUrl, Db, Migrations};
use lms_proto::enrolment_v1::enrolment_service_server::EnrolmentServiceServer;
use lms_proto::events_v1::event_consumer_server::EventConsumerServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.enrolment.v1.EnrolmentService";
/// Where records-service delivers the events this service consumes.
pub const EVENTS_SERVICE_NAME: &str = "lms.events.v1.EventConsumer";

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
    /// pathway-service, asked whether pathways are published.
    pub catalog: pathways::PathwayCatalog,
    /// A full HR sync may deactivate at most this share (0..1) of the active directory unless
    /// forced.
    pub max_deactivation_share: f64,
    /// How often every dynamic audience is re-evaluated in full; zero disables the sweep.
    pub audience_sweep: std::time::Duration,
}

/// Opens the service's database and applies pending migrations.
pub async fn open_database(url: DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
    let db = Db::connect(url, pool_size)?;
    let applied = db.migrate("enrolment-service", migrations()).await?
        + db.migrate("enrolment-service", lms_platform::outbox::migrations())
            .await?;
    tracing::info!(applied, "enrolment-service database ready");
    Ok(db)
}

/// The service's routes: the gRPC services behind token verification and message size limits.
pub fn routes(db: Db, verifier: TokenVerifier, server: &ServerConfig, options: &Options) -> Routes {
    let app = app::EnrolmentApp::new(db, options.max_deactivation_share, options.catalog.clone());
    let service = EnrolmentServiceServer::new(grpc::EnrolmentGrpc::new(app.clone()))
        .max_decoding_message_size(server.max_message_bytes)
        .max_encoding_message_size(server.max_message_bytes);
    let events = EventConsumerServer::new(grpc::EventsGrpc::new(app))
        .max_decoding_message_size(server.max_message_bytes);
    Routes::new(tonic::service::interceptor::InterceptedService::new(
        service,
        interceptor(verifier.clone()),
    ))
    .add_service(tonic::service::interceptor::InterceptedService::new(
        events,
        interceptor(verifier),
    ))
}

/// Serves enrolment-service on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    verifier: TokenVerifier,
    server: &ServerConfig,
    options: Options,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if !options.audience_sweep.is_zero() {
        let app = app::EnrolmentApp::new(
            db.clone(),
            options.max_deactivation_share,
            options.catalog.clone(),
        );
        tokio::spawn(sweep_audiences(
            app,
            options.audience_sweep,
            shutdown.clone(),
        ));
    }
    if let Some(delivery) = &options.deliver_events_to {
        lms_platform::outbox::spawn_delivery(
            db.clone(),
            delivery,
            "enrolment-service",
            shutdown.clone(),
        )?;
    }
    let routes = routes(db, verifier, server, &options);
    lms_platform::server::serve(
        listener,
        routes,
        &[SERVICE_NAME, EVENTS_SERVICE_NAME],
        server,
        shutdown,
    )
    .await
}

/// Runs the audience reconciliation sweep every `every` until shutdown, logging what it fixed.
async fn sweep_audiences(
    app: app::EnrolmentApp,
    every: std::time::Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match app.sweep_audiences().await {
            Ok(report) => {
                for tenant in report {
                    if tenant.joined + tenant.left > 0 || !tenant.enrolments.is_empty() {
                        tracing::info!(
                            tenant = %tenant.tenant,
                            joined = tenant.joined,
                            left = tenant.left,
                            enrolled = tenant.enrolments.enrolled,
                            suspended = tenant.enrolments.suspended,
                            resumed = tenant.enrolments.resumed,
                            withdrawn = tenant.enrolments.withdrawn,
                            "audience sweep repaired memberships and enrolments"
                        );
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "audience sweep failed; retrying next time"),
        }
    }
}
