//! Directory benchmark (not a test): an HR sync of N people through the real gRPC stream into
//! a real database, with dynamic audiences that must follow it.
//!
//! ```text
//! LMS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p enrolment-service --bench directory -- [people] [audiences]
//! ```
//!
//! Without `LMS_TEST_DATABASE_URL` it runs on SQLite. Prints, for a first load (everyone
//! created) and a second upload that changes a tenth of the people: the time of the whole
//! `UpsertPeople` call (which re-evaluates every dynamic audience before it commits), and the
//! time of re-evaluating all audiences alone (the sweep).

use std::time::{Duration, Instant};

use enrolment_service::app::EnrolmentApp;
use lms_platform::testing::{TestAuth, TestBackend, TestDatabase, bearer, server_config};
use lms_proto::enrolment_v1 as pb;
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

/// This benchmark assigns nothing, so pathway-service is never asked.
fn catalog() -> enrolment_service::pathways::PathwayCatalog {
    let credentials = TestAuth::default().service_credentials("enrolment-service");
    enrolment_service::pathways::PathwayCatalog::new("http://127.0.0.1:9", credentials).unwrap()
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let people: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let audiences: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let backend = if std::env::var(lms_platform::testing::POSTGRES_ENV).is_ok() {
        TestBackend::Postgres
    } else {
        TestBackend::Sqlite
    };
    let db = TestDatabase::create(backend).expect("a benchmark database");
    let pool = enrolment_service::open_database(db.url.clone(), 8)
        .await
        .unwrap();
    let auth = TestAuth::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let verifier = auth.verifier().await;
    let (serve_pool, stop) = (pool.clone(), shutdown.clone());
    let mut server = server_config();
    server.max_message_bytes = 64 * 1024 * 1024;
    tokio::spawn(async move {
        let options = enrolment_service::Options {
            catalog: catalog(),
            max_deactivation_share: 0.2,
            audience_sweep: Duration::ZERO,
        };
        enrolment_service::serve(listener, serve_pool, verifier, &server, options, stop).await
    });
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = EnrolmentServiceClient::new(channel)
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);
    let token = auth.admin("bench");

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
            .create_audience(bearer(
                &token,
                pb::CreateAudienceRequest {
                    audience: Some(pb::Audience {
                        name: format!("Audience {a}"),
                        kind: pb::AudienceKind::Dynamic as i32,
                        rule,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
    }

    let first: Vec<pb::Person> = (0..people).map(|i| person(i, 0)).collect();
    let (first_time, first_response) = upload(&mut client, &token, first).await;
    // A tenth of the people move department.
    let second: Vec<pb::Person> = (0..people)
        .map(|i| person(i, usize::from(i.is_multiple_of(10))))
        .collect();
    let (second_time, second_response) = upload(&mut client, &token, second).await;

    let app = EnrolmentApp::new(pool, 0.2, catalog());
    let started = Instant::now();
    let swept = app.sweep_audiences().await.unwrap();
    let sweep_time = started.elapsed();
    let members: usize = {
        let mut total = 0;
        let listed = client
            .list_audiences(bearer(
                &token,
                pb::ListAudiencesRequest {
                    page_size: 500,
                    page_token: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        for audience in listed.audiences {
            total += audience.member_count as usize;
        }
        total
    };

    println!("directory benchmark on {backend:?}: {people} people, {audiences} dynamic audiences");
    println!(
        "  first upload (all created): {:>8.2} s  (created {}, memberships after: see below)",
        first_time.as_secs_f64(),
        first_response.created
    );
    println!(
        "  second upload (10% moved):  {:>8.2} s  (updated {}, unchanged {})",
        second_time.as_secs_f64(),
        second_response.updated,
        second_response.unchanged
    );
    println!(
        "  full sweep of all audiences: {:>7.2} s  (changes found: {:?})",
        sweep_time.as_secs_f64(),
        swept.iter().map(|r| r.joined + r.left).sum::<usize>()
    );
    println!("  memberships held: {members}");
    shutdown.cancel();
}
