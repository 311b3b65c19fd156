//! records-service benchmark (not a test): the issue's three figures through real gRPC, with a
//! real pathway-service and enrolment-service delivering their events as in production.
//!
//! ```text
//! LMS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p records-service --bench records -- [people] [pathways] [seconds]
//! ```
//!
//! Without `LMS_TEST_DATABASE_URL` it runs on SQLite. In order it measures:
//! 1. draining a backlog: records-service is down while the first pathway is assigned to an
//!    audience of every person, so one enrolment event per person waits in enrolment-service's
//!    outbox; then records-service starts and the time until every event is applied is taken;
//! 2. the other pathways assigned to the same audience with records-service up (events applied
//!    as they are delivered);
//! 3. step completions (`RecordActivity`) from 64 concurrent learners for the given seconds:
//!    throughput and p50/p95/p99 latency;
//! 4. the compliance report of each pathway scoped to the audience of everyone (its members
//!    come from enrolment-service), and unscoped: time to the first row and to the last.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use lms_platform::Role;
use lms_platform::db::Db;
use lms_platform::outbox::Destination;
use lms_platform::testing::{TestAuth, TestBackend, TestDatabase, bearer, server_config};
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_proto::records_v1 as pb;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const LEARNERS_AT_ONCE: usize = 64;

async fn connect(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A free local address for a service started later.
fn free_address() -> std::net::SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// A published sequential pathway of two steps (content, acknowledgement); (id, step ids).
async fn published_pathway(
    pathways: &mut pathway_pb::pathway_service_client::PathwayServiceClient<Channel>,
    token: &str,
    n: usize,
) -> (String, Vec<String>) {
    let pathway = pathways
        .create_pathway(bearer(
            token,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: format!("Compliance {n}"),
                    outcome: pathway_pb::Outcome::Compliance as i32,
                    sequencing: pathway_pb::Sequencing::Sequential as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let kinds = [
        pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
            url: format!("https://learn.example.com/{n}"),
            media_type: pathway_pb::content_step::MediaType::Document as i32,
        }),
        pathway_pb::step::Kind::Acknowledgement(pathway_pb::AcknowledgementStep {
            statement: "I have read it.".into(),
            policy_url: format!("https://acme.example/policy/{n}"),
        }),
    ];
    let mut steps = Vec::new();
    for kind in kinds {
        let updated = pathways
            .add_step(bearer(
                token,
                pathway_pb::AddStepRequest {
                    pathway_id: pathway.id.clone(),
                    step: Some(pathway_pb::Step {
                        title: format!("Step {}", steps.len() + 1),
                        required: true,
                        kind: Some(kind),
                        ..Default::default()
                    }),
                    position: None,
                    etag: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        steps.push(updated.steps.last().unwrap().id.clone());
    }
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
    (pathway.id, steps)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct EnrolmentOf {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    learner: String,
}

/// How many enrolments records-service knows.
async fn known_enrolments(db: &Db) -> i64 {
    db.read(|conn| {
        Ok(diesel::sql_query("SELECT COUNT(*) AS n FROM enrolments")
            .get_result::<Count>(conn)?
            .n)
    })
    .await
    .unwrap()
}

/// Waits until records-service knows `expected` enrolments; the time it took.
async fn drained(db: &Db, expected: i64, started: Instant) -> Duration {
    loop {
        let known = known_enrolments(db).await;
        if known >= expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3_600),
            "only {known} of {expected} enrolments arrived"
        );
        // Counting is a scan of the table: often enough for a figure in seconds, rarely enough
        // not to slow what it measures.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1_000.0)
}

/// The report's time to the first row and to the end, and its row count.
async fn report(
    records: &mut pb::records_service_client::RecordsServiceClient<Channel>,
    token: &str,
    pathway_id: &str,
    scope: Option<pb::compliance_report_request::Scope>,
) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let mut stream = records
        .stream_compliance_report(bearer(
            token,
            pb::ComplianceReportRequest {
                pathway_id: pathway_id.into(),
                scope,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let (mut first, mut rows) = (None, 0);
    while let Some(item) = stream.message().await.unwrap() {
        if let Some(pb::compliance_report_item::Item::Row(_)) = item.item {
            first.get_or_insert_with(|| started.elapsed());
            rows += 1;
        }
    }
    (first.unwrap_or_default(), started.elapsed(), rows)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let people: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let pathway_count: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let backend = if std::env::var(lms_platform::testing::POSTGRES_ENV).is_ok() {
        TestBackend::Postgres
    } else {
        TestBackend::Sqlite
    };
    let auth = TestAuth::default();
    let admin = auth.admin("bench");
    let mut server = server_config();
    server.max_message_bytes = 64 * 1024 * 1024;
    let shutdown = CancellationToken::new();

    let records_address = free_address();
    let records_url = format!("http://{records_address}");

    let pathway_db = TestDatabase::create(backend).expect("a benchmark database");
    let pool = pathway_service::open_database(pathway_db.url.clone(), 4)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let pathway_url = format!("http://{}", listener.local_addr().unwrap());
    let (verifier, config, stop) = (auth.verifier().await, server.clone(), shutdown.clone());
    tokio::spawn(
        async move { pathway_service::serve(listener, pool, verifier, &config, stop).await },
    );

    let enrolment_db = TestDatabase::create(backend).expect("a benchmark database");
    let pool = enrolment_service::open_database(enrolment_db.url.clone(), 8)
        .await
        .unwrap();
    let enrolment_pool = pool.clone();
    let options = enrolment_service::Options {
        deliver_events_to: Some(Destination {
            url: records_url.clone(),
            credentials: auth.service_credentials("enrolment-service"),
        }),
        catalog: enrolment_service::pathways::PathwayCatalog::new(
            &pathway_url,
            auth.service_credentials("enrolment-service"),
        )
        .unwrap(),
        max_deactivation_share: 1.0,
        audience_sweep: Duration::ZERO,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let enrolment_url = format!("http://{}", listener.local_addr().unwrap());
    let (verifier, config, stop) = (auth.verifier().await, server.clone(), shutdown.clone());
    tokio::spawn(async move {
        enrolment_service::serve(listener, pool, verifier, &config, options, stop).await
    });

    let mut pathways =
        pathway_pb::pathway_service_client::PathwayServiceClient::new(connect(&pathway_url).await);
    let mut catalogue = Vec::new();
    for n in 0..pathway_count {
        catalogue.push(published_pathway(&mut pathways, &admin, n).await);
    }
    let mut enrolments = enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
        connect(&enrolment_url).await,
    )
    .max_encoding_message_size(64 * 1024 * 1024);
    let everyone = enrolments
        .create_audience(bearer(
            &admin,
            enrolment_pb::CreateAudienceRequest {
                audience: Some(enrolment_pb::Audience {
                    name: "Everyone".into(),
                    kind: enrolment_pb::AudienceKind::Dynamic as i32,
                    rule: r#"status = "active""#.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let directory: Vec<enrolment_pb::Person> = (0..people)
        .map(|i| enrolment_pb::Person {
            external_id: format!("e{i:06}"),
            display_name: format!("Person {i}"),
            email: format!("p{i}@bench.example"),
            department: ["Sales", "Support", "Engineering", "Finance"][i % 4].into(),
            ..Default::default()
        })
        .collect();
    let uploads: Vec<enrolment_pb::UpsertPeopleRequest> = directory
        .chunks(5_000)
        .map(|chunk| enrolment_pb::UpsertPeopleRequest {
            people: chunk.to_vec(),
            full_sync: false,
            force: false,
        })
        .collect();
    enrolments
        .upsert_people(bearer(&admin, tokio_stream::iter(uploads)))
        .await
        .unwrap();
    let assign = |pathway_id: &str| enrolment_pb::CreateAssignmentRequest {
        assignment: Some(enrolment_pb::Assignment {
            pathway_id: pathway_id.into(),
            audience_id: everyone.id.clone(),
            requirement: enrolment_pb::Requirement::Mandatory as i32,
            due_policy: Some(enrolment_pb::DuePolicy {
                policy: Some(enrolment_pb::due_policy::Policy::DaysAfterAssignment(30)),
            }),
            ..Default::default()
        }),
        request_id: String::new(),
    };

    // 1. The backlog: records-service is down while the first pathway is assigned.
    enrolments
        .create_assignment(bearer(&admin, assign(&catalogue[0].0)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let records_db_guard = TestDatabase::create(backend).expect("a benchmark database");
    let records_db = records_service::open_database(records_db_guard.url.clone(), 8)
        .await
        .unwrap();
    let options = records_service::Options {
        certification_scan: Duration::ZERO,
        pathways: records_service::pathways::PathwayVersions::new(
            &pathway_url,
            auth.service_credentials("records-service"),
        )
        .unwrap(),
        deliver_events_to: Some(Destination {
            url: enrolment_url.clone(),
            credentials: auth.service_credentials("records-service"),
        }),
        directory: records_service::directory::Directory::new(
            &enrolment_url,
            auth.service_credentials("records-service"),
        )
        .unwrap(),
    };
    let listener = tokio::net::TcpListener::bind(records_address)
        .await
        .unwrap();
    let (verifier, config, stop, db) = (
        auth.verifier().await,
        server.clone(),
        shutdown.clone(),
        records_db.clone(),
    );
    let started = Instant::now();
    tokio::spawn(async move {
        records_service::serve(listener, db, verifier, &config, options, stop).await
    });
    let drain_time = drained(&records_db, people as i64, started).await;

    // 2. The other pathways, assigned while records-service is up.
    let started = Instant::now();
    for (pathway_id, _) in &catalogue[1..] {
        enrolments
            .create_assignment(bearer(&admin, assign(pathway_id)))
            .await
            .unwrap();
    }
    let live_time = drained(&records_db, (people * pathway_count) as i64, started).await;

    // Fresh statistics after the bulk load, as autovacuum would gather them (it is off on the
    // machine these figures come from); without them PostgreSQL plans the report's lookups
    // for empty tables.
    for db in [&records_db, &enrolment_pool] {
        db.write(|conn| {
            diesel::sql_query("ANALYZE").execute(conn)?;
            Ok(())
        })
        .await
        .ok();
    }

    // 3. Step completions: 64 learners at a time, each completing both steps of the first
    // pathway (the second completes the enrolment), then the next learner.
    let (first_pathway, steps) = catalogue[0].clone();
    let work: Vec<EnrolmentOf> = {
        let pathway = first_pathway.clone();
        records_db
            .read(move |conn| {
                use diesel::sql_types::Text;
                Ok(diesel::sql_query(
                    "SELECT id, learner FROM enrolments WHERE pathway_id = $1 ORDER BY learner",
                )
                .bind::<Text, _>(pathway)
                .load::<EnrolmentOf>(conn)?)
            })
            .await
            .unwrap()
    };
    let work = std::sync::Arc::new(work);
    let records_channel = connect(&records_url).await;
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut learners = tokio::task::JoinSet::new();
    for worker in 0..LEARNERS_AT_ONCE {
        let mut records =
            pb::records_service_client::RecordsServiceClient::new(records_channel.clone());
        let (work, steps, auth) = (work.clone(), steps.clone(), auth.clone());
        learners.spawn(async move {
            let mut latencies = Vec::new();
            let mut next = worker;
            'learners: while next < work.len() {
                let enrolment = &work[next];
                next += LEARNERS_AT_ONCE;
                let token = auth.token("bench", &enrolment.learner, &[Role::Learner]);
                for step in &steps {
                    if Instant::now() >= until {
                        break 'learners;
                    }
                    let started = Instant::now();
                    records
                        .record_activity(bearer(
                            &token,
                            pb::RecordActivityRequest {
                                enrolment_id: enrolment.id.clone(),
                                step_id: step.clone(),
                                kind: pb::ActivityKind::StepCompleted as i32,
                                ..Default::default()
                            },
                        ))
                        .await
                        .expect("the completion is recorded");
                    latencies.push(started.elapsed());
                }
            }
            latencies
        });
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    while let Some(done) = learners.join_next().await {
        latencies.extend(done.unwrap());
    }
    let completion_time = started.elapsed();
    latencies.sort();

    // 4. Compliance reports, after fresh statistics again: the completions above filled the
    // activity log, which the last ANALYZE saw empty (autovacuum would have analysed it by now;
    // with stale statistics the page's activity lookup scans the log once per page).
    for db in [&records_db, &enrolment_pool] {
        db.write(|conn| {
            diesel::sql_query("ANALYZE").execute(conn)?;
            Ok(())
        })
        .await
        .ok();
    }
    let mut records = pb::records_service_client::RecordsServiceClient::new(records_channel);
    let mut scoped = Vec::new();
    for (pathway_id, _) in &catalogue {
        scoped.push(
            report(
                &mut records,
                &admin,
                pathway_id,
                Some(pb::compliance_report_request::Scope::AudienceId(
                    everyone.id.clone(),
                )),
            )
            .await,
        );
    }
    let unscoped = report(&mut records, &admin, &first_pathway, None).await;
    // The same unscoped report computed in process, without gRPC: what the storage and the
    // computation cost apart from streaming the rows.
    let app = records_service::app::RecordsApp::new(
        records_db.clone(),
        records_service::pathways::PathwayVersions::new(
            &pathway_url,
            auth.service_credentials("records-service"),
        )
        .unwrap(),
        records_service::directory::Directory::new(
            &enrolment_url,
            auth.service_credentials("records-service"),
        )
        .unwrap(),
    );
    let principal = lms_platform::Principal {
        subject: "admin@bench".into(),
        tenant_id: "bench".into(),
        roles: [Role::Admin].into(),
    };
    let started = Instant::now();
    let mut lines = app
        .compliance_report(&principal, first_pathway.clone(), None)
        .await
        .unwrap();
    let mut in_process = 0;
    while let Some(line) = lines.recv().await {
        line.unwrap();
        in_process += 1;
    }
    let in_process_time = started.elapsed();

    println!(
        "\nrecords-service benchmark on {backend:?}: {people} people, {pathway_count} pathways"
    );
    println!(
        "1. backlog of {people} enrolment events drained in {:.1} s ({:.0} events/s)",
        drain_time.as_secs_f64(),
        people as f64 / drain_time.as_secs_f64()
    );
    println!(
        "2. {} more assignments: {} enrolment events applied live in {:.1} s ({:.0} events/s)",
        pathway_count - 1,
        people * (pathway_count - 1),
        live_time.as_secs_f64(),
        (people * (pathway_count - 1)) as f64 / live_time.as_secs_f64()
    );
    println!(
        "3. step completions, {LEARNERS_AT_ONCE} learners at once for {:.1} s: {} recorded, {:.0}/s; p50 {} p95 {} p99 {} max {}",
        completion_time.as_secs_f64(),
        latencies.len(),
        latencies.len() as f64 / completion_time.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 95.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    for (n, (first, all, rows)) in scoped.iter().enumerate() {
        println!(
            "4. compliance report, pathway {n} scoped to the audience of everyone: {rows} rows, first row {}, all rows {}",
            ms(*first),
            ms(*all)
        );
    }
    let (first, all, rows) = unscoped;
    println!(
        "4. compliance report, pathway 0 unscoped: {rows} rows, first row {}, all rows {}",
        ms(first),
        ms(all)
    );
    println!(
        "4. compliance report, pathway 0 unscoped, in process (no gRPC): {in_process} rows in {}",
        ms(in_process_time)
    );
    shutdown.cancel();
}
