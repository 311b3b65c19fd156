//! A smoke run of the benchmark harness (`lms-bench run`, docs/performance.md) at a tiny size:
//! it proves the harness works end to end on SQLite and PostgreSQL, not how fast anything is.

use std::process::Command;

use lms_test_support::POSTGRES_ENV;
use serde_json::Value;

fn smoke(backend: &str, extra: &[&str]) -> Option<Value> {
    let out = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lms-bench"));
    command
        .env("LMS_BIN", env!("CARGO_BIN_EXE_lms"))
        .args(["run", "--backend", backend])
        .args([
            "--people",
            "120",
            "--pathways",
            "4",
            "--seconds",
            "1",
            "--clients",
            "3",
        ])
        .arg("--out")
        .arg(out.path())
        .args(extra);
    let output = command.output().expect("lms-bench runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let markdown = std::fs::read_to_string(out.path().join(format!("{backend}.md"))).unwrap();
    assert!(markdown.contains("| GetPathway | gRPC |"), "{markdown}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join(format!("{backend}.json"))).unwrap(),
    )
    .unwrap();
    Some(report)
}

fn check(report: &Value) {
    assert!(report["framework"]["operations"].as_u64().unwrap() > 0);
    let rows = report["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    for wanted in [
        "GetPathway",
        "CheckAccess",
        "portal: my learning",
        "audience fan-out",
        "compliance report",
        "record a step completion",
        "start + submit an attempt",
    ] {
        assert!(
            names.iter().any(|n| n.starts_with(wanted)),
            "{wanted} missing from {names:?}"
        );
    }
    for row in rows {
        assert!(row["result"]["operations"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row["result"]["errors"], 0, "{row}");
        if let Some(storage) = row["storage"].as_object() {
            assert!(storage["operations"].as_u64().unwrap() > 0, "{row}");
            assert_eq!(storage["errors"], 0, "{row}");
        }
    }
}

mod sqlite {
    #[test]
    fn the_benchmark_harness_runs_every_workload_and_baseline() {
        super::check(&super::smoke("sqlite", &[]).unwrap());
    }
}

mod postgres {
    use super::*;

    #[test]
    fn the_benchmark_harness_runs_every_workload_and_baseline() {
        postgres_smoke();
    }
}

fn postgres_smoke() {
    let Ok(server) = std::env::var(POSTGRES_ENV) else {
        assert!(
            std::env::var("CI").is_err(),
            "{POSTGRES_ENV} must be set in CI"
        );
        return;
    };
    let prefix = format!("lms_bench_smoke_{}", std::process::id());
    // pgbench's baselines on 100 000 accounts (scale 1): a smoke run, not a measurement.
    let report = smoke(
        "postgres",
        &[
            "--postgres",
            &server,
            "--database-prefix",
            &prefix,
            "--pgbench-scale",
            "1",
        ],
    );
    // The harness keeps its databases for the next run; this one was a throwaway.
    for component in [
        "pathway",
        "enrolment",
        "assessment",
        "records",
        "notification",
        "pgbench",
    ] {
        let _ = Command::new("psql")
            .arg(&server)
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {prefix}_{component} WITH (FORCE)"),
            ])
            .output();
    }
    let report = report.unwrap();
    check(&report);
    // PostgreSQL's own figures, measured by the harness on the same server.
    for baseline in ["point_reads", "small_writes"] {
        let figure = &report["database"][baseline];
        assert!(figure["per_second"].as_f64().unwrap() > 0.0, "{figure}");
    }
    let markdown_rows = report["rows"].as_array().unwrap();
    assert!(
        markdown_rows
            .iter()
            .any(|row| row["against"] == "PointReads"),
        "no read workload is set beside pgbench -S"
    );
    // Each write: the statements its storage ceiling sent per operation, and pgbench's
    // transactions of as many statements beside it.
    for row in markdown_rows
        .iter()
        .filter(|r| r["against"] == "SmallWrites")
    {
        let statements = row["storage"]["statements_per_operation"].as_f64();
        assert!(statements.is_some_and(|n| n >= 3.0), "{row}");
        let same = &row["same_statements"];
        assert!(same["per_second"].as_f64().unwrap() > 0.0, "{row}");
        let expected = format!("{} statements", statements.unwrap().round());
        assert!(
            same["options"].as_str().unwrap().contains(&expected),
            "{row}"
        );
    }
    assert!(
        markdown_rows.iter().any(|r| r["against"] == "SmallWrites"),
        "no write workload"
    );
}

/// `lms-bench hr` at a tiny size: uploads (with reporting lines), an audience of everyone,
/// the assignment, and every enrolment seen in records-service's progress.
#[test]
fn the_hr_benchmark_uploads_assigns_and_waits_for_every_enrolment() {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lms-bench"))
        .env("LMS_BIN", env!("CARGO_BIN_EXE_lms"))
        .args([
            "hr",
            "--backend",
            "sqlite",
            "--people",
            "60",
            "--batch",
            "25",
        ])
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("lms-bench runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("hr-sqlite.json")).unwrap())
            .unwrap();
    assert_eq!(results["people"], 60);
    // 25 + 25 + 10.
    assert_eq!(results["uploads"].as_array().unwrap().len(), 3, "{results}");
    for key in ["upload_seconds", "audience_seconds", "assignment_seconds"] {
        assert!(results[key].as_f64().unwrap() > 0.0, "{results}");
    }
    assert!(results["visible_in_progress_seconds"].as_f64().is_some());
}
