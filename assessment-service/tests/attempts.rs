//! Question banks, assessments and attempts over real gRPC: real pathway-, enrolment-,
//! assessment- and records-services on ephemeral ports, each on its own throwaway database — SQLite
//! (`sqlite::...`) and PostgreSQL (`postgres::...`).

use std::time::Duration;

use lms_platform::Role;
use lms_platform::db::Db;
use lms_proto::assessment_v1 as pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_test_support::fixtures::{self, content_step, person};
use lms_test_support::{Component, TestAuth, TestBackend, TestSuite, bearer};
use pb::assessment_service_client::AssessmentServiceClient;
use prost::Message;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

struct Suite {
    client: AssessmentServiceClient<Channel>,
    auth: TestAuth,
    db: Db,
    pathway_id: String,
    _suite: TestSuite,
}

fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .expect("field violations")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}

fn choice(text: &str, weight: f64) -> pb::Choice {
    pb::Choice {
        id: String::new(),
        text: text.into(),
        weight,
        feedback: String::new(),
    }
}

fn q(text: &str, kind: pb::question::Kind) -> pb::Question {
    pb::Question {
        text: text.into(),
        points: 2.0,
        kind: Some(kind),
        ..Default::default()
    }
}

/// One question of every kind, each worth 2 points.
fn every_kind() -> Vec<pb::Question> {
    use pb::question::Kind;
    vec![
        q(
            "Capital of France?",
            Kind::SingleChoice(pb::SingleChoice {
                choices: vec![choice("Paris", 1.0), choice("Lyon", 0.0)],
            }),
        ),
        q(
            "Primes?",
            Kind::MultipleChoice(pb::MultipleChoice {
                choices: vec![choice("2", 0.5), choice("3", 0.5), choice("4", -1.0)],
            }),
        ),
        q(
            "The sky is green.",
            Kind::TrueFalse(pb::TrueFalse {
                answer: false,
                ..Default::default()
            }),
        ),
        q(
            "Capital of Australia?",
            Kind::ShortText(pb::ShortText {
                accepted: vec!["Canberra".into()],
                case_sensitive: false,
            }),
        ),
        q(
            "Pi to two places?",
            Kind::Numeric(pb::Numeric {
                value: 9.81,
                tolerance: 0.005,
            }),
        ),
        q(
            "Match countries and capitals",
            Kind::Matching(pb::Matching {
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
        ),
        q(
            "Order the steps",
            Kind::Ordering(pb::Ordering {
                items: vec![
                    choice("Plan", 0.0),
                    choice("Do", 0.0),
                    choice("Check", 0.0),
                    choice("Act", 0.0),
                ],
            }),
        ),
        q("Explain your view.", Kind::Essay(pb::Essay {})),
    ]
}

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        use Component::*;
        // records-service answers whether a learner may act on an assessment's step now.
        let suite = TestSuite::start(backend, &[Pathway, Enrolment, Assessment, Records]).await?;
        let auth = suite.auth.clone();
        let admin = auth.admin("acme");
        // A published pathway, and Ada enrolled in it; Bob is in the directory but not enrolled.
        let pathway = pathway_pb::Pathway {
            title: "Safety certification".into(),
            outcome: pathway_pb::Outcome::Certification as i32,
            ..Default::default()
        };
        let published = fixtures::published_pathway(
            suite.channel(Pathway),
            &admin,
            pathway,
            vec![content_step("Final test")],
        )
        .await;
        let people = ["ada", "bob", "cy"].map(person).to_vec();
        for created in fixtures::people(suite.channel(Enrolment), &admin, people).await {
            if created.external_id != "bob" {
                let pathway = &published.pathway_id;
                fixtures::enrol(suite.channel(Enrolment), &admin, &created.id, pathway).await;
            }
        }
        Some(Suite {
            client: AssessmentServiceClient::new(suite.channel(Assessment)),
            auth,
            db: suite.db(Assessment),
            pathway_id: published.pathway_id,
            _suite: suite,
        })
    }

    fn admin(&self) -> String {
        self.auth.admin("acme")
    }

    fn learner(&self, who: &str) -> String {
        self.auth.token("acme", who, &[Role::Learner])
    }

    fn c(&self) -> AssessmentServiceClient<Channel> {
        self.client.clone()
    }

    async fn bank(&self, name: &str) -> String {
        self.c()
            .create_question_bank(bearer(
                &self.admin(),
                pb::CreateQuestionBankRequest {
                    bank: Some(pb::QuestionBank {
                        name: name.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .id
    }

    async fn add(&self, bank: &str, question: pb::Question) -> Result<pb::Question, Status> {
        self.c()
            .create_question(bearer(
                &self.admin(),
                pb::CreateQuestionRequest {
                    bank_id: bank.into(),
                    question: Some(question),
                    request_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// An assessment of `questions` (a fresh bank), with `settings` applied.
    async fn assessment(
        &self,
        questions: Vec<pb::Question>,
        settings: impl FnOnce(&mut pb::Assessment),
    ) -> (pb::Assessment, Vec<pb::Question>) {
        let bank = self.bank(&format!("Bank {}", uuid_like())).await;
        let mut stored = Vec::new();
        for question in questions {
            stored.push(self.add(&bank, question).await.unwrap());
        }
        let mut assessment = pb::Assessment {
            title: "Final test".into(),
            pathway_id: self.pathway_id.clone(),
            questions: Some(pb::assessment::Questions::Fixed(pb::FixedQuestions {
                question_ids: stored.iter().map(|q| q.id.clone()).collect(),
            })),
            pass_mark_percent: 60.0,
            feedback_policy: pb::FeedbackPolicy::AfterSubmit as i32,
            ..Default::default()
        };
        settings(&mut assessment);
        let created = self
            .c()
            .create_assessment(bearer(
                &self.admin(),
                pb::CreateAssessmentRequest {
                    assessment: Some(assessment),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        (created, stored)
    }

    async fn start_attempt(&self, learner: &str, assessment: &str) -> Result<pb::Attempt, Status> {
        self.c()
            .start_attempt(bearer(
                &self.learner(learner),
                pb::StartAttemptRequest {
                    assessment_id: assessment.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn save(
        &self,
        learner: &str,
        attempt: &str,
        answers: Vec<pb::QuestionAnswer>,
    ) -> Result<pb::Attempt, Status> {
        self.c()
            .save_answers(bearer(
                &self.learner(learner),
                pb::SaveAnswersRequest {
                    attempt_id: attempt.into(),
                    answers,
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn submit(
        &self,
        learner: &str,
        attempt: &str,
        answers: Vec<pb::QuestionAnswer>,
    ) -> Result<pb::Attempt, Status> {
        self.c()
            .submit_attempt(bearer(
                &self.learner(learner),
                pb::SubmitAttemptRequest {
                    attempt_id: attempt.into(),
                    answers,
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn outcomes(&self) -> Vec<pb::AssessmentOutcome> {
        use diesel::prelude::*;
        use lms_platform::outbox::outbox_events;
        self.db
            .read(|conn| {
                Ok(outbox_events::table
                    .filter(outbox_events::type_url.like("%AssessmentOutcome"))
                    .order(outbox_events::id.asc())
                    .select(outbox_events::payload)
                    .load::<Vec<u8>>(conn)?)
            })
            .await
            .unwrap()
            .into_iter()
            .map(|bytes| pb::AssessmentOutcome::decode(bytes.as_slice()).unwrap())
            .collect()
    }
}

fn uuid_like() -> String {
    format!("{:x}", rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn answer(question_id: &str, value: pb::answer_value::Value) -> pb::QuestionAnswer {
    pb::QuestionAnswer {
        question_id: question_id.into(),
        answer: Some(pb::AnswerValue { value: Some(value) }),
    }
}

fn ids(list: &[&str]) -> pb::answer_value::OptionIds {
    pb::answer_value::OptionIds {
        ids: list.iter().map(|s| s.to_string()).collect(),
    }
}

/// Right answers to `every_kind()` (essay aside), by served question.
fn right_answers(attempt: &pb::Attempt) -> Vec<pb::QuestionAnswer> {
    use pb::answer_value::Value;
    attempt
        .questions
        .iter()
        .filter_map(|q| {
            let option = |text: &str| {
                q.options
                    .iter()
                    .find(|o| o.text == text)
                    .unwrap()
                    .id
                    .clone()
            };
            let value = match q.kind.as_str() {
                "single_choice" => Value::Choices(pb::answer_value::OptionIds {
                    ids: vec![option("Paris")],
                }),
                "multiple_choice" => Value::Choices(pb::answer_value::OptionIds {
                    ids: vec![option("2"), option("3")],
                }),
                "true_false" => Value::TrueFalse(false),
                "short_text" => Value::Text("  canberra ".into()),
                "numeric" => Value::Number(9.812),
                "matching" => Value::Matches(pb::answer_value::Matches {
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
                "ordering" => Value::Order(pb::answer_value::OptionIds {
                    ids: ["Plan", "Do", "Check", "Act"]
                        .iter()
                        .map(|t| option(t))
                        .collect(),
                }),
                _ => return None,
            };
            Some(answer(&q.question_id, value))
        })
        .collect()
}

lms_test_support::on_both_databases!(Suite;
    every_kind_is_graded_on_the_server_and_essays_go_to_the_queue,
    no_answer_key_reaches_a_learner,
    only_enrolled_learners_start_attempts,
    what_enrolment_service_refuses_as_invalid_reaches_the_learner_as_invalid,
    bad_answers_are_refused_and_save_nothing,
    attempt_limits_hold_under_concurrent_starts,
    concurrent_submits_grade_once,
    the_time_limit_is_enforced_on_the_server,
    learners_cannot_read_others_attempts_or_banks,
    gift_imports_with_line_numbered_errors_and_round_trips,
    tenants_cannot_see_each_others_assessments,
    a_corrected_key_regrades_past_attempts_and_corrects_the_outcome,
    assessments_are_updated_field_by_field_with_etags,
);

async fn every_kind_is_graded_on_the_server_and_essays_go_to_the_queue(suite: Suite) {
    let (assessment, _) = suite.assessment(every_kind(), |_| {}).await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    assert_eq!(attempt.number, 1);
    assert_eq!(attempt.questions.len(), 8);
    let saved = suite
        .save("ada", &attempt.id, right_answers(&attempt))
        .await
        .unwrap();
    assert_eq!(saved.answers.len(), 7);
    let essay = attempt
        .questions
        .iter()
        .find(|q| q.kind == "essay")
        .unwrap();
    let submitted = suite
        .submit(
            "ada",
            &attempt.id,
            vec![answer(
                &essay.question_id,
                pb::answer_value::Value::Text("Safety first.".into()),
            )],
        )
        .await
        .unwrap();
    assert_eq!(submitted.status(), pb::AttemptStatus::AwaitingGrading);
    assert_eq!(submitted.max_score, 16.0);
    assert!(
        suite.outcomes().await.is_empty(),
        "no outcome before the essay is graded"
    );

    let queue = suite
        .c()
        .list_pending_grades(bearer(
            &suite.auth.token("acme", "prof", &[Role::Instructor]),
            pb::ListPendingGradesRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .grades;
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].answer_text, "Safety first.");
    let too_many = suite
        .c()
        .grade_answer(bearer(
            &suite.admin(),
            pb::GradeAnswerRequest {
                attempt_id: attempt.id.clone(),
                question_id: essay.question_id.clone(),
                points: 3.0,
                feedback: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&too_many), ["points"]);
    let graded = suite
        .c()
        .grade_answer(bearer(
            &suite.auth.token("acme", "prof", &[Role::Instructor]),
            pb::GradeAnswerRequest {
                attempt_id: attempt.id.clone(),
                question_id: essay.question_id.clone(),
                points: 1.5,
                feedback: "Good, but cite the policy.".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(graded.status(), pb::AttemptStatus::Graded);
    assert_eq!(graded.score, 15.5);
    assert!(graded.passed);
    let results: Vec<f64> = graded.results.iter().map(|r| r.points).collect();
    assert_eq!(
        results.iter().filter(|p| **p == 2.0).count(),
        7,
        "{results:?}"
    );

    let outcomes = suite.outcomes().await;
    assert_eq!(outcomes.len(), 1);
    let outcome = &outcomes[0];
    assert_eq!(
        (
            outcome.learner.as_str(),
            outcome.score,
            outcome.max_score,
            outcome.passed
        ),
        ("ada", 15.5, 16.0, true)
    );
    assert_eq!(outcome.pathway_id, suite.pathway_id);
    assert!(
        outcome.graded_by_person,
        "the instructor's grading brought it"
    );
    assert_eq!(outcome.result_percent, 96.88);

    // The learner sees points and feedback (AFTER_SUBMIT) once graded.
    let mine = suite
        .c()
        .get_attempt(bearer(
            &suite.learner("ada"),
            pb::GetAttemptRequest {
                id: attempt.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.results.len(), 8);
    assert!(
        mine.results
            .iter()
            .any(|r| r.feedback == "Good, but cite the policy.")
    );
}

async fn no_answer_key_reaches_a_learner(suite: Suite) {
    let (assessment, _) = suite
        .assessment(every_kind(), |a| a.shuffle_options = true)
        .await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    let bytes = attempt.encode_to_vec();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("Canberra"),
        "an accepted short answer was served"
    );
    for q in &attempt.questions {
        // Matching: prompts and a pool of answers, never which goes with which.
        if q.kind == "matching" {
            assert_eq!(q.prompts.len(), 2);
            assert_eq!(q.match_answers.len(), 2);
        }
    }
    // The numeric key 9.81 is not anywhere in the served attempt's bytes.
    assert!(
        !bytes.windows(8).any(|w| w == 9.81f64.to_le_bytes()),
        "a numeric key was served"
    );
    // Before grading, nothing about right or wrong.
    let saved = suite
        .save("ada", &attempt.id, right_answers(&attempt))
        .await
        .unwrap();
    assert!(saved.results.is_empty());
    // With feedback NONE, even after grading only the score shows.
    let (quiet, _) = suite
        .assessment(every_kind()[..7].to_vec(), |a| {
            a.feedback_policy = pb::FeedbackPolicy::NoFeedback as i32
        })
        .await;
    let attempt = suite.start_attempt("ada", &quiet.id).await.unwrap();
    let graded = suite
        .submit("ada", &attempt.id, right_answers(&attempt))
        .await
        .unwrap();
    assert_eq!(graded.status(), pb::AttemptStatus::Graded);
    assert_eq!(graded.score, 14.0);
    assert!(graded.results.is_empty());
    // Banks (with keys) are not for learners.
    let refused = suite
        .c()
        .list_question_banks(bearer(
            &suite.learner("ada"),
            pb::ListQuestionBanksRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

async fn only_enrolled_learners_start_attempts(suite: Suite) {
    let (assessment, _) = suite.assessment(every_kind()[..1].to_vec(), |_| {}).await;
    let refused = suite
        .start_attempt("bob", &assessment.id)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("not enrolled"),
        "{}",
        refused.message()
    );
    let stranger = suite
        .start_attempt("nobody", &assessment.id)
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), Code::PermissionDenied);
    let admin = suite
        .c()
        .start_attempt(bearer(
            &suite.admin(),
            pb::StartAttemptRequest {
                assessment_id: assessment.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        admin.code(),
        Code::PermissionDenied,
        "attempts are taken by learners"
    );
}

/// enrolment-service refuses a learner id over 128 characters (INVALID_ARGUMENT); a token may
/// carry a subject of up to 256. The learner is told what is wrong, once, and nothing starts —
/// the answer is not an UNAVAILABLE that invites them to retry for ever.
async fn what_enrolment_service_refuses_as_invalid_reaches_the_learner_as_invalid(suite: Suite) {
    let (assessment, _) = suite.assessment(every_kind()[..1].to_vec(), |_| {}).await;
    let long_subject = "x".repeat(200);
    let refused = suite
        .start_attempt(&long_subject, &assessment.id)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(violated_fields(&refused), ["learner"]);
    let attempts = suite
        .c()
        .list_attempts(bearer(
            &suite.admin(),
            pb::ListAttemptsRequest {
                assessment_id: assessment.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(attempts.attempts.is_empty(), "nothing started");
}

async fn bad_answers_are_refused_and_save_nothing(suite: Suite) {
    use pb::answer_value::Value;
    let (assessment, _) = suite.assessment(every_kind(), |_| {}).await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    let single = attempt
        .questions
        .iter()
        .find(|q| q.kind == "single_choice")
        .unwrap();
    let numeric = attempt
        .questions
        .iter()
        .find(|q| q.kind == "numeric")
        .unwrap();
    let cases = [
        (
            vec![answer(
                "0190d5a0-0000-7000-8000-0000000000ff",
                Value::TrueFalse(true),
            )],
            "answers[0].question_id",
        ),
        (
            vec![answer(&single.question_id, Value::Choices(ids(&["zz"])))],
            "answers[0].answer",
        ),
        (
            vec![answer(&numeric.question_id, Value::Text("three".into()))],
            "answers[0].answer",
        ),
        (
            vec![
                answer(
                    &single.question_id,
                    Value::Choices(ids(&[&single.options[0].id])),
                ),
                answer(&numeric.question_id, Value::Number(f64::NAN)),
            ],
            "answers[1].answer",
        ),
    ];
    for (answers, field) in cases {
        let refused = suite.save("ada", &attempt.id, answers).await.unwrap_err();
        assert_eq!(violated_fields(&refused), [field]);
    }
    let read = suite
        .c()
        .get_attempt(bearer(
            &suite.learner("ada"),
            pb::GetAttemptRequest {
                id: attempt.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(read.answers.is_empty(), "nothing half-written");
    // After submit, answers are closed.
    suite.submit("ada", &attempt.id, vec![]).await.unwrap();
    let late = suite
        .save(
            "ada",
            &attempt.id,
            vec![answer(&numeric.question_id, Value::Number(9.81))],
        )
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
}

async fn attempt_limits_hold_under_concurrent_starts(suite: Suite) {
    let (assessment, _) = suite
        .assessment(every_kind()[..1].to_vec(), |a| a.max_attempts = 2)
        .await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let client = suite.c();
        let token = suite.learner("cy");
        let id = assessment.id.clone();
        tasks.spawn(async move {
            let mut client = client;
            // Each task starts (or resumes) and submits, as fast as it can.
            let started = client
                .start_attempt(bearer(
                    &token,
                    pb::StartAttemptRequest { assessment_id: id },
                ))
                .await;
            if let Ok(attempt) = started {
                let _ = client
                    .submit_attempt(bearer(
                        &token,
                        pb::SubmitAttemptRequest {
                            attempt_id: attempt.into_inner().id,
                            answers: vec![],
                        },
                    ))
                    .await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let listed = suite
        .c()
        .list_attempts(bearer(
            &suite.admin(),
            pb::ListAttemptsRequest {
                assessment_id: assessment.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .attempts;
    assert!(
        listed.len() <= 2,
        "at most 2 attempts, got {}",
        listed.len()
    );
    let mut numbers: Vec<i32> = listed.iter().map(|a| a.number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), listed.len(), "attempt numbers are unique");
    // Whatever happened above, a third attempt is refused once two are used.
    while suite
        .c()
        .list_attempts(bearer(
            &suite.admin(),
            pb::ListAttemptsRequest {
                assessment_id: assessment.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .attempts
        .len()
        < 2
    {
        let attempt = suite.start_attempt("cy", &assessment.id).await.unwrap();
        suite.submit("cy", &attempt.id, vec![]).await.unwrap();
    }
    let refused = suite.start_attempt("cy", &assessment.id).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
}

async fn concurrent_submits_grade_once(suite: Suite) {
    let (assessment, _) = suite.assessment(every_kind()[..7].to_vec(), |_| {}).await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    suite
        .save("ada", &attempt.id, right_answers(&attempt))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let mut client = suite.c();
        let token = suite.learner("ada");
        let id = attempt.id.clone();
        tasks.spawn(async move {
            client
                .submit_attempt(bearer(
                    &token,
                    pb::SubmitAttemptRequest {
                        attempt_id: id,
                        answers: vec![],
                    },
                ))
                .await
        });
    }
    let mut scores = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(result) => scores.push(result.into_inner().score),
            // A submit that lost the race may be told to retry; it then sees the result.
            Err(status) => assert_eq!(status.code(), Code::Aborted, "{status:?}"),
        }
    }
    assert!(!scores.is_empty());
    assert!(scores.iter().all(|s| *s == 14.0), "{scores:?}");
    assert_eq!(
        suite.outcomes().await.len(),
        1,
        "one result, one outcome event"
    );
}

async fn the_time_limit_is_enforced_on_the_server(suite: Suite) {
    use pb::answer_value::Value;
    let (assessment, _) = suite
        .assessment(every_kind()[2..3].to_vec(), |a| a.time_limit_seconds = 1)
        .await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    assert!(attempt.deadline.is_some());
    let question = attempt.questions[0].question_id.clone();
    suite
        .save(
            "ada",
            &attempt.id,
            vec![answer(&question, Value::TrueFalse(false))],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let late = suite
        .save(
            "ada",
            &attempt.id,
            vec![answer(&question, Value::TrueFalse(true))],
        )
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    // A late submit carrying a different answer is graded on what was saved in time.
    let graded = suite
        .submit(
            "ada",
            &attempt.id,
            vec![answer(&question, Value::TrueFalse(true))],
        )
        .await
        .unwrap();
    assert_eq!(graded.status(), pb::AttemptStatus::Graded);
    assert_eq!(graded.score, 2.0);
    assert_eq!(
        graded.submit_time, graded.deadline,
        "counted at the deadline"
    );
}

async fn learners_cannot_read_others_attempts_or_banks(suite: Suite) {
    let (assessment, stored) = suite.assessment(every_kind()[..1].to_vec(), |_| {}).await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    let other = suite
        .c()
        .get_attempt(bearer(
            &suite.learner("cy"),
            pb::GetAttemptRequest {
                id: attempt.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
    let submit = suite.submit("cy", &attempt.id, vec![]).await.unwrap_err();
    assert_eq!(submit.code(), Code::NotFound);
    let question = suite
        .c()
        .get_question(bearer(
            &suite.learner("ada"),
            pb::GetQuestionRequest {
                id: stored[0].id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(question.code(), Code::PermissionDenied);
    let theirs = suite
        .c()
        .list_attempts(bearer(
            &suite.learner("cy"),
            pb::ListAttemptsRequest {
                assessment_id: assessment.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(theirs.attempts.is_empty(), "Cy sees only her own attempts");
}

const GIFT: &str = r#"// A quiz in Moodle's GIFT format.
::Capital::What is the capital of France? {=Paris ~Lyon ~Marseille}

::Sky::The sky is green. {F}

::Primes::Which are prime? {~%50%2 ~%50%3 ~%-100%4}

::Australia::Capital of Australia? {=Canberra}

::Pi::Pi to two places? {#3.14:0.005}

::Match::Match them. {=Kenya -> Nairobi =Peru -> Lima}

::Broken::This one never closes {=a ~b

::Essay::Explain. {}
"#;

async fn gift_imports_with_line_numbered_errors_and_round_trips(suite: Suite) {
    let bank = suite.bank("Imported").await;
    let imported = suite
        .c()
        .import_gift(bearer(
            &suite.admin(),
            pb::ImportGiftRequest {
                bank_id: bank.clone(),
                gift: GIFT.into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.imported, 7, "{:?}", imported.errors);
    assert_eq!(imported.errors.len(), 1, "{:?}", imported.errors);
    assert_eq!(imported.errors[0].line, 14);
    let exported = suite
        .c()
        .export_gift(bearer(
            &suite.admin(),
            pb::ExportGiftRequest {
                bank_id: bank.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .gift;
    let copy = suite.bank("Copy").await;
    let again = suite
        .c()
        .import_gift(bearer(
            &suite.admin(),
            pb::ImportGiftRequest {
                bank_id: copy.clone(),
                gift: exported,
                dry_run: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((again.imported, again.errors.len()), (7, 0));
    let list = |bank: String| {
        let mut client = suite.c();
        let token = suite.admin();
        async move {
            client
                .list_questions(bearer(
                    &token,
                    pb::ListQuestionsRequest {
                        bank_id: bank,
                        page_size: 50,
                        ..Default::default()
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .questions
                .into_iter()
                .map(|q| (q.title, q.text, q.kind))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(bank).await,
        list(copy).await,
        "a GIFT round trip keeps every question"
    );
    // A file with nothing readable imports nothing and says where.
    let empty = suite.bank("Empty").await;
    let bad = suite
        .c()
        .import_gift(bearer(
            &suite.admin(),
            pb::ImportGiftRequest {
                bank_id: empty,
                gift: "\n\nJust a sentence without answers.\n".into(),
                dry_run: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bad.imported, 0);
    assert_eq!(bad.errors[0].line, 3);
}

async fn tenants_cannot_see_each_others_assessments(suite: Suite) {
    let (assessment, stored) = suite.assessment(every_kind()[..1].to_vec(), |_| {}).await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    let globex = suite.auth.admin("globex");
    let mut c = suite.c();
    let codes = [
        c.get_assessment(bearer(
            &globex,
            pb::GetAssessmentRequest {
                id: assessment.id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.get_question(bearer(
            &globex,
            pb::GetQuestionRequest {
                id: stored[0].id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.get_attempt(bearer(
            &globex,
            pb::GetAttemptRequest {
                id: attempt.id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.get_question_bank(bearer(
            &globex,
            pb::GetQuestionBankRequest {
                id: stored[0].bank_id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
    ];
    assert_eq!(codes, [Code::NotFound; 4]);
}

async fn a_corrected_key_regrades_past_attempts_and_corrects_the_outcome(suite: Suite) {
    use pb::answer_value::Value;
    // The key is wrong: it says Lyon.
    let wrong_key = q(
        "Capital of France?",
        pb::question::Kind::SingleChoice(pb::SingleChoice {
            choices: vec![choice("Paris", 0.0), choice("Lyon", 1.0)],
        }),
    );
    let (assessment, stored) = suite.assessment(vec![wrong_key], |_| {}).await;
    let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
    let paris = attempt.questions[0]
        .options
        .iter()
        .find(|o| o.text == "Paris")
        .unwrap()
        .id
        .clone();
    let graded = suite
        .submit(
            "ada",
            &attempt.id,
            vec![answer(&stored[0].id, Value::Choices(ids(&[&paris])))],
        )
        .await
        .unwrap();
    assert_eq!((graded.score, graded.passed), (0.0, false));

    let mut fixed = stored[0].clone();
    fixed.kind = Some(pb::question::Kind::SingleChoice(pb::SingleChoice {
        choices: vec![choice("Paris", 1.0), choice("Lyon", 0.0)],
    }));
    suite
        .c()
        .update_question(bearer(
            &suite.admin(),
            pb::UpdateQuestionRequest {
                question: Some(fixed),
                update_mask: None,
            },
        ))
        .await
        .unwrap();
    let regrade = |dry_run: bool| {
        let mut client = suite.c();
        let token = suite.admin();
        let id = stored[0].id.clone();
        async move {
            client
                .regrade_question(bearer(&token, pb::RegradeQuestionRequest { id, dry_run }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let preview = regrade(true).await;
    assert_eq!((preview.attempts, preview.changed), (1, 1));
    assert_eq!(suite.outcomes().await.len(), 1, "a dry run changes nothing");
    let done = regrade(false).await;
    assert_eq!((done.attempts, done.changed), (1, 1));
    let after = suite
        .c()
        .get_attempt(bearer(
            &suite.learner("ada"),
            pb::GetAttemptRequest {
                id: attempt.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((after.score, after.passed), (2.0, true));
    let outcomes = suite.outcomes().await;
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes[1].corrected && outcomes[1].passed && outcomes[1].result_passed);
    assert!(
        !outcomes[0].graded_by_person && !outcomes[1].graded_by_person,
        "scored on submission, then regraded: no person graded them"
    );
    assert_eq!(
        regrade(false).await.changed,
        0,
        "a second regrade finds nothing to change"
    );
}

async fn assessments_are_updated_field_by_field_with_etags(suite: Suite) {
    let (assessment, _) = suite.assessment(every_kind()[..2].to_vec(), |_| {}).await;
    let update = |a: pb::Assessment, paths: &[&str], token: String| {
        let mut client = suite.c();
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        async move {
            client
                .update_assessment(bearer(
                    &token,
                    pb::UpdateAssessmentRequest {
                        assessment: Some(a),
                        update_mask: Some(prost_types::FieldMask { paths }),
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let changed = update(
        pb::Assessment {
            id: assessment.id.clone(),
            etag: assessment.etag.clone(),
            pass_mark_percent: 80.0,
            max_attempts: 3,
            ..Default::default()
        },
        &["pass_mark_percent", "max_attempts"],
        suite.admin(),
    )
    .await
    .unwrap();
    assert_eq!((changed.pass_mark_percent, changed.max_attempts), (80.0, 3));
    assert_eq!(
        changed.title, assessment.title,
        "fields outside the mask stay"
    );
    assert_eq!(changed.questions, assessment.questions);
    assert_ne!(changed.etag, assessment.etag);
    let stale = update(
        pb::Assessment {
            id: assessment.id.clone(),
            etag: assessment.etag.clone(),
            max_attempts: 1,
            ..Default::default()
        },
        &["max_attempts"],
        suite.admin(),
    )
    .await
    .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    // A field that cannot change (AIP-203: output only or immutable) is ignored; a path that is
    // no field at all is refused.
    let read_only = update(
        pb::Assessment {
            id: assessment.id.clone(),
            pathway_id: assessment.pathway_id.clone(),
            ..Default::default()
        },
        &["pathway_id"],
        suite.admin(),
    )
    .await
    .unwrap();
    assert_eq!(read_only.pathway_id, assessment.pathway_id);
    assert_eq!(read_only.max_attempts, 3, "nothing else moved");
    let unknown = update(
        pb::Assessment {
            id: assessment.id.clone(),
            ..Default::default()
        },
        &["colour"],
        suite.admin(),
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&unknown), ["update_mask"]);
    let bad = update(
        pb::Assessment {
            id: assessment.id.clone(),
            pass_mark_percent: 120.0,
            ..Default::default()
        },
        &["pass_mark_percent"],
        suite.admin(),
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&bad), ["assessment.pass_mark_percent"]);
    let missing = update(
        pb::Assessment {
            id: assessment.id.clone(),
            questions: Some(pb::assessment::Questions::Fixed(pb::FixedQuestions {
                question_ids: vec!["0190d5a0-0000-7000-8000-0000000000ff".into()],
            })),
            ..Default::default()
        },
        &["questions"],
        suite.admin(),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let learner = update(
        pb::Assessment {
            id: assessment.id.clone(),
            ..Default::default()
        },
        &["title"],
        suite.learner("ada"),
    )
    .await
    .unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);
}

/// A learner's deadline holds while enrolment-service cannot answer: its `enrolments` table is
/// locked by another transaction (PostgreSQL: a SQLite reader in WAL mode is never blocked),
/// so CheckAccess waits on the lock. StartAttempt asks CheckAccess with the time the learner
/// gave it, not the client's 10 s, and answers DEADLINE_EXCEEDED when that time is up.
mod deadlines {
    mod postgres {
        use std::time::{Duration, Instant};

        use diesel::connection::SimpleConnection;
        use diesel::{Connection, PgConnection};
        use lms_test_support::TestBackend;
        use tonic::Code;

        use super::super::{Suite, every_kind, pb};

        #[tokio::test]
        async fn a_learners_deadline_is_honoured_while_enrolment_service_is_stuck() {
            let Some(suite) = Suite::start(TestBackend::Postgres).await else {
                return;
            };
            let (assessment, _) = suite.assessment(every_kind()[..1].to_vec(), |_| {}).await;
            let url = suite
                ._suite
                .topology
                .settings
                .enrolment
                .database_url
                .clone();
            let url = url.expect("a PostgreSQL database").to_config_string();
            let lock = std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                conn.batch_execute("BEGIN; LOCK TABLE enrolments IN ACCESS EXCLUSIVE MODE")
                    .unwrap();
                std::thread::sleep(Duration::from_secs(4));
                conn.batch_execute("ROLLBACK").unwrap();
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut request = lms_test_support::bearer(
                &suite.learner("ada"),
                pb::StartAttemptRequest {
                    assessment_id: assessment.id.clone(),
                },
            );
            request.set_timeout(Duration::from_millis(500));
            let started = Instant::now();
            let refused = suite.c().start_attempt(request).await.unwrap_err();
            let waited = started.elapsed();
            // assessment-service answers DEADLINE_EXCEEDED a moment before the deadline; on a
            // loaded machine this client's own timer (tonic enforces the grpc-timeout it sends)
            // may fire first and report CANCELLED "Timeout expired". Either way the call ended
            // at the learner's deadline, not after the client timeout of 10 s; that the
            // deadline reaches enrolment-service is shown in platform/tests/client.rs.
            let at_the_deadline = refused.code() == Code::DeadlineExceeded
                || (refused.code() == Code::Cancelled && refused.message() == "Timeout expired");
            assert!(at_the_deadline, "{refused:?}");
            assert!(
                waited < Duration::from_millis(2_500),
                "answered after {waited:?}"
            );
            lock.join().unwrap();
            // Once the lock is gone the same call succeeds.
            let attempt = suite.start_attempt("ada", &assessment.id).await.unwrap();
            assert_eq!(attempt.number, 1);
        }
    }
}
