//! The soak: a bounded mixed load through the gateway, sampled per interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lms_platform::Role;
use serde::Serialize;
use serde_json::{Value, json};

use super::SoakArgs;
use super::load::{Stats, drive};
use super::suite::{self, Http, Organisation, Suite, admin, learner_name, token};
use super::workloads::*;

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
