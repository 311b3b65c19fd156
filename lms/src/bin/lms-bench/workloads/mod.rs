//! The workloads, their same-run baselines, and the report.

mod reads;
mod writes;

use reads::{check_access, get_pathway, my_learning};
use writes::fan_out_and_writes;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lms_platform::Role;
use lms_platform::auth::Principal;
use lms_platform::db::Db;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_topology::{Component, Topology};
use serde::Serialize;
use tonic::transport::Channel;

use super::load::{Stats, drive};
use super::suite::{self, Http, Suite, admin};
use super::{RunArgs, WorkloadGroup, seconds};

/// Connections each gRPC workload spreads its clients over, as a client's pool would.
pub(crate) const CONNECTIONS: usize = 4;

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    workload: String,
    transport: String,
    clients: usize,
    result: Stats,
    /// The same use case in process on the same database (its diesel statements only).
    storage: Option<Stats>,
    /// What limits it, in a word, when the harness can tell.
    notes: String,
    /// Which of PostgreSQL's own figures its storage compares with.
    against: Option<Against>,
    /// For a write: pgbench transactions of as many statements as its storage ceiling sent
    /// per operation (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    same_statements: Option<crate::pgbench::Pgbench>,
}

/// A pgbench baseline a workload's storage ceiling is set beside.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) enum Against {
    /// `pgbench -S`: point reads.
    PointReads,
    /// `pgbench -N`: small write transactions.
    SmallWrites,
}

#[derive(Debug, Serialize)]
pub(crate) struct Report {
    backend: String,
    machine: String,
    people: usize,
    pathways: usize,
    clients: usize,
    seconds: u64,
    /// The framework's ceiling: a bare tonic service answering `grpc.health.v1.Health/Check`.
    framework: Stats,
    /// PostgreSQL's own figures on the same server (None on SQLite).
    database: Option<crate::pgbench::Baselines>,
    rows: Vec<Row>,
    started: String,
}

impl Row {
    /// A workload of `clients` closed loops beside its storage ceiling (printed as it ends).
    fn closed_loop(
        workload: &str,
        transport: &str,
        clients: usize,
        result: Stats,
        storage: Stats,
        notes: impl Into<String>,
    ) -> Row {
        eprintln!(
            "{workload}: {:.0}/s (storage {:.0}/s)",
            result.per_second, storage.per_second
        );
        Row {
            workload: workload.into(),
            transport: transport.into(),
            clients,
            result,
            storage: Some(storage),
            notes: notes.into(),
            against: None,
            same_statements: None,
        }
    }

    /// Sets the workload's storage ceiling beside one of PostgreSQL's own figures.
    fn against(mut self, baseline: Against) -> Row {
        self.against = Some(baseline);
        self
    }
}

pub(crate) fn principal(subject: &str, role: Role) -> Principal {
    Principal {
        subject: subject.to_string(),
        tenant_id: lms_platform::ids::TenantId::parse(suite::TENANT).expect("a tenant id"),
        roles: HashSet::from([role]),
        call: Default::default(),
    }
}

pub(crate) fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

pub(crate) async fn channels(url: &str) -> anyhow::Result<Arc<Vec<Channel>>> {
    let mut out = Vec::new();
    for _ in 0..CONNECTIONS {
        out.push(Channel::from_shared(url.to_string())?.connect().await?);
    }
    Ok(Arc::new(out))
}

/// Retries what the services' own clients retry: UNAVAILABLE ("database busy; retry"), which
/// SQLite answers a write when another process (the suite, beside this baseline) holds the
/// same file's write lock or committed since this transaction read. The suite applies events
/// in transactions of up to 500, so the wait grows (2 ms doubling to 100 ms, 10 s in all).
pub(crate) async fn retrying<T, Fut>(mut call: impl FnMut() -> Fut) -> Result<T, String>
where
    Fut: std::future::Future<Output = lms_platform::error::AppResult<T>>,
{
    let patience = Instant::now() + Duration::from_secs(10);
    let mut wait = Duration::from_millis(2);
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(lms_platform::error::AppError::Unavailable(_)) if Instant::now() < patience => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(100));
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The suite's components as the storage baselines call them: in this process, on the same
/// databases, with the same peers.
pub(crate) async fn in_process(suite: &Suite) -> anyhow::Result<Topology> {
    let mut settings: lms_topology::Settings =
        lms_platform::config::from_defaults(&lms_topology::defaults())?;
    settings.auth.hs256_secret = suite::SECRET.to_string();
    for component in Component::ALL {
        if let Some(url) = suite.grpc.get(component.name()) {
            let address = lms_platform::config::Address::parse(url)?;
            settings.topology.set(component, address);
        }
        if let Some(url) = suite.database_urls.get(component.name()) {
            settings.set_database(component, lms_platform::db::DatabaseUrl::parse(url)?);
        }
    }
    let verifier = lms_platform::auth::TokenVerifier::from_config(&settings.auth).await?;
    Ok(Topology::new(settings, verifier, false))
}

/// notification-service's settings (no email) and peers for use cases run in this process
/// without a suite (their peers are not called).
pub(crate) async fn in_process_settings()
-> anyhow::Result<(notification_service::Settings, notification_service::Peers)> {
    let mut settings: lms_topology::Settings =
        lms_platform::config::from_defaults(&lms_topology::defaults())?;
    settings.auth.hs256_secret = suite::SECRET.to_string();
    settings.notification.own.email.transport =
        notification_service::clients::mail::Transport::None;
    let verifier = lms_platform::auth::TokenVerifier::from_config(&settings.auth).await?;
    let notification = settings.notification.clone();
    let topology = Topology::new(settings, verifier, false);
    Ok((notification, topology.notification_peers()?))
}

/// A component's database, opened in this process.
pub(crate) async fn database(topology: &Topology, component: Component) -> anyhow::Result<Db> {
    topology
        .open_database(component)
        .await?
        .context("the component has a database")
}

/// The framework's ceiling: `clients` callers of a bare tonic health service on loopback.
pub(crate) async fn framework_ceiling(clients: usize, duration: Duration) -> anyhow::Result<Stats> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (_, health) = tonic_health::server::health_reporter();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming),
    );
    let channels = channels(&format!("http://{address}")).await?;
    let stats = drive(clients, duration, move |client, _| {
        let mut health = HealthClient::new(channels[client % CONNECTIONS].clone());
        async move {
            health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .map(|_| ())
                .map_err(|s| s.to_string())
        }
    })
    .await;
    server.abort();
    Ok(stats)
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(String::new(), |kib| format!(", {} GiB", kib / 1024 / 1024));
    format!("{cpus} CPUs ({model}){memory}")
}

/// The enrolments of `pathway`: (enrolment id, learner), in enrolment-service's order.
pub(crate) async fn enrolments_of(
    http: &Http,
    pathway: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let admin = admin();
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = http
            .get(
                &format!("/v1/enrolments?pathwayId={pathway}&pageSize=1000&pageToken={page_token}"),
                &admin,
            )
            .await?;
        for enrolment in page["enrolments"].as_array().into_iter().flatten() {
            out.push((
                enrolment["id"].as_str().unwrap_or_default().to_string(),
                enrolment["learner"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
        page_token = page["nextPageToken"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if page_token.is_empty() {
            return Ok(out);
        }
    }
}

/// A fresh pathway for this run (3 content steps and a one-question assessment), so the
/// write workloads find fresh enrolments however often the harness runs: (pathway, its first
/// step, assessment, question).
pub(crate) async fn fresh_pathway(
    http: &Http,
    label: &str,
) -> anyhow::Result<(String, String, String, String)> {
    let published = suite::publish_pathway(http, &format!("Fan-out {label}"), None, true).await?;
    let (assessment, question) = published.assessment.unwrap_or_default();
    let pathway = published.pathway;
    let read = http
        .get(&format!("/v1/pathways/{pathway}"), &admin())
        .await?;
    let step = read["steps"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((pathway, step, assessment, question))
}

pub(crate) fn assignment(pathway: &str, audience: &str) -> enrolment_pb::CreateAssignmentRequest {
    enrolment_pb::CreateAssignmentRequest {
        assignment: Some(enrolment_pb::Assignment {
            pathway_id: pathway.to_string(),
            audience_id: audience.to_string(),
            requirement: enrolment_pb::Requirement::Mandatory as i32,
            due_policy: Some(enrolment_pb::DuePolicy {
                policy: Some(enrolment_pb::due_policy::Policy::DaysAfterAssignment(30)),
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

pub(crate) fn people_in_department(people: usize, departments: usize, department: usize) -> usize {
    (0..people)
        .filter(|n| n % departments == department)
        .count()
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let backend = args.backend;
    let clients = args.clients.max(1);
    let duration = seconds(args.seconds);
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join(format!("{}-data", backend.name()));
    let started_at = chrono::Utc::now().to_rfc3339();
    // PostgreSQL's own figures first, before the suite holds its connections (pgbench's 64
    // clients and the suite's pools together would pass the server's max_connections).
    let baselines = crate::pgbench::baselines(
        backend,
        &args.postgres,
        &args.database_prefix,
        args.pgbench_scale,
        clients,
        args.seconds,
    )?;
    if let Some(baselines) = &baselines {
        eprintln!(
            "pgbench: point reads {:.0}/s, small writes {:.0}/s",
            baselines.point_reads.per_second, baselines.small_writes.per_second
        );
    }
    let suite = Suite::start(backend, &data, &args.postgres, &args.database_prefix)?;
    let http = Http {
        client: reqwest::Client::new(),
        base: suite.gateway.clone(),
    };
    let org = suite::organisation(
        &http,
        &args
            .out
            .join(format!("{}-organisation.json", backend.name())),
        args.people,
        args.pathways,
    )
    .await?;
    let records_url = suite.grpc["records-service"].clone();
    suite::records_caught_up(
        &records_url,
        &org.pathways[0],
        people_in_department(org.people, org.departments, 0),
    )
    .await?;
    suite.analyze()?;
    eprintln!(
        "organisation ready: {} people, {} pathways",
        org.people,
        org.pathways.len()
    );

    let framework = framework_ceiling(clients, duration).await?;
    eprintln!("framework ceiling: {:.0}/s", framework.per_second);
    let mut rows = Vec::new();
    if args.workloads.contains(&WorkloadGroup::Reads) {
        rows.extend(reads(&suite, &org, clients, duration).await?);
    }
    let writes = args.workloads.contains(&WorkloadGroup::Writes);
    if writes || args.workloads.contains(&WorkloadGroup::FanOut) {
        rows.extend(fan_out_and_writes(&suite, &http, &org, clients, duration, writes).await?);
    }

    // The suite's connections go before pgbench's 64 arrive (max_connections).
    drop(suite);
    if baselines.is_some() {
        same_statement_writes(&mut rows, &args, clients)?;
    }

    let report = Report {
        backend: backend.name().into(),
        machine: machine(),
        people: org.people,
        pathways: org.pathways.len(),
        clients,
        seconds: args.seconds,
        framework,
        database: baselines,
        rows,
        started: started_at,
    };
    let json_path = args.out.join(format!("{}.json", backend.name()));
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)?;
    let markdown = markdown(&report);
    let md_path = args.out.join(format!("{}.md", backend.name()));
    std::fs::write(&md_path, &markdown)?;
    println!("{markdown}");
    eprintln!("written: {} and {}", json_path.display(), md_path.display());
    Ok(())
}

/// The read workloads, each beside PostgreSQL's point reads.
async fn reads(
    suite: &Suite,
    org: &suite::Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Vec<Row>> {
    Ok(vec![
        get_pathway(suite, org, clients, duration)
            .await?
            .against(Against::PointReads),
        check_access(suite, org, clients, duration)
            .await?
            .against(Against::PointReads),
        my_learning(suite, org, clients, duration)
            .await?
            .against(Against::PointReads),
    ])
}

/// Sets each write beside pgbench transactions of as many statements as its storage ceiling
/// sent per operation (rounded), measured now, on the same server — once per count, shared by
/// the writes of that count.
fn same_statement_writes(rows: &mut [Row], args: &RunArgs, clients: usize) -> anyhow::Result<()> {
    let mut measured: std::collections::HashMap<usize, crate::pgbench::Pgbench> =
        Default::default();
    for row in rows.iter_mut() {
        let statements = row
            .storage
            .as_ref()
            .and_then(|storage| storage.statements_per_operation);
        let (Some(Against::SmallWrites), Some(statements)) = (row.against, statements) else {
            continue;
        };
        let count = statements.round().max(1.0) as usize;
        if let std::collections::hash_map::Entry::Vacant(slot) = measured.entry(count) {
            let pgbench = crate::pgbench::writes_of(
                count,
                &args.postgres,
                &args.database_prefix,
                clients,
                args.seconds,
            )?;
            eprintln!(
                "pgbench, {count} statements a transaction: {:.0}/s",
                pgbench.per_second
            );
            slot.insert(pgbench);
        }
        row.same_statements = measured.get(&count).cloned();
    }
    Ok(())
}

/// PostgreSQL's own figures, as a line above the table (nothing on SQLite).
fn database_line(baselines: Option<&crate::pgbench::Baselines>) -> String {
    match baselines {
        None => String::new(),
        Some(b) => format!(
            "PostgreSQL's own figures on the same server (pgbench, same clients): point reads \
             `{}` **{:.0}/s** (average {:.2} ms); small write transactions `{}` **{:.0}/s** \
             (average {:.2} ms).\n\n",
            b.point_reads.options,
            b.point_reads.per_second,
            b.point_reads.latency_average_ms,
            b.small_writes.options,
            b.small_writes.per_second,
            b.small_writes.latency_average_ms,
        ),
    }
}

pub(crate) fn ratio(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "–".into()
    } else {
        format!("{:.0} %", 100.0 * part / whole)
    }
}

pub(crate) fn markdown(report: &Report) -> String {
    let mut out = format!(
        "Backend **{}**, {} people, {} pathways, {} clients, {} s per workload; {}; started {}.\n\n\
         Framework ceiling (bare tonic health check, same clients): **{:.0}/s**, p99 {:.2} ms.\n\n\
         {}\
         | workload | transport | clients | ops/s | p50 ms | p95 ms | p99 ms | errors | storage ops/s | storage statements/op | of storage | of framework | storage of PostgreSQL |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        report.backend,
        report.people,
        report.pathways,
        report.clients,
        report.seconds,
        report.machine,
        report.started,
        report.framework.per_second,
        report.framework.p99_ms,
        database_line(report.database.as_ref()),
    );
    for row in &report.rows {
        let r = &row.result;
        let (storage, of_storage) = match &row.storage {
            Some(s) => (
                format!("{:.0}", s.per_second),
                ratio(r.per_second, s.per_second),
            ),
            None => ("–".into(), "–".into()),
        };
        let statements = row
            .storage
            .as_ref()
            .and_then(|s| s.statements_per_operation)
            .map_or("–".into(), |n| format!("{n:.1}"));
        // Only request-by-request workloads compare with the framework's request rate.
        let of_framework = if row.clients == report.clients && row.clients > 1 {
            ratio(r.per_second, report.framework.per_second)
        } else {
            "–".into()
        };
        // A workload's storage ceiling beside PostgreSQL's own figure for its kind: a write
        // beside pgbench transactions of its own statement count when measured.
        let same = row.same_statements.as_ref().map(|p| p.per_second);
        let of_database = match (&row.storage, row.against, &report.database, same) {
            (Some(storage), Some(Against::PointReads), Some(db), _) => {
                ratio(storage.per_second, db.point_reads.per_second)
            }
            (Some(storage), Some(Against::SmallWrites), Some(_), Some(same)) => {
                ratio(storage.per_second, same)
            }
            (Some(storage), Some(Against::SmallWrites), Some(db), None) => {
                ratio(storage.per_second, db.small_writes.per_second)
            }
            _ => "–".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            row.workload,
            row.transport,
            row.clients,
            r.per_second,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.errors,
            storage,
            statements,
            of_storage,
            of_framework,
            of_database,
        ));
    }
    for row in &report.rows {
        if let Some(same) = &row.same_statements {
            out.push_str(&format!(
                "\n{}: PostgreSQL's own write transactions of as many statements (`{}`): **{:.0}/s** (average {:.2} ms); its storage ceiling is set beside these.\n",
                row.workload, same.options, same.per_second, same.latency_average_ms
            ));
        }
    }
    let notes: Vec<String> = report
        .rows
        .iter()
        .filter(|r| !r.notes.is_empty())
        .map(|r| format!("- {}: {}", r.workload, r.notes))
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    for row in &report.rows {
        if let Some(error) = row.result.sample_errors.first() {
            out.push_str(&format!(
                "\n{} failed {} times, e.g.: {error}\n",
                row.workload, row.result.errors
            ));
        }
    }
    out
}
