//! The suite under test (`lms up`, this same binary, in a child process) and the organisation
//! seeded into it through the public APIs, kept between runs.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::{Connection, PgConnection, RunQueryDsl, sql_query};
use lms_platform::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub const TENANT: &str = "bench";
/// The signing secret of the bench's suite (a development secret, like `lms up`'s own).
pub const SECRET: &str = "lms-bench-secret-lms-bench-secret-0123";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub const COMPONENTS: [(&str, &str); 5] = [
    ("pathway-service", "PATHWAY"),
    ("enrolment-service", "ENROLMENT"),
    ("assessment-service", "ASSESSMENT"),
    ("records-service", "RECORDS"),
    ("notification-service", "NOTIFICATION"),
];

/// A running `lms up`.
pub struct Suite {
    child: Child,
    pub gateway: String,
    pub grpc: HashMap<String, String>,
    /// Each component's database URL, for the storage baselines.
    pub database_urls: HashMap<String, String>,
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The database of `component` for this backend, created on PostgreSQL when missing.
pub(crate) fn database_url(
    backend: Backend,
    data: &Path,
    postgres: &str,
    prefix: &str,
    component: &str,
) -> anyhow::Result<String> {
    let name = component.trim_end_matches("-service");
    match backend {
        Backend::Sqlite => Ok(format!(
            "sqlite://{}",
            data.join(format!("{name}.db")).display()
        )),
        Backend::Postgres => {
            let database = format!("{prefix}_{name}");
            let mut admin = PgConnection::establish(postgres)
                .with_context(|| format!("connecting to {postgres}"))?;
            let exists: Vec<Exists> = sql_query(format!(
                "SELECT 1 AS one FROM pg_database WHERE datname = '{database}'"
            ))
            .load(&mut admin)?;
            if exists.is_empty() {
                sql_query(format!("CREATE DATABASE {database}")).execute(&mut admin)?;
            }
            let base = postgres.rsplit_once('/').map_or(postgres, |(base, _)| base);
            Ok(format!("{base}/{database}"))
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    #[allow(dead_code)]
    one: i32,
}

/// The `lms` binary: `LMS_BIN`, or the one built beside this benchmark.
fn lms_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("LMS_BIN") {
        return Ok(path.into());
    }
    let beside = std::env::current_exe()?.with_file_name("lms");
    anyhow::ensure!(
        beside.exists(),
        "no lms binary at {} (build it: cargo build --release -p lms; or set LMS_BIN)",
        beside.display()
    );
    Ok(beside)
}

impl Suite {
    pub fn start(
        backend: Backend,
        data: &Path,
        postgres: &str,
        prefix: &str,
    ) -> anyhow::Result<Suite> {
        Self::start_with(backend, data, postgres, prefix, &[])
    }

    /// [`Suite::start`] with more settings for `lms up` (`LMS__…` variables).
    pub fn start_with(
        backend: Backend,
        data: &Path,
        postgres: &str,
        prefix: &str,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Suite> {
        anyhow::ensure!(
            prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "--database-prefix takes lower-case letters, digits and _"
        );
        std::fs::create_dir_all(data)?;
        let mut command = Command::new(lms_binary()?);
        for (key, _) in std::env::vars() {
            if key.starts_with("LMS__") {
                command.env_remove(key);
            }
        }
        let mut database_urls = HashMap::new();
        for (component, section) in COMPONENTS {
            let url = database_url(backend, data, postgres, prefix, component)?;
            command.env(format!("LMS__{section}__LISTEN"), "127.0.0.1:0");
            command.env(format!("LMS__{section}__DATABASE_URL"), &url);
            command.env(format!("LMS__{section}__DB_POOL_SIZE"), "16");
            database_urls.insert(component.to_string(), url);
        }
        for (key, value) in settings {
            command.env(key, value);
        }
        let mut child = command
            .args(["up", "--data-dir"])
            .arg(data)
            .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
            .env("LMS__GATEWAY__REQUESTS_PER_SECOND", "1000000")
            .env("LMS__GATEWAY__BURST", "1000000")
            .env("LMS__GATEWAY__MAX_IN_FLIGHT", "100000")
            .env("LMS__GATEWAY__MAX_BODY_BYTES", "8388608")
            .env("LMS__AUTH__HS256_SECRET", SECRET)
            .env("LMS__TELEMETRY__METRICS_LISTEN", "")
            .env("LMS__TELEMETRY__LOG_LEVEL", "error")
            // Notifications go to inboxes only: email throughput is `lms-bench notify`'s.
            .env("LMS__NOTIFICATION__EMAIL__TRANSPORT", "none")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting lms up")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut grpc = HashMap::new();
        let gateway = loop {
            let line = lines
                .next()
                .context("lms up stopped before printing its addresses")??;
            let name = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            if let Some(at) = line.find("grpc://") {
                grpc.insert(name, format!("http://{}", line[at + 7..].trim()));
            } else if name == "gateway"
                && let Some(at) = line.find("http://")
            {
                break line[at..].trim().to_string();
            }
        };
        // The suite logs to stdout: kept in `LMS_BENCH_SUITE_LOG` when set (with `RUST_LOG`,
        // e.g. `lms_platform=debug` for the outbox's per-batch timings), else dropped.
        let keep = std::env::var_os("LMS_BENCH_SUITE_LOG").map(std::fs::File::create);
        std::thread::spawn(move || {
            let mut keep = keep.and_then(Result::ok);
            for line in lines.map_while(Result::ok) {
                if let Some(file) = keep.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
            }
        });
        Ok(Suite {
            child,
            gateway,
            grpc,
            database_urls,
        })
    }

    /// Refreshes the planner's statistics after a bulk load, as autovacuum would (the CI
    /// machine's PostgreSQL runs without it; see docs/operations.md).
    pub fn analyze(&self) -> anyhow::Result<()> {
        for url in self.database_urls.values() {
            if url.starts_with("postgres") {
                let mut conn = PgConnection::establish(url)?;
                sql_query("ANALYZE").execute(&mut conn)?;
            }
        }
        Ok(())
    }

    /// The resident memory of the suite's process, in KiB (Linux).
    pub fn resident_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse().ok())
            })
            .unwrap_or(0)
    }
}

pub fn token(subject: &str, role: Role) -> String {
    lms_platform::auth::mint_hs256(
        SECRET,
        subject,
        TENANT,
        &[role],
        Duration::from_secs(24 * 3600),
    )
    .expect("a bench token")
}

pub fn admin() -> String {
    token("admin@bench", Role::Admin)
}

pub fn learner_name(n: usize) -> String {
    format!("p{n:06}")
}

/// What was seeded, kept beside the data so later runs reuse it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organisation {
    pub people: usize,
    pub departments: usize,
    pub pathways: Vec<String>,
    pub categories: Vec<String>,
    pub audiences: Vec<String>,
    /// The audience of everyone, for fan-outs.
    pub everyone: String,
}

pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
}

impl Http {
    pub async fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "POST {path}: {status} {body}");
        Ok(body)
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {body}");
        Ok(body)
    }
}

fn id(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_string()
}

/// What a published pathway holds: its id, and its assessment and question when it has one.
pub struct Published {
    pub pathway: String,
    pub assessment: Option<(String, String)>,
}

/// A published pathway of three content steps, then a one-question assessment step when
/// `with_assessment` (free order then: any step may be taken first).
pub async fn publish_pathway(
    http: &Http,
    title: &str,
    category: Option<&str>,
    with_assessment: bool,
) -> anyhow::Result<Published> {
    publish_pathway_as(http, &admin(), title, category, with_assessment).await
}

/// [`publish_pathway`] by the given admin (of any tenant).
pub async fn publish_pathway_as(
    http: &Http,
    admin: &str,
    title: &str,
    category: Option<&str>,
    with_assessment: bool,
) -> anyhow::Result<Published> {
    let admin = admin.to_string();
    let mut pathway = json!({"title": title, "outcome": "COMPLIANCE"});
    if with_assessment {
        // The attempt workload measures attempts: its test is open from the start rather than
        // locked behind the content steps (records-service would refuse it, rightly).
        pathway["sequencing"] = json!("FREE");
    }
    if let Some(category) = category {
        pathway["categoryId"] = json!(category);
    }
    let created = http.post("/v1/pathways", &admin, pathway).await?;
    let pathway_id = id(&created);
    for step in 1..=3 {
        http.post(
            &format!("/v1/pathways/{pathway_id}/steps"),
            &admin,
            json!({"title": format!("Part {step}"), "required": true,
                   "content": {"url": format!("https://learn.example.com/{pathway_id}/{step}"), "mediaType": "VIDEO"}}),
        )
        .await?;
    }
    let mut assessment = None;
    if with_assessment {
        let bank = http
            .post(
                "/v1/questionBanks",
                &admin,
                json!({"name": format!("Bank {title}")}),
            )
            .await?;
        let question = http
            .post(
                &format!("/v1/questionBanks/{}/questions", id(&bank)),
                &admin,
                json!({"text": "Fire doors stay closed.", "trueFalse": {"answer": true}}),
            )
            .await?;
        let test = http
            .post(
                "/v1/assessments",
                &admin,
                json!({"title": format!("Test {title}"), "pathwayId": pathway_id,
                       "fixed": {"questionIds": [id(&question)]}, "passMarkPercent": 100}),
            )
            .await?;
        http.post(
            &format!("/v1/pathways/{pathway_id}/steps"),
            &admin,
            json!({"title": "Test", "required": true, "assessment": {"assessmentId": id(&test)}}),
        )
        .await?;
        assessment = Some((id(&test), id(&question)));
    }
    http.post(
        &format!("/v1/pathways/{pathway_id}:publish"),
        &admin,
        json!({}),
    )
    .await?;
    Ok(Published {
        pathway: pathway_id,
        assessment,
    })
}

/// Seeds the organisation (or reads the one seeded before with the same sizes).
pub async fn organisation(
    http: &Http,
    file: &PathBuf,
    people: usize,
    pathways: usize,
) -> anyhow::Result<Organisation> {
    if let Ok(text) = std::fs::read_to_string(file)
        && let Ok(seeded) = serde_json::from_str::<Organisation>(&text)
        && seeded.people == people
        && seeded.pathways.len() == pathways
    {
        eprintln!(
            "reusing the organisation seeded before ({})",
            file.display()
        );
        return Ok(seeded);
    }
    let started = Instant::now();
    let admin = admin();
    let departments = 20.min(people.max(1));
    let mut categories = Vec::new();
    for n in 0..20 {
        let created = http
            .post(
                "/v1/categories",
                &admin,
                json!({"name": format!("Category {n}")}),
            )
            .await?;
        categories.push(id(&created));
    }
    let mut pathway_ids = Vec::new();
    for n in 0..pathways {
        let published = publish_pathway(
            http,
            &format!("Pathway {n}"),
            Some(&categories[n % 20]),
            false,
        )
        .await?;
        pathway_ids.push(published.pathway);
    }
    eprintln!(
        "  {pathways} pathways in 20 categories: {:?}",
        started.elapsed()
    );
    for batch in (0..people).collect::<Vec<_>>().chunks(5_000) {
        let rows: Vec<Value> = batch
            .iter()
            .map(|n| {
                let location = ["London", "Paris", "Berlin", "Madrid"][n % 4];
                json!({"externalId": learner_name(*n), "displayName": format!("Person {n}"),
                       "email": format!("{}@bench.example", learner_name(*n)),
                       "department": format!("D{:02}", n % departments),
                       "location": location})
            })
            .collect();
        http.post("/v1/people:upsert", &admin, json!({"people": rows}))
            .await?;
    }
    eprintln!("  {people} people: {:?}", started.elapsed());
    let mut audiences = Vec::new();
    for d in 0..departments {
        let created = http
            .post(
                "/v1/audiences",
                &admin,
                json!({"name": format!("Department D{d:02}"), "kind": "DYNAMIC",
                       "rule": format!("department = \"D{d:02}\"")}),
            )
            .await?;
        audiences.push(id(&created));
    }
    let everyone = http
        .post(
            "/v1/audiences",
            &admin,
            json!({"name": "Everyone", "kind": "DYNAMIC", "rule": "location != \"Nowhere\""}),
        )
        .await?;
    // Each department's audience is assigned its own pathway: one enrolment per person.
    for (d, audience) in audiences.iter().enumerate() {
        http.post(
            "/v1/assignments",
            &admin,
            json!({"pathwayId": pathway_ids[d % pathway_ids.len()], "audienceId": audience,
                   "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}}),
        )
        .await?;
    }
    eprintln!(
        "  {} audiences, assignments: {:?}",
        departments + 1,
        started.elapsed()
    );
    let seeded = Organisation {
        people,
        departments,
        pathways: pathway_ids,
        categories,
        audiences,
        everyone: id(&everyone),
    };
    std::fs::write(file, serde_json::to_string_pretty(&seeded)?)?;
    Ok(seeded)
}

/// Waits until records-service holds `expected` enrolments of `pathway` (events arrive
/// asynchronously from enrolment-service).
pub async fn records_caught_up(
    records: &str,
    pathway: &str,
    expected: usize,
) -> anyhow::Result<Duration> {
    records_caught_up_as(records, &admin(), pathway, expected, Duration::from_secs(2)).await
}

/// Waits until each of `learners` has an enrolment in `pathway` in records-service's
/// progress (one small ListProgress per learner, every `poll`): a cheap sign that a fan-out
/// has nearly arrived, before [`records_caught_up_as`] reads the whole compliance report —
/// which, read every 250 ms from the start, took CPU from the drain it measures.
pub async fn learners_enrolled_as(
    records: &str,
    admin: &str,
    pathway: &str,
    learners: &[String],
    poll: Duration,
) -> anyhow::Result<()> {
    use lms_proto::records_v1 as pb;
    let started = Instant::now();
    let mut client =
        pb::records_service_client::RecordsServiceClient::connect(records.to_string()).await?;
    let mut waiting: Vec<&String> = learners.iter().collect();
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for learner in waiting {
            let mut request = tonic::Request::new(pb::ListProgressRequest {
                learner: learner.clone(),
                page_size: 100,
                page_token: String::new(),
            });
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {admin}").parse()?);
            let progress = client.list_progress(request).await?.into_inner().progress;
            if !progress.iter().any(|p| p.pathway_id == pathway) {
                still.push(learner);
            }
        }
        waiting = still;
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "{} sampled learners still not enrolled after 30 minutes",
            waiting.len()
        );
        if !waiting.is_empty() {
            tokio::time::sleep(poll).await;
        }
    }
    Ok(())
}

/// [`records_caught_up`] as the given admin, looking every `poll`.
pub async fn records_caught_up_as(
    records: &str,
    admin: &str,
    pathway: &str,
    expected: usize,
    poll: Duration,
) -> anyhow::Result<Duration> {
    use lms_proto::records_v1 as pb;
    let started = Instant::now();
    let mut client =
        pb::records_service_client::RecordsServiceClient::connect(records.to_string()).await?;
    loop {
        let mut request = tonic::Request::new(pb::ComplianceReportRequest {
            pathway_id: pathway.to_string(),
            scope: None,
        });
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {admin}").parse()?);
        let mut stream = client.stream_compliance_report(request).await?.into_inner();
        let mut rows = 0usize;
        while let Some(line) = stream.message().await? {
            if matches!(line.item, Some(pb::compliance_report_item::Item::Row(_))) {
                rows += 1;
            }
        }
        if rows >= expected {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "records-service holds {rows} of {expected} enrolments after 30 minutes"
        );
        tokio::time::sleep(poll).await;
    }
}
