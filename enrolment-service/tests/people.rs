//! The learner directory over real gRPC on an ephemeral port, against SQLite (`sqlite::...`) and
//! PostgreSQL (`postgres::...`, needs `LMS_TEST_DATABASE_URL`).

use std::collections::HashMap;

use lms_platform::Role;
use lms_proto::enrolment_v1 as pb;
use lms_test_support::{Component, TestAuth, TestBackend, TestSuite, bearer};
use pb::enrolment_service_client::EnrolmentServiceClient;
use prost_types::FieldMask;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// enrolment-service alone (these tests never ask pathway-service; assignments are tested
/// in `assignments.rs`), with the default full-sync guard.
async fn directory(backend: TestBackend) -> Option<TestSuite> {
    TestSuite::start_with(backend, &[Component::Enrolment], |settings| {
        settings.enrolment.own.max_deactivation_share = 0.2;
    })
    .await
}

/// (tenant, joined, left) per tenant the sweep looked at.
async fn sweep(app: &enrolment_service::app::EnrolmentApp) -> Vec<(String, usize, usize)> {
    app.sweep_audiences()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.tenant.to_string(), r.joined, r.left))
        .collect()
}

struct Suite {
    client: EnrolmentServiceClient<Channel>,
    auth: TestAuth,
    _suite: TestSuite,
}

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        let suite = directory(backend).await?;
        Some(Suite {
            client: EnrolmentServiceClient::new(suite.channel(Component::Enrolment)),
            auth: suite.auth.clone(),
            _suite: suite,
        })
    }

    fn admin(&self) -> String {
        self.auth.admin("acme")
    }

    async fn create(&self, person: pb::Person) -> Result<pb::Person, Status> {
        self.client
            .clone()
            .create_person(bearer(
                &self.admin(),
                pb::CreatePersonRequest {
                    person: Some(person),
                    request_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn upload(
        &self,
        batches: Vec<Vec<pb::Person>>,
        full_sync: bool,
        force: bool,
    ) -> Result<pb::UpsertPeopleResponse, Status> {
        let messages: Vec<pb::UpsertPeopleRequest> = batches
            .into_iter()
            .map(|people| pb::UpsertPeopleRequest {
                people,
                full_sync,
                force,
            })
            .collect();
        self.client
            .clone()
            .upsert_people(bearer(&self.admin(), tokio_stream::iter(messages)))
            .await
            .map(|r| r.into_inner())
    }

    async fn list(&self, request: pb::ListPeopleRequest) -> Vec<pb::Person> {
        self.client
            .clone()
            .list_people(bearer(&self.admin(), request))
            .await
            .unwrap()
            .into_inner()
            .people
    }

    async fn by_external_id(&self) -> HashMap<String, pb::Person> {
        self.list(pb::ListPeopleRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .into_iter()
        .map(|p| (p.external_id.clone(), p))
        .collect()
    }
}

fn person(external_id: &str, department: &str) -> pb::Person {
    pb::Person {
        external_id: external_id.into(),
        display_name: format!("Person {external_id}"),
        email: format!("{external_id}@acme.example"),
        department: department.into(),
        location: "ZA".into(),
        hire_date: "2026-03-01".into(),
        attributes: [("cost_centre".to_string(), "CC-7".to_string())].into(),
        ..Default::default()
    }
}

fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let mut fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    fields.sort();
    fields
}

lms_test_support::on_both_databases!(
    Suite;
    people_are_created_read_and_updated_with_a_mask,
    invalid_people_name_every_field_and_create_nothing,
    external_ids_are_unique_per_tenant,
    an_upload_creates_updates_and_reports_bad_rows,
    a_full_sync_deactivates_the_missing,
    a_truncated_full_sync_is_refused_unless_forced,
    people_lists_filter_and_paginate,
    learners_read_only_themselves_and_tenants_are_isolated,
    a_dynamic_audience_holds_everyone_matching_now_and_follows_changes,
    a_bulk_sync_updates_dynamic_audiences,
    rule_previews_show_joiners_and_leavers_and_save_nothing,
    unreadable_rules_are_refused_with_their_position,
    static_audiences_take_explicit_members,
    audiences_are_isolated_per_tenant,
    classes_hold_students_and_instructors,
    a_class_cannot_end_before_it_starts_and_codes_are_unique,
);

fn class(code: &str, start: &str, end: &str) -> pb::AcademicClass {
    pb::AcademicClass {
        code: code.into(),
        name: format!("Class {code}"),
        term: "2026-S1".into(),
        start_date: start.into(),
        end_date: end.into(),
        ..Default::default()
    }
}

impl Suite {
    async fn create_class(&self, class: pb::AcademicClass) -> Result<pb::AcademicClass, Status> {
        self.client
            .clone()
            .create_class(bearer(
                &self.admin(),
                pb::CreateClassRequest {
                    class: Some(class),
                    request_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

async fn classes_hold_students_and_instructors(suite: Suite) {
    let ada = suite.create(person("ada", "Maths")).await.unwrap();
    let bob = suite.create(person("bob", "Maths")).await.unwrap();
    let kim = suite.create(person("kim", "Faculty")).await.unwrap();
    let cs101 = suite
        .create_class(class("CS101-A", "2026-02-01", "2026-06-30"))
        .await
        .unwrap();
    let mut client = suite.client.clone();
    let change = client
        .add_class_members(bearer(
            &suite.admin(),
            pb::AddClassMembersRequest {
                class_id: cs101.id.clone(),
                person_ids: vec![ada.id.clone(), bob.id.clone()],
                role: pb::ClassRole::Student as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((change.added, change.student_count), (2, 2));
    let change = client
        .add_class_members(bearer(
            &suite.admin(),
            pb::AddClassMembersRequest {
                class_id: cs101.id.clone(),
                person_ids: vec![kim.id.clone(), bob.id.clone()],
                role: pb::ClassRole::Instructor as i32,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (change.added, change.student_count, change.instructor_count),
        (1, 1, 2),
        "bob changes role; kim joins"
    );
    let instructors = client
        .list_class_members(bearer(
            &suite.admin(),
            pb::ListClassMembersRequest {
                class_id: cs101.id.clone(),
                role: pb::ClassRole::Instructor as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = instructors
        .members
        .iter()
        .map(|m| m.person.as_ref().unwrap().external_id.clone())
        .collect();
    assert_eq!(names, ["bob", "kim"]);
    let removed = client
        .remove_class_members(bearer(
            &suite.admin(),
            pb::RemoveClassMembersRequest {
                class_id: cs101.id.clone(),
                person_ids: vec![ada.id.clone()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((removed.removed, removed.student_count), (1, 0));
    let missing_role = client
        .add_class_members(bearer(
            &suite.admin(),
            pb::AddClassMembersRequest {
                class_id: cs101.id.clone(),
                person_ids: vec![ada.id.clone()],
                role: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing_role), ["role"]);
    // Another tenant sees nothing of it.
    let error = client
        .get_class(bearer(
            &suite.auth.admin("globex"),
            pb::GetClassRequest {
                id: cs101.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let listed = client
        .list_classes(bearer(
            &suite.admin(),
            pb::ListClassesRequest {
                term: "2026-S1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.classes.len(), 1);
    assert_eq!(listed.classes[0].instructor_count, 2);
}

async fn a_class_cannot_end_before_it_starts_and_codes_are_unique(suite: Suite) {
    let error = suite
        .create_class(class("CS102", "2026-06-30", "2026-02-01"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["class.end_date"]);
    let error = suite
        .create_class(class("", "30/06/2026", "2026-02-01"))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["class.code", "class.start_date"]);
    let created = suite
        .create_class(class("CS102", "2026-02-01", "2026-06-30"))
        .await
        .unwrap();
    let duplicate = suite
        .create_class(class("cs102", "2026-02-01", "2026-06-30"))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let error = suite
        .client
        .clone()
        .update_class(bearer(
            &suite.admin(),
            pb::UpdateClassRequest {
                class: Some(pb::AcademicClass {
                    id: created.id.clone(),
                    end_date: "2026-01-01".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["end_date".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["class.end_date"]);
    let listed = suite
        .client
        .clone()
        .list_classes(bearer(&suite.admin(), pb::ListClassesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.classes.len(), 1);
    assert_eq!(
        listed.classes[0].end_date, "2026-06-30",
        "a refused update changes nothing"
    );
}

impl Suite {
    async fn audience(&self, name: &str, rule: &str) -> Result<pb::Audience, Status> {
        let kind = if rule.is_empty() {
            pb::AudienceKind::Static
        } else {
            pb::AudienceKind::Dynamic
        };
        self.client
            .clone()
            .create_audience(bearer(
                &self.admin(),
                pb::CreateAudienceRequest {
                    audience: Some(pb::Audience {
                        name: name.into(),
                        kind: kind as i32,
                        rule: rule.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    async fn members(&self, audience_id: &str) -> Vec<String> {
        self.client
            .clone()
            .list_audience_members(bearer(
                &self.admin(),
                pb::ListAudienceMembersRequest {
                    audience_id: audience_id.into(),
                    page_size: 500,
                    page_token: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .members
            .into_iter()
            .map(|m| m.external_id)
            .collect()
    }
}

fn recent_hire() -> String {
    (chrono::Utc::now().date_naive() - chrono::Days::new(10))
        .format("%Y-%m-%d")
        .to_string()
}

async fn a_dynamic_audience_holds_everyone_matching_now_and_follows_changes(suite: Suite) {
    let mut za = person("za-sales", "Sales");
    za.hire_date = recent_hire();
    suite.create(za).await.unwrap();
    let mut old = person("old-sales", "Sales");
    old.hire_date = "2020-01-01".into();
    suite.create(old).await.unwrap();
    let mut manager = person("uk-manager", "sales");
    manager.location = "US".into();
    manager.job_title = "Regional Manager".into();
    manager.hire_date = recent_hire();
    suite.create(manager).await.unwrap();
    suite.create(person("hr", "HR")).await.unwrap();

    let rule = r#"department = "Sales" AND (location IN ("ZA","UK") OR job_title ~ "manager") AND hire_date >= now() - 90d"#;
    let audience = suite.audience("Recent sales joiners", rule).await.unwrap();
    assert_eq!(
        audience.member_count, 2,
        "the rule applies to who matches today"
    );
    assert_eq!(
        suite.members(&audience.id).await,
        ["uk-manager", "za-sales"]
    );

    // A joiner who matches becomes a member with no admin action; one who changes leaves.
    let mut joiner = person("joiner", "Sales");
    joiner.hire_date = recent_hire();
    joiner.location = "UK".into();
    let joiner = suite.create(joiner).await.unwrap();
    assert!(
        suite
            .members(&audience.id)
            .await
            .contains(&"joiner".to_string())
    );
    suite
        .client
        .clone()
        .update_person(bearer(
            &suite.admin(),
            pb::UpdatePersonRequest {
                person: Some(pb::Person {
                    id: joiner.id.clone(),
                    department: "Finance".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["department".into()],
                }),
            },
        ))
        .await
        .unwrap();
    assert!(
        !suite
            .members(&audience.id)
            .await
            .contains(&"joiner".to_string())
    );
}

async fn a_bulk_sync_updates_dynamic_audiences(suite: Suite) {
    let audience = suite
        .audience(
            "Cost centre 7",
            r#"attr.cost_centre = "cc-7" AND status = "ACTIVE""#,
        )
        .await
        .unwrap();
    assert_eq!(audience.member_count, 0);
    let people: Vec<pb::Person> = (0..30)
        .map(|i| person(&format!("e-{i:02}"), "Ops"))
        .collect();
    suite
        .upload(vec![people.clone()], false, false)
        .await
        .unwrap();
    assert_eq!(suite.members(&audience.id).await.len(), 30);
    // Two leave the cost centre, three leave the company.
    let mut changed = people.clone();
    changed[0]
        .attributes
        .insert("cost_centre".into(), "CC-8".into());
    changed[1].attributes.clear();
    let response = suite
        .upload(vec![changed[..27].to_vec()], true, false)
        .await
        .unwrap();
    assert_eq!(response.deactivated, 3);
    let members = suite.members(&audience.id).await;
    assert_eq!(members.len(), 25);
    assert!(!members.contains(&"e-00".to_string()));
    assert!(!members.contains(&"e-29".to_string()));
}

async fn rule_previews_show_joiners_and_leavers_and_save_nothing(suite: Suite) {
    for (id, department) in [("a", "Sales"), ("b", "Sales"), ("c", "HR")] {
        suite.create(person(id, department)).await.unwrap();
    }
    let audience = suite
        .audience("Sales", r#"department = "Sales""#)
        .await
        .unwrap();
    let preview = suite
        .client
        .clone()
        .preview_audience_rule(bearer(
            &suite.admin(),
            pb::PreviewAudienceRuleRequest {
                rule: r#"department IN ("HR", "Sales") AND external_id != "a""#.into(),
                audience_id: audience.id.clone(),
                sample_size: 0,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.match_count, 2);
    let names = |people: &[pb::PersonRef]| {
        people
            .iter()
            .map(|p| p.external_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&preview.joining), ["c"]);
    assert_eq!(names(&preview.leaving), ["a"]);
    assert_eq!(
        suite.members(&audience.id).await,
        ["a", "b"],
        "a preview saves nothing"
    );
}

async fn unreadable_rules_are_refused_with_their_position(suite: Suite) {
    let error = suite
        .audience("Broken", "department = \"Sales\" AND\n  locaton = \"ZA\"")
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&error), ["audience.rule"]);
    let detail = error.get_error_details();
    let description = &detail.bad_request().unwrap().field_violations[0].description;
    assert!(description.starts_with("line 2, column 3"), "{description}");
    let listed = suite
        .client
        .clone()
        .list_audiences(bearer(&suite.admin(), pb::ListAudiencesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.audiences.is_empty());
    let preview = suite
        .client
        .clone()
        .preview_audience_rule(bearer(
            &suite.admin(),
            pb::PreviewAudienceRuleRequest {
                rule: "hire_date > tomorrow".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&preview), ["rule"]);
}

async fn static_audiences_take_explicit_members(suite: Suite) {
    let a = suite.create(person("a", "Sales")).await.unwrap();
    let b = suite.create(person("b", "HR")).await.unwrap();
    let audience = suite.audience("Pilot group", "").await.unwrap();
    let mut client = suite.client.clone();
    let change = client
        .add_audience_members(bearer(
            &suite.admin(),
            pb::AddAudienceMembersRequest {
                audience_id: audience.id.clone(),
                person_ids: vec![a.id.clone(), b.id.clone(), a.id.clone()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((change.added, change.member_count), (2, 2));
    let change = client
        .remove_audience_members(bearer(
            &suite.admin(),
            pb::RemoveAudienceMembersRequest {
                audience_id: audience.id.clone(),
                person_ids: vec![a.id.clone()],
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((change.removed, change.member_count), (1, 1));
    let unknown = client
        .add_audience_members(bearer(
            &suite.admin(),
            pb::AddAudienceMembersRequest {
                audience_id: audience.id.clone(),
                person_ids: vec![lms_platform::validate::new_id()],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let dynamic = suite
        .audience("Sales", r#"department = "Sales""#)
        .await
        .unwrap();
    let refused = client
        .add_audience_members(bearer(
            &suite.admin(),
            pb::AddAudienceMembersRequest {
                audience_id: dynamic.id,
                person_ids: vec![b.id.clone()],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let duplicate = suite.audience("pilot GROUP", "").await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
}

async fn audiences_are_isolated_per_tenant(suite: Suite) {
    let acme_person = suite.create(person("a", "Sales")).await.unwrap();
    let audience = suite
        .audience("Sales", r#"department = "Sales""#)
        .await
        .unwrap();
    let globex = suite.auth.admin("globex");
    let mut client = suite.client.clone();
    let error = client
        .get_audience(bearer(
            &globex,
            pb::GetAudienceRequest {
                id: audience.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let error = client
        .list_audience_members(bearer(
            &globex,
            pb::ListAudienceMembersRequest {
                audience_id: audience.id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    // globex's own rule never matches acme's people.
    let theirs = client
        .create_audience(bearer(
            &globex,
            pb::CreateAudienceRequest {
                audience: Some(pb::Audience {
                    name: "Sales".into(),
                    kind: pb::AudienceKind::Static as i32,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let error = client
        .add_audience_members(bearer(
            &globex,
            pb::AddAudienceMembersRequest {
                audience_id: theirs.id,
                person_ids: vec![acme_person.id],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Code::NotFound,
        "another tenant's person is not found"
    );
    let preview = client
        .preview_audience_rule(bearer(
            &globex,
            pb::PreviewAudienceRuleRequest {
                rule: r#"department = "Sales""#.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.match_count, 0);
}

async fn people_are_created_read_and_updated_with_a_mask(suite: Suite) {
    let created = suite.create(person("e-1", "Sales")).await.unwrap();
    assert_eq!(created.status, pb::PersonStatus::Active as i32);
    assert_eq!(created.attributes["cost_centre"], "CC-7");
    assert_eq!(created.hire_date, "2026-03-01");
    let mut client = suite.client.clone();
    let updated = client
        .update_person(bearer(
            &suite.admin(),
            pb::UpdatePersonRequest {
                person: Some(pb::Person {
                    id: created.id.clone(),
                    department: "Marketing".into(),
                    display_name: String::new(),
                    etag: created.etag.clone(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["department".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.department, "Marketing");
    assert_eq!(updated.display_name, "Person e-1", "unmasked fields stay");
    assert_eq!(updated.attributes["cost_centre"], "CC-7");
    let stale = client
        .update_person(bearer(
            &suite.admin(),
            pb::UpdatePersonRequest {
                person: Some(pb::Person {
                    id: created.id.clone(),
                    location: "UK".into(),
                    etag: created.etag.clone(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["location".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let read = client
        .get_person(bearer(
            &suite.admin(),
            pb::GetPersonRequest { id: created.id },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.location, "ZA");
    assert_eq!(read.department, "Marketing");
}

async fn invalid_people_name_every_field_and_create_nothing(suite: Suite) {
    let error = suite
        .create(pb::Person {
            external_id: String::new(),
            display_name: "   ".into(),
            email: "not an email".into(),
            hire_date: "01/02/2026".into(),
            status: 9,
            attributes: [("Cost Centre".to_string(), "x".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        violated_fields(&error),
        [
            "person.attributes[\"Cost Centre\"]",
            "person.display_name",
            "person.email",
            "person.external_id",
            "person.hire_date",
            "person.status"
        ]
    );
    assert!(suite.list(Default::default()).await.is_empty());
}

async fn external_ids_are_unique_per_tenant(suite: Suite) {
    suite.create(person("e-1", "Sales")).await.unwrap();
    let error = suite.create(person("e-1", "HR")).await.unwrap_err();
    assert_eq!(error.code(), Code::AlreadyExists);
    // Another tenant may use the same external id.
    suite
        .client
        .clone()
        .create_person(bearer(
            &suite.auth.admin("globex"),
            pb::CreatePersonRequest {
                person: Some(person("e-1", "Sales")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap();
}

async fn an_upload_creates_updates_and_reports_bad_rows(suite: Suite) {
    suite.create(person("e-1", "Sales")).await.unwrap();
    suite.create(person("e-2", "Sales")).await.unwrap();
    let mut changed = person("e-2", "Marketing");
    changed.attributes.insert("band".into(), "B3".into());
    let mut bad_email = person("e-9", "Sales");
    bad_email.email = "nope".into();
    let response = suite
        .upload(
            vec![
                vec![person("e-1", "Sales"), changed, person("e-3", "HR")],
                vec![bad_email, person("e-3", "Legal"), person("e-4", "HR")],
            ],
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            response.created,
            response.updated,
            response.unchanged,
            response.deactivated
        ),
        (2, 1, 1, 0)
    );
    let errors: Vec<_> = response
        .errors
        .iter()
        .map(|e| (e.index, e.external_id.as_str(), e.field.as_str()))
        .collect();
    assert_eq!(errors, [(3, "e-9", "email"), (4, "e-3", "external_id")]);
    let people = suite.by_external_id().await;
    assert_eq!(people.len(), 4);
    assert_eq!(people["e-2"].department, "Marketing");
    assert_eq!(people["e-2"].attributes["band"], "B3");
    assert_eq!(
        people["e-3"].department, "HR",
        "the first of two duplicates wins"
    );
    assert!(!people.contains_key("e-9"));
    // An unchanged person keeps its etag; a changed one gets a new one.
    let again = suite
        .upload(vec![vec![person("e-1", "Sales")]], false, false)
        .await
        .unwrap();
    assert_eq!(again.unchanged, 1);
}

async fn a_full_sync_deactivates_the_missing(suite: Suite) {
    let all: Vec<pb::Person> = (0..10)
        .map(|i| person(&format!("e-{i}"), "Sales"))
        .collect();
    suite.upload(vec![all.clone()], false, false).await.unwrap();
    // One leaver of ten: within the 20 % limit.
    let response = suite
        .upload(vec![all[..9].to_vec()], true, false)
        .await
        .unwrap();
    assert_eq!(response.deactivated, 1);
    assert_eq!(response.unchanged, 9);
    let people = suite.by_external_id().await;
    assert_eq!(people["e-9"].status, pb::PersonStatus::Inactive as i32);
    assert_eq!(people["e-0"].status, pb::PersonStatus::Active as i32);
}

async fn a_truncated_full_sync_is_refused_unless_forced(suite: Suite) {
    let all: Vec<pb::Person> = (0..10)
        .map(|i| person(&format!("e-{i}"), "Sales"))
        .collect();
    suite.upload(vec![all.clone()], false, false).await.unwrap();
    let mut newcomer = person("e-new", "HR");
    newcomer.display_name = "Newcomer".into();
    let error = suite
        .upload(vec![vec![all[0].clone(), newcomer.clone()]], true, false)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(error.message().contains("9 of 10"), "{}", error.message());
    let people = suite.by_external_id().await;
    assert_eq!(
        people.len(),
        10,
        "a refused sync writes nothing, not even creates"
    );
    assert!(
        people
            .values()
            .all(|p| p.status == pb::PersonStatus::Active as i32)
    );
    let forced = suite
        .upload(vec![vec![all[0].clone(), newcomer]], true, true)
        .await
        .unwrap();
    assert_eq!((forced.created, forced.deactivated), (1, 9));
}

async fn people_lists_filter_and_paginate(suite: Suite) {
    let mut batch = Vec::new();
    for i in 0..7 {
        let mut p = person(&format!("e-{i}"), if i % 2 == 0 { "Sales" } else { "HR" });
        if i == 3 {
            p.display_name = "Ada Lovelace".into();
        }
        batch.push(p);
    }
    suite.upload(vec![batch], false, false).await.unwrap();
    let sales = suite
        .list(pb::ListPeopleRequest {
            department: "sales".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(sales.len(), 4);
    let ada = suite
        .list(pb::ListPeopleRequest {
            query: "LOVELACE".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(ada.len(), 1);
    let mut client = suite.client.clone();
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = client
            .list_people(bearer(
                &suite.admin(),
                pb::ListPeopleRequest {
                    page_size: 3,
                    page_token: token.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.people.into_iter().map(|p| p.external_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let expected: Vec<String> = (0..7).map(|i| format!("e-{i}")).collect();
    assert_eq!(seen, expected, "every person once, ordered by external id");
}

async fn learners_read_only_themselves_and_tenants_are_isolated(suite: Suite) {
    let ada = suite.create(person("ada", "Sales")).await.unwrap();
    let bob = suite.create(person("bob", "Sales")).await.unwrap();
    let mut client = suite.client.clone();
    let as_ada = suite.auth.token("acme", "ada", &[Role::Learner]);
    let own = client
        .get_person(bearer(&as_ada, pb::GetPersonRequest { id: ada.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.external_id, "ada");
    let other = client
        .get_person(bearer(&as_ada, pb::GetPersonRequest { id: bob.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::NotFound);
    let list = client
        .list_people(bearer(&as_ada, pb::ListPeopleRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::PermissionDenied);
    let upload = client
        .upsert_people(bearer(
            &as_ada,
            tokio_stream::iter(Vec::<pb::UpsertPeopleRequest>::new()),
        ))
        .await
        .unwrap_err();
    assert_eq!(upload.code(), Code::PermissionDenied);

    let globex = suite.auth.admin("globex");
    let error = client
        .get_person(bearer(&globex, pb::GetPersonRequest { id: ada.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    let listed = client
        .list_people(bearer(&globex, pb::ListPeopleRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.people.is_empty());
    // Asking for people by id (as notification-service does in batches): one's own tenant's
    // only, unknown ids left out, malformed ones refused.
    let by_ids = |token: String, ids: Vec<String>| {
        let mut client = client.clone();
        async move {
            client
                .list_people(bearer(
                    &token,
                    pb::ListPeopleRequest {
                        ids,
                        page_size: 500,
                        ..Default::default()
                    },
                ))
                .await
        }
    };
    let unknown = "0190d5a0-0000-7000-8000-0000000000ee".to_string();
    let found = by_ids(
        suite.admin(),
        vec![ada.id.clone(), bob.id.clone(), unknown.clone()],
    )
    .await
    .unwrap()
    .into_inner();
    let mut names: Vec<_> = found
        .people
        .iter()
        .map(|p| p.external_id.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["ada", "bob"]);
    let other_tenant = by_ids(globex.clone(), vec![ada.id.clone()])
        .await
        .unwrap()
        .into_inner();
    assert!(other_tenant.people.is_empty());
    let malformed = by_ids(suite.admin(), vec!["not-an-id".into()])
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&malformed), ["ids[0]"]);
    let too_many = by_ids(suite.admin(), vec![unknown; 501]).await.unwrap_err();
    assert_eq!(violated_fields(&too_many)[0], "ids");
    let error = client
        .update_person(bearer(
            &globex,
            pb::UpdatePersonRequest {
                person: Some(pb::Person {
                    id: ada.id.clone(),
                    department: "Hijacked".into(),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["department".into()],
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    // A globex full sync with nobody in it touches no acme person.
    let sync = client
        .upsert_people(bearer(
            &globex,
            tokio_stream::iter(vec![pb::UpsertPeopleRequest {
                people: vec![person("zed", "Ops")],
                full_sync: true,
                force: true,
            }]),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sync.deactivated, 0);
    let acme = suite.by_external_id().await;
    assert_eq!(acme.len(), 2);
    assert_eq!(acme["ada"].status, pb::PersonStatus::Active as i32);
}

mod sweep {
    //! The reconciliation sweep, driven through the use-case layer so the test can first
    //! introduce drift behind the service's back.
    use std::collections::{BTreeMap, HashSet};

    use super::{directory, sweep};
    use enrolment_service::domain::audience::{Audience, AudienceKind};
    use enrolment_service::domain::person::{PersonStatus, Profile};
    use enrolment_service::storage::audiences as audience_rows;
    use lms_platform::resource::Audit;
    use lms_platform::{Principal, Role};
    use lms_test_support::{Component, TestBackend};

    fn acme() -> lms_platform::ids::TenantId {
        lms_platform::ids::TenantId::parse("acme").unwrap()
    }

    fn profile(department: &str) -> Profile {
        Profile {
            email: String::new(),
            display_name: "Someone".into(),
            status: PersonStatus::Active,
            department: department.into(),
            job_title: String::new(),
            location: String::new(),
            manager_external_id: String::new(),
            hire_date: None,
            attributes: BTreeMap::new(),
        }
    }

    async fn the_sweep_repairs_drift_and_reports_it(backend: TestBackend) {
        let Some(suite) = directory(backend).await else {
            return;
        };
        let db = suite.db(Component::Enrolment);
        let topology = &suite.topology;
        let peers = topology.enrolment_peers().unwrap();
        let app = enrolment_service::app(db.clone(), &topology.settings.enrolment, &peers);
        let admin = Principal {
            subject: "admin@acme".into(),
            tenant_id: acme(),
            roles: HashSet::from([Role::Admin]),
            call: Default::default(),
        };
        let ada = app
            .create_person(&admin, "ada".into(), profile("Sales"), None)
            .await
            .unwrap();
        let audience = app
            .create_audience(
                &admin,
                Audience {
                    id: String::new(),
                    name: "Sales".into(),
                    description: String::new(),
                    kind: AudienceKind::Dynamic,
                    rule: r#"department = "Sales""#.into(),
                    revision: 0,
                    audit: Audit::new(""),
                },
                None,
            )
            .await
            .unwrap()
            .audience;
        assert_eq!(sweep(&app).await, [("acme".to_string(), 0, 0)]);

        // Drift: the membership disappears behind the service's back.
        let (audience_id, person_id) = (audience.id.clone(), ada.id.clone());
        db.write(move |conn| {
            audience_rows::remove_members(conn, &acme(), &audience_id, &[person_id])
        })
        .await
        .unwrap();
        assert_eq!(
            sweep(&app).await,
            [("acme".to_string(), 1, 0)],
            "the sweep puts Ada back and says so"
        );
        let audience_id = audience.id.clone();
        let members = db
            .read(move |conn| audience_rows::members(conn, &acme(), &audience_id))
            .await
            .unwrap();
        assert!(members.contains(&ada.id));
    }

    #[tokio::test]
    async fn sqlite_the_sweep_repairs_drift_and_reports_it() {
        the_sweep_repairs_drift_and_reports_it(TestBackend::Sqlite).await;
    }

    mod postgres {
        #[tokio::test]
        async fn the_sweep_repairs_drift_and_reports_it() {
            super::the_sweep_repairs_drift_and_reports_it(super::TestBackend::Postgres).await;
        }
    }
}
