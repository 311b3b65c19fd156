//! pathway-service: categories, pathways, steps and published versions.
//!
//! Layout (the same in every service): `domain` holds the rules, `storage` the rows and
//! queries, `app` the use cases (transactions), `grpc` the handlers that convert, call a use
//! case and convert back, `clients` the services it calls (assessment-service: does the
//! assessment an ASSESSMENT step links exist, and is it this pathway's).

pub mod app;
pub mod clients;
pub mod domain;
pub mod grpc;
pub mod storage;

use lms_platform::access::Access;
use lms_platform::client::Peer;
use lms_platform::config::ServiceSettings;
use lms_platform::db::{DatabaseUrl, Db};
use lms_platform::server::Context;
use lms_proto::pathway_v1::content_file_service_server::ContentFileServiceServer;
use lms_proto::pathway_v1::content_package_service_server::ContentPackageServiceServer;
use lms_proto::pathway_v1::pathway_service_server::PathwayServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tonic::service::Routes;

/// The component's name: in logs, traces, service tokens and messages of its callers.
pub const NAME: &str = "pathway-service";
/// Course packages imported, and their files read (public).
pub const PACKAGES_SERVICE_NAME: &str = "lms.pathway.v1.ContentPackageService";
pub const CONTENT_FILES_SERVICE_NAME: &str = "lms.pathway.v1.ContentFileService";
/// Where enrolment-service says a role binding changed.
pub const EVENTS_SERVICE_NAME: &str = "lms.events.v1.EventConsumer";
/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.pathway.v1.PathwayService";

/// `[pathway]`: this service's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[pathway]
listen = "127.0.0.1:50051"
database_url = ""
db_pool_size = 8
public_url = ""
max_package_bytes = 268435456
"#;

/// `[pathway]`'s own keys, besides those every service has.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Own {
    /// The gateway's address as browsers reach it: cmi5 course packages are served at
    /// `<public_url>/content/<key>/`. Empty: `web.public_url`, else `http://<gateway.listen>`
    /// (filled in by the topology).
    #[serde(default)]
    pub public_url: String,
    /// The most bytes a course package may have, packed and unpacked alike.
    pub max_package_bytes: u64,
}

pub type Settings = ServiceSettings<Own>;

lms_platform::embedded_migrations!();

/// Opens the service's database and applies pending migrations (with `migrate`), or checks
/// that none is pending.
pub async fn open_database(url: DatabaseUrl, pool_size: u32, migrate: bool) -> anyhow::Result<Db> {
    let sets = vec![migrations(), lms_platform::audit::migrations()];
    Db::open(url, pool_size, NAME, sets, migrate).await
}

/// The services pathway-service calls.
#[derive(Clone)]
pub struct Peers {
    /// Asked whether the assessment an ASSESSMENT step links exists and is the pathway's;
    /// None in a deployment without assessment-service.
    pub assessment: Option<Peer>,
    /// The decision point (role bindings from enrolment-service): who administers which
    /// category subtree.
    pub access: Access,
}

/// The service's use cases over its database.
pub fn app(db: Db, peers: &Peers) -> app::PathwayApp {
    let assessments = clients::assessments::Assessments::new(peers.assessment.clone());
    app::PathwayApp::new(db, assessments, peers.access.clone())
}

/// The service's routes: the gRPC service behind token verification and message size limits.
pub fn routes(app: app::PathwayApp, context: &Context) -> Routes {
    let limit = context.server.max_message_bytes;
    let access = app.access().clone();
    let packages =
        ContentPackageServiceServer::new(grpc::packages::ContentPackageGrpc::new(app.clone()))
            .max_decoding_message_size(limit);
    let packages = context
        .authorize(packages, grpc::policy::PACKAGES_POLICY)
        .with_bindings(grpc::policy::PACKAGES_SCOPED, access.clone());
    // Public: a package's access key, in its address, is what lets a browser read it.
    let files = ContentFileServiceServer::new(grpc::packages::ContentFileGrpc::new(app.clone()));
    let service = PathwayServiceServer::new(grpc::PathwayGrpc::new(app))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let service = context
        .authorize(service, grpc::policy::POLICY)
        .with_bindings(grpc::policy::SCOPED, access);
    Routes::new(service)
        .add_service(packages)
        .add_service(files)
}

/// Serves pathway-service on `listener` until the context's shutdown.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    context: Context,
    settings: Settings,
    peers: Peers,
) -> anyhow::Result<()> {
    let packages = app::PackageSettings {
        public_url: settings.own.public_url.trim_end_matches('/').to_string(),
        max_bytes: settings.own.max_package_bytes,
    };
    let app = app(db.clone(), &peers).with_packages(packages);
    let routes = context.with_audit_trail(routes(app, &context), &db);
    let routes = context.with_bindings_listener(routes, &peers.access);
    let routes = context.with_personal_data(routes, &db, &storage::personal_data::TABLES);
    let names = [
        SERVICE_NAME,
        PACKAGES_SERVICE_NAME,
        CONTENT_FILES_SERVICE_NAME,
        EVENTS_SERVICE_NAME,
        lms_platform::audit::SERVICE_NAME,
        lms_platform::privacy::SERVICE_NAME,
    ];
    context.serve(listener, routes, &names, &db).await
}
