//! Enrolment benchmark (not a test): the issue's three figures on a real database through
//! real gRPC, with a real pathway-service beside it.
//!
//! ```text
//! LMS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p enrolment-service --bench enrolment -- [people] [audiences] [seconds]
//! ```
//!
//! Without `LMS_TEST_DATABASE_URL` it runs on SQLite. In order it measures:
//! 1. a first HR upload of N people into M dynamic audiences (all created, audiences follow);
//! 2. assigning a published pathway to an audience of all N people: every enrolment and its
//!    outbox event written before `CreateAssignment` returns;
//! 3. a second upload changing a tenth of the people (audiences re-evaluated and assigned
//!    enrolments reconciled before it commits), and a full sweep of every audience;
//! 4. `CheckAccess` from 32 concurrent callers for the given seconds: throughput and
//!    p50/p95/p99 latency.

use std::time::{Duration, Instant};

use enrolment_service::app::EnrolmentApp;
use lms_platform::Role;
use lms_platform::testing::{TestAuth, TestBackend, TestDatabase, bearer, server_config};
use lms_proto::enrolment_v1 as pb;
use lms_proto::pathway_v1 as pathway_pb;
use pb::enrolment_service_client::EnrolmentServiceClient;

const DEPARTMENTS: [&str; 10] = [
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "HR",
    "Legal",
    "Support",
    "Operations",
    "Research",
    "Facilities",
];
const LOCATIONS: [&str; 5] = ["ZA", "UK", "US", "DE", "IN"];

fn person(i: usize, generation: usize) -> pb::Person {
    let department = DEPARTMENTS[(i + generation) % DEPARTMENTS.len()];
    pb::Person {
        external_id: format!("e{i:06}"),
        display_name: format!("Person {i}"),
        email: format!("p{i}@bench.example"),
        department: department.into(),
        job_title: if i.is_multiple_of(7) {
            "Manager".into()
        } else {
            "Specialist".into()
        },
        location: LOCATIONS[i % LOCATIONS.len()].into(),
        hire_date: format!("20{:02}-{:02}-{:02}", 10 + i % 16, 1 + i % 12, 1 + i % 28),
        attributes: [("band".to_string(), format!("B{}", i % 5))].into(),
        ..Default::default()
    }
}

async fn upload(
    client: &mut EnrolmentServiceClient<tonic::transport::Channel>,
    token: &str,
    people: Vec<pb::Person>,
) -> (Duration, pb::UpsertPeopleResponse) {
    let messages: Vec<pb::UpsertPeopleRequest> = people
        .chunks(5_000)
        .map(|chunk| pb::UpsertPeopleRequest {
            people: chunk.to_vec(),
            full_sync: false,
            force: false,
        })
        .collect();
    let started = Instant::now();
    let response = client
        .upsert_people(bearer(token, tokio_stream::iter(messages)))
        .await
        .expect("the upload succeeds")
        .into_inner();
    (started.elapsed(), response)
}

/// Starts a served component on an ephemeral port; returns its URL.
async fn serve_on_ephemeral_port<F, Fut>(serve: F) -> String
where
    F: FnOnce(tokio::net::TcpListener) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener));
    url
}

/// A published pathway with one step, made through pathway-service's API.
async fn published_pathway(url: &str, token: &str) -> String {
    let channel = tonic::transport::Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut pathways = pathway_pb::pathway_service_client::PathwayServiceClient::new(channel);
    let pathway = pathways
        .create_pathway(bearer(
            token,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Code of conduct".into(),
                    outcome: pathway_pb::Outcome::Compliance as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    pathways
        .add_step(bearer(
            token,
            pathway_pb::AddStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pathway_pb::Step {
                    title: "Read and accept".into(),
                    required: true,
                    kind: Some(pathway_pb::step::Kind::Acknowledgement(
                        pathway_pb::AcknowledgementStep {
                            statement: "I have read the code of conduct.".into(),
                            policy_url: "https://acme.example/conduct".into(),
                        },
                    )),
                    ..Default::default()
                }),
                position: None,
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    pathways
        .publish_pathway(bearer(
            token,
            pathway_pb::PublishPathwayRequest {
                id: pathway.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    pathway.id
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let people: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let audiences: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let backend = if std::env::var(lms_platform::testing::POSTGRES_ENV).is_ok() {
        TestBackend::Postgres
    } else {
        TestBackend::Sqlite
    };
    let auth = TestAuth::default();
    let token = auth.admin("bench");
    let mut server = server_config();
    server.max_message_bytes = 64 * 1024 * 1024;

    let pathway_db = TestDatabase::create(backend).expect("a benchmark database");
    let pathway_pool = pathway_service::open_database(pathway_db.url.clone(), 4)
        .await
        .unwrap();
    let (verifier, config) = (auth.verifier().await, server.clone());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    let pathway_url = serve_on_ephemeral_port(|listener| async move {
        pathway_service::serve(listener, pathway_pool, verifier, &config, stop).await
    })
    .await;
    let pathway_id = published_pathway(&pathway_url, &token).await;

    let db = TestDatabase::create(backend).expect("a benchmark database");
    let pool = enrolment_service::open_database(db.url.clone(), 8)
        .await
        .unwrap();
    let catalog = enrolment_service::pathways::PathwayCatalog::new(
        &pathway_url,
        auth.service_credentials("enrolment-service"),
    )
    .unwrap();
    let options = enrolment_service::Options {
        deliver_events_to: None,
        catalog: catalog.clone(),
        max_deactivation_share: 0.2,
        audience_sweep: Duration::ZERO,
    };
    let (verifier, config, serve_pool, stop) = (
        auth.verifier().await,
        server.clone(),
        pool.clone(),
        shutdown.clone(),
    );
    let url = serve_on_ephemeral_port(|listener| async move {
        enrolment_service::serve(listener, serve_pool, verifier, &config, options, stop).await
    })
    .await;
    let channel = tonic::transport::Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = EnrolmentServiceClient::new(channel.clone())
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);

    let audience = |name: String, rule: String| pb::CreateAudienceRequest {
        audience: Some(pb::Audience {
            name,
            kind: pb::AudienceKind::Dynamic as i32,
            rule,
            ..Default::default()
        }),
        request_id: String::new(),
    };
    for a in 0..audiences {
        let rule = match a % 4 {
            0 => format!(r#"department = "{}""#, DEPARTMENTS[a % DEPARTMENTS.len()]),
            1 => format!(
                r#"location IN ("{}", "{}") AND job_title ~ "manager""#,
                LOCATIONS[a % 5],
                LOCATIONS[(a + 1) % 5]
            ),
            2 => format!(r#"attr.band = "B{}" AND hire_date >= "2018-01-01""#, a % 5),
            _ => format!(
                r#"NOT department IN ("{}", "{}") AND hire_date < now() - 365d"#,
                DEPARTMENTS[a % 10],
                DEPARTMENTS[(a + 3) % 10]
            ),
        };
        client
            .create_audience(bearer(&token, audience(format!("Audience {a}"), rule)))
            .await
            .unwrap();
    }
    let everyone = client
        .create_audience(bearer(
            &token,
            audience("Everyone".into(), r#"status = "active""#.into()),
        ))
        .await
        .unwrap()
        .into_inner();

    // 1. First load.
    let first: Vec<pb::Person> = (0..people).map(|i| person(i, 0)).collect();
    let (first_time, first_response) = upload(&mut client, &token, first).await;

    // 2. Fan-out: one pathway to everyone.
    let started = Instant::now();
    let assignment = client
        .create_assignment(bearer(
            &token,
            pb::CreateAssignmentRequest {
                assignment: Some(pb::Assignment {
                    pathway_id: pathway_id.clone(),
                    audience_id: everyone.id.clone(),
                    requirement: pb::Requirement::Mandatory as i32,
                    due_policy: Some(pb::DuePolicy {
                        policy: Some(pb::due_policy::Policy::DaysAfterHire(90)),
                    }),
                    leave_policy: pb::LeavePolicy::WithdrawIfNotStarted as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .expect("the assignment succeeds")
        .into_inner();
    let fan_out_time = started.elapsed();
    let events = lms_platform::outbox::pending_count(&pool).await.unwrap();

    // 3. A tenth of the people move department; then a full sweep.
    let second: Vec<pb::Person> = (0..people)
        .map(|i| person(i, usize::from(i.is_multiple_of(10))))
        .collect();
    let (second_time, second_response) = upload(&mut client, &token, second).await;
    let app = EnrolmentApp::new(pool.clone(), 0.2, catalog);
    let started = Instant::now();
    let swept = app.sweep_audiences().await.unwrap();
    let sweep_time = started.elapsed();

    // 4. CheckAccess from 32 callers.
    let service = auth.token("bench", "assessment-service", &[Role::Service]);
    // The callers are spread over 4 connections, as 4 client replicas would be.
    let mut connections = Vec::new();
    for _ in 0..4 {
        connections.push(
            tonic::transport::Channel::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..32usize {
        let mut client = EnrolmentServiceClient::new(connections[caller % 4].clone());
        let (service, pathway_id) = (service.clone(), pathway_id.clone());
        callers.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = caller;
            while Instant::now() < until {
                let learner = format!("e{:06}", (i * 7919) % people);
                i += 32;
                let started = Instant::now();
                let decision = client
                    .check_access(bearer(
                        &service,
                        pb::CheckAccessRequest {
                            learner,
                            pathway_id: pathway_id.clone(),
                        },
                    ))
                    .await
                    .expect("CheckAccess answers")
                    .into_inner();
                latencies.push(started.elapsed());
                assert!(decision.allowed, "everyone is enrolled");
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = callers.join_next().await {
        latencies.extend(done.unwrap());
    }
    latencies.sort();

    println!(
        "enrolment benchmark on {backend:?}: {people} people, {audiences} dynamic audiences + everyone"
    );
    println!(
        "  first upload (all created):       {:>7.2} s  (created {})",
        first_time.as_secs_f64(),
        first_response.created
    );
    println!(
        "  assignment fan-out to everyone:   {:>7.2} s  ({} enrolments, {events} outbox events)",
        fan_out_time.as_secs_f64(),
        assignment.enrolled_count
    );
    println!(
        "  second upload (10% moved):        {:>7.2} s  (updated {}, unchanged {})",
        second_time.as_secs_f64(),
        second_response.updated,
        second_response.unchanged
    );
    println!(
        "  full sweep (all audiences):       {:>7.2} s  (changes found: {})",
        sweep_time.as_secs_f64(),
        swept.iter().map(|r| r.joined + r.left).sum::<usize>()
    );
    println!(
        "  CheckAccess, 32 callers, {seconds} s:   {:>7.0} calls/s  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms",
        latencies.len() as f64 / seconds as f64,
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 95.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
    );
    shutdown.cancel();
}
