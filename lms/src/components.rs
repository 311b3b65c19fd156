//! The components the binary can run, and how each is started. `lms up` starts them all;
//! `lms serve X` starts one. Adding a service means adding a variant here.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::Context;
use clap::ValueEnum;
use enrolment_service::pathways::PathwayCatalog;
use lms_platform::auth::{ServiceCredentials, TokenVerifier};
use lms_platform::config::ComponentConfig;
use lms_platform::db::{DatabaseUrl, Db};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Component {
    Pathway,
    Enrolment,
    Assessment,
    Records,
    Gateway,
}

pub type Task = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A component that is listening, and the task that serves it.
pub struct Started {
    pub address: SocketAddr,
    pub task: Task,
}

impl Component {
    /// Every component, in the order `lms up` lists them.
    pub const ALL: [Component; 5] = [
        Component::Pathway,
        Component::Enrolment,
        Component::Assessment,
        Component::Records,
        Component::Gateway,
    ];

    /// Whether the component keeps a database (the gateway keeps none).
    pub fn has_database(self) -> bool {
        self != Component::Gateway
    }

    pub fn service_name(self) -> &'static str {
        match self {
            Component::Pathway => "pathway-service",
            Component::Enrolment => "enrolment-service",
            Component::Assessment => "assessment-service",
            Component::Records => "records-service",
            Component::Gateway => "gateway",
        }
    }

    /// The config section (`[pathway]`) and its name for messages.
    fn section(self, settings: &Settings) -> (ComponentConfig, &'static str) {
        match self {
            Component::Pathway => (settings.pathway.clone(), "pathway"),
            Component::Enrolment => (settings.enrolment.component(), "enrolment"),
            Component::Assessment => (settings.assessment.component(), "assessment"),
            Component::Records => (settings.records.component(), "records"),
            Component::Gateway => (
                ComponentConfig {
                    listen: settings.gateway.listen.clone(),
                    database_url: String::new(),
                    db_pool_size: 0,
                },
                "gateway",
            ),
        }
    }
}

/// The component's database: its configured URL, or under `lms up` (embedded) a SQLite file in
/// the data directory.
fn database_url(
    component: Component,
    settings: &Settings,
    embedded: bool,
) -> anyhow::Result<DatabaseUrl> {
    let (section, key) = component.section(settings);
    if !section.database_url.is_empty() {
        return DatabaseUrl::parse(&section.database_url)
            .with_context(|| format!("invalid configuration: {key}.database_url"));
    }
    anyhow::ensure!(
        embedded,
        "invalid configuration: {key}.database_url is required (LMS__{}__DATABASE_URL)",
        key.to_uppercase()
    );
    Ok(DatabaseUrl::sqlite(
        &settings.data_dir.join(format!("{key}.db")),
    ))
}

async fn open(component: Component, settings: &Settings, embedded: bool) -> anyhow::Result<Db> {
    let url = database_url(component, settings, embedded)?;
    let (section, _) = component.section(settings);
    match component {
        Component::Pathway => pathway_service::open_database(url, section.db_pool_size).await,
        Component::Enrolment => enrolment_service::open_database(url, section.db_pool_size).await,
        Component::Assessment => assessment_service::open_database(url, section.db_pool_size).await,
        Component::Records => records_service::open_database(url, section.db_pool_size).await,
        Component::Gateway => anyhow::bail!("the gateway has no database"),
    }
}

/// Applies the component's migrations (SQLite in the data directory when no URL is set).
pub async fn migrate(component: Component, settings: &Settings) -> anyhow::Result<()> {
    if !component.has_database() {
        return Ok(());
    }
    open(component, settings, true).await.map(|_| ())
}

/// Binds the component's listen address (`lms up` binds every component first, so each can
/// be told where the others are before any starts).
pub async fn bind(component: Component, settings: &Settings) -> anyhow::Result<TcpListener> {
    let (section, key) = component.section(settings);
    let address = section.listen_addr(key)?;
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {key}.listen {address}"))
}

/// Where an outbox is delivered, when `url` is set.
fn destination(
    url: &str,
    credentials: &ServiceCredentials,
) -> Option<lms_platform::outbox::Destination> {
    (!url.is_empty()).then(|| lms_platform::outbox::Destination {
        url: url.to_string(),
        credentials: credentials.clone(),
    })
}

/// Opens the database and returns the task serving on `listener`.
pub async fn start(
    component: Component,
    settings: &Settings,
    listener: TcpListener,
    verifier: TokenVerifier,
    shutdown: CancellationToken,
    embedded: bool,
) -> anyhow::Result<Started> {
    let address = listener.local_addr()?;
    if component == Component::Gateway {
        let options = settings.gateway.options();
        // Built now, so bad configuration fails the start rather than the first request.
        let app = gateway::router(verifier, &options)
            .map_err(|e| anyhow::anyhow!("invalid configuration: gateway: {e}"))?;
        let task: Task = Box::pin(async move { gateway::serve_app(listener, app, shutdown).await });
        return Ok(Started { address, task });
    }
    let db = open(component, settings, embedded)
        .await
        .with_context(|| format!("starting {}", component.service_name()))?;
    let server = settings.server.clone();
    let credentials = || ServiceCredentials::from_config(&settings.auth, component.service_name());
    let task: Task = match component {
        Component::Pathway => Box::pin(async move {
            pathway_service::serve(listener, db, verifier, &server, shutdown).await
        }),
        Component::Enrolment => {
            let credentials = credentials()?;
            let catalog = PathwayCatalog::new(&settings.enrolment.pathway_url, credentials.clone())
                .map_err(|e| {
                    anyhow::anyhow!("invalid configuration: enrolment.pathway_url: {e}")
                })?;
            let options = enrolment_service::Options {
                deliver_events_to: destination(&settings.enrolment.events_url, &credentials),
                catalog,
                max_deactivation_share: settings.enrolment.max_deactivation_share,
                audience_sweep: std::time::Duration::from_secs(
                    settings.enrolment.audience_sweep_seconds,
                ),
            };
            Box::pin(async move {
                enrolment_service::serve(listener, db, verifier, &server, options, shutdown).await
            })
        }
        Component::Assessment => {
            let credentials = credentials()?;
            let access = assessment_service::access::EnrolmentAccess::new(
                &settings.assessment.enrolment_url,
                credentials.clone(),
            )
            .map_err(|e| anyhow::anyhow!("invalid configuration: assessment.enrolment_url: {e}"))?;
            let options = assessment_service::Options {
                access,
                deliver_events_to: destination(&settings.assessment.events_url, &credentials),
            };
            Box::pin(async move {
                assessment_service::serve(listener, db, verifier, &server, options, shutdown).await
            })
        }
        Component::Gateway => anyhow::bail!("the gateway is started above"),
        Component::Records => {
            let credentials = credentials()?;
            let pathways = records_service::pathways::PathwayVersions::new(
                &settings.records.pathway_url,
                credentials.clone(),
            )
            .map_err(|e| anyhow::anyhow!("invalid configuration: records.pathway_url: {e}"))?;
            let directory = records_service::directory::Directory::new(
                &settings.records.enrolment_url,
                credentials.clone(),
            )
            .map_err(|e| anyhow::anyhow!("invalid configuration: records.enrolment_url: {e}"))?;
            let options = records_service::Options {
                directory,
                certification_scan: std::time::Duration::from_secs(
                    settings.records.certification_scan_seconds,
                ),
                pathways,
                deliver_events_to: destination(&settings.records.events_url, &credentials),
            };
            Box::pin(async move {
                records_service::serve(listener, db, verifier, &server, options, shutdown).await
            })
        }
    };
    Ok(Started { address, task })
}

/// Starts the Prometheus endpoint unless `telemetry.metrics_listen` is empty.
pub async fn start_metrics(
    settings: &Settings,
    shutdown: CancellationToken,
    running: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Option<SocketAddr>> {
    let listen = &settings.telemetry.metrics_listen;
    if listen.is_empty() {
        return Ok(None);
    }
    let address: SocketAddr = listen.parse().map_err(|_| {
        anyhow::anyhow!("invalid configuration: telemetry.metrics_listen = {listen:?}")
    })?;
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("binding telemetry.metrics_listen {address}"))?;
    let bound = listener.local_addr()?;
    running.spawn(lms_platform::telemetry::serve_metrics(listener, shutdown));
    Ok(Some(bound))
}
