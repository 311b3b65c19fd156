//! `lms-bench xapi`: the Learning Record Store at scale (docs/performance.md, issue 23's
//! figures). Through the gateway, as xAPI content would, with an LRS client's Basic
//! credentials: `--statements` statements POSTed in batches of `--batch` by `--clients`
//! concurrent senders (10 000 learners, 20 verbs, 1 000 activities), then `--clients`
//! readers asking for the first page (10 statements) of a random learner's statements with a
//! random verb for `--seconds`. Each run uses a tenant of its own (`xapi<unix seconds>`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lms_platform::Role;
use serde::Serialize;
use serde_json::{Value, json};

use crate::load::{Stats, drive};
use crate::suite::{self, Backend, Http, Suite};

const LEARNERS: u64 = 10_000;
const VERBS: u64 = 20;
const ACTIVITIES: u64 = 1_000;

#[derive(clap::Args, Debug, Clone)]
pub struct XapiArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub backend: Backend,
    /// Statements stored before the queries.
    #[arg(long, default_value_t = 1_000_000)]
    pub statements: u64,
    /// Statements per POST.
    #[arg(long, default_value_t = 100)]
    pub batch: u64,
    /// Concurrent senders, then concurrent readers.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Seconds of queries.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    #[arg(long, default_value = "target/bench")]
    pub out: std::path::PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_bench_xapi")]
    pub database_prefix: String,
}

#[derive(Serialize)]
struct Results {
    backend: &'static str,
    tenant: String,
    statements: u64,
    batch: u64,
    clients: usize,
    /// The POSTs: one operation per batch.
    ingestion: Stats,
    statements_per_second: f64,
    /// First pages of a learner's statements with a verb.
    query_by_agent_and_verb: Stats,
}

fn agent(n: u64) -> Value {
    json!({"objectType": "Agent", "mbox": format!("mailto:learner{n}@xapi.example")})
}

fn verb(n: u64) -> String {
    format!("http://example.com/xapi/verbs/verb{n}")
}

/// Statement `n`: its learner, verb and activity spread evenly, so every (learner, verb) pair
/// has statements to find.
fn statement(n: u64) -> Value {
    json!({
        "actor": agent(n % LEARNERS),
        "verb": {"id": verb((n / LEARNERS) % VERBS), "display": {"en-US": "did"}},
        "object": {"id": format!("http://example.com/xapi/activities/a{}", n % ACTIVITIES),
                   "definition": {"name": {"en-US": format!("Activity {}", n % ACTIVITIES)}}},
        "result": {"completion": true, "score": {"scaled": ((n % 100) as f64) / 100.0}},
        "context": {"registration": format!("00000000-0000-4000-8000-{n:012x}")},
    })
}

pub async fn xapi(args: XapiArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join(format!("xapi-{}-data", args.backend.name()));
    let suite = Suite::start(args.backend, &data, &args.postgres, &args.database_prefix)?;
    let http = Http {
        client: reqwest::Client::new(),
        base: suite.gateway.clone(),
    };
    let tenant = format!("xapi{}", chrono::Utc::now().timestamp());
    let admin = lms_platform::auth::mint_hs256(
        suite::SECRET,
        "admin@xapi",
        &tenant,
        &[Role::Admin],
        Duration::from_secs(24 * 3600),
    )?;
    let client = http
        .post(
            "/v1/lrsClients",
            &admin,
            json!({"name": "lms-bench", "canRead": true, "canWrite": true}),
        )
        .await?;
    let key = client["client"]["key"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let secret = client["secret"].as_str().unwrap_or_default().to_string();
    let credentials = Arc::new((key, secret, suite.gateway.clone()));
    let web = reqwest::Client::new();

    // Ingestion: batches handed out in order from a shared counter until none is left.
    let batches = args.statements.div_ceil(args.batch.max(1));
    let next = Arc::new(AtomicU64::new(0));
    let batch = args.batch.max(1);
    let started = Instant::now();
    // Every sender takes the next batch until none is left.
    let mut senders = Vec::new();
    for _ in 0..args.clients {
        let (next, credentials, web) = (next.clone(), credentials.clone(), web.clone());
        senders.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= batches {
                    return (latencies, errors);
                }
                let body: Vec<Value> = (n * batch..(n + 1) * batch).map(statement).collect();
                let began = Instant::now();
                match post(&web, &credentials, &Value::from(body)).await {
                    Ok(()) => latencies.push(began.elapsed()),
                    Err(error) => errors.push(error),
                }
            }
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for sender in senders {
        let (l, e) = sender.await?;
        latencies.extend(l);
        errors.extend(e);
    }
    let ingestion = Stats::from_latencies(latencies, errors, started.elapsed());
    let elapsed = started.elapsed().as_secs_f64();
    let statements_per_second = (ingestion.operations * batch) as f64 / elapsed;
    eprintln!(
        "{} statements in {elapsed:.1} s: {statements_per_second:.0} statements/s, batch p50 {:.1} ms p99 {:.1} ms",
        ingestion.operations * batch,
        ingestion.p50_ms,
        ingestion.p99_ms
    );
    suite.analyze()?;

    let query_by_agent_and_verb = {
        let (credentials, web) = (credentials.clone(), web.clone());
        drive(
            args.clients,
            Duration::from_secs(args.seconds),
            move |client, iteration| {
                let (credentials, web) = (credentials.clone(), web.clone());
                async move {
                    let n = (client as u64 * 7_919 + iteration * 104_729) % LEARNERS;
                    let query = [
                        ("agent", agent(n).to_string()),
                        ("verb", verb((n + iteration) % VERBS)),
                        ("limit", "10".to_string()),
                    ];
                    let (key, secret, base) = &*credentials;
                    let url =
                        reqwest::Url::parse_with_params(&format!("{base}/xapi/statements"), &query)
                            .map_err(|e| e.to_string())?;
                    let response = web
                        .get(url)
                        .basic_auth(key, Some(secret))
                        .header("X-Experience-API-Version", "1.0.3")
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if !response.status().is_success() {
                        return Err(format!("{}", response.status()));
                    }
                    let page: Value = response.json().await.map_err(|e| e.to_string())?;
                    page["statements"].as_array().ok_or("no statements")?;
                    Ok(())
                }
            },
        )
        .await
    };
    eprintln!(
        "queries by agent and verb: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms ({} errors)",
        query_by_agent_and_verb.per_second,
        query_by_agent_and_verb.p50_ms,
        query_by_agent_and_verb.p99_ms,
        query_by_agent_and_verb.errors
    );
    let results = Results {
        backend: args.backend.name(),
        tenant,
        statements: ingestion.operations * batch,
        batch,
        clients: args.clients,
        ingestion,
        statements_per_second,
        query_by_agent_and_verb,
    };
    let path = args.out.join(format!("xapi-{}.json", args.backend.name()));
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}

async fn post(
    web: &reqwest::Client,
    credentials: &(String, String, String),
    body: &Value,
) -> Result<(), String> {
    let (key, secret, base) = credentials;
    let response = web
        .post(format!("{base}/xapi/statements"))
        .basic_auth(key, Some(secret))
        .header("X-Experience-API-Version", "1.0.3")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        ))
    }
}
