//! pathway-service: categories, pathways, steps and published versions.
//!
//! Layout (the same in every service): `domain` holds the rules, `storage` the rows and
//! queries, `app` the use cases (authorisation, transactions), `grpc` the handlers that
//! authorise, convert, call a use case and convert back.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod storage;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use lms_platform::auth::{TokenVerifier, interceptor};
use lms_platform::config::ServerConfig;
use lms_platform::db::{DatabaseUrl, Db, Migrations};
use lms_proto::pathway_v1::pathway_service_server::PathwayServiceServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.pathway.v1.PathwayService";

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub fn migrations() -> Migrations {
    Migrations {
        postgres: POSTGRES_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    }
}

/// Opens the service's database and applies pending migrations.
pub async fn open_database(url: DatabaseUrl, pool_size: u32) -> anyhow::Result<Db> {
    let db = Db::connect(url, pool_size)?;
    let applied = db.migrate("pathway-service", migrations()).await?;
    tracing::info!(applied, "pathway-service database ready");
    Ok(db)
}

/// The service's routes: the gRPC service behind token verification and message size limits.
pub fn routes(db: Db, verifier: TokenVerifier, server: &ServerConfig) -> Routes {
    let service = PathwayServiceServer::new(grpc::PathwayGrpc::new(app::PathwayApp::new(db)))
        .max_decoding_message_size(server.max_message_bytes)
        .max_encoding_message_size(server.max_message_bytes);
    Routes::new(tonic::service::interceptor::InterceptedService::new(
        service,
        interceptor(verifier),
    ))
}

/// Serves pathway-service on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    verifier: TokenVerifier,
    server: &ServerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let routes = routes(db, verifier, server);
    lms_platform::server::serve(listener, routes, &[SERVICE_NAME], server, shutdown).await
}
