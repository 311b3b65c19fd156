//! What operators see: the gateway's HTTP metrics, outbox lag and the certification
//! scheduler's heartbeat on `/metrics`; JSON logs with trace ids and one access line per
//! request; plain text when not a terminal; a clear word when the metrics port is taken.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn lms() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lms"));
    command.env_remove("LMS_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("LMS__") || key.starts_with("OTEL_") {
            command.env_remove(key);
        }
    }
    command
}

fn free_port() -> u16 {
    lms_test_support::port_for_a_child("127.0.0.1")
}

/// `lms up` with JSON logs on stdout and metrics at a known port; returns the child, the
/// gateway URL, the metrics URL and the log lines as they come.
struct Up {
    child: std::process::Child,
    gateway: String,
    metrics: String,
    logs: std::sync::mpsc::Receiver<String>,
    data: tempfile::TempDir,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn up() -> Up {
    let data = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let mut child = lms()
        .args(["up", "--data-dir"])
        .arg(data.path())
        .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__ENROLMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__ASSESSMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__RECORDS__LISTEN", "127.0.0.1:0")
        .env("LMS__NOTIFICATION__LISTEN", "127.0.0.1:0")
        .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
        .env(
            "LMS__TELEMETRY__METRICS_LISTEN",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("LMS__TELEMETRY__LOG_FORMAT", "json")
        .env("LMS__TELEMETRY__LOG_LEVEL", "warn,lms::access=info")
        .env("LMS__RECORDS__CERTIFICATION_SCAN_SECONDS", "1")
        .env("OTEL_SERVICE_NAME", "lms-under-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (sender, logs) = std::sync::mpsc::channel();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let gateway = loop {
        let line = lines.next().expect("lms up prints the gateway").unwrap();
        if line.trim_start().starts_with("gateway")
            && let Some(at) = line.find("http://")
        {
            break line[at..].trim().to_string();
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    Up {
        child,
        gateway,
        metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        logs,
        data,
    }
}

fn token(up: &Up, subject: &str, role: &str) -> String {
    let output = lms()
        .args([
            "token",
            "--tenant",
            "acme",
            "--subject",
            subject,
            "--role",
            role,
        ])
        .arg("--data-dir")
        .arg(up.data.path())
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The metrics text once `ready` holds (within 20 s).
async fn scrape_until(up: &Up, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = reqwest::get(&up.metrics)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if ready(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never got there:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_logs_and_traces_tell_an_operator_what_happened() {
    let up = up();
    let admin = token(&up, "admin@acme", "admin");
    let http = reqwest::Client::new();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = http
        .get(format!("{}/v1/pathways", up.gateway))
        .bearer_auth(&admin)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // An event to deliver: a person created in enrolment-service goes to records-service.
    let person = http
        .post(format!("{}/v1/people", up.gateway))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"externalId": "ada", "displayName": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(person.status(), 200);
    for _ in 0..3 {
        let made_up = http
            .get(format!(
                "{}/v1/made/up/{}",
                up.gateway,
                uuid::Uuid::new_v4()
            ))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(made_up.status(), 404);
    }

    let text = scrape_until(&up, |text| {
        text.contains("lms_certification_scheduler_last_run_timestamp_seconds")
            && !text.contains("lms_certification_scheduler_last_run_timestamp_seconds 0\n")
            && text.contains("lms_outbox_oldest_pending_age_seconds{")
    })
    .await;
    // The gateway's RED metrics, labelled by route template, never by raw path.
    assert!(
        text.contains(
            "http_server_request_duration_seconds_count{http_request_method=\"GET\",http_route=\"/v1/pathways\",http_response_status_code=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("http_route=\"unknown\",http_response_status_code=\"404\"} 3"));
    assert!(!text.contains("/v1/made/up"), "raw paths leak into labels");
    // Outbox lag per producer and destination.
    assert!(
        text.contains("lms_outbox_pending_events{producer=\"enrolment\",destination=\"records\"}"),
        "{text}"
    );

    // JSON access lines, one per request, with the caller's trace id.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut gateway_line = None;
    let mut service_line = None;
    while (gateway_line.is_none() || service_line.is_none()) && Instant::now() < deadline {
        let Ok(line) = up.logs.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        assert!(
            !line.contains('\u{1b}'),
            "no colour codes off a terminal: {line}"
        );
        let Ok(json) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if json["target"] != "lms::access" || json["trace_id"] != trace_id {
            continue;
        }
        if json["fields"]["route"] == "/v1/pathways" {
            gateway_line = Some(json);
        } else if json["fields"]["method"] == "ListPathways" {
            service_line = Some(json);
        }
    }
    let gateway_line = gateway_line.expect("the gateway's access line with the trace id");
    assert_eq!(gateway_line["fields"]["status"], 200);
    assert_eq!(gateway_line["level"], "INFO");
    assert_eq!(gateway_line["span_id"].as_str().map(str::len), Some(16));
    let service_line = service_line.expect("pathway-service's access line, same trace");
    assert_eq!(service_line["fields"]["code"], "OK");
}

#[test]
fn a_taken_metrics_port_is_explained() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let data = tempfile::tempdir().unwrap();
    let output = lms()
        .args(["serve", "pathway"])
        .env(
            "LMS__PATHWAY__DATABASE_URL",
            format!("sqlite://{}/pathway.db", data.path().display()),
        )
        .env(
            "LMS__AUTH__HS256_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__TELEMETRY__METRICS_LISTEN", address.to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(
        stderr.contains("LMS__TELEMETRY__METRICS_LISTEN"),
        "{stderr}"
    );
}
