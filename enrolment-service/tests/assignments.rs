//! Assignments, enrolments and access over real gRPC: a real pathway-service and a real
//! enrolment-service on ephemeral ports, each on its own throwaway database — SQLite
//! (`sqlite::...`) and PostgreSQL (`postgres::...`).

use std::time::Duration;

use lms_platform::Role;
use lms_platform::db::Db;
use lms_proto::enrolment_v1 as pb;
use lms_proto::events_v1 as events;
use lms_proto::pathway_v1 as pathway_pb;
use lms_test_support::{Component, TestAuth, TestBackend, TestSuite, bearer};
use pathway_pb::pathway_service_client::PathwayServiceClient;
use pb::enrolment_service_client::EnrolmentServiceClient;
use prost_types::Timestamp;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

struct Suite {
    client: EnrolmentServiceClient<Channel>,
    pathways: PathwayServiceClient<Channel>,
    events: events::event_consumer_client::EventConsumerClient<Channel>,
    auth: TestAuth,
    db: Db,
    suite: TestSuite,
}

const DAY: i64 = 86_400;

fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

fn ts(seconds: i64) -> Timestamp {
    Timestamp { seconds, nanos: 0 }
}

/// Seconds since the epoch of midnight UTC on `date` (YYYY-MM-DD).
fn midnight(date: &str) -> i64 {
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp()
}

fn person(external_id: &str, department: &str, hire_date: &str) -> pb::Person {
    pb::Person {
        external_id: external_id.into(),
        display_name: external_id.to_uppercase(),
        email: format!("{external_id}@acme.example"),
        department: department.into(),
        hire_date: hire_date.into(),
        ..Default::default()
    }
}

fn days_after_hire(days: i32) -> Option<pb::DuePolicy> {
    Some(pb::DuePolicy {
        policy: Some(pb::due_policy::Policy::DaysAfterHire(days)),
    })
}

fn days_after_assignment(days: i32) -> Option<pb::DuePolicy> {
    Some(pb::DuePolicy {
        policy: Some(pb::due_policy::Policy::DaysAfterAssignment(days)),
    })
}

/// The fields named in an INVALID_ARGUMENT's `google.rpc.BadRequest`.
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

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        let suite = TestSuite::start(backend, &[Component::Pathway, Component::Enrolment]).await?;
        let enrolment = suite.channel(Component::Enrolment);
        Some(Suite {
            client: EnrolmentServiceClient::new(enrolment.clone()),
            pathways: PathwayServiceClient::new(suite.channel(Component::Pathway)),
            events: events::event_consumer_client::EventConsumerClient::new(enrolment),
            auth: suite.auth.clone(),
            db: suite.db(Component::Enrolment),
            suite,
        })
    }

    fn admin(&self) -> String {
        self.auth.admin("acme")
    }

    fn learner(&self, external_id: &str) -> String {
        self.auth.token("acme", external_id, &[Role::Learner])
    }

    fn c(&self) -> EnrolmentServiceClient<Channel> {
        self.client.clone()
    }

    /// A pathway with one content step: published unless `publish` is false.
    async fn pathway(&self, title: &str, publish: bool) -> String {
        let token = self.admin();
        let mut pathways = self.pathways.clone();
        let pathway = pathways
            .create_pathway(bearer(
                &token,
                pathway_pb::CreatePathwayRequest {
                    pathway: Some(pathway_pb::Pathway {
                        title: title.into(),
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
                &token,
                pathway_pb::AddStepRequest {
                    pathway_id: pathway.id.clone(),
                    step: Some(pathway_pb::Step {
                        title: "Read the policy".into(),
                        required: true,
                        kind: Some(pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
                            cmi5: None,
                            url: "https://learn.example.com/policy".into(),
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
        if publish {
            pathways
                .publish_pathway(bearer(
                    &token,
                    pathway_pb::PublishPathwayRequest {
                        id: pathway.id.clone(),
                        etag: String::new(),
                    },
                ))
                .await
                .unwrap();
        }
        pathway.id
    }

    async fn person(&self, p: pb::Person) -> pb::Person {
        self.c()
            .create_person(bearer(
                &self.admin(),
                pb::CreatePersonRequest {
                    person: Some(p),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn update_department(&self, person: &pb::Person, department: &str) -> pb::Person {
        let current = self
            .c()
            .get_person(bearer(
                &self.admin(),
                pb::GetPersonRequest {
                    id: person.id.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        self.c()
            .update_person(bearer(
                &self.admin(),
                pb::UpdatePersonRequest {
                    person: Some(pb::Person {
                        department: department.into(),
                        ..current
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["department".into()],
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn dynamic_audience(&self, name: &str, rule: &str) -> String {
        self.c()
            .create_audience(bearer(
                &self.admin(),
                pb::CreateAudienceRequest {
                    audience: Some(pb::Audience {
                        name: name.into(),
                        kind: pb::AudienceKind::Dynamic as i32,
                        rule: rule.into(),
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

    async fn assign(&self, assignment: pb::Assignment) -> Result<pb::Assignment, Status> {
        self.c()
            .create_assignment(bearer(
                &self.admin(),
                pb::CreateAssignmentRequest {
                    assignment: Some(assignment),
                    request_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn assign_to_audience(
        &self,
        pathway_id: &str,
        audience_id: &str,
        requirement: pb::Requirement,
        due_policy: Option<pb::DuePolicy>,
        leave_policy: pb::LeavePolicy,
    ) -> pb::Assignment {
        self.assign(pb::Assignment {
            pathway_id: pathway_id.into(),
            audience_id: audience_id.into(),
            requirement: requirement as i32,
            due_policy,
            leave_policy: leave_policy as i32,
            ..Default::default()
        })
        .await
        .expect("assignment created")
    }

    async fn enrolments_of_pathway(&self, pathway_id: &str) -> Vec<pb::Enrolment> {
        self.c()
            .list_enrolments(bearer(
                &self.admin(),
                pb::ListEnrolmentsRequest {
                    pathway_id: pathway_id.into(),
                    page_size: 100,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .enrolments
    }

    /// The learner's enrolment in the pathway that is not withdrawn.
    async fn current(&self, learner: &str, pathway_id: &str) -> Option<pb::Enrolment> {
        self.enrolments_of_pathway(pathway_id)
            .await
            .into_iter()
            .find(|e| {
                e.learner == learner && e.status != pb::EnrolmentStatus::EnrolmentWithdrawn as i32
            })
    }

    async fn status_of(&self, learner: &str, pathway_id: &str) -> Vec<pb::EnrolmentStatus> {
        let mut found: Vec<(String, pb::EnrolmentStatus)> = self
            .enrolments_of_pathway(pathway_id)
            .await
            .into_iter()
            .filter(|e| e.learner == learner)
            .map(|e| (e.id.clone(), e.status()))
            .collect();
        found.sort();
        found.into_iter().map(|(_, s)| s).collect()
    }

    async fn check(
        &self,
        token: &str,
        learner: &str,
        pathway_id: &str,
    ) -> Result<pb::AccessDecision, Status> {
        self.c()
            .check_access(bearer(
                token,
                pb::CheckAccessRequest {
                    learner: learner.into(),
                    pathway_id: pathway_id.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// Reports, as records-service does, that a learner made progress on an enrolment.
    async fn started(&self, enrolment_id: &str, event_id: &str) -> events::DeliverEventsResponse {
        let payload = pb::EnrolmentStarted {
            enrolment_id: enrolment_id.into(),
            start_time: Some(ts(now_seconds())),
        };
        let event = events::Event {
            id: event_id.into(),
            tenant_id: "acme".into(),
            aggregate_id: enrolment_id.into(),
            payload: Some(prost_types::Any {
                type_url: "type.googleapis.com/lms.enrolment.v1.EnrolmentStarted".into(),
                value: prost::Message::encode_to_vec(&payload),
            }),
            occur_time: Some(ts(now_seconds())),
            traceparent: String::new(),
        };
        self.events
            .clone()
            .deliver_events(bearer(
                &self.auth.token("acme", "records-service", &[Role::Service]),
                events::DeliverEventsRequest {
                    events: vec![event],
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    async fn outbox_types(&self) -> Vec<String> {
        use diesel::prelude::*;
        use lms_platform::outbox::outbox_events;
        self.db
            .read(|conn| {
                Ok(outbox_events::table
                    .order(outbox_events::id.asc())
                    .select(outbox_events::type_url)
                    .load::<String>(conn)?)
            })
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.rsplit('.').next().unwrap_or_default().to_string())
            .collect()
    }
}

lms_test_support::on_both_databases!(Suite;
    assigning_enrols_every_current_member_with_the_right_due_date,
    a_joiner_in_hr_data_is_enrolled_without_admin_action,
    leaving_the_audience_follows_the_assignment_policy,
    removing_an_assignment_withdraws_unstarted_and_keeps_started,
    only_published_pathways_can_be_assigned,
    bad_assignments_are_refused_field_by_field,
    a_class_assignment_enrols_its_students,
    admins_enrol_withdraw_and_extend_due_dates,
    learners_self_enrol_into_pathways_open_to_them,
    check_access_answers_with_a_reason,
    learners_see_only_their_own_enrolments,
    tenants_cannot_see_each_others_assignments_or_enrolments,
    an_assigned_audience_cannot_be_deleted,
    started_events_are_applied_once,
    two_assignments_of_one_pathway_enrol_a_person_once,
    pathway_service_down_is_unavailable_and_writes_nothing,
);

async fn assigning_enrols_every_current_member_with_the_right_due_date(suite: Suite) {
    let pathway = suite.pathway("Anti-bribery", true).await;
    suite.person(person("ada", "Sales", "2026-11-01")).await;
    suite.person(person("bob", "Sales", "")).await;
    suite.person(person("cy", "HR", "2026-01-01")).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;

    let before = now_seconds();
    let assignment = suite
        .assign_to_audience(
            &pathway,
            &sales,
            pb::Requirement::Mandatory,
            days_after_hire(30),
            pb::LeavePolicy::Keep,
        )
        .await;
    assert_eq!(assignment.enrolled_count, 2);
    assert_eq!(assignment.pathway_version, 1);

    let ada = suite.current("ada", &pathway).await.expect("Ada enrolled");
    assert_eq!(ada.source(), pb::EnrolmentSource::Assignment);
    assert_eq!(ada.requirement(), pb::Requirement::Mandatory);
    assert_eq!(ada.assignment_id, assignment.id);
    assert_eq!(ada.pathway_version, 1);
    assert_eq!(
        ada.due_time.unwrap().seconds,
        midnight("2026-12-01"),
        "30 days after Ada's hire date"
    );
    let bob = suite.current("bob", &pathway).await.expect("Bob enrolled");
    let bob_due = bob.due_time.unwrap().seconds;
    assert!(
        (before + 30 * DAY..=now_seconds() + 30 * DAY).contains(&bob_due),
        "without a hire date Bob is due 30 days after enrolment"
    );
    assert!(suite.current("cy", &pathway).await.is_none(), "Cy is in HR");
    assert_eq!(
        suite.outbox_types().await,
        ["EnrolmentCreated", "EnrolmentCreated"],
        "one event per enrolment, written with it"
    );

    let read = suite
        .c()
        .get_assignment(bearer(
            &suite.admin(),
            pb::GetAssignmentRequest {
                id: assignment.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.due_policy, days_after_hire(30));
    let listed = suite
        .c()
        .list_assignments(bearer(
            &suite.admin(),
            pb::ListAssignmentsRequest {
                audience_id: sales.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.assignments.len(), 1);
    assert_eq!(listed.assignments[0].enrolled_count, 2);

    // The same pathway twice to the same audience is a duplicate.
    let again = suite
        .assign(pb::Assignment {
            pathway_id: pathway.clone(),
            audience_id: sales.clone(),
            requirement: pb::Requirement::Optional as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");
}

async fn a_joiner_in_hr_data_is_enrolled_without_admin_action(suite: Suite) {
    let pathway = suite.pathway("Sales onboarding", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite
        .assign_to_audience(
            &pathway,
            &sales,
            pb::Requirement::Mandatory,
            days_after_hire(14),
            pb::LeavePolicy::Keep,
        )
        .await;
    assert!(suite.enrolments_of_pathway(&pathway).await.is_empty());

    // The nightly HR upload brings a new hire in Sales and one in Finance.
    let response = suite
        .c()
        .upsert_people(bearer(
            &suite.admin(),
            tokio_stream::iter(vec![pb::UpsertPeopleRequest {
                people: vec![
                    person("dee", "Sales", "2026-11-20"),
                    person("eve", "Finance", "2026-11-20"),
                ],
                full_sync: false,
                force: false,
            }]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.created, 2);
    let dee = suite.current("dee", &pathway).await.expect("Dee enrolled");
    assert_eq!(dee.due_time.unwrap().seconds, midnight("2026-12-04"));
    assert!(suite.current("eve", &pathway).await.is_none());

    // A single create through the API counts too.
    suite.person(person("fay", "Sales", "2026-10-01")).await;
    let fay = suite.current("fay", &pathway).await.expect("Fay enrolled");
    assert_eq!(fay.due_time.unwrap().seconds, midnight("2026-10-15"));
    assert_eq!(
        suite
            .check(&suite.learner("fay"), "", &pathway)
            .await
            .unwrap()
            .reason(),
        pb::AccessReason::Enrolled
    );
}

async fn leaving_the_audience_follows_the_assignment_policy(suite: Suite) {
    let keep = suite.pathway("Keep", true).await;
    let suspend = suite.pathway("Suspend", true).await;
    let withdraw = suite.pathway("Withdraw", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    let ada = suite.person(person("ada", "Sales", "2026-01-01")).await;
    let bob = suite.person(person("bob", "Sales", "2026-01-01")).await;
    for (pathway, policy) in [
        (&keep, pb::LeavePolicy::Keep),
        (&suspend, pb::LeavePolicy::Suspend),
        (&withdraw, pb::LeavePolicy::WithdrawIfNotStarted),
    ] {
        suite
            .assign_to_audience(pathway, &sales, pb::Requirement::Optional, None, policy)
            .await;
    }
    // Bob has started the withdraw-policy pathway: leaving keeps it.
    let bobs = suite.current("bob", &withdraw).await.unwrap();
    suite
        .started(&bobs.id, "0190d5a0-0000-7000-8000-000000000001")
        .await;

    suite.update_department(&ada, "Finance").await;
    suite.update_department(&bob, "Finance").await;
    use pb::EnrolmentStatus::*;
    assert_eq!(suite.status_of("ada", &keep).await, [EnrolmentActive]);
    assert_eq!(suite.status_of("ada", &suspend).await, [EnrolmentSuspended]);
    assert_eq!(
        suite.status_of("ada", &withdraw).await,
        [EnrolmentWithdrawn]
    );
    assert_eq!(suite.status_of("bob", &withdraw).await, [EnrolmentActive]);
    let withdrawn = suite.enrolments_of_pathway(&withdraw).await;
    let adas = withdrawn.iter().find(|e| e.learner == "ada").unwrap();
    assert_eq!(adas.withdrawal(), pb::Withdrawal::LeftTarget);
    let denied = suite.check(&suite.admin(), "ada", &suspend).await.unwrap();
    assert!(!denied.allowed);
    assert_eq!(denied.reason(), pb::AccessReason::AccessSuspended);

    // Back in Sales: the suspension lifts, and the withdrawn pathway enrols her afresh.
    suite.update_department(&ada, "Sales").await;
    assert_eq!(suite.status_of("ada", &suspend).await, [EnrolmentActive]);
    let mut statuses = suite.status_of("ada", &withdraw).await;
    statuses.sort_by_key(|s| *s as i32);
    assert_eq!(statuses, [EnrolmentActive, EnrolmentWithdrawn]);
    assert!(
        suite
            .check(&suite.admin(), "ada", &suspend)
            .await
            .unwrap()
            .allowed
    );

    // Deactivation counts as leaving.
    let ada_now = suite
        .c()
        .get_person(bearer(
            &suite.admin(),
            pb::GetPersonRequest { id: ada.id.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    suite
        .c()
        .update_person(bearer(
            &suite.admin(),
            pb::UpdatePersonRequest {
                person: Some(pb::Person {
                    status: pb::PersonStatus::Inactive as i32,
                    ..ada_now
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["status".into()],
                }),
            },
        ))
        .await
        .unwrap();
    assert_eq!(suite.status_of("ada", &suspend).await, [EnrolmentSuspended]);
    let types = suite.outbox_types().await;
    assert!(types.contains(&"EnrolmentUpdated".to_string()));
    assert!(types.contains(&"EnrolmentWithdrawn".to_string()));
}

async fn removing_an_assignment_withdraws_unstarted_and_keeps_started(suite: Suite) {
    let pathway = suite.pathway("Fire safety", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    let london = suite.dynamic_audience("London", r#"location = "UK""#).await;
    suite.person(person("ada", "Sales", "")).await;
    suite.person(person("bob", "Sales", "")).await;
    let mut cy = person("cy", "Sales", "");
    cy.location = "UK".into();
    suite.person(cy).await;
    let by_sales = suite
        .assign_to_audience(
            &pathway,
            &sales,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    let by_london = suite
        .assign_to_audience(
            &pathway,
            &london,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    assert_eq!(by_sales.enrolled_count, 3);
    assert_eq!(
        by_london.enrolled_count, 0,
        "Cy was enrolled by Sales already"
    );
    let bobs = suite.current("bob", &pathway).await.unwrap();
    suite
        .started(&bobs.id, "0190d5a0-0000-7000-8000-000000000002")
        .await;

    let removed = suite
        .c()
        .delete_assignment(bearer(
            &suite.admin(),
            pb::DeleteAssignmentRequest {
                id: by_sales.id.clone(),
                etag: by_sales.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((removed.withdrawn, removed.kept), (1, 1));
    use pb::EnrolmentStatus::*;
    assert_eq!(suite.status_of("ada", &pathway).await, [EnrolmentWithdrawn]);
    let ada = &suite.enrolments_of_pathway(&pathway).await;
    let ada = ada.iter().find(|e| e.learner == "ada").unwrap();
    assert_eq!(ada.withdrawal(), pb::Withdrawal::AssignmentRemoved);
    assert_eq!(suite.status_of("bob", &pathway).await, [EnrolmentActive]);
    let cys = suite.current("cy", &pathway).await.unwrap();
    assert_eq!(
        cys.assignment_id, by_london.id,
        "London's assignment took Cy over"
    );
    let gone = suite
        .c()
        .get_assignment(bearer(
            &suite.admin(),
            pb::GetAssignmentRequest { id: by_sales.id },
        ))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

async fn only_published_pathways_can_be_assigned(suite: Suite) {
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite.person(person("ada", "Sales", "")).await;
    let draft = suite.pathway("Draft", false).await;
    let archived = suite.pathway("Archived", true).await;
    suite
        .pathways
        .clone()
        .archive_pathway(bearer(
            &suite.admin(),
            pathway_pb::ArchivePathwayRequest {
                id: archived.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    let unknown = "0190d5a0-0000-7000-8000-0000000000ff".to_string();
    for (pathway, code, words) in [
        (&draft, Code::FailedPrecondition, "draft"),
        (&archived, Code::FailedPrecondition, "archived"),
        (&unknown, Code::NotFound, "not found"),
    ] {
        let refused = suite
            .assign(pb::Assignment {
                pathway_id: pathway.clone(),
                audience_id: sales.clone(),
                requirement: pb::Requirement::Optional as i32,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), code, "{refused:?}");
        assert!(refused.message().contains(words), "{}", refused.message());
    }
    let listed = suite
        .c()
        .list_assignments(bearer(
            &suite.admin(),
            pb::ListAssignmentsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.assignments.is_empty(), "nothing half-written");
    assert!(suite.outbox_types().await.is_empty());
}

async fn bad_assignments_are_refused_field_by_field(suite: Suite) {
    let pathway = suite.pathway("Ethics", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    let cases: Vec<(pb::Assignment, &str)> = vec![
        (
            pb::Assignment {
                pathway_id: pathway.clone(),
                requirement: pb::Requirement::Optional as i32,
                ..Default::default()
            },
            "assignment.audience_id",
        ),
        (
            pb::Assignment {
                pathway_id: pathway.clone(),
                audience_id: sales.clone(),
                requirement: pb::Requirement::Mandatory as i32,
                ..Default::default()
            },
            "assignment.due_policy",
        ),
        (
            pb::Assignment {
                pathway_id: pathway.clone(),
                audience_id: sales.clone(),
                requirement: pb::Requirement::Mandatory as i32,
                due_policy: Some(pb::DuePolicy {
                    policy: Some(pb::due_policy::Policy::FixedTime(ts(now_seconds() - DAY))),
                }),
                ..Default::default()
            },
            "assignment.due_policy",
        ),
        (
            pb::Assignment {
                pathway_id: pathway.clone(),
                audience_id: sales.clone(),
                requirement: pb::Requirement::Open as i32,
                due_policy: days_after_assignment(10),
                ..Default::default()
            },
            "assignment.due_policy",
        ),
        (
            pb::Assignment {
                pathway_id: "not-an-id".into(),
                audience_id: sales.clone(),
                requirement: pb::Requirement::Optional as i32,
                ..Default::default()
            },
            "assignment.pathway_id",
        ),
        (
            pb::Assignment {
                pathway_id: pathway.clone(),
                audience_id: sales.clone(),
                ..Default::default()
            },
            "assignment.requirement",
        ),
        (
            pb::Assignment {
                pathway_id: pathway.clone(),
                audience_id: sales.clone(),
                requirement: pb::Requirement::Optional as i32,
                leave_policy: 42,
                ..Default::default()
            },
            "assignment.leave_policy",
        ),
    ];
    for (assignment, field) in cases {
        let refused = suite.assign(assignment).await.unwrap_err();
        assert!(
            violated_fields(&refused).contains(&field.to_string()),
            "{field}: {refused:?}"
        );
    }
    let missing_audience = suite
        .assign(pb::Assignment {
            pathway_id: pathway.clone(),
            audience_id: "0190d5a0-0000-7000-8000-0000000000aa".into(),
            requirement: pb::Requirement::Optional as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing_audience.code(), Code::NotFound);
    let learner = suite
        .c()
        .create_assignment(bearer(
            &suite.learner("ada"),
            pb::CreateAssignmentRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);
}

async fn a_class_assignment_enrols_its_students(suite: Suite) {
    let pathway = suite.pathway("CS101 labs", true).await;
    let ada = suite.person(person("ada", "", "")).await;
    let prof = suite.person(person("prof", "", "")).await;
    let class = suite
        .c()
        .create_class(bearer(
            &suite.admin(),
            pb::CreateClassRequest {
                class: Some(pb::AcademicClass {
                    code: "CS101".into(),
                    name: "Programming".into(),
                    term: "2026-S2".into(),
                    start_date: "2026-07-01".into(),
                    end_date: "2026-12-15".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    for (id, role) in [
        (&ada.id, pb::ClassRole::Student),
        (&prof.id, pb::ClassRole::Instructor),
    ] {
        suite
            .c()
            .add_class_members(bearer(
                &suite.admin(),
                pb::AddClassMembersRequest {
                    class_id: class.id.clone(),
                    person_ids: vec![id.clone()],
                    role: role as i32,
                },
            ))
            .await
            .unwrap();
    }
    let assignment = suite
        .assign(pb::Assignment {
            pathway_id: pathway.clone(),
            class_id: class.id.clone(),
            requirement: pb::Requirement::Mandatory as i32,
            due_policy: days_after_assignment(60),
            leave_policy: pb::LeavePolicy::Suspend as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(assignment.enrolled_count, 1);
    assert!(suite.current("ada", &pathway).await.is_some());
    assert!(suite.current("prof", &pathway).await.is_none());

    // A student who joins later is enrolled; one who leaves is suspended.
    let bob = suite.person(person("bob", "", "")).await;
    suite
        .c()
        .add_class_members(bearer(
            &suite.admin(),
            pb::AddClassMembersRequest {
                class_id: class.id.clone(),
                person_ids: vec![bob.id.clone()],
                role: pb::ClassRole::Student as i32,
            },
        ))
        .await
        .unwrap();
    assert!(suite.current("bob", &pathway).await.is_some());
    suite
        .c()
        .remove_class_members(bearer(
            &suite.admin(),
            pb::RemoveClassMembersRequest {
                class_id: class.id.clone(),
                person_ids: vec![ada.id.clone()],
            },
        ))
        .await
        .unwrap();
    assert_eq!(
        suite.status_of("ada", &pathway).await,
        [pb::EnrolmentStatus::EnrolmentSuspended]
    );
}

async fn admins_enrol_withdraw_and_extend_due_dates(suite: Suite) {
    let pathway = suite.pathway("First aid", true).await;
    let ada = suite.person(person("ada", "Ops", "")).await;
    let mut gone = person("gone", "Ops", "");
    gone.status = pb::PersonStatus::Inactive as i32;
    let gone = suite.person(gone).await;
    let enrol = |person_id: String, due: Option<Timestamp>| {
        let mut client = suite.c();
        let token = suite.admin();
        let pathway = pathway.clone();
        async move {
            client
                .enrol_person(bearer(
                    &token,
                    pb::EnrolPersonRequest {
                        person_id,
                        pathway_id: pathway,
                        due_time: due,
                        request_id: String::new(),
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let refused = enrol(gone.id.clone(), None).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let past = enrol(ada.id.clone(), Some(ts(now_seconds() - DAY)))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&past), ["due_time"]);

    let due = now_seconds() + 10 * DAY;
    let enrolment = enrol(ada.id.clone(), Some(ts(due))).await.unwrap();
    assert_eq!(enrolment.source(), pb::EnrolmentSource::Admin);
    assert_eq!(enrolment.requirement(), pb::Requirement::Mandatory);
    let twice = enrol(ada.id.clone(), None).await.unwrap_err();
    assert_eq!(twice.code(), Code::AlreadyExists);

    let extend = |etag: String, due: Timestamp, reason: &str| {
        let mut client = suite.c();
        let token = suite.admin();
        let id = enrolment.id.clone();
        let reason = reason.to_string();
        async move {
            client
                .extend_due_date(bearer(
                    &token,
                    pb::ExtendDueDateRequest {
                        id,
                        due_time: Some(due),
                        reason,
                        etag,
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let no_reason = extend(String::new(), ts(due + DAY), " ").await.unwrap_err();
    assert_eq!(violated_fields(&no_reason), ["reason"]);
    let extended = extend(enrolment.etag.clone(), ts(due + 7 * DAY), "medical leave")
        .await
        .unwrap();
    assert_eq!(extended.due_time.unwrap().seconds, due + 7 * DAY);
    assert_eq!(extended.due_changes.len(), 1);
    let change = &extended.due_changes[0];
    assert_eq!(change.reason, "medical leave");
    assert_eq!(change.actor, "admin@acme");
    assert_eq!(change.previous_due_time.unwrap().seconds, due);
    let stale = extend(enrolment.etag.clone(), ts(due + 9 * DAY), "again")
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted, "a stale etag");

    let withdraw = |reason: &str| {
        let mut client = suite.c();
        let token = suite.admin();
        let id = enrolment.id.clone();
        let reason = reason.to_string();
        async move {
            client
                .withdraw_enrolment(bearer(
                    &token,
                    pb::WithdrawEnrolmentRequest {
                        id,
                        reason,
                        etag: String::new(),
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let withdrawn = withdraw("left the team").await.unwrap();
    assert_eq!(withdrawn.status(), pb::EnrolmentStatus::EnrolmentWithdrawn);
    assert_eq!(withdrawn.withdrawal(), pb::Withdrawal::ByAdmin);
    assert_eq!(withdrawn.withdraw_reason, "left the team");
    let again = withdraw("again").await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // An admin's withdrawal of an assigned enrolment sticks: the assignment does not re-enrol.
    let ops = suite.dynamic_audience("Ops", r#"department = "Ops""#).await;
    let assigned = suite
        .assign_to_audience(
            &pathway,
            &ops,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    assert_eq!(assigned.enrolled_count, 1, "Ada again, by the assignment");
    let current = suite.current("ada", &pathway).await.unwrap();
    suite
        .c()
        .withdraw_enrolment(bearer(
            &suite.admin(),
            pb::WithdrawEnrolmentRequest {
                id: current.id,
                reason: "exempt: certified elsewhere".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    suite.update_department(&ada, "Ops").await;
    assert!(suite.current("ada", &pathway).await.is_none());
}

async fn learners_self_enrol_into_pathways_open_to_them(suite: Suite) {
    let pathway = suite.pathway("Leadership electives", true).await;
    let closed = suite.pathway("Closed", true).await;
    let managers = suite
        .dynamic_audience("Managers", r#"job_title ~ "manager""#)
        .await;
    let mut ada = person("ada", "Sales", "");
    ada.job_title = "Sales Manager".into();
    suite.person(ada).await;
    suite.person(person("bob", "Sales", "")).await;
    let open = suite
        .assign_to_audience(
            &pathway,
            &managers,
            pb::Requirement::Open,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    assert_eq!(open.enrolled_count, 0, "an OPEN assignment enrols nobody");

    let self_enrol = |learner: &str, pathway: &str| {
        let mut client = suite.c();
        let token = suite.learner(learner);
        let pathway = pathway.to_string();
        async move {
            client
                .self_enrol(bearer(
                    &token,
                    pb::SelfEnrolRequest {
                        pathway_id: pathway,
                        request_id: String::new(),
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let enrolment = self_enrol("ada", &pathway).await.unwrap();
    assert_eq!(enrolment.source(), pb::EnrolmentSource::Self_);
    assert_eq!(enrolment.learner, "ada");
    assert_eq!(enrolment.due_time, None);
    assert_eq!(
        self_enrol("ada", &pathway).await.unwrap_err().code(),
        Code::AlreadyExists
    );
    assert_eq!(
        self_enrol("bob", &pathway).await.unwrap_err().code(),
        Code::PermissionDenied,
        "Bob is not a manager"
    );
    assert_eq!(
        self_enrol("ada", &closed).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(
        self_enrol("stranger", &pathway).await.unwrap_err().code(),
        Code::FailedPrecondition,
        "not in the directory"
    );
}

async fn check_access_answers_with_a_reason(suite: Suite) {
    let pathway = suite.pathway("Data protection", true).await;
    let all = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite.person(person("ada", "Sales", "")).await;
    let mut inactive = person("ivy", "Sales", "");
    inactive.status = pb::PersonStatus::Inactive as i32;
    suite.person(inactive).await;
    suite.person(person("bob", "", "")).await;
    suite
        .assign_to_audience(
            &pathway,
            &all,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    let service = suite
        .auth
        .token("acme", "assessment-service", &[Role::Service]);
    let yes = suite.check(&service, "ada", &pathway).await.unwrap();
    assert!(yes.allowed);
    assert_eq!(yes.reason(), pb::AccessReason::Enrolled);
    assert_eq!(yes.enrolment.unwrap().pathway_version, 1);
    for (learner, reason) in [
        ("nobody", pb::AccessReason::UnknownLearner),
        ("ivy", pb::AccessReason::LearnerInactive),
        ("bob", pb::AccessReason::NotEnrolled),
    ] {
        let no = suite.check(&service, learner, &pathway).await.unwrap();
        assert!(!no.allowed, "{learner}");
        assert_eq!(no.reason(), reason, "{learner}: {}", no.message);
        assert!(!no.message.is_empty());
    }
    // Learners ask about themselves only.
    let own = suite
        .check(&suite.learner("ada"), "", &pathway)
        .await
        .unwrap();
    assert!(own.allowed);
    let other = suite
        .check(&suite.learner("bob"), "ada", &pathway)
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let bad = suite.check(&service, "ada", "nope").await.unwrap_err();
    assert_eq!(violated_fields(&bad), ["pathway_id"]);
}

async fn learners_see_only_their_own_enrolments(suite: Suite) {
    let pathway = suite.pathway("Induction", true).await;
    let all = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite.person(person("ada", "Sales", "")).await;
    suite.person(person("bob", "Sales", "")).await;
    suite
        .assign_to_audience(
            &pathway,
            &all,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    let mine = suite
        .c()
        .list_enrolments(bearer(
            &suite.learner("ada"),
            pb::ListEnrolmentsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .enrolments;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].learner, "ada");
    let theirs = suite
        .c()
        .list_enrolments(bearer(
            &suite.learner("ada"),
            pb::ListEnrolmentsRequest {
                learner: "bob".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(theirs.code(), Code::PermissionDenied);
    let bobs = suite.current("bob", &pathway).await.unwrap();
    let read = suite
        .c()
        .get_enrolment(bearer(
            &suite.learner("ada"),
            pb::GetEnrolmentRequest { id: bobs.id },
        ))
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::NotFound);
    let unfiltered = suite
        .c()
        .list_enrolments(bearer(&suite.admin(), pb::ListEnrolmentsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&unfiltered), ["learner"]);
    // Pages: one at a time, newest first, each enrolment once.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = suite
            .c()
            .list_enrolments(bearer(
                &suite.admin(),
                pb::ListEnrolmentsRequest {
                    pathway_id: pathway.clone(),
                    page_size: 1,
                    page_token: token.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.enrolments.into_iter().map(|e| e.learner));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    assert_eq!(seen, ["ada", "bob"]);
}

async fn tenants_cannot_see_each_others_assignments_or_enrolments(suite: Suite) {
    let pathway = suite.pathway("Acme only", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite.person(person("ada", "Sales", "")).await;
    let assignment = suite
        .assign_to_audience(
            &pathway,
            &sales,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    let enrolment = suite.current("ada", &pathway).await.unwrap();
    let globex = suite.auth.admin("globex");
    let mut c = suite.c();
    let codes = [
        c.get_assignment(bearer(
            &globex,
            pb::GetAssignmentRequest {
                id: assignment.id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.get_enrolment(bearer(
            &globex,
            pb::GetEnrolmentRequest {
                id: enrolment.id.clone(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.delete_assignment(bearer(
            &globex,
            pb::DeleteAssignmentRequest {
                id: assignment.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.withdraw_enrolment(bearer(
            &globex,
            pb::WithdrawEnrolmentRequest {
                id: enrolment.id.clone(),
                reason: "x".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err()
        .code(),
        c.enrol_person(bearer(
            &globex,
            pb::EnrolPersonRequest {
                person_id: enrolment.person_id.clone(),
                pathway_id: pathway.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err()
        .code(),
    ];
    assert_eq!(codes, [Code::NotFound; 5]);
    let listed = c
        .list_enrolments(bearer(
            &globex,
            pb::ListEnrolmentsRequest {
                pathway_id: pathway.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.enrolments.is_empty());
    let access = suite
        .check(
            &suite.auth.token("globex", "svc", &[Role::Service]),
            "ada",
            &pathway,
        )
        .await
        .unwrap();
    assert_eq!(access.reason(), pb::AccessReason::UnknownLearner);
    // A service may act for a tenant it names; nobody else may name one.
    let mut named = bearer(
        &suite.auth.token("globex", "ada", &[Role::Learner]),
        pb::CheckAccessRequest {
            learner: String::new(),
            pathway_id: pathway.clone(),
        },
    );
    named
        .metadata_mut()
        .insert("x-lms-tenant", "acme".parse().unwrap());
    assert_eq!(
        c.check_access(named).await.unwrap_err().code(),
        Code::PermissionDenied
    );
}

async fn an_assigned_audience_cannot_be_deleted(suite: Suite) {
    let pathway = suite.pathway("Kept", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite
        .assign_to_audience(
            &pathway,
            &sales,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::Keep,
        )
        .await;
    let refused = suite
        .c()
        .delete_audience(bearer(
            &suite.admin(),
            pb::DeleteAudienceRequest {
                id: sales.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
}

async fn started_events_are_applied_once(suite: Suite) {
    let pathway = suite.pathway("Started", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite.person(person("ada", "Sales", "")).await;
    suite
        .assign_to_audience(
            &pathway,
            &sales,
            pb::Requirement::Optional,
            None,
            pb::LeavePolicy::WithdrawIfNotStarted,
        )
        .await;
    let ada = suite.current("ada", &pathway).await.unwrap();
    let event_id = "0190d5a0-0000-7000-8000-000000000010";
    let first = suite.started(&ada.id, event_id).await;
    assert_eq!(first.acknowledged, [event_id]);
    let started = suite.current("ada", &pathway).await.unwrap();
    let start_time = started.start_time.expect("started");
    let again = suite.started(&ada.id, event_id).await;
    assert_eq!(
        again.acknowledged,
        [event_id],
        "a redelivery is acknowledged"
    );
    let after = suite.current("ada", &pathway).await.unwrap();
    assert_eq!(after.start_time, Some(start_time));
    assert_eq!(after.etag, started.etag, "and changes nothing");

    let unknown = suite
        .started(
            "0190d5a0-0000-7000-8000-0000000000ee",
            "0190d5a0-0000-7000-8000-000000000011",
        )
        .await;
    assert_eq!(unknown.rejected, ["0190d5a0-0000-7000-8000-000000000011"]);
    let refused = suite
        .events
        .clone()
        .deliver_events(bearer(
            &suite.admin(),
            events::DeliverEventsRequest { events: vec![] },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
}

async fn two_assignments_of_one_pathway_enrol_a_person_once(suite: Suite) {
    let pathway = suite.pathway("Overlap", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    let uk = suite.dynamic_audience("UK", r#"location = "UK""#).await;
    for i in 0..20 {
        let mut p = person(&format!("p{i:02}"), "Sales", "");
        p.location = "UK".into();
        suite.person(p).await;
    }
    let (a, b) = tokio::join!(
        suite.assign(pb::Assignment {
            pathway_id: pathway.clone(),
            audience_id: sales.clone(),
            requirement: pb::Requirement::Optional as i32,
            ..Default::default()
        }),
        suite.assign(pb::Assignment {
            pathway_id: pathway.clone(),
            audience_id: uk.clone(),
            requirement: pb::Requirement::Optional as i32,
            ..Default::default()
        }),
    );
    assert_eq!(a.unwrap().enrolled_count + b.unwrap().enrolled_count, 20);
    let enrolments = suite.enrolments_of_pathway(&pathway).await;
    assert_eq!(enrolments.len(), 20, "one enrolment per person");
    assert_eq!(suite.outbox_types().await.len(), 20);
}

async fn pathway_service_down_is_unavailable_and_writes_nothing(suite: Suite) {
    let pathway = suite.pathway("Unreachable", true).await;
    let sales = suite
        .dynamic_audience("Sales", r#"department = "Sales""#)
        .await;
    suite.person(person("ada", "Sales", "")).await;
    suite.suite.shut_down(Component::Pathway);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = suite
        .assign(pb::Assignment {
            pathway_id: pathway,
            audience_id: sales,
            requirement: pb::Requirement::Optional as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(suite.outbox_types().await.is_empty());
}
