//! `lms-bench hr`: an organisation arriving from HR and its first mandatory assignment
//! (docs/performance.md).
//!
//! Each run uses a tenant of its own (`hr<unix seconds>`), so its directory starts empty
//! however often the harness runs on the same databases. Through the gateway, as an HR
//! integration and an administrator would: `--people` people in bulk uploads of `--batch`
//! (`POST /v1/people:upsert`, 20 departments, four locations, one manager per 50 people),
//! timed upload by upload; then one dynamic audience of everyone (`POST /v1/audiences`), one
//! mandatory assignment of a published pathway to it (`POST /v1/assignments`: the fan-out to
//! every person), and the time until records-service shows every one of those enrolments in
//! progress (its compliance report holds them all).

use std::time::{Duration, Instant};

use lms_platform::Role;
use serde::Serialize;
use serde_json::{Value, json};

use crate::suite::{self, Backend, Http, Suite};

#[derive(clap::Args, Debug, Clone)]
pub struct HrArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub backend: Backend,
    /// People uploaded.
    #[arg(long, default_value_t = 100_000)]
    pub people: usize,
    /// People per bulk upload.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    #[arg(long, default_value = "target/bench")]
    pub out: std::path::PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_bench_hr")]
    pub database_prefix: String,
}

#[derive(Serialize)]
struct Results {
    backend: &'static str,
    tenant: String,
    people: usize,
    batch: usize,
    /// Seconds each bulk upload took, in order.
    uploads: Vec<f64>,
    /// All uploads, one after another.
    upload_seconds: f64,
    audience_seconds: f64,
    assignment_seconds: f64,
    /// From the assignment's answer until records-service holds every enrolment.
    visible_in_progress_seconds: f64,
}

pub async fn hr(args: HrArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args.out.join(format!("hr-{}-data", args.backend.name()));
    let suite = Suite::start(args.backend, &data, &args.postgres, &args.database_prefix)?;
    let http = Http {
        client: reqwest::Client::new(),
        base: suite.gateway.clone(),
    };
    let tenant = format!("hr{}", chrono::Utc::now().timestamp());
    let admin = lms_platform::auth::mint_hs256(
        suite::SECRET,
        "admin@hr",
        &tenant,
        &[Role::Admin],
        Duration::from_secs(24 * 3600),
    )?;
    let pathway = suite::publish_pathway_as(&http, &admin, "Code of conduct", None, false)
        .await?
        .pathway;

    let mut uploads = Vec::new();
    let all = Instant::now();
    for (n, start) in (0..args.people).step_by(args.batch.max(1)).enumerate() {
        let end = (start + args.batch.max(1)).min(args.people);
        let rows: Vec<Value> = (start..end).map(person).collect();
        let started = Instant::now();
        http.post("/v1/people:upsert", &admin, json!({"people": rows}))
            .await?;
        uploads.push(started.elapsed().as_secs_f64());
        eprintln!(
            "  upload {}: {} people in {:.2} s",
            n + 1,
            end - start,
            started.elapsed().as_secs_f64()
        );
    }
    let upload_seconds = all.elapsed().as_secs_f64();
    eprintln!("{} people uploaded in {upload_seconds:.1} s", args.people);
    suite.analyze()?;

    let started = Instant::now();
    let everyone = http
        .post(
            "/v1/audiences",
            &admin,
            json!({"name": "Everyone", "kind": "DYNAMIC", "rule": "location != \"Nowhere\""}),
        )
        .await?;
    let audience_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    http.post(
        "/v1/assignments",
        &admin,
        json!({"pathwayId": pathway, "audienceId": everyone["id"],
               "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}}),
    )
    .await?;
    let assignment_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "audience of {} in {audience_seconds:.2} s, assigned in {assignment_seconds:.2} s",
        args.people
    );
    // Sixteen learners spread over the organisation first (cheap reads), then the whole
    // report every 250 ms until it holds everyone.
    let started = Instant::now();
    let sample: Vec<String> = (0..16)
        .map(|i| suite::learner_name(i * args.people.saturating_sub(1) / 15))
        .collect();
    suite::learners_enrolled_as(
        &suite.grpc["records-service"],
        &admin,
        &pathway,
        &sample,
        Duration::from_millis(100),
    )
    .await?;
    suite::records_caught_up_as(
        &suite.grpc["records-service"],
        &admin,
        &pathway,
        args.people,
        Duration::from_millis(250),
    )
    .await?;
    let visible = started.elapsed().as_secs_f64();
    eprintln!("every enrolment in records-service's progress {visible:.1} s later");

    let results = Results {
        backend: args.backend.name(),
        tenant,
        people: args.people,
        batch: args.batch,
        uploads,
        upload_seconds,
        audience_seconds,
        assignment_seconds,
        visible_in_progress_seconds: visible,
    };
    let path = args.out.join(format!("hr-{}.json", args.backend.name()));
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    println!(
        "| {} people in uploads of {} | {upload_seconds:.1} s |\n\
         | an audience of everyone | {audience_seconds:.2} s |\n\
         | a mandatory assignment to it | {assignment_seconds:.2} s |\n\
         | every enrolment in records-service's progress, after the assignment's answer | {visible:.1} s |",
        args.people, args.batch
    );
    eprintln!("written: {}", path.display());
    Ok(())
}

/// Person `n` of the upload: 20 departments, four locations, and (but for every 50th, who
/// reports to nobody) a manager among the first of each 50.
fn person(n: usize) -> Value {
    let name = suite::learner_name(n);
    let location = ["London", "Paris", "Berlin", "Madrid"][n % 4];
    let mut row = json!({
        "externalId": name,
        "displayName": format!("Person {n}"),
        "email": format!("{name}@hr.example"),
        "department": format!("D{:02}", n % 20),
        "location": location,
    });
    if !n.is_multiple_of(50) {
        row["managerExternalId"] = json!(suite::learner_name(n - n % 50));
    }
    row
}
