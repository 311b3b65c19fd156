//! Assessment benchmark (not a test): many learners submitting 20-question attempts at once,
//! through real gRPC, with real pathway- and enrolment-services beside it; and the cost of
//! grading one question of each kind.
//!
//! ```text
//! LMS_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo bench -p assessment-service --bench submit -- [learners]
//! ```
//!
//! Without `LMS_TEST_DATABASE_URL` it runs on SQLite. Every learner starts an attempt and
//! saves answers to all 20 questions beforehand; then all submit at the same moment, and each
//! submit's latency is measured. Every attempt must come back GRADED.

use std::time::{Duration, Instant};

use assessment_service::domain::question::{Answer, Choice, Kind, Pair, Question};
use lms_platform::Role;
use lms_platform::testing::{TestAuth, TestBackend, TestDatabase, bearer, server_config};
use lms_proto::assessment_v1 as pb;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::pathway_v1 as pathway_pb;
use tonic::transport::Channel;

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

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn choice(id: &str, weight: f64) -> Choice {
    Choice {
        id: id.into(),
        text: format!("Option {id}"),
        weight,
        feedback: String::new(),
    }
}

/// The cost of grading one answer of each kind, in nanoseconds.
fn grading_cost() -> Vec<(&'static str, f64)> {
    let question = |kind: Kind| Question {
        id: "q".into(),
        title: String::new(),
        text: "?".into(),
        points: 1.0,
        tags: vec![],
        general_feedback: String::new(),
        kind,
    };
    let cases = vec![
        (
            question(Kind::SingleChoice {
                choices: vec![
                    choice("a", 1.0),
                    choice("b", 0.0),
                    choice("c", 0.0),
                    choice("d", 0.0),
                ],
            }),
            Answer::Choices {
                ids: vec!["a".into()],
            },
        ),
        (
            question(Kind::MultipleChoice {
                choices: vec![
                    choice("a", 0.5),
                    choice("b", 0.5),
                    choice("c", -1.0),
                    choice("d", 0.0),
                ],
            }),
            Answer::Choices {
                ids: vec!["a".into(), "b".into()],
            },
        ),
        (
            question(Kind::TrueFalse {
                answer: true,
                feedback_true: String::new(),
                feedback_false: String::new(),
            }),
            Answer::TrueFalse { value: true },
        ),
        (
            question(Kind::ShortText {
                accepted: vec!["Canberra".into(), "Canberra ACT".into()],
                case_sensitive: false,
            }),
            Answer::Text {
                text: " canberra ".into(),
            },
        ),
        (
            question(Kind::Numeric {
                value: 9.81,
                tolerance: 0.01,
            }),
            Answer::Number { value: 9.8 },
        ),
        (
            question(Kind::Matching {
                pairs: (0..5)
                    .map(|i| Pair {
                        id: format!("p{i}"),
                        prompt: format!("P{i}"),
                        answer: format!("A{i}"),
                    })
                    .collect(),
            }),
            Answer::Matches {
                pairs: (0..5).map(|i| (format!("p{i}"), format!("A{i}"))).collect(),
            },
        ),
        (
            question(Kind::Ordering {
                items: ["a", "b", "c", "d", "e"]
                    .iter()
                    .map(|i| choice(i, 0.0))
                    .collect(),
            }),
            Answer::Order {
                ids: ["a", "b", "c", "d", "e"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
        ),
    ];
    let rounds = 200_000;
    cases
        .into_iter()
        .map(|(q, answer)| {
            let started = Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(q.grade(Some(std::hint::black_box(&answer))));
            }
            (
                q.kind.name(),
                started.elapsed().as_nanos() as f64 / rounds as f64,
            )
        })
        .collect()
}

/// Twenty auto-graded questions: three of each choice kind and two or three of the others.
fn twenty_questions() -> Vec<pb::Question> {
    use pb::question::Kind as K;
    let c = |text: &str, weight: f64| pb::Choice {
        id: String::new(),
        text: text.into(),
        weight,
        feedback: String::new(),
    };
    (0..20)
        .map(|i| {
            let kind = match i % 7 {
                0 => K::SingleChoice(pb::SingleChoice {
                    choices: vec![c("right", 1.0), c("wrong", 0.0), c("other", 0.0)],
                }),
                1 => K::MultipleChoice(pb::MultipleChoice {
                    choices: vec![c("a", 0.5), c("b", 0.5), c("c", -1.0)],
                }),
                2 => K::TrueFalse(pb::TrueFalse {
                    answer: true,
                    ..Default::default()
                }),
                3 => K::ShortText(pb::ShortText {
                    accepted: vec!["Canberra".into()],
                    case_sensitive: false,
                }),
                4 => K::Numeric(pb::Numeric {
                    value: 9.81,
                    tolerance: 0.01,
                }),
                5 => K::Matching(pb::Matching {
                    pairs: vec![
                        pb::Pair {
                            id: String::new(),
                            prompt: "Kenya".into(),
                            answer: "Nairobi".into(),
                        },
                        pb::Pair {
                            id: String::new(),
                            prompt: "Peru".into(),
                            answer: "Lima".into(),
                        },
                    ],
                }),
                _ => K::Ordering(pb::Ordering {
                    items: vec![c("one", 0.0), c("two", 0.0), c("three", 0.0)],
                }),
            };
            pb::Question {
                text: format!("Question {i}"),
                points: 1.0,
                kind: Some(kind),
                ..Default::default()
            }
        })
        .collect()
}

fn answers_for(attempt: &pb::Attempt) -> Vec<pb::QuestionAnswer> {
    use pb::answer_value::{Matches, OptionIds, Value};
    attempt
        .questions
        .iter()
        .map(|q| {
            let by_text = |t: &str| {
                q.options
                    .iter()
                    .find(|o| o.text == t)
                    .map(|o| o.id.clone())
                    .unwrap_or_default()
            };
            let value = match q.kind.as_str() {
                "single_choice" => Value::Choices(OptionIds {
                    ids: vec![by_text("right")],
                }),
                "multiple_choice" => Value::Choices(OptionIds {
                    ids: vec![by_text("a"), by_text("b")],
                }),
                "true_false" => Value::TrueFalse(true),
                "short_text" => Value::Text("canberra".into()),
                "numeric" => Value::Number(9.81),
                "matching" => Value::Matches(Matches {
                    pairs: q
                        .prompts
                        .iter()
                        .map(|p| {
                            (
                                p.id.clone(),
                                if p.text == "Kenya" {
                                    "Nairobi".into()
                                } else {
                                    "Lima".into()
                                },
                            )
                        })
                        .collect(),
                }),
                _ => Value::Order(OptionIds {
                    ids: vec![by_text("one"), by_text("two"), by_text("three")],
                }),
            };
            pb::QuestionAnswer {
                question_id: q.question_id.clone(),
                answer: Some(pb::AnswerValue { value: Some(value) }),
            }
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let learners: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(500);
    let backend = if std::env::var(lms_platform::testing::POSTGRES_ENV).is_ok() {
        TestBackend::Postgres
    } else {
        TestBackend::Sqlite
    };
    let auth = TestAuth::default();
    let admin = auth.admin("bench");
    let server = server_config();
    let shutdown = tokio_util::sync::CancellationToken::new();

    let dbs = [
        TestDatabase::create(backend).unwrap(),
        TestDatabase::create(backend).unwrap(),
        TestDatabase::create(backend).unwrap(),
    ];
    let pool = pathway_service::open_database(dbs[0].url.clone(), 4)
        .await
        .unwrap();
    let (verifier, config, stop) = (auth.verifier().await, server.clone(), shutdown.clone());
    let pathway_url = serve_on_ephemeral_port(|l| async move {
        pathway_service::serve(l, pool, verifier, &config, stop).await
    })
    .await;
    let pool = enrolment_service::open_database(dbs[1].url.clone(), 8)
        .await
        .unwrap();
    let catalog = enrolment_service::pathways::PathwayCatalog::new(
        &pathway_url,
        auth.service_credentials("enrolment-service"),
    )
    .unwrap();
    let (verifier, config, stop) = (auth.verifier().await, server.clone(), shutdown.clone());
    let enrolment_url = serve_on_ephemeral_port(|l| async move {
        let options = enrolment_service::Options {
            deliver_events_to: None,
            catalog,
            max_deactivation_share: 1.0,
            audience_sweep: Duration::ZERO,
        };
        enrolment_service::serve(l, pool, verifier, &config, options, stop).await
    })
    .await;
    let pool = assessment_service::open_database(dbs[2].url.clone(), 8)
        .await
        .unwrap();
    let access = assessment_service::access::EnrolmentAccess::new(
        &enrolment_url,
        auth.service_credentials("assessment-service"),
    )
    .unwrap();
    let (verifier, config, stop, outbox_pool) = (
        auth.verifier().await,
        server.clone(),
        shutdown.clone(),
        pool.clone(),
    );
    let assessment_url = serve_on_ephemeral_port(|l| async move {
        assessment_service::serve(
            l,
            pool,
            verifier,
            &config,
            assessment_service::Options {
                access,
                deliver_events_to: None,
            },
            stop,
        )
        .await
    })
    .await;

    // A published pathway everyone is assigned.
    let mut pathways =
        pathway_pb::pathway_service_client::PathwayServiceClient::new(channel(&pathway_url).await);
    let pathway = pathways
        .create_pathway(bearer(
            &admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway_pb::Pathway {
                    title: "Safety".into(),
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
            &admin,
            pathway_pb::AddStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pathway_pb::Step {
                    title: "Test".into(),
                    required: true,
                    kind: Some(pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                        url: "https://learn.example.com".into(),
                        media_type: pathway_pb::content_step::MediaType::Document as i32,
                    })),
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
            &admin,
            pathway_pb::PublishPathwayRequest {
                id: pathway.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    let mut enrolments = enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
        channel(&enrolment_url).await,
    );
    let people: Vec<enrolment_pb::Person> = (0..learners)
        .map(|i| enrolment_pb::Person {
            external_id: format!("l{i:05}"),
            display_name: format!("Learner {i}"),
            email: format!("l{i}@bench.example"),
            ..Default::default()
        })
        .collect();
    enrolments
        .upsert_people(bearer(
            &admin,
            tokio_stream::iter(vec![enrolment_pb::UpsertPeopleRequest {
                people,
                full_sync: false,
                force: false,
            }]),
        ))
        .await
        .unwrap();
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
    enrolments
        .create_assignment(bearer(
            &admin,
            enrolment_pb::CreateAssignmentRequest {
                assignment: Some(enrolment_pb::Assignment {
                    pathway_id: pathway.id.clone(),
                    audience_id: everyone.id,
                    requirement: enrolment_pb::Requirement::Optional as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();

    let assessment_channel = channel(&assessment_url).await;
    let mut client =
        pb::assessment_service_client::AssessmentServiceClient::new(assessment_channel.clone());
    let bank = client
        .create_question_bank(bearer(
            &admin,
            pb::CreateQuestionBankRequest {
                bank: Some(pb::QuestionBank {
                    name: "Bench".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut ids = Vec::new();
    for question in twenty_questions() {
        let q = client
            .create_question(bearer(
                &admin,
                pb::CreateQuestionRequest {
                    bank_id: bank.id.clone(),
                    question: Some(question),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        ids.push(q.id);
    }
    let assessment = client
        .create_assessment(bearer(
            &admin,
            pb::CreateAssessmentRequest {
                assessment: Some(pb::Assessment {
                    title: "Final".into(),
                    pathway_id: pathway.id.clone(),
                    questions: Some(pb::assessment::Questions::Fixed(pb::FixedQuestions {
                        question_ids: ids,
                    })),
                    pass_mark_percent: 80.0,
                    shuffle_questions: true,
                    shuffle_options: true,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();

    // Everyone starts and saves answers first.
    let prepared_at = Instant::now();
    let mut prepared = Vec::with_capacity(learners);
    let mut starts = tokio::task::JoinSet::new();
    for i in 0..learners {
        let mut client = client.clone();
        let token = auth.token("bench", &format!("l{i:05}"), &[Role::Learner]);
        let assessment_id = assessment.id.clone();
        starts.spawn(async move {
            let attempt = client
                .start_attempt(bearer(&token, pb::StartAttemptRequest { assessment_id }))
                .await
                .expect("attempt starts")
                .into_inner();
            client
                .save_answers(bearer(
                    &token,
                    pb::SaveAnswersRequest {
                        attempt_id: attempt.id.clone(),
                        answers: answers_for(&attempt),
                    },
                ))
                .await
                .expect("answers saved");
            (token, attempt.id)
        });
        if starts.len() >= 32 {
            prepared.push(starts.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(done) = starts.join_next().await {
        prepared.push(done.unwrap());
    }
    let prepare_time = prepared_at.elapsed();

    // All submit at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(learners));
    let mut submits = tokio::task::JoinSet::new();
    for (token, attempt_id) in prepared {
        let mut client = client.clone();
        let barrier = barrier.clone();
        submits.spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let graded = client
                .submit_attempt(bearer(
                    &token,
                    pb::SubmitAttemptRequest {
                        attempt_id,
                        answers: vec![],
                    },
                ))
                .await
                .expect("submit succeeds")
                .into_inner();
            (started.elapsed(), graded)
        });
    }
    let wall = Instant::now();
    let mut latencies = Vec::with_capacity(learners);
    let mut all_graded = true;
    let mut full_marks = 0;
    while let Some(done) = submits.join_next().await {
        let (latency, graded) = done.unwrap();
        latencies.push(latency);
        all_graded &= graded.status() == pb::AttemptStatus::Graded;
        full_marks += usize::from(graded.score == 20.0);
    }
    let wall = wall.elapsed();
    latencies.sort();
    let outcomes = lms_platform::outbox::pending_count(&outbox_pool)
        .await
        .unwrap();

    println!("assessment benchmark on {backend:?}: {learners} learners, 20-question attempts");
    println!(
        "  start + save 20 answers, 32 at a time: {:.2} s",
        prepare_time.as_secs_f64()
    );
    println!(
        "  {learners} submits at once: all graded: {all_graded} ({full_marks} with 20/20), {outcomes} outcome events, wall {:.2} s",
        wall.as_secs_f64()
    );
    println!(
        "  submit latency: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 95.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!("  grading one answer (in process, 200 000 rounds each):");
    for (kind, nanos) in grading_cost() {
        println!("    {kind:<16} {nanos:>7.0} ns");
    }
    shutdown.cancel();
}
