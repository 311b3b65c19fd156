//! `lms`: one binary for the whole suite.
//!
//! - `lms up`: every component in one process on loopback ports, SQLite files in the data
//!   directory, a development signing secret generated on first start.
//! - `lms serve <component>`: one component, as the Helm chart runs it; refuses to start
//!   without configured keys and a database URL.
//! - `lms migrate`: apply database migrations and exit.
//! - `lms token`: print a development token signed with the configured or generated secret.
//! - `lms report`, `lms import`, `lms dead-letters`: operators' calls to the running services.
//!
//! The components themselves are built by `lms_topology`, as the tests and benchmarks build
//! them.

mod dead_letters;
mod dev_secret;
mod import;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use lms_platform::Role;
use lms_platform::auth::TokenVerifier;

use lms_topology::{Component, Settings, Topology};

/// A component named by its section: `pathway`, `enrolment`, `assessment`, `records`, `gateway`.
pub(crate) fn component(name: &str) -> Result<Component, String> {
    Component::from_section(name).ok_or_else(|| {
        let names: Vec<_> = Component::ALL.iter().map(|c| c.section()).collect();
        format!("expected one of: {}", names.join(", "))
    })
}

#[derive(Parser)]
#[command(
    name = "lms",
    version,
    about = "The LMS suite: pathways, enrolments, assessments, records"
)]
struct Cli {
    /// Configuration file (default: ./lms.toml when present).
    #[arg(long, global = true, env = "LMS_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory for `up`, `token` and SQLite defaults (overrides `data_dir`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every component in one process on embedded SQLite.
    Up,
    /// Run one component (what each Kubernetes Deployment runs).
    Serve {
        /// pathway, enrolment, assessment, records or gateway.
        #[arg(value_parser = component)]
        component: Component,
    },
    /// Apply pending migrations to the configured databases (their database_url) and exit.
    Migrate {
        /// Only this component (default: every component).
        #[arg(value_parser = component)]
        component: Option<Component>,
    },
    /// Print a report as CSV.
    Report {
        #[command(subcommand)]
        what: ReportWhat,
    },
    /// Load data into the suite.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Events a destination rejected for good, kept by the service that produced them.
    DeadLetters {
        #[command(subcommand)]
        what: dead_letters::DeadLettersWhat,
    },
    /// Ask a component whether it serves: exit 0 when SERVING, 1 otherwise.
    ///
    /// Asks grpc.health.v1, or with `--http PATH` whether an HTTP GET of PATH answers 200 (the
    /// gateway's /healthz): for probes, `helm test` and scripts.
    Probe {
        /// host:port of the component's listener.
        address: String,
        /// The service to ask about; the whole server when absent.
        #[arg(long, default_value = "")]
        service: String,
        /// Probe over HTTP instead: GET this path, expect 200.
        #[arg(long)]
        http: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 5)]
        timeout_seconds: u64,
    },
    /// Print a development token (HS256) for a tenant, subject and roles.
    Token {
        /// The tenant the token is for (1–64 of A-Z a-z 0-9 - _).
        #[arg(long)]
        tenant: String,
        /// Who the token is for: for a learner, instructor or admin, the person's external id
        /// in the directory (how every service knows them); for a service, its name.
        #[arg(long)]
        subject: String,
        /// Repeat for several roles.
        #[arg(long = "role", value_enum, required = true)]
        roles: Vec<RoleArg>,
        /// Lifetime in hours.
        #[arg(long, default_value_t = 12)]
        ttl_hours: u64,
    },
}

#[derive(Subcommand)]
enum ReportWhat {
    /// A pathway's compliance: one CSV row per learner (state, percent, due, completed,
    /// certification expiry) on standard output, the totals on standard error.
    Compliance {
        /// The pathway's id.
        #[arg(long)]
        pathway: String,
        /// Only the learners of this audience.
        #[arg(long, conflicts_with_all = ["class", "department"])]
        audience: Option<String>,
        /// Only the students of this class.
        #[arg(long, conflicts_with = "department")]
        class: Option<String>,
        /// Only the people of this department.
        #[arg(long)]
        department: Option<String>,
        /// records-service's address (default: the configured `records.listen`).
        #[arg(long)]
        address: Option<String>,
        /// A bearer token with the admin or instructor role.
        #[arg(long, env = "LMS_TOKEN", hide_env_values = true)]
        token: String,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// An HR export (CSV with a header row) into the learner directory: new people are
    /// created, changed ones updated; bad rows are reported by row number.
    People {
        /// The CSV file.
        file: PathBuf,
        /// enrolment-service's address (default: `topology.enrolment`, i.e. `http://127.0.0.1:50052`
        /// unless configured).
        #[arg(long)]
        address: Option<String>,
        /// A bearer token with the admin role.
        #[arg(long, env = "LMS_TOKEN", hide_env_values = true)]
        token: String,
        /// Deactivate active people missing from the file.
        #[arg(long)]
        full_sync: bool,
        /// With --full-sync: allow deactivating more than `enrolment.max_deactivation_share`.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Instructor,
    Learner,
    Service,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Instructor => Role::Instructor,
            RoleArg::Learner => Role::Learner,
            RoleArg::Service => Role::Service,
        }
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("lms: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("lms: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        settings.data_dir = dir;
    }
    match cli.command {
        Command::Up => up(settings).await,
        Command::Serve { component } => serve(settings, component).await,
        Command::Migrate { component } => migrate(settings, component).await,
        Command::Report {
            what:
                ReportWhat::Compliance {
                    pathway,
                    audience,
                    class,
                    department,
                    address,
                    token,
                },
        } => {
            use lms_proto::records_v1::compliance_report_request::Scope;
            let scope = audience
                .map(Scope::AudienceId)
                .or(class.map(Scope::ClassId))
                .or(department.map(Scope::Department));
            let address = address.unwrap_or_else(|| default_address(&settings, Component::Records));
            let totals =
                report::compliance(&address, &token, &pathway, scope, std::io::stdout().lock())
                    .await?;
            eprintln!(
                "{} learners: {} compliant, {} in progress, {} overdue, {} expired, {} not started",
                totals.learners,
                totals.compliant,
                totals.in_progress,
                totals.overdue,
                totals.expired,
                totals.not_started
            );
            Ok(())
        }
        Command::Import {
            what:
                ImportWhat::People {
                    file,
                    address,
                    token,
                    full_sync,
                    force,
                },
        } => {
            let address =
                address.unwrap_or_else(|| default_address(&settings, Component::Enrolment));
            let report = import::import_people(&file, &address, &token, full_sync, force).await?;
            let r = &report.response;
            println!(
                "created {}, updated {}, unchanged {}, deactivated {}, rejected {}",
                r.created,
                r.updated,
                r.unchanged,
                r.deactivated,
                report.problems.len()
            );
            for cycle in &r.reporting_cycles {
                // Applied all the same (HR data is the truth); said so HR can fix it.
                println!(
                    "reporting lines loop: {} → {}",
                    cycle.people.join(" → "),
                    cycle.people.first().map(String::as_str).unwrap_or_default()
                );
            }
            for p in &report.problems {
                println!(
                    "row {} (external_id {:?}): {}{}",
                    p.row,
                    p.external_id,
                    if p.field.is_empty() {
                        String::new()
                    } else {
                        format!("{}: ", p.field)
                    },
                    p.reason
                );
            }
            anyhow::ensure!(
                report.problems.is_empty(),
                "{} rows were not applied (listed above); the others were",
                report.problems.len()
            );
            Ok(())
        }
        Command::DeadLetters { what } => dead_letters::command(&settings, what).await,
        Command::Probe {
            address,
            service,
            http,
            timeout_seconds,
        } => match http {
            Some(path) => probe_http(&address, &path, Duration::from_secs(timeout_seconds)).await,
            None => probe(&address, &service, Duration::from_secs(timeout_seconds)).await,
        },
        Command::Token {
            tenant,
            subject,
            roles,
            ttl_hours,
        } => {
            let secret = if settings.auth.hs256_secret.is_empty() {
                let path = dev_secret::dev_secret_path(&settings.data_dir);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "no development secret at {} (start `lms up` once, or set auth.hs256_secret)",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_string()
            } else {
                settings.auth.hs256_secret.clone()
            };
            let roles: Vec<Role> = roles.into_iter().map(Role::from).collect();
            let token = lms_platform::auth::mint_hs256(
                &secret,
                &subject,
                &tenant,
                &roles,
                Duration::from_secs(ttl_hours * 3600),
            )?;
            println!("{token}");
            Ok(())
        }
    }
}

/// Where a command reaches `component` unless told: its `[topology]` address.
pub(crate) fn default_address(settings: &Settings, component: Component) -> String {
    settings
        .topology
        .get(component)
        .map(ToString::to_string)
        .unwrap_or_else(|| format!("http://{}", settings.listen(component)))
}

/// Every component in one process: SQLite in the data directory, a generated dev secret.
async fn up(mut settings: Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    // The databases in it hold learners' personal data: the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&settings.data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", settings.data_dir.display()))?;
    }
    if !settings.auth.is_configured() {
        settings.auth.hs256_secret = dev_secret::ensure_dev_secret(&settings.data_dir)?;
    }
    // The portal: sessions survive a restart (the key is kept beside the dev secret), and
    // the development sign-in is on — `lms up` is development mode.
    if settings.web.session_key_file.is_empty() {
        settings.web.session_key_file = dev_secret::ensure_web_session_key(&settings.data_dir)?
            .display()
            .to_string();
    }
    settings.web.dev_sign_in = true;
    let _telemetry = lms_platform::telemetry::init(&settings.telemetry, "lms")?;
    let shutdown = lms_platform::server::shutdown_on_signal();
    let verifier = TokenVerifier::from_config(&settings.auth).await?;
    verifier.spawn_jwks_refresh(&settings.auth);

    let mut topology = Topology::new(settings, verifier, true);
    let mut running = tokio::task::JoinSet::new();
    let mut lines = Vec::new();
    for component in topology.start(&Component::ALL, &shutdown).await? {
        let scheme = if component.component.is_http() {
            "http"
        } else {
            "grpc"
        };
        lines.push(format!(
            "  {:<20} {scheme}://{}",
            component.component.name(),
            component.address
        ));
        running.spawn(component.task);
    }
    let settings = &topology.settings;
    if let Some(address) = start_metrics(settings, shutdown.clone(), &mut running).await? {
        lines.push(format!("  {:<20} http://{address}/metrics", "metrics"));
    }
    println!(
        "LMS is up in {} ms (embedded SQLite in {})",
        started.elapsed().as_millis(),
        settings.data_dir.display()
    );
    for line in lines {
        println!("{line}");
    }
    // Served when there is a way to sign in (the gateway says so in its log otherwise).
    let sign_in = if !settings.auth.hs256_secret.is_empty() {
        Some("development sign-in")
    } else if !settings.web.oidc_issuer.is_empty() {
        Some("sign-in with web.oidc_issuer")
    } else {
        None
    };
    if let (true, Some(sign_in)) = (settings.web.enabled, sign_in) {
        println!(
            "  Learning Portal      http://{}/ ({sign_in})",
            settings.gateway.listen
        );
    }
    println!(
        "  a token:             lms token --data-dir {} --tenant demo --subject admin@demo --role admin",
        settings.data_dir.display()
    );
    wait_all(running).await
}

/// One component, configured for production: keys and a database URL are required.
async fn serve(settings: Settings, component: Component) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.auth.is_configured(),
        "no token keys configured: set auth.jwks_url, auth.jwks_file or auth.hs256_secret \
         (LMS__AUTH__JWKS_URL, ...); `lms serve` never generates a secret"
    );
    anyhow::ensure!(
        !settings.web.dev_sign_in,
        "web.dev_sign_in is for development only (`lms up`); `lms serve` refuses it"
    );
    let _telemetry = lms_platform::telemetry::init(&settings.telemetry, component.name())?;
    let shutdown = lms_platform::server::shutdown_on_signal();
    let verifier = TokenVerifier::from_config(&settings.auth).await?;
    verifier.spawn_jwks_refresh(&settings.auth);
    let mut topology = Topology::new(settings, verifier, false);
    let mut running = tokio::task::JoinSet::new();
    for started in topology.start(&[component], &shutdown).await? {
        tracing::info!(component = component.name(), address = %started.address, "serving");
        running.spawn(started.task);
    }
    start_metrics(&topology.settings, shutdown, &mut running).await?;
    wait_all(running).await
}

/// Applies migrations to the configured databases. Every database URL is checked first: a
/// migration job that lacks one fails and says which, rather than migrating SQLite files that
/// nobody will use (`lms up` migrates its own at start).
async fn migrate(mut settings: Settings, only: Option<Component>) -> anyhow::Result<()> {
    // Migrating is this command's whole purpose, whatever the services are told.
    settings.migrate_on_start = true;
    let _telemetry = lms_platform::telemetry::init(&settings.telemetry, "lms-migrate")?;
    let components: Vec<Component> = Component::ALL
        .into_iter()
        .filter(|c| c.has_database() && only.is_none_or(|only| only == *c))
        .collect();
    for &component in &components {
        lms_topology::database_url(&settings, component, false)?;
    }
    for component in components {
        lms_topology::open_database(&settings, component, false).await?;
        println!("{component}: migrations applied");
    }
    Ok(())
}

/// Starts the Prometheus endpoint unless `telemetry.metrics_listen` is empty.
async fn start_metrics(
    settings: &Settings,
    shutdown: tokio_util::sync::CancellationToken,
    running: &mut tokio::task::JoinSet<anyhow::Result<()>>,
) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(address) = settings.telemetry.metrics_listen else {
        return Ok(None);
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        // Several `lms serve` processes on one host all default to the same metrics port.
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "binding telemetry.metrics_listen {address}: the address is in use, probably by \
             another lms process on this host. Give each process its own port \
             (LMS__TELEMETRY__METRICS_LISTEN=127.0.0.1:9465, ...), or disable the endpoint \
             with LMS__TELEMETRY__METRICS_LISTEN=\"\""
        ),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("binding telemetry.metrics_listen {address}"));
        }
    };
    let bound = listener.local_addr()?;
    running.spawn(lms_platform::telemetry::serve_metrics(listener, shutdown));
    Ok(Some(bound))
}

async fn probe(address: &str, service: &str, timeout: Duration) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let check = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
            .connect()
            .await?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await?;
        anyhow::Ok(response.into_inner().status())
    };
    let status = tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| anyhow::anyhow!("{address}: no answer within {} s", timeout.as_secs()))??;
    anyhow::ensure!(
        status == ServingStatus::Serving,
        "{address}: {}",
        status.as_str_name()
    );
    println!("{address}: SERVING");
    Ok(())
}

/// An HTTP/1.1 GET of `path` that must answer 200.
async fn probe_http(address: &str, path: &str, timeout: Duration) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    anyhow::ensure!(
        path.starts_with('/'),
        "--http takes a path such as /healthz"
    );
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| anyhow::anyhow!("{address}: no answer within {} s", timeout.as_secs()))??;
    let status_line = answer.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status_line.split_whitespace().nth(1) == Some("200"),
        "{address}{path}: {status_line}"
    );
    println!("{address}{path}: 200");
    Ok(())
}

/// Waits for every task; the first failure stops the process with its error.
async fn wait_all(mut running: tokio::task::JoinSet<anyhow::Result<()>>) -> anyhow::Result<()> {
    while let Some(result) = running.join_next().await {
        result.context("a component panicked")??;
    }
    tracing::info!("stopped");
    Ok(())
}
