//! `lms-bench access`: what the access decision point adds to a call (docs/performance.md).
//!
//! 64 learners of one department, and a reporting viewer bound to that department. The same
//! call — records-service's `ListProgress` for one of the learners, over gRPC — is made back to
//! back by `--clients` clients: as an `instructor` token (a tenant-wide role: the decision point
//! answers from the token, asking nothing) and as the viewer (a stored binding: the decision
//! point answers from its cache of the viewer's bindings and of whether the learner is in the
//! department). The difference is what a scoped decision adds to a call. Beside them, in the
//! same run, the decision point itself, called in process by the same number of tasks on warm
//! caches (`Access::allows`, with the directory a real enrolment-service over gRPC).

use std::sync::Arc;
use std::time::Duration;

use lms_platform::Role;
use lms_platform::access::{Permission, Target};
use lms_proto::records_v1 as records_pb;
use serde::Serialize;
use serde_json::json;

use crate::load::{Stats, drive};
use crate::suite::{Backend, Http, Suite, admin, token};
use crate::workloads::{CONNECTIONS, bearer, channels, in_process, principal};

#[derive(clap::Args, Debug, Clone)]
pub struct AccessArgs {
    #[arg(long, value_enum, default_value = "postgres")]
    pub backend: Backend,
    /// Callers at once (one closed loop each).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// `auth.bindings_cache_seconds` of the suite: how long the services keep what the
    /// directory said (5 by default). Within a run longer than this, cached answers expire and
    /// are asked again, which is what the call's tail latency then shows.
    #[arg(long, default_value_t = 5)]
    pub bindings_cache_seconds: u64,
    #[arg(long, default_value = "target/bench")]
    pub out: std::path::PathBuf,
    #[arg(
        long,
        env = "LMS_BENCH_POSTGRES",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
    #[arg(long, default_value = "lms_bench_access")]
    pub database_prefix: String,
}

#[derive(Serialize)]
struct Results {
    backend: &'static str,
    clients: usize,
    bindings_cache_seconds: u64,
    /// `ListProgress` as a tenant-wide instructor (no stored binding consulted).
    list_progress_token_role: Stats,
    /// The same as a reporting viewer of the learners' department (a cached scoped decision).
    list_progress_bound: Stats,
    /// `Access::allows` in process, warm: a tenant-wide role, then a scoped binding.
    decision_token_role: Stats,
    decision_bound: Stats,
}

pub async fn access(args: AccessArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)?;
    let data = args
        .out
        .join(format!("access-data-{}", args.backend.name()));
    let cache = args.bindings_cache_seconds.to_string();
    let suite = Suite::start_with(
        args.backend,
        &data,
        &args.postgres,
        &args.database_prefix,
        &[("LMS__AUTH__BINDINGS_CACHE_SECONDS", cache)],
    )?;
    let http = Http {
        client: reqwest::Client::new(),
        base: suite.gateway.clone(),
    };
    let admin = admin();
    // A run of its own (the database is kept between runs).
    let run = chrono::Utc::now().timestamp_millis();
    let department = format!("Audit {run}");
    let viewer = format!("viewer{run}");
    let learners: Vec<String> = (0..64).map(|n| format!("acc{run}-{n:03}")).collect();
    for person in learners.iter().chain([&viewer]) {
        let department = if *person == viewer {
            "Staff"
        } else {
            &department
        };
        http.post(
            "/v1/people",
            &admin,
            json!({"externalId": person, "displayName": person,
                   "email": format!("{person}@bench.example"), "department": department}),
        )
        .await?;
    }
    http.post(
        "/v1/roleBindings",
        &admin,
        json!({"principal": viewer, "role": "SCOPED_ROLE_REPORTING_VIEWER",
               "scope": {"department": department}}),
    )
    .await?;
    let learners = Arc::new(learners);
    let duration = Duration::from_secs(args.seconds.max(1));
    let connections = channels(&suite.grpc["records-service"]).await?;
    let list_progress = |token: String| {
        let (connections, learners, token) =
            (connections.clone(), learners.clone(), Arc::new(token));
        move |client: usize, i: u64| {
            let mut records = records_pb::records_service_client::RecordsServiceClient::new(
                connections[client % CONNECTIONS].clone(),
            );
            let learner = learners[(client + i as usize) % learners.len()].clone();
            let token = token.clone();
            async move {
                records
                    .list_progress(bearer(
                        records_pb::ListProgressRequest {
                            learner,
                            ..Default::default()
                        },
                        &token,
                    ))
                    .await
                    .map(|_| ())
                    .map_err(|s| s.to_string())
            }
        }
    };
    let instructor = token("instructor@bench", Role::Instructor);
    let bound = token(&viewer, Role::Learner);
    // Warm: every learner once as each caller (fills the caches the bound calls then use).
    let _ = drive(1, Duration::from_millis(500), list_progress(bound.clone())).await;
    let list_progress_token_role = drive(args.clients, duration, list_progress(instructor)).await;
    let list_progress_bound = drive(args.clients, duration, list_progress(bound)).await;

    let topology = in_process(&suite).await?;
    let decisions = topology.records_peers()?.access;
    let decide = |who: lms_platform::Principal| {
        let (decisions, learners, who) = (decisions.clone(), learners.clone(), Arc::new(who));
        move |client: usize, i: u64| {
            let (decisions, who) = (decisions.clone(), who.clone());
            let learner = learners[(client + i as usize) % learners.len()].clone();
            async move {
                match decisions
                    .allows(&who, Permission::ReadRecords, Target::Person(&learner))
                    .await
                {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!("{learner} refused")),
                    Err(error) => Err(error.to_string()),
                }
            }
        }
    };
    let viewer_principal = principal(&viewer, Role::Learner);
    let _ = drive(
        1,
        Duration::from_millis(500),
        decide(viewer_principal.clone()),
    )
    .await;
    let results = Results {
        backend: args.backend.name(),
        clients: args.clients,
        bindings_cache_seconds: args.bindings_cache_seconds,
        list_progress_token_role,
        list_progress_bound,
        decision_token_role: drive(
            args.clients,
            duration,
            decide(principal("instructor@bench", Role::Instructor)),
        )
        .await,
        decision_bound: drive(args.clients, duration, decide(viewer_principal)).await,
    };
    for (name, stats) in [
        (
            "ListProgress, instructor token",
            &results.list_progress_token_role,
        ),
        ("ListProgress, bound viewer", &results.list_progress_bound),
        ("decision, token role", &results.decision_token_role),
        ("decision, bound viewer", &results.decision_bound),
    ] {
        eprintln!(
            "{name:<32} {:>10.0}/s  p50 {:>8.3} ms  p99 {:>8.3} ms  errors {} {:?}",
            stats.per_second, stats.p50_ms, stats.p99_ms, stats.errors, stats.sample_errors
        );
    }
    let file = args
        .out
        .join(format!("access-{}.json", args.backend.name()));
    std::fs::write(&file, serde_json::to_string_pretty(&results)?)?;
    eprintln!("wrote {}", file.display());
    drop(suite);
    Ok(())
}
