//! The workloads, their same-run baselines, the report, and the soak.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lms_platform::Role;
use lms_platform::auth::Principal;
use lms_platform::db::Db;
use lms_proto::assessment_v1 as assessment_pb;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_proto::records_v1 as records_pb;
use lms_topology::{Component, Topology};
use serde::Serialize;
use serde_json::{Value, json};
use tonic::transport::Channel;

use super::load::{Stats, drive};
use super::suite::{self, Http, Organisation, Suite, admin, learner_name, token};
use super::{RunArgs, SoakArgs, seconds};

/// Connections each gRPC workload spreads its clients over, as a client's pool would.
const CONNECTIONS: usize = 4;

#[derive(Debug, Serialize)]
struct Row {
    workload: String,
    transport: String,
    clients: usize,
    result: Stats,
    /// The same use case in process on the same database (its diesel statements only).
    storage: Option<Stats>,
    /// What limits it, in a word, when the harness can tell.
    notes: String,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    machine: String,
    people: usize,
    pathways: usize,
    clients: usize,
    seconds: u64,
    /// The framework's ceiling: a bare tonic service answering `grpc.health.v1.Health/Check`.
    framework: Stats,
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
        }
    }
}

fn principal(subject: &str, role: Role) -> Principal {
    Principal {
        subject: subject.to_string(),
        tenant_id: suite::TENANT.to_string(),
        roles: HashSet::from([role]),
    }
}

fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

async fn channels(url: &str) -> anyhow::Result<Arc<Vec<Channel>>> {
    let mut out = Vec::new();
    for _ in 0..CONNECTIONS {
        out.push(Channel::from_shared(url.to_string())?.connect().await?);
    }
    Ok(Arc::new(out))
}

/// Retries what the services' own clients retry: UNAVAILABLE ("database busy; retry"), which
/// SQLite answers a write when another process (the suite, beside this baseline) holds the
/// same file's write lock.
async fn retrying<T, Fut>(mut call: impl FnMut() -> Fut) -> Result<T, String>
where
    Fut: std::future::Future<Output = lms_platform::error::AppResult<T>>,
{
    let mut attempts = 0;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(lms_platform::error::AppError::Unavailable(_)) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// The suite's components as the storage baselines call them: in this process, on the same
/// databases, with the same peers.
async fn in_process(suite: &Suite) -> anyhow::Result<Topology> {
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

/// A component's database, opened in this process.
async fn database(topology: &Topology, component: Component) -> anyhow::Result<Db> {
    topology
        .open_database(component)
        .await?
        .context("the component has a database")
}

/// The framework's ceiling: `clients` callers of a bare tonic health service on loopback.
async fn framework_ceiling(clients: usize, duration: Duration) -> anyhow::Result<Stats> {
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

fn machine() -> String {
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
async fn enrolments_of(http: &Http, pathway: &str) -> anyhow::Result<Vec<(String, String)>> {
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
async fn fresh_pathway(
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

fn assignment(pathway: &str, audience: &str) -> enrolment_pb::CreateAssignmentRequest {
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

fn people_in_department(people: usize, departments: usize, department: usize) -> usize {
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
    rows.push(get_pathway(&suite, &org, clients, duration).await?);
    rows.push(check_access(&suite, &org, clients, duration).await?);
    rows.push(my_learning(&suite, &org, clients, duration).await?);
    let label = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
    let (pathway, step, assessment, question) = fresh_pathway(&http, &label).await?;
    let (baseline_pathway, _, _, _) = fresh_pathway(&http, &format!("{label}-baseline")).await?;
    rows.push(fan_out(&suite, &org, &pathway, &baseline_pathway).await?);
    let drained = Instant::now();
    suite.analyze()?;
    suite::records_caught_up(&records_url, &pathway, org.people).await?;
    suite::records_caught_up(&records_url, &baseline_pathway, org.people).await?;
    rows.push(Row {
        workload: format!(
            "records applies the fan-outs' {} enrolment events",
            2 * org.people
        ),
        transport: "events".into(),
        clients: 1,
        result: Stats::single(drained.elapsed(), 2 * org.people as u64),
        storage: None,
        notes: "measured from the end of the fan-outs; ops/s = events/s".into(),
    });
    rows.push(compliance_report(&suite, &pathway, duration, org.people).await?);
    let enrolments = enrolments_of(&http, &pathway).await?;
    rows.push(record_completion(&suite, &enrolments, &step, clients, duration).await?);
    rows.push(
        submit_attempt(
            &suite,
            &enrolments,
            &assessment,
            &question,
            clients,
            duration,
        )
        .await?,
    );

    let report = Report {
        backend: backend.name().into(),
        machine: machine(),
        people: org.people,
        pathways: org.pathways.len(),
        clients,
        seconds: args.seconds,
        framework,
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

fn ratio(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "–".into()
    } else {
        format!("{:.0} %", 100.0 * part / whole)
    }
}

fn markdown(report: &Report) -> String {
    let mut out = format!(
        "Backend **{}**, {} people, {} pathways, {} clients, {} s per workload; {}; started {}.\n\n\
         Framework ceiling (bare tonic health check, same clients): **{:.0}/s**, p99 {:.2} ms.\n\n\
         | workload | transport | clients | ops/s | p50 ms | p95 ms | p99 ms | errors | storage ops/s | of storage | of framework |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        report.backend,
        report.people,
        report.pathways,
        report.clients,
        report.seconds,
        report.machine,
        report.started,
        report.framework.per_second,
        report.framework.p99_ms,
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
        // Only request-by-request workloads compare with the framework's request rate.
        let of_framework = if row.clients == report.clients && row.clients > 1 {
            ratio(r.per_second, report.framework.per_second)
        } else {
            "–".into()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |\n",
            row.workload,
            row.transport,
            row.clients,
            r.per_second,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.errors,
            storage,
            of_storage,
            of_framework,
        ));
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

async fn get_pathway(
    suite: &Suite,
    org: &Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let ids = Arc::new(org.pathways.clone());
    let connections = channels(&suite.grpc["pathway-service"]).await?;
    let admin_token = Arc::new(admin());
    let result = {
        let ids = ids.clone();
        drive(clients, duration, move |client, i| {
            let mut pathways = pathway_pb::pathway_service_client::PathwayServiceClient::new(
                connections[client % CONNECTIONS].clone(),
            );
            let id = ids[(client * 7919 + i as usize) % ids.len()].clone();
            let token = admin_token.clone();
            async move {
                pathways
                    .get_pathway(bearer(pathway_pb::GetPathwayRequest { id }, &token))
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        })
        .await
    };
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Pathway).await?;
    let app = Arc::new(pathway_service::app::PathwayApp::new(db));
    let who = Arc::new(principal("admin@bench", Role::Admin));
    let storage = drive(clients, duration, move |client, i| {
        let app = app.clone();
        let who = who.clone();
        let id = ids[(client * 7919 + i as usize) % ids.len()].clone();
        async move {
            app.get_pathway(&who, id)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "GetPathway",
        "gRPC",
        clients,
        result,
        storage,
        "",
    ))
}

async fn check_access(
    suite: &Suite,
    org: &Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let org = Arc::new(org.clone());
    let connections = channels(&suite.grpc["enrolment-service"]).await?;
    let service_token = Arc::new(token("lms-bench", Role::Service));
    let pick = |org: &Organisation, client: usize, i: u64| {
        let n = (client * 104_729 + i as usize * 31) % org.people;
        let pathway = org.pathways[(n % org.departments) % org.pathways.len()].clone();
        (learner_name(n), pathway)
    };
    let result = {
        let org = org.clone();
        drive(clients, duration, move |client, i| {
            let mut enrolments =
                enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
                    connections[client % CONNECTIONS].clone(),
                );
            let (learner, pathway_id) = pick(&org, client, i);
            let token = service_token.clone();
            async move {
                let decision = enrolments
                    .check_access(bearer(
                        enrolment_pb::CheckAccessRequest {
                            learner,
                            pathway_id,
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                if decision.allowed {
                    Ok(())
                } else {
                    Err(format!("refused: {}", decision.message))
                }
            }
        })
        .await
    };
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Enrolment).await?;
    let settings = &topology.settings.enrolment;
    let app = Arc::new(enrolment_service::app(
        db,
        settings,
        &topology.enrolment_peers()?,
    ));
    let who = Arc::new(principal("lms-bench", Role::Service));
    let storage = drive(clients, duration, move |client, i| {
        let app = app.clone();
        let who = who.clone();
        let (learner, pathway) = pick(&org, client, i);
        async move {
            app.check_access(&who, Some(learner), pathway)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "CheckAccess",
        "gRPC",
        clients,
        result,
        storage,
        "",
    ))
}

async fn my_learning(
    suite: &Suite,
    org: &Organisation,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let people = org.people;
    let http = reqwest::Client::new();
    let base = Arc::new(suite.gateway.clone());
    let result = drive(clients, duration, move |client, i| {
        let http = http.clone();
        let base = base.clone();
        let learner = learner_name((client * 104_729 + i as usize * 17) % people);
        async move {
            let response = http
                .get(format!("{base}/v1/portal/learning"))
                .bearer_auth(token(&learner, Role::Learner))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status().is_success() {
                response
                    .bytes()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            } else {
                Err(format!("HTTP {}", response.status()))
            }
        }
    })
    .await;
    let app = Arc::new(records_app(suite).await?);
    let storage = drive(clients, duration, move |client, i| {
        let app = app.clone();
        let learner = learner_name((client * 104_729 + i as usize * 17) % people);
        async move {
            let who = principal(&learner, Role::Learner);
            app.list_progress(&who, None, 0, String::new())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "portal: my learning",
        "HTTP → gateway → gRPC",
        clients,
        result,
        storage,
        "storage baseline: records-service's ListProgress for the learner, the query my learning rests on",
    ))
}

async fn records_app(suite: &Suite) -> anyhow::Result<records_service::app::RecordsApp> {
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Records).await?;
    Ok(records_service::app(db, &topology.records_peers()?))
}

async fn fan_out(
    suite: &Suite,
    org: &Organisation,
    pathway: &str,
    baseline_pathway: &str,
) -> anyhow::Result<Row> {
    let mut enrolments = enrolment_pb::enrolment_service_client::EnrolmentServiceClient::connect(
        suite.grpc["enrolment-service"].clone(),
    )
    .await?;
    let started = Instant::now();
    let created = enrolments
        .create_assignment(bearer(assignment(pathway, &org.everyone), &admin()))
        .await
        .context("the fan-out assignment")?
        .into_inner();
    let result = Stats::single(started.elapsed(), created.enrolled_count as u64);
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Enrolment).await?;
    let settings = &topology.settings.enrolment;
    let app = enrolment_service::app(db, settings, &topology.enrolment_peers()?);
    let (domain, _) = enrolment_service::grpc::convert::new_assignment(assignment(
        baseline_pathway,
        &org.everyone,
    ))
    .map_err(|s| anyhow::anyhow!("{s:?}"))?;
    let started = Instant::now();
    let view = app
        .create_assignment(&principal("admin@bench", Role::Admin), domain, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let storage = Stats::single(started.elapsed(), view.enrolled as u64);
    eprintln!(
        "fan-out: {:?} (storage {:?})",
        result.seconds, storage.seconds
    );
    Ok(Row {
        workload: format!("audience fan-out ({} people)", org.people),
        transport: "gRPC".into(),
        clients: 1,
        result,
        storage: Some(storage),
        notes: "one CreateAssignment to the audience of everyone; ops/s = enrolments/s, latency = the call".into(),
    })
}

async fn compliance_report(
    suite: &Suite,
    pathway: &str,
    duration: Duration,
    people: usize,
) -> anyhow::Result<Row> {
    let url = suite.grpc["records-service"].clone();
    let pathway = Arc::new(pathway.to_string());
    let first_rows = Arc::new(std::sync::Mutex::new(Vec::new()));
    let result = {
        let pathway = pathway.clone();
        let first_rows = first_rows.clone();
        drive(1, duration, move |_, _| {
            let url = url.clone();
            let pathway = pathway.clone();
            let first_rows = first_rows.clone();
            async move {
                let started = Instant::now();
                let mut records =
                    records_pb::records_service_client::RecordsServiceClient::connect(url)
                        .await
                        .map_err(|e| e.to_string())?;
                let mut stream = records
                    .stream_compliance_report(bearer(
                        records_pb::ComplianceReportRequest {
                            pathway_id: pathway.to_string(),
                            scope: None,
                        },
                        &admin(),
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                let mut rows = 0usize;
                while let Some(item) = stream.message().await.map_err(|s| s.to_string())? {
                    if rows == 0 {
                        first_rows
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(started.elapsed());
                    }
                    if matches!(
                        item.item,
                        Some(records_pb::compliance_report_item::Item::Row(_))
                    ) {
                        rows += 1;
                    }
                }
                if rows == people {
                    Ok(())
                } else {
                    Err(format!("{rows} rows, {people} expected"))
                }
            }
        })
        .await
    };
    let app = Arc::new(records_app(suite).await?);
    let storage = drive(1, duration, move |_, _| {
        let app = app.clone();
        let pathway = pathway.clone();
        async move {
            let mut lines = app
                .compliance_report(
                    &principal("admin@bench", Role::Admin),
                    pathway.to_string(),
                    None,
                )
                .await
                .map_err(|e| e.to_string())?;
            let mut rows = 0usize;
            while let Some(line) = lines.recv().await {
                line.map_err(|e| e.to_string())?;
                rows += 1;
            }
            if rows == people {
                Ok(())
            } else {
                Err(format!("{rows} rows, {people} expected"))
            }
        }
    })
    .await;
    let mut first = first_rows.lock().unwrap_or_else(|p| p.into_inner()).clone();
    first.sort();
    let first_row = first.get(first.len() / 2).copied().unwrap_or_default();
    eprintln!(
        "report: {:.0} ms (storage {:.0} ms)",
        result.p50_ms, storage.p50_ms
    );
    Ok(Row {
        workload: format!("compliance report ({people} rows)"),
        transport: "gRPC stream".into(),
        clients: 1,
        result,
        storage: Some(storage),
        notes: format!(
            "one report after another; latency = all rows; first row after {:.0} ms (median)",
            first_row.as_secs_f64() * 1000.0
        ),
    })
}

async fn record_completion(
    suite: &Suite,
    enrolments: &[(String, String)],
    step: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    // Each completion is of a fresh enrolment: the first half for the workload, the second
    // for the baseline.
    let half = enrolments.len() / 2;
    let workload: Arc<Vec<(String, String)>> = Arc::new(enrolments[..half].to_vec());
    let baseline: Arc<Vec<(String, String)>> = Arc::new(enrolments[half..].to_vec());
    let step = Arc::new(step.to_string());
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let base = Arc::new(suite.gateway.clone());
    let result = {
        let step = step.clone();
        drive(clients, duration, move |_, _| {
            let (enrolment, learner) =
                workload[next.fetch_add(1, Ordering::Relaxed) % workload.len()].clone();
            let http = http.clone();
            let base = base.clone();
            let step = step.clone();
            async move {
                let response = http
                    .post(format!("{base}/v1/progress/{enrolment}:recordActivity"))
                    .bearer_auth(token(&learner, Role::Learner))
                    .json(&json!({"stepId": step.as_str(), "kind": "STEP_COMPLETED"}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if response.status().is_success() {
                    response
                        .bytes()
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                } else {
                    Err(format!(
                        "HTTP {}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    ))
                }
            }
        })
        .await
    };
    let app = Arc::new(records_app(suite).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let storage = drive(clients, duration, move |_, _| {
        let (enrolment_id, learner) =
            baseline[next.fetch_add(1, Ordering::Relaxed) % baseline.len()].clone();
        let app = app.clone();
        let step = step.clone();
        async move {
            let who = principal(&learner, Role::Learner);
            retrying(|| {
                let activity = records_service::domain::activity::NewActivity {
                    enrolment_id: enrolment_id.clone(),
                    step_id: step.to_string(),
                    completed: true,
                    evidence_url: String::new(),
                    note: String::new(),
                };
                app.record_activity(&who, activity, None)
            })
            .await
            .map(|_| ())
        }
    })
    .await;
    Ok(Row::closed_loop(
        "record a step completion",
        "HTTP → gateway → gRPC",
        clients,
        result,
        storage,
        "each a first completion of a step on its own enrolment (a write)",
    ))
}

async fn submit_attempt(
    suite: &Suite,
    enrolments: &[(String, String)],
    assessment: &str,
    question: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Row> {
    let half = enrolments.len() / 2;
    let learners: Arc<Vec<String>> =
        Arc::new(enrolments[..half].iter().map(|(_, l)| l.clone()).collect());
    let baseline: Arc<Vec<String>> =
        Arc::new(enrolments[half..].iter().map(|(_, l)| l.clone()).collect());
    let assessment = Arc::new(assessment.to_string());
    let question = Arc::new(question.to_string());
    let connections = channels(&suite.grpc["assessment-service"]).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let submit_latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let result = {
        let assessment = assessment.clone();
        let question = question.clone();
        let submit_latencies = submit_latencies.clone();
        drive(clients, duration, move |client, _| {
            let learner = learners[next.fetch_add(1, Ordering::Relaxed) % learners.len()].clone();
            let mut assessments =
                assessment_pb::assessment_service_client::AssessmentServiceClient::new(
                    connections[client % CONNECTIONS].clone(),
                );
            let assessment = assessment.clone();
            let question = question.clone();
            let submit_latencies = submit_latencies.clone();
            async move {
                let token = token(&learner, Role::Learner);
                let attempt = assessments
                    .start_attempt(bearer(
                        assessment_pb::StartAttemptRequest {
                            assessment_id: assessment.to_string(),
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                let started = Instant::now();
                let graded = assessments
                    .submit_attempt(bearer(
                        assessment_pb::SubmitAttemptRequest {
                            attempt_id: attempt.id,
                            answers: vec![assessment_pb::QuestionAnswer {
                                question_id: question.to_string(),
                                answer: Some(assessment_pb::AnswerValue {
                                    value: Some(assessment_pb::answer_value::Value::TrueFalse(
                                        true,
                                    )),
                                }),
                            }],
                        },
                        &token,
                    ))
                    .await
                    .map_err(|s| s.to_string())?
                    .into_inner();
                submit_latencies
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(started.elapsed());
                if graded.passed {
                    Ok(())
                } else {
                    Err("not passed".into())
                }
            }
        })
        .await
    };
    let topology = in_process(suite).await?;
    let db = database(&topology, Component::Assessment).await?;
    let app = Arc::new(assessment_service::app(db, &topology.assessment_peers()?));
    let next = Arc::new(AtomicUsize::new(0));
    let storage = drive(clients, duration, move |_, _| {
        let learner = baseline[next.fetch_add(1, Ordering::Relaxed) % baseline.len()].clone();
        let app = app.clone();
        let assessment = assessment.clone();
        let question = question.clone();
        async move {
            let who = principal(&learner, Role::Learner);
            let attempt = retrying(|| app.start_attempt(&who, assessment.to_string())).await?;
            retrying(|| {
                let answers = vec![(
                    question.to_string(),
                    assessment_service::domain::question::Answer::TrueFalse { value: true },
                )];
                app.submit_attempt(&who, attempt.attempt.id.clone(), answers)
            })
            .await
            .map(|_| ())
        }
    })
    .await;
    let mut submits = submit_latencies
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    submits.sort();
    let p99 = submits
        .get((submits.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default();
    Ok(Row::closed_loop(
        "start + submit an attempt",
        "gRPC",
        clients,
        result,
        storage,
        format!(
            "one operation = StartAttempt (which asks enrolment-service's CheckAccess) then SubmitAttempt, each learner once; the submit alone: p99 {:.1} ms",
            p99.as_secs_f64() * 1000.0
        ),
    ))
}

// --- soak ---------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
struct Interval {
    minute: f64,
    requests: u64,
    errors: u64,
    p99_ms: f64,
    resident_mib: f64,
}

pub async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join(format!("{}-data", args.backend.name()));
    let suite = Suite::start(args.backend, &data, &args.postgres, &args.database_prefix)?;
    let http = Http {
        client: reqwest::Client::new(),
        base: suite.gateway.clone(),
    };
    let org = suite::organisation(
        &http,
        &args
            .out
            .join(format!("{}-organisation.json", args.backend.name())),
        args.people,
        args.pathways,
    )
    .await?;
    suite::records_caught_up(
        &suite.grpc["records-service"],
        &org.pathways[0],
        people_in_department(org.people, org.departments, 0),
    )
    .await?;
    suite.analyze()?;
    let org = Arc::new(org);
    let clients = args.clients.max(1);
    // Each client paces itself so that together they hold `rate` requests per second.
    let pause = Duration::from_secs_f64(clients as f64 / args.rate.max(1) as f64);
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let total = Duration::from_secs(args.minutes.max(1) * 60);
    let load = {
        let org = org.clone();
        let latencies = latencies.clone();
        let errors = errors.clone();
        let base = suite.gateway.clone();
        tokio::spawn(async move {
            drive(clients, total, move |client, i| {
                let org = org.clone();
                let latencies = latencies.clone();
                let errors = errors.clone();
                let base = base.clone();
                async move {
                    let began = Instant::now();
                    let outcome = soak_request(&base, &org, client, i).await;
                    match &outcome {
                        Ok(()) => latencies
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(began.elapsed()),
                        Err(e) => errors
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(e.clone()),
                    }
                    if let Some(rest) = pause.checked_sub(began.elapsed()) {
                        tokio::time::sleep(rest).await;
                    }
                    outcome
                }
            })
            .await
        })
    };
    let started = Instant::now();
    let mut intervals = Vec::new();
    // Every request's own latency (the load's pacing pauses are not part of it).
    let mut all = Vec::new();
    let mut all_errors = 0u64;
    let interval = Duration::from_secs(args.interval_seconds.max(1));
    while started.elapsed() + Duration::from_millis(500) < total {
        tokio::time::sleep(interval.min(total.saturating_sub(started.elapsed()))).await;
        let mut taken: Vec<Duration> =
            std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
        let failed: Vec<String> =
            std::mem::take(&mut *errors.lock().unwrap_or_else(|p| p.into_inner()));
        taken.sort();
        all.extend_from_slice(&taken);
        all_errors += failed.len() as u64;
        let p99 = taken
            .get((taken.len() * 99).div_ceil(100).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let row = Interval {
            minute: started.elapsed().as_secs_f64() / 60.0,
            requests: (taken.len() + failed.len()) as u64,
            errors: failed.len() as u64,
            p99_ms: p99,
            resident_mib: suite.resident_kib() as f64 / 1024.0,
        };
        eprintln!(
            "{:>5.1} min: {} requests, {} errors, p99 {:.1} ms, resident {:.0} MiB{}",
            row.minute,
            row.requests,
            row.errors,
            row.p99_ms,
            row.resident_mib,
            failed
                .first()
                .map(|e| format!(" (e.g. {e})"))
                .unwrap_or_default()
        );
        intervals.push(row);
    }
    load.await?;
    let overall = Stats::from_latencies(all, vec![String::new(); all_errors as usize], total);
    let mut markdown = format!(
        "Soak: {} min through the gateway, {} clients held to {} requests/s, backend {}, {}; {}.\n\n\
         | minute | requests | errors | p99 ms | resident MiB |\n|--:|--:|--:|--:|--:|\n",
        args.minutes,
        clients,
        args.rate,
        args.backend.name(),
        format_args!("{} people, {} pathways", org.people, org.pathways.len()),
        machine(),
    );
    for row in &intervals {
        markdown.push_str(&format!(
            "| {:.1} | {} | {} | {:.1} | {:.0} |\n",
            row.minute, row.requests, row.errors, row.p99_ms, row.resident_mib
        ));
    }
    markdown.push_str(&format!(
        "\nOverall: {} requests, {} errors, p50 {:.1} ms, p99 {:.1} ms.\n",
        overall.operations + overall.errors,
        overall.errors,
        overall.p50_ms,
        overall.p99_ms
    ));
    std::fs::write(args.out.join("soak.md"), &markdown)?;
    std::fs::write(
        args.out.join("soak.json"),
        serde_json::to_string_pretty(&json!({"intervals": intervals, "overall": overall}))?,
    )?;
    println!("{markdown}");
    Ok(())
}

/// One request of the soak's mix: learners' portal pages, admins' reads, and an HR feed
/// updating one person now and then (a write with its outbox event).
async fn soak_request(base: &str, org: &Organisation, client: usize, i: u64) -> Result<(), String> {
    let http = soak_client();
    let n = (client * 7_919 + i as usize * 13) % org.people;
    let learner = learner_name(n);
    let learner_token = token(&learner, Role::Learner);
    let location = ["London", "Paris", "Berlin", "Madrid"][n % 4];
    let (method, path, token, body): (&str, String, String, Option<Value>) = match i % 10 {
        0..=3 => ("GET", "/v1/portal/learning".into(), learner_token, None),
        4 | 5 => ("GET", "/v1/portal/transcript".into(), learner_token, None),
        6 | 7 => (
            "GET",
            format!("/v1/pathways/{}", org.pathways[n % org.pathways.len()]),
            admin(),
            None,
        ),
        8 => (
            "GET",
            format!("/v1/enrolments?learner={learner}"),
            admin(),
            None,
        ),
        _ => (
            "POST",
            "/v1/people:upsert".into(),
            admin(),
            Some(json!({"people": [{
                "externalId": learner, "displayName": format!("Person {n} ({i})"),
                "email": format!("{learner}@bench.example"),
                "department": format!("D{:02}", n % org.departments),
                "location": location,
            }]})),
        ),
    };
    let mut request = match method {
        "POST" => http.post(format!("{base}{path}")),
        _ => http.get(format!("{base}{path}")),
    }
    .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{method} {path}: HTTP {status}"))
    }
}

fn soak_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}
