//! Closed-loop load: N clients, each calling one operation back to back for a fixed time.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What one workload (or baseline) measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Stats {
    pub operations: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The first few error messages, to say what went wrong.
    pub sample_errors: Vec<String>,
    /// SQL statements this process sent per successful operation (`BEGIN` and `COMMIT`
    /// included), for a storage ceiling run in process; None where not counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements_per_operation: Option<f64>,
}

impl Stats {
    pub fn from_latencies(
        mut latencies: Vec<Duration>,
        errors: Vec<String>,
        elapsed: Duration,
    ) -> Stats {
        latencies.sort();
        let percentile = |p: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
            latencies[rank.clamp(1, latencies.len()) - 1].as_secs_f64() * 1_000.0
        };
        let seconds = elapsed.as_secs_f64();
        Stats {
            operations: latencies.len() as u64,
            errors: errors.len() as u64,
            seconds,
            per_second: latencies.len() as f64 / seconds.max(f64::EPSILON),
            p50_ms: percentile(50.0),
            p95_ms: percentile(95.0),
            p99_ms: percentile(99.0),
            sample_errors: errors.into_iter().take(3).collect(),
            statements_per_operation: None,
        }
    }

    /// One timed operation (a fan-out, a whole report) as a workload of one.
    pub fn single(elapsed: Duration, units: u64) -> Stats {
        let ms = elapsed.as_secs_f64() * 1_000.0;
        Stats {
            operations: units,
            errors: 0,
            seconds: elapsed.as_secs_f64(),
            per_second: units as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            p50_ms: ms,
            p95_ms: ms,
            p99_ms: ms,
            sample_errors: Vec::new(),
            statements_per_operation: None,
        }
    }
}

/// [`drive`] for a storage ceiling: also counts the SQL statements this process sends meanwhile
/// (nothing else in it talks to a database while a ceiling runs).
pub async fn drive_counting<F, Fut>(clients: usize, duration: Duration, operation: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let before = crate::statements::sent();
    let mut stats = drive(clients, duration, operation).await;
    stats.statements_per_operation =
        crate::statements::per_operation(crate::statements::sent() - before, stats.operations);
    stats
}

/// Runs `operation(client, iteration)` from `clients` clients for `duration`; only successful
/// operations count towards latency, failures are counted and sampled.
pub async fn drive<F, Fut>(clients: usize, duration: Duration, operation: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let operation = operation.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            let mut iteration = 0u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                match operation(client, iteration).await {
                    Ok(()) => latencies.push(began.elapsed()),
                    Err(error) => errors.push(error),
                }
                iteration += 1;
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (mut l, mut e) = task.await.expect("a load client panicked");
        latencies.append(&mut l);
        errors.append(&mut e);
    }
    Stats::from_latencies(latencies, errors, started.elapsed())
}
