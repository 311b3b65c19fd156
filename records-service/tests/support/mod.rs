//! What the records-service integration tests share: the whole suite on ephemeral ports, and
//! helpers that drive it the way an admin and a learner would.
#![allow(dead_code)] // each test binary uses part of it

use std::time::{Duration, Instant};

pub use lms_platform::Role;
pub use lms_proto::assessment_v1 as assessment_pb;
pub use lms_proto::enrolment_v1 as enrolment_pb;
pub use lms_proto::events_v1 as events_pb;
pub use lms_proto::pathway_v1 as pathway_pb;
pub use lms_proto::records_v1 as pb;
pub use lms_test_support::{Component, TestAuth, TestBackend, TestSuite, bearer};
pub use tonic::transport::Channel;
pub use tonic::{Code, Status};
use tonic_types::StatusExt;

pub struct Suite {
    pub auth: TestAuth,
    pub pathways: pathway_pb::pathway_service_client::PathwayServiceClient<Channel>,
    pub enrolments: enrolment_pb::enrolment_service_client::EnrolmentServiceClient<Channel>,
    pub assessments: assessment_pb::assessment_service_client::AssessmentServiceClient<Channel>,
    pub records: pb::records_service_client::RecordsServiceClient<Channel>,
    pub records_events: events_pb::event_consumer_client::EventConsumerClient<Channel>,
    pub records_channel: Channel,
    /// records-service's use cases on its database, to run the scheduler at a chosen time.
    pub records_app: records_service::app::RecordsApp,
    pub suite: TestSuite,
}

pub fn violated_fields(status: &Status) -> Vec<String> {
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

impl Suite {
    pub async fn start(backend: TestBackend) -> Option<Suite> {
        use Component::*;
        let suite = TestSuite::start(backend, &[Pathway, Enrolment, Assessment, Records]).await?;
        let records_channel = suite.channel(Records);
        let peers = suite.topology.records_peers().unwrap();
        Some(Suite {
            pathways: pathway_pb::pathway_service_client::PathwayServiceClient::new(
                suite.channel(Pathway),
            ),
            enrolments: enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
                suite.channel(Enrolment),
            ),
            assessments: assessment_pb::assessment_service_client::AssessmentServiceClient::new(
                suite.channel(Assessment),
            ),
            records: pb::records_service_client::RecordsServiceClient::new(records_channel.clone()),
            records_events: events_pb::event_consumer_client::EventConsumerClient::new(
                records_channel.clone(),
            ),
            records_channel,
            records_app: records_service::app(suite.db(Records), &peers),
            auth: suite.auth.clone(),
            suite,
        })
    }

    pub fn admin(&self) -> String {
        self.auth.admin("acme")
    }

    /// Stops records-service (as a crash or a deploy would) and waits until it has let go.
    pub async fn stop_records(&self) {
        self.suite.stop(Component::Records).await;
    }

    /// Starts records-service again on the same address and database.
    pub async fn start_records(&self) {
        self.suite.restart(Component::Records).await;
    }

    pub fn records_events_channel(&self) -> Channel {
        self.records_channel.clone()
    }

    pub fn learner(&self, who: &str) -> String {
        self.auth.token("acme", who, &[Role::Learner])
    }

    /// A sequential pathway: read (content), accept (acknowledgement), final test (assessment),
    /// published; with its assessment of one true/false question. Returns (pathway, steps, assessment).
    pub async fn compliance_pathway(&self) -> (String, Vec<String>, String) {
        self.pathway_with_assessment(pathway_pb::Pathway {
            title: "Anti-bribery".into(),
            outcome: pathway_pb::Outcome::Compliance as i32,
            sequencing: pathway_pb::Sequencing::Sequential as i32,
            ..Default::default()
        })
        .await
    }

    /// `pathway` with the three steps of `compliance_pathway`, published.
    pub async fn pathway_with_assessment(
        &self,
        pathway: pathway_pb::Pathway,
    ) -> (String, Vec<String>, String) {
        let admin = self.admin();
        let mut pathways = self.pathways.clone();
        let pathway = pathways
            .create_pathway(bearer(
                &admin,
                pathway_pb::CreatePathwayRequest {
                    pathway: Some(pathway),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let assessment = self
            .true_false_assessment(&pathway.id, "Final test", None)
            .await;
        let steps = [
            pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                cmi5: None,
                url: "https://learn.example.com/policy".into(),
                media_type: pathway_pb::content_step::MediaType::Document as i32,
            }),
            pathway_pb::step::Kind::Acknowledgement(pathway_pb::AcknowledgementStep {
                statement: "I have read the policy.".into(),
                policy_url: "https://acme.example/policy".into(),
            }),
            pathway_pb::step::Kind::Assessment(pathway_pb::AssessmentStep {
                assessment_id: assessment.id.clone(),
            }),
        ];
        let mut ids = Vec::new();
        for (i, kind) in steps.into_iter().enumerate() {
            let updated = pathways
                .add_step(bearer(
                    &admin,
                    pathway_pb::AddStepRequest {
                        pathway_id: pathway.id.clone(),
                        step: Some(pathway_pb::Step {
                            title: ["Read", "Accept", "Final test"][i].into(),
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
            ids.push(updated.steps.last().unwrap().id.clone());
        }
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
        (pathway.id, ids, assessment.id)
    }

    /// A one-question (true/false, true is right) assessment of `pathway_id` that passes at
    /// 100 %, with `add_step` to add its step in the same call.
    pub async fn true_false_assessment(
        &self,
        pathway_id: &str,
        title: &str,
        add_step: Option<assessment_pb::NewAssessmentStep>,
    ) -> assessment_pb::Assessment {
        let admin = self.admin();
        let mut assessments = self.assessments.clone();
        let bank = assessments
            .create_question_bank(bearer(
                &admin,
                assessment_pb::CreateQuestionBankRequest {
                    bank: Some(assessment_pb::QuestionBank {
                        name: format!("Bank {pathway_id} {title}"),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let question = assessments
            .create_question(bearer(
                &admin,
                assessment_pb::CreateQuestionRequest {
                    bank_id: bank.id,
                    question: Some(assessment_pb::Question {
                        text: "Gifts over 100 EUR must be declared.".into(),
                        kind: Some(assessment_pb::question::Kind::TrueFalse(
                            assessment_pb::TrueFalse {
                                answer: true,
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assessments
            .create_assessment(bearer(
                &admin,
                assessment_pb::CreateAssessmentRequest {
                    assessment: Some(assessment_pb::Assessment {
                        title: title.into(),
                        pathway_id: pathway_id.into(),
                        questions: Some(assessment_pb::assessment::Questions::Fixed(
                            assessment_pb::FixedQuestions {
                                question_ids: vec![question.id],
                            },
                        )),
                        pass_mark_percent: 100.0,
                        add_step,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// Ada in the directory and an audience of her department, assigned the pathway.
    pub async fn assign(&self, pathway_id: &str) {
        let admin = self.admin();
        let mut enrolments = self.enrolments.clone();
        enrolments
            .create_person(bearer(
                &admin,
                enrolment_pb::CreatePersonRequest {
                    person: Some(enrolment_pb::Person {
                        external_id: "ada".into(),
                        display_name: "Ada".into(),
                        email: "ada@acme.example".into(),
                        department: "Sales".into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
        let audience = enrolments
            .create_audience(bearer(
                &admin,
                enrolment_pb::CreateAudienceRequest {
                    audience: Some(enrolment_pb::Audience {
                        name: "Sales".into(),
                        kind: enrolment_pb::AudienceKind::Dynamic as i32,
                        rule: r#"department = "Sales""#.into(),
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
                        pathway_id: pathway_id.into(),
                        audience_id: audience.id,
                        requirement: enrolment_pb::Requirement::Mandatory as i32,
                        due_policy: Some(enrolment_pb::DuePolicy {
                            policy: Some(enrolment_pb::due_policy::Policy::DaysAfterAssignment(30)),
                        }),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
    }

    /// Ada's progress list, waiting (up to 20 s) until `ready` holds: events travel through
    /// outboxes.
    pub async fn wait_for(&self, ready: impl Fn(&[pb::Progress]) -> bool) -> Vec<pb::Progress> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let listed = self
                .records
                .clone()
                .list_progress(bearer(
                    &self.learner("ada"),
                    pb::ListProgressRequest::default(),
                ))
                .await
                .unwrap()
                .into_inner()
                .progress;
            if ready(&listed) {
                return listed;
            }
            assert!(
                Instant::now() < deadline,
                "events did not arrive: {listed:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The compliance report's rows and totals.
    pub async fn compliance(
        &self,
        token: &str,
        pathway_id: &str,
    ) -> Result<(Vec<pb::ComplianceRow>, pb::ComplianceTotals), Status> {
        let mut stream = self
            .records
            .clone()
            .stream_compliance_report(bearer(
                token,
                pb::ComplianceReportRequest {
                    pathway_id: pathway_id.into(),
                    scope: None,
                },
            ))
            .await?
            .into_inner();
        let (mut rows, mut totals) = (Vec::new(), None);
        while let Some(item) = stream.message().await? {
            match item.item {
                Some(pb::compliance_report_item::Item::Row(row)) => rows.push(row),
                Some(pb::compliance_report_item::Item::Totals(t)) => totals = Some(t),
                None => {}
            }
        }
        Ok((rows, totals.expect("the report ends with its totals")))
    }

    pub async fn complete(
        &self,
        token: &str,
        enrolment: &str,
        step: &str,
    ) -> Result<pb::Progress, Status> {
        self.records
            .clone()
            .record_activity(bearer(
                token,
                pb::RecordActivityRequest {
                    enrolment_id: enrolment.into(),
                    step_id: step.into(),
                    kind: pb::ActivityKind::StepCompleted as i32,
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

/// Training sessions: scheduling, booking and attendance the way admins, instructors and
/// learners do it.
impl Suite {
    pub fn sessions(
        &self,
    ) -> pb::training_session_service_client::TrainingSessionServiceClient<Channel> {
        pb::training_session_service_client::TrainingSessionServiceClient::new(
            self.records_channel.clone(),
        )
    }

    /// A session of `step` from `start` (seconds from now) for an hour, in Room 4, taught
    /// by `instructors`, scheduled by an admin.
    pub async fn schedule(
        &self,
        pathway: &str,
        step: &str,
        start: i64,
        capacity: i32,
        instructors: &[&str],
    ) -> Result<pb::Session, Status> {
        let now = chrono::Utc::now().timestamp();
        self.sessions()
            .create_session(bearer(
                &self.admin(),
                pb::CreateSessionRequest {
                    session: Some(pb::Session {
                        pathway_id: pathway.into(),
                        step_id: step.into(),
                        start_time: Some(prost_types::Timestamp {
                            seconds: now + start,
                            nanos: 0,
                        }),
                        end_time: Some(prost_types::Timestamp {
                            seconds: now + start + 3_600,
                            nanos: 0,
                        }),
                        time_zone: "Europe/London".into(),
                        location: "Room 4, Depot".into(),
                        capacity,
                        instructors: instructors.iter().map(|i| i.to_string()).collect(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn book(
        &self,
        token: &str,
        session: &str,
        enrolment: &str,
    ) -> Result<pb::Booking, Status> {
        self.sessions()
            .book_session(bearer(
                token,
                pb::BookSessionRequest {
                    session_id: session.into(),
                    enrolment_id: enrolment.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn mark(
        &self,
        token: &str,
        session: &str,
        learner: &str,
        status: pb::AttendanceStatus,
        reason: &str,
    ) -> Result<Vec<pb::AttendanceEntry>, Status> {
        self.sessions()
            .mark_attendance(bearer(
                token,
                pb::MarkAttendanceRequest {
                    session_id: session.into(),
                    marks: vec![pb::AttendanceMark {
                        learner: learner.into(),
                        status: status as i32,
                        reason: reason.into(),
                    }],
                    whole_roster: 0,
                },
            ))
            .await
            .map(|r| r.into_inner().entries)
    }

    /// The learner of `enrolment` attends a session of `step`: an admin schedules one that
    /// started a minute ago, taught by `instructor`, seats the learner (admins may book until
    /// a session ends), and the instructor marks them attended. Returns the progress after.
    pub async fn attend(&self, instructor: &str, enrolment: &str, step: &str) -> pb::Progress {
        let admin = self.admin();
        let progress = self
            .records
            .clone()
            .get_progress(bearer(
                &admin,
                pb::GetProgressRequest {
                    enrolment_id: enrolment.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let session = self
            .schedule(&progress.pathway_id, step, -60, 10, &[instructor])
            .await
            .unwrap();
        self.book(&admin, &session.id, enrolment).await.unwrap();
        let teacher = self.auth.token("acme", instructor, &[Role::Instructor]);
        self.mark(
            &teacher,
            &session.id,
            &progress.learner,
            pb::AttendanceStatus::Attended,
            "",
        )
        .await
        .unwrap();
        self.records
            .clone()
            .get_progress(bearer(
                &admin,
                pb::GetProgressRequest {
                    enrolment_id: enrolment.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }
}
