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
    let url = pgbench_database(postgres, prefix)?;
    let initialised = Command::new("pgbench")
        .args(["-i", "-q", "-s", &scale.to_string(), &url])
        .output()
        .context("running pgbench -i (install postgresql-client)")?;
    anyhow::ensure!(
        initialised.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&initialised.stderr)
    );
    let run = |mode: &str| {
        run(
            &url,
            &format!("{mode} -M prepared -c {clients} -j 2 -T {seconds}"),
        )
    };
    Ok(Some(Baselines {
        point_reads: run("-S")?,
        small_writes: run("-N")?,
    }))
}

/// `-N`-style write transactions of `statements` statements each, `BEGIN` and `END` included
/// (at least three): between them `-N`'s UPDATE of an account, SELECT of it and INSERT into
/// the history, in turn, each on an account of its own — the same statement count as a
/// workload's operation, on `<prefix>_pgbench` as [`baselines`] left it.
pub fn writes_of(
    statements: usize,
    postgres: &str,
    prefix: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Pgbench> {
    let url = pgbench_database(postgres, prefix)?;
    let script = std::env::temp_dir().join(format!(
        "lms-bench-writes-{statements}-{}.sql",
        std::process::id()
    ));
    std::fs::write(&script, write_script(statements))?;
    let options = format!(
        "-f {} -M prepared -c {clients} -j 2 -T {seconds}",
        script.display()
    );
    let result = run(&url, &options);
    let _ = std::fs::remove_file(&script);
    result.map(|mut pgbench| {
        pgbench.options =
            format!("-N-style, {statements} statements -M prepared -c {clients} -j 2 -T {seconds}");
        pgbench
    })
}

/// A pgbench script: one transaction of `statements` statements (see [`writes_of`]).
fn write_script(statements: usize) -> String {
    let body = statements.max(3) - 2;
    let mut script = String::from(
        "\\set bid random(1, 1 * :scale)\n\\set tid random(1, 10 * :scale)\n\\set delta random(-5000, 5000)\n",
    );
    for n in 0..body.div_ceil(3) {
        script.push_str(&format!("\\set aid{n} random(1, 100000 * :scale)\n"));
    }
    script.push_str("BEGIN;\n");
    for i in 0..body {
        let aid = format!(":aid{}", i / 3);
        script.push_str(&match i % 3 {
            0 => format!("UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = {aid};\n"),
            1 => format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};\n"),
            _ => format!(
                "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, {aid}, :delta, CURRENT_TIMESTAMP);\n"
            ),
        });
    }
    script.push_str("END;\n");
    script
}

fn pgbench_database(postgres: &str, prefix: &str) -> anyhow::Result<String> {
    database_url(
        Backend::Postgres,
        std::path::Path::new("."),
        postgres,
        prefix,
        "pgbench",
    )
}

/// Runs pgbench with `options` against `url` and reads its report.
fn run(url: &str, options: &str) -> anyhow::Result<Pgbench> {
    let output = Command::new("pgbench")
        .args(options.split_whitespace())
        .arg(url)
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
        options: options.to_string(),
    })
}

/// The number after `label` in pgbench's report (`tps = 46765.1 (without initial …)`).
fn figure(report: &str, label: &str) -> Option<f64> {
    let line = report.lines().find(|line| line.starts_with(label))?;
    line[label.len()..].split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{figure, write_script};

    #[test]
    fn a_write_script_has_the_statements_asked_for() {
        let count = |script: &str| script.lines().filter(|l| l.ends_with(';')).count();
        let script = write_script(8);
        assert_eq!(count(&script), 8);
        assert!(script.contains("BEGIN;\nUPDATE pgbench_accounts"));
        assert!(script.ends_with("END;\n"));
        // Two accounts for six body statements: each UPDATE/SELECT/INSERT round its own.
        assert!(script.contains(":aid1;") && !script.contains(":aid2"));
        assert_eq!(count(&write_script(1)), 3, "a transaction at least");
    }

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
