//! pathway-service over real gRPC on an ephemeral port, against a real database: every test runs
//! once on SQLite (`sqlite::...`) and once on PostgreSQL (`postgres::...`, needs
//! `LMS_TEST_DATABASE_URL`). assessment-service runs beside it: an ASSESSMENT step links a
//! real assessment of its pathway.

use std::time::Duration;

use lms_platform::Role;
use lms_proto::pathway_v1 as pb;
use lms_test_support::{Component, TestAuth, TestBackend, TestSuite, bearer};
use pb::pathway_service_client::PathwayServiceClient;
use prost_types::{FieldMask, Timestamp};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// A running pathway-service and what a test needs to call it.
struct Suite {
    client: PathwayServiceClient<Channel>,
    channel: Channel,
    auth: TestAuth,
    suite: TestSuite,
}

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        // enrolment-service holds the role bindings pathway-service's decision point asks about
        // when a caller's token role alone does not decide.
        let components = [
            Component::Pathway,
            Component::Assessment,
            Component::Enrolment,
        ];
        let suite = TestSuite::start(backend, &components).await?;
        let channel = suite.channel(Component::Pathway);
        Some(Suite {
            client: PathwayServiceClient::new(channel.clone()),
            channel,
            auth: suite.auth.clone(),
            suite,
        })
    }

    fn admin(&self) -> String {
        self.auth.admin("acme")
    }

    fn learner(&self) -> String {
        self.auth.learner("acme")
    }

    async fn category(&self, name: &str, parent: &str) -> pb::Category {
        self.client
            .clone()
            .create_category(bearer(
                &self.admin(),
                pb::CreateCategoryRequest {
                    parent_id: parent.into(),
                    category: Some(pb::Category {
                        name: name.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("category created")
            .into_inner()
    }

    async fn pathway(&self, title: &str, outcome: pb::Outcome, category: &str) -> pb::Pathway {
        self.client
            .clone()
            .create_pathway(bearer(
                &self.admin(),
                pb::CreatePathwayRequest {
                    pathway: Some(pb::Pathway {
                        title: title.into(),
                        outcome: outcome as i32,
                        category_id: category.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("pathway created")
            .into_inner()
    }

    /// A one-question assessment of `pathway_id` (assessment-service): its id.
    async fn assessment_of(&self, pathway_id: &str) -> String {
        use lms_proto::assessment_v1 as assessment_pb;
        let mut assessments =
            assessment_pb::assessment_service_client::AssessmentServiceClient::new(
                self.suite.channel(Component::Assessment),
            );
        let bank = assessments
            .create_question_bank(bearer(
                &self.admin(),
                assessment_pb::CreateQuestionBankRequest {
                    bank: Some(assessment_pb::QuestionBank {
                        name: format!("Bank of {pathway_id}"),
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
                &self.admin(),
                assessment_pb::CreateQuestionRequest {
                    bank_id: bank.id,
                    question: Some(assessment_pb::Question {
                        text: "Forks low while driving.".into(),
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
                &self.admin(),
                assessment_pb::CreateAssessmentRequest {
                    assessment: Some(assessment_pb::Assessment {
                        title: "Theory test".into(),
                        pathway_id: pathway_id.into(),
                        questions: Some(assessment_pb::assessment::Questions::Fixed(
                            assessment_pb::FixedQuestions {
                                question_ids: vec![question.id],
                            },
                        )),
                        pass_mark_percent: 80.0,
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

    async fn add_step(&self, pathway_id: &str, step: pb::Step) -> Result<pb::Pathway, Status> {
        self.client
            .clone()
            .add_step(bearer(
                &self.admin(),
                pb::AddStepRequest {
                    pathway_id: pathway_id.into(),
                    step: Some(step),
                    position: None,
                    etag: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn publish(&self, id: &str) -> Result<pb::PathwayVersion, Status> {
        self.client
            .clone()
            .publish_pathway(bearer(
                &self.admin(),
                pb::PublishPathwayRequest {
                    id: id.into(),
                    etag: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn get_as(&self, token: &str, id: &str) -> Result<pb::Pathway, Status> {
        self.client
            .clone()
            .get_pathway(bearer(token, pb::GetPathwayRequest { id: id.into() }))
            .await
            .map(|r| r.into_inner())
    }

    async fn list_as(&self, token: &str, request: pb::ListPathwaysRequest) -> Vec<pb::Pathway> {
        self.client
            .clone()
            .list_pathways(bearer(token, request))
            .await
            .expect("list succeeds")
            .into_inner()
            .pathways
    }

    /// A published pathway with one required content step.
    async fn published(&self, title: &str) -> (pb::Pathway, pb::PathwayVersion) {
        let pathway = self.pathway(title, pb::Outcome::Training, "").await;
        self.add_step(&pathway.id, content_step("Read me", true))
            .await
            .unwrap();
        let version = self.publish(&pathway.id).await.unwrap();
        (pathway, version)
    }
}

fn content_step(title: &str, required: bool) -> pb::Step {
    pb::Step {
        title: title.into(),
        required,
        kind: Some(pb::step::Kind::Content(pb::ContentStep {
            cmi5: None,
            url: "https://learn.example.com/intro".into(),
            media_type: pb::content_step::MediaType::Video as i32,
        })),
        ..Default::default()
    }
}

fn with_prerequisites(mut step: pb::Step, prerequisites: &[&str]) -> pb::Step {
    step.prerequisite_step_ids = prerequisites.iter().map(|p| p.to_string()).collect();
    step
}

/// The fields named in an INVALID_ARGUMENT's `google.rpc.BadRequest`.
fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

fn mask(paths: &[&str]) -> Option<FieldMask> {
    Some(FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

lms_test_support::on_both_databases!(
    Suite;
    categories_form_a_tree_listed_in_pages,
    moving_a_category_under_its_descendant_is_refused_and_changes_nothing,
    moving_a_category_carries_its_subtree,
    a_non_empty_category_cannot_be_deleted,
    sibling_category_names_are_unique_ignoring_case,
    a_stale_etag_is_aborted_and_changes_nothing,
    invalid_pathway_input_names_every_field_and_creates_nothing,
    certification_policies_are_completion_or_calendar_anchored,
    an_assessment_step_links_only_an_existing_assessment_of_its_pathway,
    admin_builds_and_publishes_a_pathway_learners_read,
    editing_a_published_pathway_works_on_a_draft_until_republished,
    publishing_a_pathway_without_steps_is_refused,
    a_prerequisite_outside_the_pathway_is_refused,
    prerequisite_cycles_are_refused,
    a_required_step_cannot_be_removed_while_others_need_it,
    steps_reorder_and_keep_their_ids,
    updates_change_only_the_masked_fields,
    creates_with_a_request_id_are_idempotent,
    archived_pathways_leave_the_catalogue_but_keep_their_versions,
    pathway_lists_filter_and_paginate,
    another_tenants_ids_are_not_found,
    learners_cannot_call_admin_rpcs_and_never_see_drafts,
    missing_expired_and_forged_tokens_are_unauthenticated,
    malformed_ids_are_invalid_arguments,
    step_kinds_validate_their_details,
    health_reports_serving,
    reflection_v1_lists_the_services,
    oversized_messages_are_refused_and_change_nothing,
    a_category_is_never_deleted_under_a_new_pathway,
);

async fn categories_form_a_tree_listed_in_pages(suite: Suite) {
    let science = suite.category("Science", "").await;
    let physics = suite.category("Physics", &science.id).await;
    suite.category("Chemistry", &science.id).await;
    suite.category("Biology", &science.id).await;
    suite.category("Optics", &physics.id).await;
    assert_eq!(physics.depth, 1);
    assert_eq!(physics.parent_id, science.id);

    let mut client = suite.client.clone();
    let first = client
        .list_categories(bearer(
            &suite.learner(),
            pb::ListCategoriesRequest {
                parent_id: science.id.clone(),
                page_size: 2,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.categories.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_categories(bearer(
            &suite.learner(),
            pb::ListCategoriesRequest {
                parent_id: science.id.clone(),
                page_size: 2,
                page_token: first.next_page_token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.categories.len(), 1);
    assert!(second.next_page_token.is_empty());
    let mut names: Vec<_> = first
        .categories
        .iter()
        .chain(&second.categories)
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["Biology", "Chemistry", "Physics"]);

    let tree = client
        .get_category_tree(bearer(
            &suite.learner(),
            pb::GetCategoryTreeRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tree.roots.len(), 1);
    let root = &tree.roots[0];
    assert_eq!(root.category.as_ref().unwrap().name, "Science");
    assert_eq!(root.children.len(), 3);
    let physics_node = root
        .children
        .iter()
        .find(|n| n.category.as_ref().unwrap().name == "Physics")
        .unwrap();
    assert_eq!(physics_node.children.len(), 1);

    let subtree = client
        .get_category_tree(bearer(
            &suite.admin(),
            pb::GetCategoryTreeRequest {
                root_id: physics.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(subtree.roots[0].category.as_ref().unwrap().id, physics.id);
}

async fn moving_a_category_under_its_descendant_is_refused_and_changes_nothing(suite: Suite) {
    let a = suite.category("A", "").await;
    let b = suite.category("B", &a.id).await;
    let c = suite.category("C", &b.id).await;
    let mut client = suite.client.clone();
    let error = client
        .move_category(bearer(
            &suite.admin(),
            pb::MoveCategoryRequest {
                id: a.id.clone(),
                new_parent_id: c.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["new_parent_id"]);
    let after = client
        .get_category(bearer(
            &suite.admin(),
            pb::GetCategoryRequest { id: a.id.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.parent_id, "");
    assert_eq!(after.etag, a.etag);
}

async fn moving_a_category_carries_its_subtree(suite: Suite) {
    let a = suite.category("A", "").await;
    let b = suite.category("B", &a.id).await;
    let c = suite.category("C", &b.id).await;
    let d = suite.category("D", "").await;
    let mut client = suite.client.clone();
    let moved = client
        .move_category(bearer(
            &suite.admin(),
            pb::MoveCategoryRequest {
                id: b.id.clone(),
                new_parent_id: d.id.clone(),
                etag: b.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.parent_id, d.id);
    assert_eq!(moved.depth, 1);
    let to_root = client
        .move_category(bearer(
            &suite.admin(),
            pb::MoveCategoryRequest {
                id: b.id.clone(),
                new_parent_id: String::new(),
                etag: moved.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(to_root.depth, 0);
    let c_after = client
        .get_category(bearer(
            &suite.admin(),
            pb::GetCategoryRequest { id: c.id.clone() },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(c_after.depth, 1, "the child moved with its parent");
}

async fn a_non_empty_category_cannot_be_deleted(suite: Suite) {
    let parent = suite.category("Compliance", "").await;
    let child = suite.category("Safety", &parent.id).await;
    let mut client = suite.client.clone();
    let delete = |id: &str| pb::DeleteCategoryRequest {
        id: id.into(),
        etag: String::new(),
    };
    let error = client
        .delete_category(bearer(&suite.admin(), delete(&parent.id)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);

    let pathway = suite
        .pathway("Fire safety", pb::Outcome::Compliance, &child.id)
        .await;
    let error = client
        .delete_category(bearer(&suite.admin(), delete(&child.id)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "it holds a pathway");

    // Moving the pathway out empties the category.
    client
        .update_pathway(bearer(
            &suite.admin(),
            pb::UpdatePathwayRequest {
                pathway: Some(pb::Pathway {
                    id: pathway.id.clone(),
                    category_id: String::new(),
                    ..Default::default()
                }),
                update_mask: mask(&["category_id"]),
            },
        ))
        .await
        .unwrap();
    client
        .delete_category(bearer(&suite.admin(), delete(&child.id)))
        .await
        .unwrap();
    client
        .delete_category(bearer(&suite.admin(), delete(&parent.id)))
        .await
        .unwrap();
    let error = client
        .get_category(bearer(
            &suite.admin(),
            pb::GetCategoryRequest { id: parent.id },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
}

async fn sibling_category_names_are_unique_ignoring_case(suite: Suite) {
    let root = suite.category("Sales", "").await;
    let error = suite
        .client
        .clone()
        .create_category(bearer(
            &suite.admin(),
            pb::CreateCategoryRequest {
                parent_id: String::new(),
                category: Some(pb::Category {
                    name: "  sales ".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    // The same name is fine elsewhere in the tree.
    suite.category("Sales", &root.id).await;
}

async fn a_stale_etag_is_aborted_and_changes_nothing(suite: Suite) {
    let pathway = suite
        .pathway("Onboarding", pb::Outcome::Onboarding, "")
        .await;
    let mut client = suite.client.clone();
    let update = |title: &str, etag: &str| pb::UpdatePathwayRequest {
        pathway: Some(pb::Pathway {
            id: pathway.id.clone(),
            title: title.into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: mask(&["title"]),
    };
    let first = client
        .update_pathway(bearer(&suite.admin(), update("Welcome", &pathway.etag)))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(first.etag, pathway.etag);
    let error = client
        .update_pathway(bearer(&suite.admin(), update("Lost update", &pathway.etag)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Aborted);
    let now = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert_eq!(now.title, "Welcome");

    let category = suite.category("Ops", "").await;
    let renamed = client
        .update_category(bearer(
            &suite.admin(),
            pb::UpdateCategoryRequest {
                category: Some(pb::Category {
                    id: category.id.clone(),
                    name: "Operations".into(),
                    etag: category.etag.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["name"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.name, "Operations");
    let error = client
        .delete_category(bearer(
            &suite.admin(),
            pb::DeleteCategoryRequest {
                id: category.id.clone(),
                etag: category.etag.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Aborted);
}

async fn invalid_pathway_input_names_every_field_and_creates_nothing(suite: Suite) {
    let mut client = suite.client.clone();
    let error = client
        .create_pathway(bearer(
            &suite.admin(),
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: "   ".into(),
                    outcome: 0,
                    category_id: "not-a-uuid".into(),
                    tags: vec!["x".repeat(51)],
                    estimated_duration_minutes: -5,
                    ..Default::default()
                }),
                request_id: "also-not-a-uuid".into(),
            },
        ))
        .await
        .unwrap_err();
    let mut fields = violated_fields(&error);
    fields.sort();
    assert_eq!(
        fields,
        [
            "pathway.category_id",
            "pathway.estimated_duration_minutes",
            "pathway.outcome",
            "pathway.tags[0]",
            "pathway.title",
            "request_id"
        ]
    );
    let long_title = client
        .create_pathway(bearer(
            &suite.admin(),
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: "t".repeat(201),
                    outcome: pb::Outcome::Training as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&long_title), ["pathway.title"]);
    let certification_on_training = client
        .create_pathway(bearer(
            &suite.admin(),
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: "T".into(),
                    outcome: pb::Outcome::Training as i32,
                    certification: Some(pb::CertificationPolicy {
                        validity_days: 365,
                        recertification_window_days: 30,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&certification_on_training),
        ["pathway.certification"]
    );
    let unknown_category = client
        .create_pathway(bearer(
            &suite.admin(),
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: "T".into(),
                    outcome: pb::Outcome::Training as i32,
                    category_id: uuid_v7(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown_category.code(), Code::NotFound);
    assert!(
        suite
            .list_as(&suite.admin(), Default::default())
            .await
            .is_empty()
    );
}

async fn certification_policies_are_completion_or_calendar_anchored(suite: Suite) {
    let create = |policy: pb::CertificationPolicy| {
        let mut client = suite.client.clone();
        let token = suite.admin();
        async move {
            client
                .create_pathway(bearer(
                    &token,
                    pb::CreatePathwayRequest {
                        pathway: Some(pb::Pathway {
                            title: "Annual compliance".into(),
                            outcome: pb::Outcome::Certification as i32,
                            certification: Some(policy),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                ))
                .await
        }
    };
    // Every 31 March, the window opening 30 days before, 14 days of grace: kept as given.
    let calendar = pb::CertificationPolicy {
        recertification_window_days: 30,
        expiry_month: 3,
        expiry_day: 31,
        grace_days: 14,
        ..Default::default()
    };
    let created = create(calendar).await.unwrap().into_inner();
    assert_eq!(created.certification, Some(calendar));
    let read = suite.get_as(&suite.admin(), &created.id).await.unwrap();
    assert_eq!(read.certification, Some(calendar));
    // Refused, each naming its field: 29 February, a month without its day, a validity the
    // calendar overrides, a grace period of more than a year, grace on a certification that
    // never expires.
    for (policy, field) in [
        (
            pb::CertificationPolicy {
                expiry_month: 2,
                expiry_day: 29,
                ..Default::default()
            },
            "pathway.certification.expiry_day",
        ),
        (
            pb::CertificationPolicy {
                expiry_month: 3,
                ..Default::default()
            },
            "pathway.certification.expiry_day",
        ),
        (
            pb::CertificationPolicy {
                validity_days: 365,
                ..calendar
            },
            "pathway.certification.validity_days",
        ),
        (
            pb::CertificationPolicy {
                grace_days: 366,
                ..calendar
            },
            "pathway.certification.grace_days",
        ),
        (
            pb::CertificationPolicy {
                grace_days: 7,
                ..Default::default()
            },
            "pathway.certification.grace_days",
        ),
    ] {
        let refused = create(policy).await.unwrap_err();
        assert_eq!(violated_fields(&refused), [field], "{policy:?}");
    }
}

async fn an_assessment_step_links_only_an_existing_assessment_of_its_pathway(suite: Suite) {
    let pathway = suite
        .pathway("Forklift", pb::Outcome::Certification, "")
        .await;
    let other = suite.pathway("Ladders", pb::Outcome::Training, "").await;
    let quiz = |assessment_id: String| pb::Step {
        title: "Quiz".into(),
        required: true,
        kind: Some(pb::step::Kind::Assessment(pb::AssessmentStep {
            assessment_id,
        })),
        ..Default::default()
    };
    let unknown = suite
        .add_step(&pathway.id, quiz(uuid_v7()))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let elsewhere = suite.assessment_of(&other.id).await;
    let foreign = suite
        .add_step(&pathway.id, quiz(elsewhere.clone()))
        .await
        .unwrap_err();
    assert_eq!(foreign.code(), Code::FailedPrecondition, "{foreign:?}");
    assert!(foreign.message().contains("belongs to another pathway"));
    let unchanged = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert!(unchanged.steps.is_empty(), "nothing was written");

    // The pathway's own assessment links; changing the link to an unknown one is refused too.
    let own = suite.assessment_of(&pathway.id).await;
    let linked = suite.add_step(&pathway.id, quiz(own)).await.unwrap();
    let step = linked.steps[0].clone();
    let relinked = suite
        .client
        .clone()
        .update_step(bearer(
            &suite.admin(),
            pb::UpdateStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pb::Step {
                    id: step.id.clone(),
                    ..quiz(uuid_v7())
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["assessment".into()],
                }),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(relinked.code(), Code::NotFound, "{relinked:?}");
    let after = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert_eq!(after.steps, [step]);
}

fn uuid_v7() -> String {
    lms_platform::validate::new_id()
}

async fn admin_builds_and_publishes_a_pathway_learners_read(suite: Suite) {
    let category = suite.category("Certifications", "").await;
    let mut client = suite.client.clone();
    let pathway = client
        .create_pathway(bearer(
            &suite.admin(),
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: "Forklift operator".into(),
                    description: "Licence to drive a forklift".into(),
                    category_id: category.id.clone(),
                    outcome: pb::Outcome::Certification as i32,
                    sequencing: pb::Sequencing::Sequential as i32,
                    estimated_duration_minutes: 240,
                    tags: vec!["safety".into(), "warehouse".into()],
                    certification: Some(pb::CertificationPolicy {
                        validity_days: 365,
                        recertification_window_days: 60,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(pathway.status, pb::PathwayStatus::Draft as i32);
    assert_eq!(pathway.audit.as_ref().unwrap().created_by, "admin@acme");

    let with_content = suite
        .add_step(&pathway.id, content_step("Safety video", true))
        .await
        .unwrap();
    let content_id = with_content.steps[0].id.clone();
    let start = Timestamp {
        seconds: 1_900_000_000,
        nanos: 0,
    };
    let end = Timestamp {
        seconds: 1_900_007_200,
        nanos: 0,
    };
    suite
        .add_step(
            &pathway.id,
            with_prerequisites(
                pb::Step {
                    title: "Practical session".into(),
                    required: true,
                    kind: Some(pb::step::Kind::TrainingSession(pb::TrainingSessionStep {
                        start_time: Some(start),
                        end_time: Some(end),
                        location: "Warehouse 3".into(),
                        capacity: 8,
                        instructor: "kim@acme".into(),
                    })),
                    ..Default::default()
                },
                &[&content_id],
            ),
        )
        .await
        .unwrap();
    suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Theory test".into(),
                required: true,
                kind: Some(pb::step::Kind::Assessment(pb::AssessmentStep {
                    assessment_id: suite.assessment_of(&pathway.id).await,
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Site rules".into(),
                required: true,
                kind: Some(pb::step::Kind::Acknowledgement(pb::AcknowledgementStep {
                    policy_url: "https://intranet.example.com/site-rules.pdf".into(),
                    statement: "I have read and accept the site rules".into(),
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let draft = suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Logbook".into(),
                required: false,
                kind: Some(pb::step::Kind::External(pb::ExternalStep {
                    instructions: "Upload 10 signed logbook hours".into(),
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(draft.steps.len(), 5);
    assert_eq!(
        draft.steps.iter().map(|s| s.position).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );

    // Before publishing, learners cannot see it.
    let error = suite
        .get_as(&suite.learner(), &pathway.id)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);

    let version = suite.publish(&pathway.id).await.unwrap();
    assert_eq!(version.version, 1);
    assert_eq!(version.published_by, "admin@acme");
    let published = version.pathway.as_ref().unwrap();
    assert_eq!(published.steps.len(), 5);
    assert_eq!(published.status, pb::PathwayStatus::Published as i32);

    // A learner reads it, and the version, by id.
    let seen = suite.get_as(&suite.learner(), &pathway.id).await.unwrap();
    assert_eq!(seen.title, "Forklift operator");
    assert_eq!(seen.steps.len(), 5);
    assert_eq!(seen.steps[1].prerequisite_step_ids, vec![content_id]);
    match &seen.steps[1].kind {
        Some(pb::step::Kind::TrainingSession(t)) => {
            assert_eq!(t.start_time, Some(start));
            assert_eq!(t.capacity, 8);
        }
        other => panic!("expected a training session, got {other:?}"),
    }
    let read_back = suite
        .client
        .clone()
        .get_pathway_version(bearer(
            &suite.learner(),
            pb::GetPathwayVersionRequest {
                pathway_id: pathway.id.clone(),
                version: 1,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read_back.pathway, version.pathway);
    let listed = suite.list_as(&suite.learner(), Default::default()).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].steps.is_empty(), "lists leave steps out");
}

async fn editing_a_published_pathway_works_on_a_draft_until_republished(suite: Suite) {
    let (pathway, v1) = suite.published("Induction").await;
    let step_id = v1.pathway.as_ref().unwrap().steps[0].id.clone();
    let mut client = suite.client.clone();
    let edited = client
        .update_pathway(bearer(
            &suite.admin(),
            pb::UpdatePathwayRequest {
                pathway: Some(pb::Pathway {
                    id: pathway.id.clone(),
                    title: "Induction 2027".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(edited.has_unpublished_changes);
    assert_eq!(edited.status, pb::PathwayStatus::Published as i32);
    suite
        .add_step(&pathway.id, content_step("New module", true))
        .await
        .unwrap();

    // Learners keep seeing version 1 until the draft is published.
    let seen = suite.get_as(&suite.learner(), &pathway.id).await.unwrap();
    assert_eq!(seen.title, "Induction");
    assert_eq!(seen.steps.len(), 1);
    let found = suite
        .list_as(
            &suite.learner(),
            pb::ListPathwaysRequest {
                query: "2027".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(
        found.is_empty(),
        "unpublished titles are not searchable by learners"
    );

    let v2 = suite.publish(&pathway.id).await.unwrap();
    assert_eq!(v2.version, 2);
    let v2_steps = &v2.pathway.as_ref().unwrap().steps;
    assert_eq!(v2_steps.len(), 2);
    assert_eq!(
        v2_steps[0].id, step_id,
        "a step keeps its id across versions"
    );
    let seen = suite.get_as(&suite.learner(), &pathway.id).await.unwrap();
    assert_eq!(seen.title, "Induction 2027");

    // Version 1 is unchanged and both are listed, newest first.
    let v1_again = client
        .get_pathway_version(bearer(
            &suite.learner(),
            pb::GetPathwayVersionRequest {
                pathway_id: pathway.id.clone(),
                version: 1,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1_again.pathway, v1.pathway);
    let versions = client
        .list_pathway_versions(bearer(
            &suite.learner(),
            pb::ListPathwayVersionsRequest {
                pathway_id: pathway.id.clone(),
                page_size: 1,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(versions.versions[0].version, 2);
    let older = client
        .list_pathway_versions(bearer(
            &suite.learner(),
            pb::ListPathwayVersionsRequest {
                pathway_id: pathway.id.clone(),
                page_size: 1,
                page_token: versions.next_page_token,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(older.versions[0].version, 1);
    assert!(older.next_page_token.is_empty());

    // Publishing again with nothing changed is refused.
    let error = suite.publish(&pathway.id).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
}

async fn publishing_a_pathway_without_steps_is_refused(suite: Suite) {
    let pathway = suite.pathway("Empty", pb::Outcome::Training, "").await;
    let error = suite.publish(&pathway.id).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    let after = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert_eq!(after.status, pb::PathwayStatus::Draft as i32);
    assert_eq!(after.latest_version, 0);
}

async fn a_prerequisite_outside_the_pathway_is_refused(suite: Suite) {
    let other = suite.pathway("Other", pb::Outcome::Training, "").await;
    let other = suite
        .add_step(&other.id, content_step("Elsewhere", true))
        .await
        .unwrap();
    let pathway = suite.pathway("Mine", pb::Outcome::Training, "").await;
    let error = suite
        .add_step(
            &pathway.id,
            with_prerequisites(content_step("Step", true), &[&other.steps[0].id]),
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["step.prerequisite_step_ids"]);
    let after = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert!(after.steps.is_empty());
    assert_eq!(after.etag, pathway.etag, "nothing was written");
}

async fn prerequisite_cycles_are_refused(suite: Suite) {
    let pathway = suite.pathway("Loop", pb::Outcome::Training, "").await;
    let p = suite
        .add_step(&pathway.id, content_step("A", true))
        .await
        .unwrap();
    let a = p.steps[0].id.clone();
    let p = suite
        .add_step(
            &pathway.id,
            with_prerequisites(content_step("B", true), &[&a]),
        )
        .await
        .unwrap();
    let b = p.steps[1].id.clone();
    let error = suite
        .client
        .clone()
        .update_step(bearer(
            &suite.admin(),
            pb::UpdateStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pb::Step {
                    id: a.clone(),
                    prerequisite_step_ids: vec![b.clone()],
                    ..Default::default()
                }),
                update_mask: mask(&["prerequisite_step_ids"]),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["step.prerequisite_step_ids"]);
}

async fn a_required_step_cannot_be_removed_while_others_need_it(suite: Suite) {
    let pathway = suite.pathway("Chain", pb::Outcome::Training, "").await;
    let p = suite
        .add_step(&pathway.id, content_step("A", true))
        .await
        .unwrap();
    let a = p.steps[0].id.clone();
    let p = suite
        .add_step(
            &pathway.id,
            with_prerequisites(content_step("B", true), &[&a]),
        )
        .await
        .unwrap();
    let b = p.steps[1].id.clone();
    let mut client = suite.client.clone();
    let remove = |step_id: &str| pb::RemoveStepRequest {
        pathway_id: pathway.id.clone(),
        step_id: step_id.into(),
        etag: String::new(),
    };
    let error = client
        .remove_step(bearer(&suite.admin(), remove(&a)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    client
        .remove_step(bearer(&suite.admin(), remove(&b)))
        .await
        .unwrap();
    let p = client
        .remove_step(bearer(&suite.admin(), remove(&a)))
        .await
        .unwrap()
        .into_inner();
    assert!(p.steps.is_empty());
    let error = client
        .remove_step(bearer(&suite.admin(), remove(&a)))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
}

async fn steps_reorder_and_keep_their_ids(suite: Suite) {
    let pathway = suite.pathway("Order", pb::Outcome::Training, "").await;
    for title in ["one", "two", "three"] {
        suite
            .add_step(&pathway.id, content_step(title, true))
            .await
            .unwrap();
    }
    let before = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    let ids: Vec<String> = before.steps.iter().map(|s| s.id.clone()).collect();
    let mut client = suite.client.clone();
    let reordered = client
        .reorder_steps(bearer(
            &suite.admin(),
            pb::ReorderStepsRequest {
                pathway_id: pathway.id.clone(),
                step_ids: vec![ids[2].clone(), ids[0].clone(), ids[1].clone()],
                etag: before.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<_> = reordered.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["three", "one", "two"]);
    assert_eq!(reordered.steps[0].id, ids[2]);
    assert_eq!(reordered.steps[0].position, 0);

    let error = client
        .reorder_steps(bearer(
            &suite.admin(),
            pb::ReorderStepsRequest {
                pathway_id: pathway.id.clone(),
                step_ids: vec![ids[0].clone(), ids[0].clone(), ids[1].clone()],
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["step_ids"]);

    // Inserting at a position shifts the rest.
    let inserted = client
        .add_step(bearer(
            &suite.admin(),
            pb::AddStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(content_step("zero", false)),
                position: Some(0),
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inserted.steps[0].title, "zero");
    assert_eq!(inserted.steps[3].title, "two");
}

async fn updates_change_only_the_masked_fields(suite: Suite) {
    let pathway = suite
        .pathway("Sales basics", pb::Outcome::Training, "")
        .await;
    let mut client = suite.client.clone();
    let updated = client
        .update_pathway(bearer(
            &suite.admin(),
            pb::UpdatePathwayRequest {
                pathway: Some(pb::Pathway {
                    id: pathway.id.clone(),
                    description: "How we sell".into(),
                    title: "ignored because not in the mask".into(),
                    completion_rule: Some(pb::CompletionRule {
                        rule: Some(pb::completion_rule::Rule::MinSteps(
                            pb::completion_rule::MinSteps { count: 2 },
                        )),
                    }),
                    ..Default::default()
                }),
                update_mask: mask(&["description", "completion_rule"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.title, "Sales basics");
    assert_eq!(updated.description, "How we sell");
    assert!(matches!(
        updated.completion_rule.and_then(|r| r.rule),
        Some(pb::completion_rule::Rule::MinSteps(
            pb::completion_rule::MinSteps { count: 2 }
        ))
    ));
    // An output-only field named in the mask is ignored (AIP-203); a path that is no field of
    // the pathway is refused.
    let ignored = client
        .update_pathway(bearer(
            &suite.admin(),
            pb::UpdatePathwayRequest {
                pathway: Some(pb::Pathway {
                    id: pathway.id.clone(),
                    status: pb::PathwayStatus::Archived as i32,
                    ..Default::default()
                }),
                update_mask: mask(&["status"]),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ignored.status, pb::PathwayStatus::Draft as i32);
    let error = client
        .update_pathway(bearer(
            &suite.admin(),
            pb::UpdatePathwayRequest {
                pathway: Some(pb::Pathway {
                    id: pathway.id.clone(),
                    ..Default::default()
                }),
                update_mask: mask(&["colour"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["update_mask"]);

    // A step update with a mask leaves the kind's details alone.
    let p = suite
        .add_step(&pathway.id, content_step("Intro", true))
        .await
        .unwrap();
    let step_id = p.steps[0].id.clone();
    let p = client
        .update_step(bearer(
            &suite.admin(),
            pb::UpdateStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pb::Step {
                    id: step_id.clone(),
                    title: "Introduction".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.steps[0].title, "Introduction");
    assert!(matches!(p.steps[0].kind, Some(pb::step::Kind::Content(_))));
    let error = client
        .update_step(bearer(
            &suite.admin(),
            pb::UpdateStepRequest {
                pathway_id: pathway.id.clone(),
                step: Some(pb::Step {
                    id: step_id,
                    title: "Quiz".into(),
                    kind: Some(pb::step::Kind::Assessment(pb::AssessmentStep {
                        assessment_id: uuid_v7(),
                    })),
                    ..Default::default()
                }),
                update_mask: mask(&["assessment"]),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Code::InvalidArgument,
        "a step's kind cannot change"
    );
}

async fn creates_with_a_request_id_are_idempotent(suite: Suite) {
    let request_id = uuid::Uuid::new_v4().to_string();
    let create = || pb::CreatePathwayRequest {
        pathway: Some(pb::Pathway {
            title: "Retry me".into(),
            outcome: pb::Outcome::Training as i32,
            ..Default::default()
        }),
        request_id: request_id.clone(),
    };
    let mut client = suite.client.clone();
    let first = client
        .create_pathway(bearer(&suite.admin(), create()))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .create_pathway(bearer(&suite.admin(), create()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.id, second.id);
    assert_eq!(
        suite
            .list_as(&suite.admin(), Default::default())
            .await
            .len(),
        1
    );

    let category_request = || pb::CreateCategoryRequest {
        parent_id: String::new(),
        category: Some(pb::Category {
            name: "Once".into(),
            ..Default::default()
        }),
        request_id: request_id.clone(),
    };
    let a = client
        .create_category(bearer(&suite.admin(), category_request()))
        .await
        .unwrap()
        .into_inner();
    let b = client
        .create_category(bearer(&suite.admin(), category_request()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a.id, b.id);
}

async fn archived_pathways_leave_the_catalogue_but_keep_their_versions(suite: Suite) {
    let (pathway, _) = suite.published("Old policy").await;
    let mut client = suite.client.clone();
    let archived = client
        .archive_pathway(bearer(
            &suite.admin(),
            pb::ArchivePathwayRequest {
                id: pathway.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(archived.status, pb::PathwayStatus::Archived as i32);
    assert!(
        suite
            .list_as(&suite.learner(), Default::default())
            .await
            .is_empty()
    );
    assert_eq!(
        suite
            .get_as(&suite.learner(), &pathway.id)
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let version = client
        .get_pathway_version(bearer(
            &suite.learner(),
            pb::GetPathwayVersionRequest {
                pathway_id: pathway.id.clone(),
                version: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.version, 1);
    let error = suite
        .add_step(&pathway.id, content_step("Too late", true))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(
        suite.publish(&pathway.id).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
}

async fn pathway_lists_filter_and_paginate(suite: Suite) {
    let safety = suite.category("Safety", "").await;
    suite
        .pathway("Fire drill", pb::Outcome::Compliance, &safety.id)
        .await;
    suite
        .pathway("First aid 100%", pb::Outcome::Certification, &safety.id)
        .await;
    suite
        .pathway("Sales onboarding", pb::Outcome::Onboarding, "")
        .await;
    let admin = suite.admin();
    let in_safety = suite
        .list_as(
            &admin,
            pb::ListPathwaysRequest {
                category_id: safety.id.clone(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(in_safety.len(), 2);
    let compliance = suite
        .list_as(
            &admin,
            pb::ListPathwaysRequest {
                outcome: pb::Outcome::Compliance as i32,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(compliance.len(), 1);
    assert_eq!(compliance[0].title, "Fire drill");
    let text = suite
        .list_as(
            &admin,
            pb::ListPathwaysRequest {
                query: "FIRST".into(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(text.len(), 1);
    let percent = suite
        .list_as(
            &admin,
            pb::ListPathwaysRequest {
                query: "100%".into(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(percent.len(), 1, "LIKE wildcards in the query are literal");
    let drafts = suite
        .list_as(
            &admin,
            pb::ListPathwaysRequest {
                status: pb::PathwayStatus::Draft as i32,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(drafts.len(), 3);

    // Newest first, two pages, and a token only works with the filters it came from.
    let mut client = suite.client.clone();
    let page = client
        .list_pathways(bearer(
            &admin,
            pb::ListPathwaysRequest {
                page_size: 2,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.pathways[0].title, "Sales onboarding");
    assert_eq!(page.pathways.len(), 2);
    let rest = client
        .list_pathways(bearer(
            &admin,
            pb::ListPathwaysRequest {
                page_size: 2,
                page_token: page.next_page_token.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.pathways.len(), 1);
    assert_eq!(rest.pathways[0].title, "Fire drill");
    let error = client
        .list_pathways(bearer(
            &admin,
            pb::ListPathwaysRequest {
                page_size: 2,
                page_token: page.next_page_token,
                outcome: pb::Outcome::Compliance as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["page_token"]);
    let error = client
        .list_pathways(bearer(
            &admin,
            pb::ListPathwaysRequest {
                page_size: -1,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["page_size"]);
}

async fn another_tenants_ids_are_not_found(suite: Suite) {
    let (pathway, _) = suite.published("Acme only").await;
    let category = suite.category("Acme category", "").await;
    let other_admin = suite.auth.admin("globex");
    let other_learner = suite.auth.learner("globex");
    let mut client = suite.client.clone();

    for token in [&other_admin, &other_learner] {
        let error = suite.get_as(token, &pathway.id).await.unwrap_err();
        assert_eq!(error.code(), Code::NotFound);
        assert!(suite.list_as(token, Default::default()).await.is_empty());
        let error = client
            .get_pathway_version(bearer(
                token,
                pb::GetPathwayVersionRequest {
                    pathway_id: pathway.id.clone(),
                    version: 1,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::NotFound);
        let error = client
            .get_category(bearer(
                token,
                pb::GetCategoryRequest {
                    id: category.id.clone(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(error.code(), Code::NotFound);
    }
    let error = client
        .update_pathway(bearer(
            &other_admin,
            pb::UpdatePathwayRequest {
                pathway: Some(pb::Pathway {
                    id: pathway.id.clone(),
                    title: "Hijacked".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["title"]),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let error = client
        .archive_pathway(bearer(
            &other_admin,
            pb::ArchivePathwayRequest {
                id: pathway.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let error = client
        .create_category(bearer(
            &other_admin,
            pb::CreateCategoryRequest {
                parent_id: category.id.clone(),
                category: Some(pb::Category {
                    name: "Inside acme".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let error = client
        .create_pathway(bearer(
            &other_admin,
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: "In acme's category".into(),
                    outcome: pb::Outcome::Training as i32,
                    category_id: category.id.clone(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let tree = client
        .get_category_tree(bearer(&other_admin, pb::GetCategoryTreeRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(tree.roots.is_empty());
    // Acme's pathway is untouched.
    let still = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert_eq!(still.title, "Acme only");
    assert_eq!(still.status, pb::PathwayStatus::Published as i32);
}

async fn learners_cannot_call_admin_rpcs_and_never_see_drafts(suite: Suite) {
    let draft = suite
        .pathway("Secret draft", pb::Outcome::Training, "")
        .await;
    let learner = suite.learner();
    let mut client = suite.client.clone();
    let error = client
        .create_category(bearer(
            &learner,
            pb::CreateCategoryRequest {
                parent_id: String::new(),
                // Invalid input: the role check still comes first.
                category: Some(pb::Category::default()),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let error = client
        .publish_pathway(bearer(
            &learner,
            pb::PublishPathwayRequest {
                id: draft.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let instructor = suite
        .auth
        .token("acme", "teacher@acme", &[Role::Instructor]);
    let error = client
        .add_step(bearer(
            &instructor,
            pb::AddStepRequest {
                pathway_id: draft.id.clone(),
                step: Some(content_step("x", true)),
                position: None,
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);
    let no_roles = suite.auth.token("acme", "nobody@acme", &[]);
    let error = suite.get_as(&no_roles, &draft.id).await.unwrap_err();
    assert_eq!(error.code(), Code::PermissionDenied);

    assert_eq!(
        suite.get_as(&learner, &draft.id).await.unwrap_err().code(),
        Code::NotFound
    );
    let listed = suite
        .list_as(
            &learner,
            pb::ListPathwaysRequest {
                status: pb::PathwayStatus::Draft as i32,
                ..Default::default()
            },
        )
        .await;
    assert!(
        listed.is_empty(),
        "a learner asking for drafts still sees only published"
    );
    let unchanged = suite.get_as(&suite.admin(), &draft.id).await.unwrap();
    assert_eq!(unchanged.etag, draft.etag);
}

async fn missing_expired_and_forged_tokens_are_unauthenticated(suite: Suite) {
    let mut client = suite.client.clone();
    let list = pb::ListPathwaysRequest::default;
    let error = client.list_pathways(list()).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);

    let forged = TestAuthWithSecret::token("another-secret-another-secret-another");
    let error = client
        .list_pathways(bearer(&forged, list()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);

    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({
            "sub": "admin@acme", "tenant": "acme", "roles": ["admin"],
            "exp": chrono::Utc::now().timestamp() - 3600,
        }),
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
    )
    .unwrap();
    let error = client
        .list_pathways(bearer(&expired, list()))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    assert!(error.message().contains("expired"), "{}", error.message());

    let mut request = tonic::Request::new(list());
    request
        .metadata_mut()
        .insert("authorization", "Basic YWRtaW46YWRtaW4=".parse().unwrap());
    let error = client.list_pathways(request).await.unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
}

/// Tokens signed with some other secret than the server's.
struct TestAuthWithSecret;

impl TestAuthWithSecret {
    fn token(secret: &str) -> String {
        lms_platform::auth::mint_hs256(
            secret,
            "admin@acme",
            "acme",
            &[Role::Admin],
            Duration::from_secs(600),
        )
        .unwrap()
    }
}

async fn malformed_ids_are_invalid_arguments(suite: Suite) {
    let mut client = suite.client.clone();
    let admin = suite.admin();
    let error = suite.get_as(&admin, "42").await.unwrap_err();
    assert_eq!(violated_fields(&error), ["id"]);
    let error = client
        .get_category(bearer(&admin, pb::GetCategoryRequest { id: String::new() }))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["id"]);
    let error = client
        .remove_step(bearer(
            &admin,
            pb::RemoveStepRequest {
                pathway_id: "x".into(),
                step_id: "y".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["pathway_id", "step_id"]);
    let error = client
        .list_categories(bearer(
            &admin,
            pb::ListCategoriesRequest {
                parent_id: "'; DROP TABLE categories; --".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["parent_id"]);
    // Unknown but well-formed ids are NOT_FOUND.
    let error = suite.get_as(&admin, &uuid_v7()).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
}

async fn step_kinds_validate_their_details(suite: Suite) {
    let pathway = suite.pathway("Kinds", pb::Outcome::Training, "").await;
    let error = suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "No kind".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["step"]);
    let error = suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Bad content".into(),
                kind: Some(pb::step::Kind::Content(pb::ContentStep {
                    cmi5: None,
                    url: "javascript:alert(1)".into(),
                    media_type: 0,
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["step.content.url"]);
    let error = suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Backwards session".into(),
                kind: Some(pb::step::Kind::TrainingSession(pb::TrainingSessionStep {
                    start_time: Some(Timestamp {
                        seconds: 2_000,
                        nanos: 0,
                    }),
                    end_time: Some(Timestamp {
                        seconds: 1_000,
                        nanos: 0,
                    }),
                    location: String::new(),
                    capacity: -1,
                    instructor: String::new(),
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let mut fields = violated_fields(&error);
    fields.sort();
    assert_eq!(
        fields,
        [
            "step.training_session.capacity",
            "step.training_session.end_time"
        ]
    );

    let error = suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Quiz".into(),
                kind: Some(pb::step::Kind::Assessment(pb::AssessmentStep {
                    assessment_id: "quiz-1".into(),
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["step.assessment.assessment_id"]);
    let after = suite.get_as(&suite.admin(), &pathway.id).await.unwrap();
    assert!(after.steps.is_empty());
    // A training step needs no date, place or seats: its sessions are scheduled separately.
    let undated = suite
        .add_step(
            &pathway.id,
            pb::Step {
                title: "Practical".into(),
                kind: Some(pb::step::Kind::TrainingSession(pb::TrainingSessionStep {
                    instructor: "ivan".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let added = undated.steps.last().unwrap();
    let Some(pb::step::Kind::TrainingSession(training)) = &added.kind else {
        panic!("{added:?}");
    };
    assert_eq!((training.start_time, training.capacity), (None, 0));
}

async fn health_reports_serving(suite: Suite) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let mut health = HealthClient::new(suite.channel.clone());
    for service in ["", pathway_service::SERVICE_NAME] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
    // Health needs no token; after shutdown starts it reports NOT_SERVING.
    suite.suite.shut_down(Component::Pathway);
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Ok(response) = health
        .check(HealthCheckRequest {
            service: pathway_service::SERVICE_NAME.into(),
        })
        .await
    {
        assert_ne!(
            response.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
}

async fn reflection_v1_lists_the_services(suite: Suite) {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(suite.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response {response:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&pathway_service::SERVICE_NAME), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}

async fn oversized_messages_are_refused_and_change_nothing(suite: Suite) {
    let error = suite
        .client
        .clone()
        .create_category(bearer(
            &suite.admin(),
            pb::CreateCategoryRequest {
                parent_id: String::new(),
                category: Some(pb::Category {
                    name: "Huge".into(),
                    description: "x".repeat(5 * 1024 * 1024),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::OutOfRange, "{error:?}");
    let tree = suite
        .client
        .clone()
        .get_category_tree(bearer(
            &suite.admin(),
            pb::GetCategoryTreeRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(tree.roots.is_empty());
}

async fn a_category_is_never_deleted_under_a_new_pathway(suite: Suite) {
    for round in 0..15 {
        let category = suite.category(&format!("Race {round}"), "").await;
        let mut creator = suite.client.clone();
        let mut deleter = suite.client.clone();
        let create = creator.create_pathway(bearer(
            &suite.admin(),
            pb::CreatePathwayRequest {
                pathway: Some(pb::Pathway {
                    title: format!("In race {round}"),
                    outcome: pb::Outcome::Training as i32,
                    category_id: category.id.clone(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ));
        let delete = deleter.delete_category(bearer(
            &suite.admin(),
            pb::DeleteCategoryRequest {
                id: category.id.clone(),
                etag: String::new(),
            },
        ));
        let (created, deleted) = tokio::join!(create, delete);
        match (&created, &deleted) {
            (Ok(_), Ok(_)) => panic!("round {round}: a pathway was created in a deleted category"),
            (Err(c), Err(d)) => panic!("round {round}: both failed: {c:?} / {d:?}"),
            (Ok(_), Err(d)) => assert_eq!(d.code(), Code::FailedPrecondition),
            (Err(c), Ok(_)) => assert_eq!(c.code(), Code::NotFound),
        }
    }
}
