//! PostgreSQL's own figures on the same server, in the same run: `pgbench` (the PostgreSQL
//! client package's benchmark) against a database of its own, with the run's clients and
//! seconds. Point reads (`-S`: one primary-key SELECT per transaction) are what a read
//! workload's storage could approach; `-N` transactions (three UPDATE/INSERT statements and a
//! SELECT, no contended branch row) what a small write could. Both with prepared statements
//! (`-M prepared`), two pgbench threads (`-j 2`, the machine's cores).

use std::process::Command;

use anyhow::Context;
use serde::Serialize;

use crate::suite::{Backend, database_url};

/// One pgbench run's result, as it reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Pgbench {
    /// What was run: `-S -M prepared -c 64 -j 2 -T 10`.
    pub options: String,
    /// Transactions per second, without the initial connection time.
    pub per_second: f64,
    /// pgbench's average latency (it reports no percentiles without per-transaction logs).
    pub latency_average_ms: f64,
}

/// Point reads and small write transactions, or None when the backend is not PostgreSQL.
#[derive(Debug, Clone, Serialize)]
pub struct Baselines {
    pub point_reads: Pgbench,
    pub small_writes: Pgbench,
}

/// Runs both baselines on `<prefix>_pgbench` (created when missing, its tables initialised
/// afresh at `scale`: 100 000 accounts per unit).
pub fn baselines(
    backend: Backend,
    postgres: &str,
    prefix: &str,
    scale: u32,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Option<Baselines>> {
    if backend != Backend::Postgres {
        return Ok(None);
    }
    let url = database_url(
        backend,
        std::path::Path::new("."),
        postgres,
        prefix,
        "pgbench",
    )?;
    let initialised = Command::new("pgbench")
        .args(["-i", "-q", "-s", &scale.to_string(), &url])
        .output()
        .context("running pgbench -i (install postgresql-client)")?;
    anyhow::ensure!(
        initialised.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&initialised.stderr)
    );
    let run = |mode: &str| -> anyhow::Result<Pgbench> {
        let options = format!("{mode} -M prepared -c {clients} -j 2 -T {seconds}");
        let output = Command::new("pgbench")
            .args(options.split_whitespace())
            .arg(&url)
            .output()
            .context("running pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(
            output.status.success(),
            "pgbench {options}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(Pgbench {
            per_second: figure(&text, "tps = ").context("pgbench printed no tps")?,
            latency_average_ms: figure(&text, "latency average = ")
                .context("pgbench printed no latency")?,
            options,
        })
    };
    Ok(Some(Baselines {
        point_reads: run("-S")?,
        small_writes: run("-N")?,
    }))
}

/// The number after `label` in pgbench's report (`tps = 46765.1 (without initial …)`).
fn figure(report: &str, label: &str) -> Option<f64> {
    let line = report.lines().find(|line| line.starts_with(label))?;
    line[label.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::figure;

    #[test]
    fn reads_pgbench_15s_report() {
        let report = "pgbench (15.20 (Debian 15.20-0+deb12u1))\n\
            transaction type: <builtin: select only>\n\
            number of clients: 64\n\
            latency average = 1.369 ms\n\
            initial connection time = 61.905 ms\n\
            tps = 46765.123456 (without initial connection time)\n";
        assert_eq!(figure(report, "tps = "), Some(46765.123456));
        assert_eq!(figure(report, "latency average = "), Some(1.369));
        assert_eq!(figure(report, "nothing = "), None);
    }
}
