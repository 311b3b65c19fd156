//! Portal benchmark (not a test): "my learning" through the gateway, as the Learning Portal
//! calls it, with N learners at once against a real `lms up` (release build).
//!
//! ```text
//! cargo bench -p lms --bench portal -- [learners] [pathways] [seconds]
//! ```
//!
//! Defaults: 64 concurrent learners, 5 pathways assigned to each, 10 seconds. Everything is set
//! up over HTTP (people, a dynamic audience, published pathways, assignments); then each
//! learner calls `GET /v1/portal/learning` in a loop with their own token. Reports requests
//! per second and p50/p95/p99 latency. Embedded SQLite, as `lms up` runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}

fn token(data: &std::path::Path, subject: &str, role: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_lms"))
        .args([
            "token",
            "--tenant",
            "bench",
            "--subject",
            subject,
            "--role",
            role,
        ])
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = http
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let learners: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(64);
    let pathways: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);

    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lms"))
        .args(["up", "--data-dir"])
        .arg(data.path())
        .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__ENROLMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__ASSESSMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__RECORDS__LISTEN", "127.0.0.1:0")
        .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__TELEMETRY__METRICS_LISTEN", "")
        .env("LMS__TELEMETRY__LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if line.trim_start().starts_with("gateway")
            && let Some(at) = line.find("http://")
        {
            break line[at..].trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let http = reqwest::Client::new();
    let admin = token(data.path(), "admin@bench", "admin");

    for i in 0..learners {
        post(
            &http,
            format!("{base}/v1/people"),
            &admin,
            json!({"externalId": format!("l{i:04}"), "displayName": format!("Learner {i}"), "email": format!("l{i}@bench.example"), "department": "Sales"}),
        )
        .await;
    }
    let audience = post(
        &http,
        format!("{base}/v1/audiences"),
        &admin,
        json!({"name": "Sales", "kind": "DYNAMIC", "rule": "department = \"Sales\""}),
    )
    .await;
    for n in 0..pathways {
        let pathway = post(
            &http,
            format!("{base}/v1/pathways"),
            &admin,
            json!({"title": format!("Pathway {n}"), "outcome": "COMPLIANCE", "sequencing": "SEQUENTIAL"}),
        )
        .await;
        let id = pathway["id"].as_str().unwrap().to_string();
        for step in 0..3 {
            post(
                &http,
                format!("{base}/v1/pathways/{id}/steps"),
                &admin,
                json!({"title": format!("Step {step}"), "required": true, "content": {"url": format!("https://learn.example.com/{n}/{step}")}}),
            )
            .await;
        }
        post(
            &http,
            format!("{base}/v1/pathways/{id}:publish"),
            &admin,
            json!({}),
        )
        .await;
        post(
            &http,
            format!("{base}/v1/assignments"),
            &admin,
            json!({"pathwayId": id, "audienceId": audience["id"], "requirement": "MANDATORY", "duePolicy": {"daysAfterAssignment": 30}}),
        )
        .await;
    }
    let tokens: Vec<String> = (0..learners)
        .map(|i| token(data.path(), &format!("l{i:04}"), "learner"))
        .collect();
    // Wait until every learner sees every pathway (enrolment events reach records-service).
    let deadline = Instant::now() + Duration::from_secs(120);
    for token in &tokens {
        loop {
            let learning: Value = http
                .get(format!("{base}/v1/portal/learning"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if learning["items"].as_array().map(Vec::len) == Some(pathways) {
                break;
            }
            assert!(Instant::now() < deadline, "enrolments did not arrive");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let until = Instant::now() + Duration::from_secs(seconds);
    let mut running = tokio::task::JoinSet::new();
    for token in tokens {
        let (http, base) = (http.clone(), base.clone());
        running.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let response = http
                    .get(format!("{base}/v1/portal/learning"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let _ = response.bytes().await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        });
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = running.join_next().await {
        latencies.extend(done.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "\nportal \"my learning\" via the gateway (lms up, SQLite): {learners} learners at once, {pathways} pathways each, {:.1} s: {} requests, {:.0}/s; p50 {} p95 {} p99 {} max {}",
        elapsed.as_secs_f64(),
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    let _ = child.kill();
    let _ = child.wait();
}
