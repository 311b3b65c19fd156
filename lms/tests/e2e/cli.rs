//! The `lms` binary as an operator runs it: a real process, real ports, real signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

fn lms() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lms"));
    // Tests must not pick up a developer's lms.toml or environment.
    command.env_remove("LMS_CONFIG");
    for (key, _) in std::env::vars() {
        if key.starts_with("LMS__") {
            command.env_remove(key);
        }
    }
    command
}

/// `lms up` on ephemeral ports; returns the child and the addresses it printed.
fn start_up(data_dir: &std::path::Path) -> (Child, String, String) {
    let (child, addresses) = start_up_with_addresses(data_dir);
    (
        child,
        addresses["pathway-service"].clone(),
        addresses["metrics"].clone(),
    )
}

/// `lms up` on ephemeral ports; returns the child and every address it printed, by name.
fn start_up_with_addresses(
    data_dir: &std::path::Path,
) -> (Child, std::collections::HashMap<String, String>) {
    let mut child = lms()
        .args(["up", "--data-dir"])
        .arg(data_dir)
        .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__ENROLMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__ASSESSMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__RECORDS__LISTEN", "127.0.0.1:0")
        .env("LMS__NOTIFICATION__LISTEN", "127.0.0.1:0")
        .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__TELEMETRY__METRICS_LISTEN", "127.0.0.1:0")
        .env("LMS__TELEMETRY__LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("lms starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut addresses = std::collections::HashMap::new();
    while !addresses.contains_key("metrics") {
        let line = lines.next().expect("lms up prints its addresses").unwrap();
        let name = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        for scheme in ["grpc://", "http://"] {
            if let Some(at) = line.find(scheme) {
                let address = line[at + scheme.len()..]
                    .trim()
                    .trim_end_matches("/metrics");
                addresses.insert(name.clone(), address.to_string());
            }
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addresses)
}

/// Waits without blocking the runtime, so this test's own client connections can see the
/// server's GOAWAY and close, as any live client would.
async fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "lms did not exit in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn http_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn up_serves_with_a_generated_secret_and_drains_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, grpc, metrics) = start_up(data.path());
    assert!(data.path().join("dev-secret").exists());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path()).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o700,
            "the data directory is the owner's alone"
        );
    }
    assert!(data.path().join("pathway.db").exists());
    assert!(data.path().join("enrolment.db").exists());

    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    let status = health
        .check(HealthCheckRequest {
            service: "lms.pathway.v1.PathwayService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    // `lms token` signs with the secret `lms up` generated, and the service accepts it.
    let token = lms()
        .args([
            "token",
            "--tenant",
            "demo",
            "--subject",
            "ops@demo",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let channel_again = channel.clone();
    let mut client = PathwayServiceClient::new(channel);
    let mut request = tonic::Request::new(pb::CreateCategoryRequest {
        parent_id: String::new(),
        category: Some(pb::Category {
            name: "Demo".into(),
            ..Default::default()
        }),
        request_id: String::new(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    client.create_category(request).await.unwrap();

    let probe = tokio::process::Command::new(env!("CARGO_BIN_EXE_lms"))
        .args(["probe", &grpc, "--service", "lms.pathway.v1.PathwayService"])
        .output()
        .await
        .unwrap();
    assert!(probe.status.success(), "{probe:?}");

    let scraped = http_get(&metrics, "/metrics").await;
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    // The names and labels gRPC dashboards know (go-grpc-prometheus), and the process's own.
    for expected in [
        "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"lms.pathway.v1.PathwayService\",grpc_method=\"CreateCategory\",grpc_code=\"OK\"} 1",
        "grpc_server_started_total{grpc_type=\"unary\",grpc_service=\"lms.pathway.v1.PathwayService\",grpc_method=\"CreateCategory\"} 1",
        "grpc_server_handling_seconds_bucket{",
        "lms_build_info{version=\"",
        "lms_db_pool_max_connections{component=\"pathway\"}",
        "lms_db_pool_connections{component=\"records\",state=\"idle\"}",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_start_time_seconds ",
    ] {
        assert!(scraped.contains(expected), "{expected} in:\n{scraped}");
    }
    let rss: f64 = scraped
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(rss > 1_000_000.0, "resident memory {rss}");

    // Made-up paths do not grow the metrics: 50 calls to 50 unknown methods and services add
    // one `unknown` series, not 50.
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("grpc_server_handled_total{"))
            .count()
    };
    let before = series(&http_get(&metrics, "/metrics").await);
    for n in 0..50 {
        let mut grpc = tonic::client::Grpc::new(channel_again.clone());
        grpc.ready().await.unwrap();
        let path: http::uri::PathAndQuery = if n % 2 == 0 {
            format!("/made.up.Service{n}/Method{n}")
        } else {
            format!("/lms.pathway.v1.PathwayService/NoSuchMethod{n}")
        }
        .parse()
        .unwrap();
        let answer = grpc
            .unary(
                tonic::Request::new(()),
                path,
                tonic_prost::ProstCodec::<(), ()>::default(),
            )
            .await;
        assert!(answer.is_err());
    }
    let after = http_get(&metrics, "/metrics").await;
    assert!(
        series(&after) <= before + 2,
        "{} series before, {} after:\n{after}",
        before,
        series(&after)
    );
    assert!(
        after.contains("grpc_service=\"unknown\",grpc_method=\"unknown\""),
        "{after}"
    );

    // A health Watch stream stays open across the SIGTERM: it is ended (UNAVAILABLE) rather
    // than holding the server for the whole grace period.
    let mut watch = HealthClient::new(channel_again.clone())
        .watch(HealthCheckRequest {
            service: "lms.pathway.v1.PathwayService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let watching = tokio::spawn(async move {
        let mut last = None;
        loop {
            match watch.message().await {
                Ok(Some(update)) => last = Some(update.status()),
                Ok(None) => return (last, None),
                Err(status) => return (last, Some(status.code())),
            }
        }
    });

    // SIGTERM while a client stays connected: the server drains and exits 0 well before the
    // 20 s grace period, because a live client closes its idle connection on GOAWAY.
    let stopping = Instant::now();
    sigterm(&child);
    let status = wait_for_exit(&mut child, Duration::from_secs(30)).await;
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "draining took {:?}",
        stopping.elapsed()
    );
    let (last, ended) = watching.await.unwrap();
    assert_eq!(
        last,
        Some(ServingStatus::NotServing),
        "the watcher was told"
    );
    assert_eq!(ended, Some(tonic::Code::Unavailable));
    drop(client);
}

#[tokio::test]
async fn data_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, _, _) = start_up(data.path());
    let secret_before = std::fs::read_to_string(data.path().join("dev-secret")).unwrap();
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(30))
            .await
            .success()
    );
    let (mut child, _, _) = start_up(data.path());
    let secret_after = std::fs::read_to_string(data.path().join("dev-secret")).unwrap();
    assert_eq!(
        secret_before, secret_after,
        "tokens stay valid across restarts"
    );
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(30))
            .await
            .success()
    );
}

#[test]
fn serve_refuses_to_start_without_keys() {
    let data = tempfile::tempdir().unwrap();
    let output = lms()
        .args(["serve", "pathway", "--data-dir"])
        .arg(data.path())
        .env(
            "LMS__PATHWAY__DATABASE_URL",
            format!("sqlite://{}/p.db", data.path().display()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.jwks_url"), "{stderr}");
    assert!(
        !data.path().join("dev-secret").exists(),
        "serve never generates a secret"
    );
}

#[test]
fn serve_refuses_to_start_without_a_database_url() {
    let output = lms()
        .args(["serve", "pathway"])
        .env(
            "LMS__AUTH__HS256_SECRET",
            "0123456789abcdef0123456789abcdef",
        )
        .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__TELEMETRY__METRICS_LISTEN", "")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pathway.database_url"), "{stderr}");
}

#[test]
fn bad_configuration_names_the_key() {
    let output = lms()
        .args(["migrate"])
        .env("LMS__SERVER__SHUTDOWN_GRACE_SECONDS", "soon")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shutdown_grace_seconds"), "{stderr}");
}

#[test]
fn token_without_a_secret_explains_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let output = lms()
        .args([
            "token",
            "--tenant",
            "t",
            "--subject",
            "s",
            "--role",
            "learner",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("lms up"));
    // Its help says what the subject is: the person's external id.
    let help = lms().args(["token", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("external id"), "{help}");
    assert!(help.contains("The tenant the token is for"), "{help}");
}

#[test]
fn migrate_applies_migrations_to_the_configured_database() {
    let data = tempfile::tempdir().unwrap();
    // Without database URLs it refuses, names the key, and creates nothing.
    let unconfigured = lms()
        .args(["migrate", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!unconfigured.status.success());
    assert!(
        String::from_utf8_lossy(&unconfigured.stderr).contains("pathway.database_url is required"),
        "{}",
        String::from_utf8_lossy(&unconfigured.stderr)
    );
    assert_eq!(std::fs::read_dir(data.path()).unwrap().count(), 0);
    // With one, that database is migrated.
    let url = format!("sqlite://{}/pathway.db", data.path().display());
    let output = lms()
        .args(["migrate", "pathway", "--data-dir"])
        .arg(data.path())
        .env("LMS__PATHWAY__DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(data.path().join("pathway.db").exists());
}

/// The acceptance check: a client in another language, knowing nothing but server
/// reflection and a token from `lms token`, builds and publishes a pathway.
#[tokio::test]
async fn a_python_client_using_only_reflection_publishes_a_pathway() {
    let python_ready = Command::new("python3")
        .args(["-c", "import grpc, grpc_reflection, grpc_health"])
        .status()
        .is_ok_and(|s| s.success());
    if !python_ready {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have the Python gRPC client (pip install -r tests/requirements.txt)"
        );
        eprintln!("skipped: pip install -r tests/requirements.txt to run this test");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let (mut child, grpc, _) = start_up(data.path());
    let token = lms()
        .args([
            "token",
            "--tenant",
            "demo",
            "--subject",
            "admin@demo",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/e2e/reflection_client.py"
    );
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&grpc)
        .arg(&token)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(30))
            .await
            .success()
    );
}

mod collector {
    //! A stand-in OpenTelemetry collector: an OTLP/gRPC trace endpoint that keeps what it gets.
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::trace::v1::Span;

    #[derive(Clone, Default)]
    pub struct Collector {
        pub spans: Arc<Mutex<Vec<Span>>>,
    }

    #[tonic::async_trait]
    impl TraceService for Collector {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let mut spans = self.spans.lock().unwrap();
            for resource in request.into_inner().resource_spans {
                for scope in resource.scope_spans {
                    spans.extend(scope.spans);
                }
            }
            Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
        }
    }

    /// Serves the collector on an ephemeral port; returns its address.
    pub async fn start(collector: Collector) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector))
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        address
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_continue_the_callers_traceparent_and_reach_the_collector() {
    let collector = collector::Collector::default();
    let collector_address = collector::start(collector.clone()).await;
    let data = tempfile::tempdir().unwrap();
    let mut child = lms()
        .args(["up", "--data-dir"])
        .arg(data.path())
        .env("LMS__PATHWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__ENROLMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__ASSESSMENT__LISTEN", "127.0.0.1:0")
        .env("LMS__RECORDS__LISTEN", "127.0.0.1:0")
        .env("LMS__NOTIFICATION__LISTEN", "127.0.0.1:0")
        .env("LMS__GATEWAY__LISTEN", "127.0.0.1:0")
        .env("LMS__TELEMETRY__METRICS_LISTEN", "")
        .env("LMS__TELEMETRY__LOG_LEVEL", "warn")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_address}"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut grpc, mut gateway) = (String::new(), String::new());
    while grpc.is_empty() || gateway.is_empty() {
        let line = lines.next().expect("lms up prints its address").unwrap();
        if let Some(at) = line.find("grpc://")
            && line.contains("pathway-service")
        {
            grpc = line[at + 7..].trim().to_string();
        }
        if let Some(at) = line.find("http://")
            && line.trim_start().starts_with("gateway")
        {
            gateway = line[at..].trim().to_string();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let token = lms()
        .args([
            "token",
            "--tenant",
            "demo",
            "--subject",
            "ops@demo",
            "--role",
            "learner",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_span_id = "00f067aa0ba902b7";
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::ListPathwaysRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{parent_span_id}-01")
            .parse()
            .unwrap(),
    );
    PathwayServiceClient::new(channel)
        .list_pathways(request)
        .await
        .unwrap();

    // Through the gateway: the gateway's span continues the caller's trace, and the service's
    // span is its child.
    let http_trace_id = "0af7651916cd43dd8448eb211c80319c";
    let http_parent = "b7ad6b7169203331";
    let answer = reqwest::Client::new()
        .get(format!("{gateway}/v1/pathways"))
        .bearer_auth(&token)
        .header(
            "traceparent",
            format!("00-{http_trace_id}-{http_parent}-01"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // Shutting down flushes the spans still batched.
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(30))
            .await
            .success()
    );
    let spans = collector.spans.lock().unwrap().clone();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let span = spans
        .iter()
        .find(|s| s.name == "/lms.pathway.v1.PathwayService/ListPathways")
        .unwrap_or_else(|| {
            panic!(
                "no span for the call among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        hex(&span.trace_id),
        trace_id,
        "the caller's trace continues"
    );
    assert_eq!(hex(&span.parent_span_id), parent_span_id);
    let edge = spans
        .iter()
        .find(|s| s.name == "GET /v1/pathways")
        .expect("the gateway's span");
    assert_eq!(hex(&edge.trace_id), http_trace_id);
    assert_eq!(hex(&edge.parent_span_id), http_parent);
    let behind = spans
        .iter()
        .find(|s| {
            s.name == "/lms.pathway.v1.PathwayService/ListPathways"
                && hex(&s.trace_id) == http_trace_id
        })
        .expect("the service's span in the same trace");
    assert_eq!(
        behind.parent_span_id, edge.span_id,
        "one trace: gateway → service"
    );
}

#[test]
fn probe_fails_when_nothing_serves() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let output = lms()
        .args(["probe", &address, "--timeout-seconds", "2"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[tokio::test]
async fn import_people_applies_good_rows_and_reports_bad_ones_by_row_number() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addresses) = start_up_with_addresses(data.path());
    let enrolment = format!("http://{}", addresses["enrolment-service"]);
    let token = lms()
        .args([
            "token",
            "--tenant",
            "demo",
            "--subject",
            "hr@demo",
            "--role",
            "admin",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .unwrap();
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    let csv = data.path().join("hr.csv");
    std::fs::write(
        &csv,
        "external_id,display_name,email,department,attr.cost_centre\n\
         e1,Ada Lovelace,ada@demo.example,Sales,CC-7\n\
         e2,Bob,bob@demo.example,HR,\n\
         e3,Cy,not-an-email,HR,\n\
         e4,Short row\n\
         e5,Di,di@demo.example,Sales,CC-7\n",
    )
    .unwrap();
    let import = move |file: &std::path::Path| {
        let output = lms()
            .args(["import", "people"])
            .arg(file)
            .args(["--address", &enrolment, "--token", &token])
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
        )
    };
    let (ok, out) = tokio::task::spawn_blocking({
        let csv = csv.clone();
        let import = import.clone();
        move || import(&csv)
    })
    .await
    .unwrap();
    assert!(!ok, "rejected rows make the command fail: {out}");
    assert!(
        out.contains("created 3, updated 0, unchanged 0, deactivated 0, rejected 2"),
        "{out}"
    );
    assert!(out.contains("row 4 (external_id \"e3\"): email:"), "{out}");
    assert!(out.contains("row 5 (external_id \"e4\")"), "{out}");

    // The same good rows again change nothing, and the command succeeds.
    let good = data.path().join("good.csv");
    std::fs::write(
        &good,
        "external_id,display_name,email,department,attr.cost_centre\n\
         e1,Ada Lovelace,ada@demo.example,Sales,CC-7\n\
         e2,Bob,bob@demo.example,HR,\n\
         e5,Di,di@demo.example,Sales,CC-7\n",
    )
    .unwrap();
    let (ok, out) = tokio::task::spawn_blocking(move || import(&good))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(out.contains("unchanged 3"), "{out}");
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(30))
            .await
            .success()
    );
}

/// The services a port's server reflection lists, sorted.
async fn reflected_services(address: &str) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("no service list: {answer:?}")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn up_runs_every_service_and_each_answers_its_health_check() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addresses) = start_up_with_addresses(data.path());
    for (component, service) in [
        ("pathway-service", "lms.pathway.v1.PathwayService"),
        ("enrolment-service", "lms.enrolment.v1.EnrolmentService"),
        ("assessment-service", "lms.assessment.v1.AssessmentService"),
        ("records-service", "lms.records.v1.RecordsService"),
        (
            "notification-service",
            "lms.notification.v1.NotificationService",
        ),
    ] {
        let address = addresses
            .get(component)
            .unwrap_or_else(|| panic!("lms up prints {component}: {addresses:?}"));
        let probe = tokio::process::Command::new(env!("CARGO_BIN_EXE_lms"))
            .args(["probe", address, "--service", service])
            .output()
            .await
            .unwrap();
        assert!(probe.status.success(), "{component}: {probe:?}");
    }
    // Reflection on each port lists what that port serves, and nothing another port serves
    // (every service keeps its own audit trail, and its part of a person's data).
    let common = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "lms.audit.v1.AuditService",
        "lms.privacy.v1.PersonalDataService",
    ];
    for (component, own) in [
        (
            "pathway-service",
            vec![
                "lms.pathway.v1.PathwayService",
                "lms.pathway.v1.ContentPackageService",
                "lms.pathway.v1.ContentFileService",
                "lms.events.v1.EventConsumer",
            ],
        ),
        (
            "enrolment-service",
            vec![
                "lms.enrolment.v1.EnrolmentService",
                "lms.enrolment.v1.RoleBindingService",
                "lms.events.v1.EventConsumer",
                "lms.events.v1.DeadLetters",
            ],
        ),
        (
            "assessment-service",
            vec![
                "lms.assessment.v1.AssessmentService",
                "lms.events.v1.EventConsumer",
                "lms.events.v1.DeadLetters",
            ],
        ),
        (
            "records-service",
            vec![
                "lms.records.v1.RecordsService",
                "lms.records.v1.TrainingSessionService",
                "lms.records.v1.CalendarFeedService",
                "lms.events.v1.EventConsumer",
                "lms.xapi.v1.LearningRecordStoreService",
                "lms.xapi.v1.LrsClientService",
                "lms.xapi.v1.LrsForwardingService",
                "lms.records.v1.CertificateVerification",
                "lms.records.v1.Cmi5Service",
                "lms.records.v1.Cmi5FetchService",
                "lms.events.v1.DeadLetters",
            ],
        ),
        (
            "notification-service",
            vec![
                "lms.notification.v1.NotificationService",
                "lms.notification.v1.WebhookService",
                "lms.events.v1.EventConsumer",
            ],
        ),
    ] {
        let listed = reflected_services(&addresses[component]).await;
        let mut expected: Vec<&str> = own.into_iter().chain(common).collect();
        expected.sort();
        assert_eq!(listed, expected, "{component}");
    }
    let gateway = &addresses["gateway"];
    let probe = |path: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_lms"))
            .args(["probe", gateway, "--http", path])
            .output()
    };
    let healthy = probe("/healthz").await.unwrap();
    assert!(healthy.status.success(), "gateway: {healthy:?}");
    let missing = probe("/no-such-page").await.unwrap();
    assert!(!missing.status.success(), "a 404 is not healthy");
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(10))
            .await
            .success()
    );
}

#[tokio::test]
async fn report_compliance_prints_csv_and_refuses_learners() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addresses) = start_up_with_addresses(data.path());
    let records = format!("http://{}", addresses["records-service"]);
    let token = |role: &str| {
        let output = lms()
            .args([
                "token",
                "--tenant",
                "demo",
                "--subject",
                "someone",
                "--role",
                role,
                "--data-dir",
            ])
            .arg(data.path())
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    // A pathway nobody is enrolled in yet: its report is a header and zero totals.
    let pathways = lms_test_support::Rpcs::new(std::collections::HashMap::from([(
        "pathway-service".to_string(),
        tonic::transport::Channel::from_shared(format!("http://{}", addresses["pathway-service"]))
            .unwrap()
            .connect_lazy(),
    )]));
    let pathway = pathways
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            serde_json::json!({"pathway": {"title": "Fire safety", "outcome": "COMPLIANCE"}}),
            &token("admin"),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let report_on = |pathway: String, token: String| {
        let records = records.clone();
        tokio::task::spawn_blocking(move || {
            lms()
                .args(["report", "compliance", "--pathway", &pathway])
                .args(["--address", &records, "--token", &token])
                .output()
                .unwrap()
        })
    };
    let report = |token: String| report_on(pathway.clone(), token);
    // A pathway that does not exist is a mistake, said as such.
    let unknown = report_on(
        "0190d5a0-0000-7000-8000-000000000001".into(),
        token("admin"),
    )
    .await
    .unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("NotFound"),
        "{unknown:?}"
    );
    let admin = report(token("admin")).await.unwrap();
    assert!(admin.status.success(), "{admin:?}");
    let stdout = String::from_utf8_lossy(&admin.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some("learner,state,percent,due,completed,certification_expires,enrolment_id")
    );
    assert!(String::from_utf8_lossy(&admin.stderr).contains("0 learners"));
    let learner = report(token("learner")).await.unwrap();
    assert!(!learner.status.success());
    assert!(
        String::from_utf8_lossy(&learner.stderr).contains("PermissionDenied"),
        "{learner:?}"
    );
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(10))
            .await
            .success()
    );
}

#[test]
fn with_migrate_on_start_off_a_service_starts_only_on_a_migrated_database() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pathway.db", data.path().display());
    let port = lms_test_support::port_for_a_child("127.0.0.1");
    let serve = || {
        lms()
            .args(["serve", "pathway"])
            .env("LMS__MIGRATE_ON_START", "false")
            .env("LMS__PATHWAY__DATABASE_URL", &url)
            .env(
                "LMS__AUTH__HS256_SECRET",
                "0123456789abcdef0123456789abcdef",
            )
            .env("LMS__PATHWAY__LISTEN", format!("127.0.0.1:{port}"))
            .env("LMS__TELEMETRY__METRICS_LISTEN", "")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Unmigrated: it refuses to start and says what to run.
    let refused = serve().wait_with_output().unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("run `lms migrate`"), "{stderr}");

    let migrated = lms()
        .args(["migrate", "pathway"])
        .env("LMS__PATHWAY__DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(migrated.status.success());
    let mut child = serve();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let probe = lms()
            .args(["probe", &format!("127.0.0.1:{port}")])
            .output()
            .unwrap();
        if probe.status.success() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the service exited on a migrated database"
        );
        assert!(std::time::Instant::now() < deadline, "never became ready");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `lms dead-letters` reaches each producing service of a running suite: an empty list is a
/// header, replaying an event that is no dead letter is NOT_FOUND, and learners are refused.
/// (The life of a dead letter — kept, listed, replayed — is proven in platform/tests/outbox.rs.)
#[tokio::test]
async fn dead_letters_are_listed_and_replayed_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, addresses) = start_up_with_addresses(data.path());
    let token = |role: &str| {
        let output = lms()
            .args([
                "token",
                "--tenant",
                "demo",
                "--subject",
                "ops",
                "--role",
                role,
            ])
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let run =
        |args: Vec<String>| tokio::task::spawn_blocking(move || lms().args(args).output().unwrap());
    for component in ["enrolment", "assessment", "records"] {
        let address = format!("http://{}", addresses[&format!("{component}-service")]);
        let args = |verb: &str, token: String, extra: &[&str]| -> Vec<String> {
            let mut args: Vec<String> = ["dead-letters", verb, "--component", component]
                .map(String::from)
                .to_vec();
            args.extend(["--address".into(), address.clone(), "--token".into(), token]);
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        };
        let listed = run(args("list", token("admin"), &[])).await.unwrap();
        assert!(listed.status.success(), "{listed:?}");
        assert_eq!(
            String::from_utf8_lossy(&listed.stdout),
            "event_id\tdestination\ttype\taggregate_id\tattempts\toccurred\trejected\treason\n"
        );
        assert!(String::from_utf8_lossy(&listed.stderr).contains("0 dead letters"));

        let unknown = "0190d5a0-0000-7000-8000-000000000001";
        let replayed = run(args("replay", token("admin"), &[unknown]))
            .await
            .unwrap();
        assert!(!replayed.status.success());
        assert!(
            String::from_utf8_lossy(&replayed.stderr).contains("NotFound"),
            "{replayed:?}"
        );
        let all = run(args("replay", token("admin"), &["--all"]))
            .await
            .unwrap();
        assert!(all.status.success(), "{all:?}");
        assert!(String::from_utf8_lossy(&all.stdout).contains("0 dead letters queued"));

        let learner = run(args("list", token("learner"), &[])).await.unwrap();
        assert!(!learner.status.success());
        assert!(
            String::from_utf8_lossy(&learner.stderr).contains("PermissionDenied"),
            "{learner:?}"
        );
    }
    let neither = lms()
        .args([
            "dead-letters",
            "replay",
            "--component",
            "records",
            "--token",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!neither.status.success(), "event ids or --all are required");
    sigterm(&child);
    assert!(
        wait_for_exit(&mut child, Duration::from_secs(10))
            .await
            .success()
    );
}
