//! notification-service as a learner and their manager meet it: assigned mandatory training
//! brings the assigned notification (inbox and email), due-soon reminders on the right days,
//! the overdue notice and the manager's escalation — each once, whatever is re-delivered or
//! re-run — and nothing more once the learner completes or is withdrawn. Real services over
//! gRPC, on SQLite and PostgreSQL; the tests move the scheduler's clock instead of sleeping.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDateTime;
use lms_platform::Role;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::notification_v1 as pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_proto::records_v1 as records_pb;
use lms_test_support::{TestSuite, bearer, fixtures};
use lms_topology::Component;
use notification_service::app::NotificationApp;
use pb::notification_service_client::NotificationServiceClient;
use tonic::Code;

lms_test_support::on_both_databases!(Suite;
    an_assigned_learner_is_told_reminded_and_escalated_once_each,
    completing_or_leaving_stops_the_reminders,
    the_inbox_is_the_callers_own_and_marks_read,
    optional_kinds_may_be_muted_and_mandatory_ones_not,
    templates_are_checked_saved_previewed_and_used,
    a_notification_the_directory_cannot_serve_is_retried_then_given_up,
    a_graded_essay_tells_the_learner_their_result_once,
    an_expired_certification_is_announced_and_cannot_be_muted,
    a_learner_who_chose_the_digest_gets_reminders_in_one_email_a_day,
    learners_hear_of_their_seats_waitlists_moves_and_cancellations,
);

struct Suite {
    suite: TestSuite,
    mail: tempfile::TempDir,
    admin: String,
}

impl Suite {
    async fn start(backend: lms_test_support::TestBackend) -> Option<Suite> {
        let mail = tempfile::tempdir().unwrap();
        let folder = mail.path().to_path_buf();
        let suite = TestSuite::start_with(
            backend,
            &[
                Component::Pathway,
                Component::Enrolment,
                Component::Records,
                Component::Notification,
            ],
            move |settings| {
                let email = &mut settings.notification.own.email;
                email.transport = notification_service::clients::mail::Transport::Folder;
                email.folder = folder;
                settings.notification.own.due_soon_days = vec![14, 7, 1];
                settings.notification.own.escalation_days = 7;
            },
        )
        .await?;
        let admin = suite.auth.admin("acme");
        Some(Suite { suite, mail, admin })
    }

    fn token(&self, person: &str) -> String {
        self.suite.auth.token("acme", person, &[Role::Learner])
    }

    fn inbox_client(&self) -> NotificationServiceClient<tonic::transport::Channel> {
        NotificationServiceClient::new(self.suite.channel(Component::Notification))
    }

    /// The notification-service use cases on the suite's database, for moving the clock.
    fn app(&self) -> NotificationApp {
        support::app(&self.suite)
    }

    /// Ada (reporting to Grace) and Grace, and a published pathway.
    async fn people_and_pathway(&self) -> (String, String) {
        let mut ada = fixtures::person("ada");
        ada.manager_external_id = "grace".into();
        let people = fixtures::people(
            self.suite.channel(Component::Enrolment),
            &self.admin,
            vec![ada, fixtures::person("grace")],
        )
        .await;
        let version = fixtures::published_pathway(
            self.suite.channel(Component::Pathway),
            &self.admin,
            pathway_pb::Pathway {
                title: "Fire safety".into(),
                outcome: pathway_pb::Outcome::Compliance as i32,
                ..Default::default()
            },
            vec![fixtures::content_step("Read the policy")],
        )
        .await;
        (people[0].id.clone(), version.pathway_id)
    }

    /// Enrols Ada as an admin, due at `due` (mandatory).
    async fn assign(
        &self,
        person: &str,
        pathway: &str,
        due: NaiveDateTime,
    ) -> enrolment_pb::Enrolment {
        enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
            self.suite.channel(Component::Enrolment),
        )
        .enrol_person(bearer(
            &self.admin,
            enrolment_pb::EnrolPersonRequest {
                person_id: person.into(),
                pathway_id: pathway.into(),
                due_time: Some(lms_platform::resource::timestamp(due)),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
    }

    async fn inbox(&self, person: &str) -> Vec<pb::Notification> {
        self.inbox_client()
            .list_notifications(bearer(
                &self.token(person),
                pb::ListNotificationsRequest::default(),
            ))
            .await
            .unwrap()
            .into_inner()
            .notifications
    }

    /// The inbox once it holds `count` notifications (events travel through outboxes).
    async fn inbox_of(&self, person: &str, count: usize) -> Vec<pb::Notification> {
        for _ in 0..200 {
            let inbox = self.inbox(person).await;
            if inbox.len() >= count {
                return inbox;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{person}'s inbox never held {count}: {:?}",
            self.inbox(person).await
        );
    }

    /// Runs the scheduler and the sender at `now`; how many reminders were decided.
    async fn at(&self, now: NaiveDateTime) -> usize {
        let app = self.app();
        let decided = app.run_reminders(now).await.unwrap();
        app.send_due(now).await.unwrap();
        decided
    }

    /// Sets `person`'s preferences (only the `mask` field when one is named).
    async fn preferences(
        &self,
        person: &str,
        muted: Vec<pb::NotificationKind>,
        digest: bool,
        mask: Option<&str>,
    ) -> pb::NotificationPreferences {
        self.inbox_client()
            .update_notification_preferences(bearer(
                &self.token(person),
                pb::UpdateNotificationPreferencesRequest {
                    preferences: Some(pb::NotificationPreferences {
                        muted: muted.into_iter().map(|k| k as i32).collect(),
                        digest,
                    }),
                    update_mask: mask.map(|path| prost_types::FieldMask {
                        paths: vec![path.into()],
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    fn mails(&self) -> Vec<String> {
        let dir: PathBuf = self.mail.path().to_path_buf();
        let mut mails: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        mails.sort();
        mails
    }
}

fn kinds(inbox: &[pb::Notification]) -> Vec<pb::NotificationKind> {
    let mut kinds: Vec<_> = inbox.iter().map(|n| n.kind()).collect();
    kinds.sort_by_key(|k| *k as i32);
    kinds
}

fn days(n: i64) -> chrono::Duration {
    chrono::Duration::days(n)
}

async fn an_assigned_learner_is_told_reminded_and_escalated_once_each(s: Suite) {
    use pb::NotificationKind::*;
    let (ada, pathway) = s.people_and_pathway().await;
    let now = lms_platform::resource::now();
    let due = now + days(20);
    let enrolment = s.assign(&ada, &pathway, due).await;

    // Assigned: in the inbox and by email, with the due date, as mandatory.
    let inbox = s.inbox_of("ada", 1).await;
    assert_eq!(kinds(&inbox), [Assigned]);
    assert_eq!(inbox[0].subject, "New training assigned: Fire safety");
    assert!(
        inbox[0].body.contains(&due.format("%Y-%m-%d").to_string()),
        "{}",
        inbox[0].body
    );
    assert!(inbox[0].body.contains("is mandatory"));
    assert!(inbox[0].mandatory);
    let mut mails = Vec::new();
    for _ in 0..100 {
        mails = s.mails();
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(mails.len(), 1, "one email");
    assert!(mails[0].contains("To: ada@acme.example"), "{}", mails[0]);
    assert!(mails[0].contains("Subject: New training assigned: Fire safety"));
    assert!(mails[0].contains(&format!("Message-ID: <{}@lms>", inbox[0].id)));

    // Nothing is due before the 14-day reminder; then each reminder on its day, once.
    assert_eq!(s.at(due - days(15)).await, 0);
    assert_eq!(s.at(due - days(14) + chrono::Duration::hours(1)).await, 1);
    assert_eq!(
        s.at(due - days(14) + chrono::Duration::hours(2)).await,
        0,
        "not twice"
    );
    assert_eq!(s.at(due - days(7) + chrono::Duration::hours(1)).await, 1);
    assert_eq!(s.at(due - days(1) + chrono::Duration::hours(1)).await, 1);
    let inbox = s.inbox("ada").await;
    assert_eq!(kinds(&inbox), [Assigned, DueSoon, DueSoon, DueSoon]);
    let subjects: Vec<_> = inbox.iter().map(|n| n.subject.as_str()).collect();
    assert!(
        subjects.contains(&"Due in 14 days: Fire safety"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Due in 7 days: Fire safety"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Due in 1 day: Fire safety"),
        "{subjects:?}"
    );

    // Overdue the day after, the manager's escalation a week later — to Grace, not to Ada.
    assert_eq!(s.at(due + chrono::Duration::hours(1)).await, 1);
    assert_eq!(s.at(due + days(7) + chrono::Duration::hours(1)).await, 1);
    assert_eq!(s.at(due + days(30)).await, 0, "the plan is over");
    let inbox = s.inbox("ada").await;
    assert_eq!(
        kinds(&inbox),
        [Assigned, DueSoon, DueSoon, DueSoon, Overdue]
    );
    let grace = s.inbox("grace").await;
    assert_eq!(kinds(&grace), [Escalation]);
    assert_eq!(grace[0].subject, "ADA is overdue: Fire safety");
    assert!(
        grace[0].body.starts_with("Hello GRACE,"),
        "{}",
        grace[0].body
    );
    assert_eq!(s.mails().len(), 6, "every notification emailed once");

    // A redelivered enrolment event (a new event id, the same enrolment) tells nobody twice.
    let event = lms_proto::events_v1::Event {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: "acme".into(),
        aggregate_id: enrolment.id.clone(),
        payload: Some(
            prost_types::Any::from_msg(&enrolment_pb::EnrolmentCreated {
                enrolment: Some(enrolment),
            })
            .unwrap(),
        ),
        occur_time: Some(lms_platform::resource::timestamp(now)),
        ..Default::default()
    };
    let answer = lms_proto::events_v1::event_consumer_client::EventConsumerClient::new(
        s.suite.channel(Component::Notification),
    )
    .deliver_events(bearer(
        &s.suite.auth.service("acme"),
        lms_proto::events_v1::DeliverEventsRequest {
            events: vec![event],
        },
    ))
    .await
    .unwrap()
    .into_inner();
    assert_eq!(answer.acknowledged.len(), 1);
    s.at(due + days(31)).await;
    assert_eq!(s.inbox("ada").await.len(), 5, "no second assignment notice");
}

async fn completing_or_leaving_stops_the_reminders(s: Suite) {
    use pb::NotificationKind::*;
    let (ada, pathway) = s.people_and_pathway().await;
    let now = lms_platform::resource::now();
    let due = now + days(20);
    let enrolment = s.assign(&ada, &pathway, due).await;
    s.inbox_of("ada", 1).await;

    // Ada completes the only step: records-service says so, she is congratulated, and no
    // reminder follows.
    let version = pathway_pb::pathway_service_client::PathwayServiceClient::new(
        s.suite.channel(Component::Pathway),
    )
    .get_pathway(bearer(
        &s.admin,
        pathway_pb::GetPathwayRequest {
            id: pathway.clone(),
        },
    ))
    .await
    .unwrap()
    .into_inner();
    let step = version.steps[0].id.clone();
    let mut records = records_pb::records_service_client::RecordsServiceClient::new(
        s.suite.channel(Component::Records),
    );
    let mut recorded = None;
    for _ in 0..100 {
        // records-service learns of the enrolment through enrolment-service's outbox.
        let answer = records
            .record_activity(bearer(
                &s.token("ada"),
                records_pb::RecordActivityRequest {
                    enrolment_id: enrolment.id.clone(),
                    step_id: step.clone(),
                    kind: records_pb::ActivityKind::StepCompleted as i32,
                    ..Default::default()
                },
            ))
            .await;
        if answer.is_ok() {
            recorded = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recorded.is_some(), "the step was recorded");
    let inbox = s.inbox_of("ada", 2).await;
    assert_eq!(kinds(&inbox), [Assigned, Completed]);
    assert_eq!(s.at(due - days(7) + chrono::Duration::hours(1)).await, 0);
    assert_eq!(s.at(due + days(10)).await, 0, "no overdue, no escalation");
    assert!(s.inbox("grace").await.is_empty());

    // Linus's enrolment is withdrawn before its reminders: none comes.
    let linus = fixtures::people(
        s.suite.channel(Component::Enrolment),
        &s.admin,
        vec![fixtures::person("linus")],
    )
    .await;
    let theirs = s.assign(&linus[0].id, &pathway, due).await;
    let theirs_id = theirs.id.clone();
    s.inbox_of("linus", 1).await;
    enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
        s.suite.channel(Component::Enrolment),
    )
    .withdraw_enrolment(bearer(
        &s.admin,
        enrolment_pb::WithdrawEnrolmentRequest {
            id: theirs.id,
            reason: "left the team".into(),
            etag: String::new(),
        },
    ))
    .await
    .unwrap();
    // Once the withdrawal has travelled through the outbox, no reminder is decided.
    let db = s.suite.db(Component::Notification);
    let mut withdrawn = false;
    for _ in 0..200 {
        let id = theirs_id.clone();
        let state = db
            .read(move |conn| {
                let tenant = lms_platform::ids::TenantId::parse("acme").unwrap();
                notification_service::storage::tracked::find(conn, &tenant, &id)
            })
            .await
            .unwrap()
            .map(|row| row.state);
        if state.as_deref() == Some("withdrawn") {
            withdrawn = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(withdrawn, "notification-service heard of the withdrawal");
    assert_eq!(s.at(due - days(14) + chrono::Duration::hours(1)).await, 0);
    assert_eq!(kinds(&s.inbox("linus").await), [Assigned]);
}

async fn the_inbox_is_the_callers_own_and_marks_read(s: Suite) {
    let (ada, pathway) = s.people_and_pathway().await;
    s.assign(&ada, &pathway, lms_platform::resource::now() + days(3))
        .await;
    let mine = s.inbox_of("ada", 1).await;
    let mut client = s.inbox_client();
    let unread = |who: &'static str| {
        let mut client = s.inbox_client();
        let token = s.token(who);
        async move {
            client
                .get_unread_count(bearer(&token, pb::GetUnreadCountRequest {}))
                .await
                .unwrap()
                .into_inner()
                .unread
        }
    };
    assert_eq!(unread("ada").await, 1);
    assert_eq!(unread("grace").await, 0);
    assert!(s.inbox("grace").await.is_empty(), "nobody else sees it");
    let other_tenant = s.suite.auth.token("globex", "ada", &[Role::Learner]);
    let theirs = client
        .list_notifications(bearer(
            &other_tenant,
            pb::ListNotificationsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        theirs.notifications.is_empty(),
        "another tenant's ada sees nothing"
    );

    // Someone else's notification is NOT_FOUND, and nothing is marked.
    let refused = client
        .mark_notifications_read(bearer(
            &s.token("grace"),
            pb::MarkNotificationsReadRequest {
                ids: vec![mine[0].id.clone()],
                all: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(unread("ada").await, 1);
    let bad = client
        .mark_notifications_read(bearer(
            &s.token("ada"),
            pb::MarkNotificationsReadRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);

    let marked = client
        .mark_notifications_read(bearer(
            &s.token("ada"),
            pb::MarkNotificationsReadRequest {
                ids: vec![mine[0].id.clone()],
                all: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(marked.marked, 1);
    assert_eq!(unread("ada").await, 0);
    let read = s.inbox("ada").await;
    assert!(read[0].read_time.is_some());
    let unread_only = client
        .list_notifications(bearer(
            &s.token("ada"),
            pb::ListNotificationsRequest {
                unread_only: true,
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(unread_only.notifications.is_empty());
}

async fn optional_kinds_may_be_muted_and_mandatory_ones_not(s: Suite) {
    use pb::NotificationKind::*;
    let mut client = s.inbox_client();
    let update = |muted: Vec<pb::NotificationKind>| pb::UpdateNotificationPreferencesRequest {
        preferences: Some(pb::NotificationPreferences {
            muted: muted.into_iter().map(|k| k as i32).collect(),
            digest: false,
        }),
        update_mask: None,
    };
    let refused = client
        .update_notification_preferences(bearer(&s.token("ada"), update(vec![Completed, DueSoon])))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("due_soon"),
        "{}",
        refused.message()
    );
    let saved = client
        .update_notification_preferences(bearer(&s.token("ada"), update(vec![Completed])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(saved.muted, [Completed as i32]);
    let read = client
        .get_notification_preferences(bearer(
            &s.token("ada"),
            pb::GetNotificationPreferencesRequest {},
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.muted, [Completed as i32]);

    // Ada muted completions: completing the pathway tells her nothing, the assignment still does.
    let (ada, pathway) = s.people_and_pathway().await;
    let app = s.app();
    let tenant = lms_platform::ids::TenantId::parse("acme").unwrap();
    let now = lms_platform::resource::now();
    let done = notification_service::events::Received::Completed {
        enrolment_id: "0190d5a0-0000-7000-8000-0000000000aa".into(),
        learner: "ada".into(),
        pathway_id: pathway.clone(),
        at: now,
    };
    app.db()
        .write({
            let app = app.clone();
            move |conn| app.apply_event(conn, &tenant, &done, now)
        })
        .await
        .unwrap();
    s.assign(&ada, &pathway, now + days(30)).await;
    let inbox = s.inbox_of("ada", 1).await;
    app.send_due(now).await.unwrap();
    assert_eq!(kinds(&inbox), [Assigned]);
    assert_eq!(
        kinds(&s.inbox("ada").await),
        [Assigned],
        "the completion was muted"
    );
}

async fn templates_are_checked_saved_previewed_and_used(s: Suite) {
    use pb::NotificationKind::*;
    let mut client = s.inbox_client();
    let template = |subject: &str, body: &str, locale: &str| pb::Template {
        kind: Assigned as i32,
        locale: locale.into(),
        subject: subject.into(),
        body: body.into(),
        ..Default::default()
    };
    let set = |t: pb::Template| pb::SetTemplateRequest { template: Some(t) };
    // A template that does not parse, or names what the kind does not have, is refused with
    // its line.
    let broken = client
        .set_template(bearer(
            &s.admin,
            set(template("Hi", "one\ntwo {% if %}", "de")),
        ))
        .await
        .unwrap_err();
    assert_eq!(broken.code(), Code::InvalidArgument);
    let violations = lms_platform::error::field_violations(&broken);
    assert_eq!(violations[0].field, "template.body");
    assert!(
        violations[0].description.starts_with("line 2:"),
        "{violations:?}"
    );
    let unknown = client
        .set_template(bearer(&s.admin, set(template("{{ salary }}", "x", "de"))))
        .await
        .unwrap_err();
    let violations = lms_platform::error::field_violations(&unknown);
    assert_eq!(violations[0].field, "template.subject");
    assert!(
        violations[0]
            .description
            .contains("unknown variable `salary`"),
        "{violations:?}"
    );
    let bad_locale = client
        .set_template(bearer(&s.admin, set(template("x", "y", "german"))))
        .await
        .unwrap_err();
    assert_eq!(bad_locale.code(), Code::InvalidArgument);
    let learner = client
        .list_templates(bearer(&s.token("ada"), pb::ListTemplatesRequest {}))
        .await
        .unwrap_err();
    assert_eq!(learner.code(), Code::PermissionDenied);

    // A German template for German speakers; a preview renders it with example values.
    let saved = client
        .set_template(bearer(
            &s.admin,
            set(template(
                "Neue Schulung: {{ pathway_title }}",
                "Hallo {{ learner_name }}, bitte bis {{ due_date }} abschließen.",
                "de",
            )),
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!saved.shipped);
    assert!(saved.variables.contains(&"due_date".to_string()));
    let preview = client
        .preview_template(bearer(
            &s.admin,
            pb::PreviewTemplateRequest {
                kind: Assigned as i32,
                locale: "de-CH".into(),
                template: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(preview.subject, "Neue Schulung: Fire safety");
    let listed = client
        .list_templates(bearer(&s.admin, pb::ListTemplatesRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.templates.iter().filter(|t| t.shipped).count(),
        notification_service::domain::kind::Kind::ALL.len(),
        "one per kind"
    );
    assert_eq!(listed.templates.iter().filter(|t| !t.shipped).count(), 1);

    // Used for a person whose locale is German (de-CH falls back to de).
    let mut ada = fixtures::person("ada");
    ada.attributes.insert("locale".into(), "de-CH".into());
    let people = fixtures::people(s.suite.channel(Component::Enrolment), &s.admin, vec![ada]).await;
    let (_, pathway) = {
        let version = fixtures::published_pathway(
            s.suite.channel(Component::Pathway),
            &s.admin,
            pathway_pb::Pathway {
                title: "Brandschutz".into(),
                outcome: pathway_pb::Outcome::Compliance as i32,
                ..Default::default()
            },
            vec![fixtures::content_step("Lesen")],
        )
        .await;
        ((), version.pathway_id)
    };
    s.assign(
        &people[0].id,
        &pathway,
        lms_platform::resource::now() + days(9),
    )
    .await;
    let inbox = s.inbox_of("ada", 1).await;
    assert_eq!(inbox[0].subject, "Neue Schulung: Brandschutz");

    // Removing it brings the shipped one back; removing it again is NOT_FOUND.
    let delete = || pb::DeleteTemplateRequest {
        kind: Assigned as i32,
        locale: "de".into(),
    };
    client
        .delete_template(bearer(&s.admin, delete()))
        .await
        .unwrap();
    let again = client
        .delete_template(bearer(&s.admin, delete()))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
}

/// With the directory down, preparing a notification is retried later (nothing is lost), and
/// after about a day of attempts it is marked failed instead of being tried forever.
async fn a_notification_the_directory_cannot_serve_is_retried_then_given_up(s: Suite) {
    use diesel::prelude::*;
    use notification_service::storage::schema::notifications as n;
    s.suite.stop(Component::Enrolment).await;
    let app = s.app();
    let tenant = lms_platform::ids::TenantId::parse("acme").unwrap();
    let now = lms_platform::resource::now();
    let done = notification_service::events::Received::Completed {
        enrolment_id: "0190d5a0-0000-7000-8000-0000000000bb".into(),
        learner: "ada".into(),
        pathway_id: String::new(),
        at: now,
    };
    app.db()
        .write({
            let app = app.clone();
            move |conn| app.apply_event(conn, &tenant, &done, now)
        })
        .await
        .unwrap();
    let state = |db: lms_platform::db::Db| async move {
        db.read(|conn| {
            Ok(n::table
                .select((n::state, n::attempts, n::last_error))
                .first::<(String, i32, String)>(conn)?)
        })
        .await
        .unwrap()
    };
    app.send_due(now).await.unwrap();
    let (first, attempts, _) = state(app.db().clone()).await;
    assert_eq!((first.as_str(), attempts), ("pending", 1), "retried later");
    // The 16th failure gives up.
    app.db()
        .write(|conn| {
            diesel::update(n::table)
                .set((
                    n::attempts.eq(15),
                    n::next_attempt_at.eq(lms_platform::resource::now()),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    app.send_due(lms_platform::resource::now()).await.unwrap();
    let (last, _, why) = state(app.db().clone()).await;
    assert_eq!(last, "failed");
    assert!(why.starts_with("gave up after 16 attempts"), "{why}");
}

async fn a_graded_essay_tells_the_learner_their_result_once(s: Suite) {
    use pb::NotificationKind::*;
    let (_, pathway) = s.people_and_pathway().await;
    let app = s.app();
    let tenant = lms_platform::ids::TenantId::parse("acme").unwrap();
    let now = lms_platform::resource::now();
    let graded = notification_service::events::Received::Graded {
        attempt_id: "0190d5a0-0000-7000-8000-0000000000bb".into(),
        learner: "ada".into(),
        pathway_id: pathway.clone(),
        score: 15.5,
        max_score: 16.0,
        passed: true,
        at: now,
    };
    // Delivered twice (at least once): told once.
    for _ in 0..2 {
        app.db()
            .write({
                let (app, tenant, graded) = (app.clone(), tenant.clone(), graded.clone());
                move |conn| app.apply_event(conn, &tenant, &graded, now)
            })
            .await
            .unwrap();
    }
    app.send_due(now).await.unwrap();
    let inbox = s.inbox("ada").await;
    assert_eq!(kinds(&inbox), [EssayGraded]);
    assert_eq!(inbox[0].subject, "Graded: Fire safety");
    assert!(
        inbox[0].body.contains("15.5 of 16") && inbox[0].body.contains("passed"),
        "{}",
        inbox[0].body
    );
    assert!(!inbox[0].mandatory, "a learner may mute it");
}

async fn an_expired_certification_is_announced_and_cannot_be_muted(s: Suite) {
    use pb::NotificationKind::*;
    let (_, pathway) = s.people_and_pathway().await;
    let status = s
        .inbox_client()
        .update_notification_preferences(bearer(
            &s.token("ada"),
            pb::UpdateNotificationPreferencesRequest {
                preferences: Some(pb::NotificationPreferences {
                    muted: vec![CertificationExpired as i32],
                    digest: false,
                }),
                update_mask: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let app = s.app();
    let tenant = lms_platform::ids::TenantId::parse("acme").unwrap();
    let now = lms_platform::resource::now();
    let expired = notification_service::events::Received::CertificationExpired(
        notification_service::events::CertificationFacts {
            id: "0190d5a0-0000-7000-8000-0000000000cc".into(),
            learner: "ada".into(),
            pathway_id: pathway.clone(),
            enrolment_id: "0190d5a0-0000-7000-8000-0000000000dd".into(),
            expires_at: Some(now - days(1)),
        },
    );
    app.db()
        .write({
            let app = app.clone();
            move |conn| app.apply_event(conn, &tenant, &expired, now)
        })
        .await
        .unwrap();
    app.send_due(now).await.unwrap();
    let inbox = s.inbox("ada").await;
    assert_eq!(kinds(&inbox), [CertificationExpired]);
    assert_eq!(
        inbox[0].subject,
        "Expired: your certification in Fire safety"
    );
    let yesterday = (now - days(1)).format("%Y-%m-%d").to_string();
    assert!(inbox[0].body.contains(&yesterday), "{}", inbox[0].body);
    assert!(inbox[0].mandatory);
}

async fn a_learner_who_chose_the_digest_gets_reminders_in_one_email_a_day(s: Suite) {
    use pb::NotificationKind::*;
    // Only the digest changes (the mask): what Ada muted stays.
    let saved = s.preferences("ada", vec![Completed], false, None).await;
    assert_eq!((saved.muted.len(), saved.digest), (1, false));
    let saved = s.preferences("ada", vec![], true, Some("digest")).await;
    assert_eq!(
        saved.muted,
        [Completed as i32],
        "the mask named digest only"
    );
    assert!(saved.digest);

    let (ada, pathway) = s.people_and_pathway().await;
    let now = lms_platform::resource::now();
    let due = now + days(20);
    s.assign(&ada, &pathway, due).await;
    s.inbox_of("ada", 1).await;
    s.at(now).await;
    assert_eq!(s.mails().len(), 1, "the assignment is emailed at once");
    // Two reminders: in the inbox at once, by email not yet.
    let first = due - days(14) + chrono::Duration::hours(1);
    let second = due - days(7) + chrono::Duration::hours(1);
    s.at(first).await;
    s.at(second).await;
    let inbox = s.inbox("ada").await;
    assert_eq!(kinds(&inbox), [Assigned, DueSoon, DueSoon]);
    assert_eq!(s.mails().len(), 1, "reminders wait for the digest");
    // The next morning after the digest hour (07:00 UTC): one email with both.
    let morning = (second + days(1)).date().and_hms_opt(8, 0, 0).unwrap();
    let app = s.app();
    assert_eq!(app.send_digests(morning).await.unwrap(), 1);
    let mails = s.mails();
    assert_eq!(mails.len(), 2);
    let digest = mails
        .iter()
        .find(|m| m.contains("Your learning reminders: 2 items"))
        .unwrap_or_else(|| panic!("no digest among {mails:?}"));
    assert!(digest.contains("Due in 14 days: Fire safety"), "{digest}");
    assert!(digest.contains("Due in 7 days: Fire safety"), "{digest}");
    // Once a day: running again that day sends nothing.
    assert_eq!(app.send_digests(morning).await.unwrap(), 0);
    assert_eq!(
        app.send_digests(morning + chrono::Duration::hours(3))
            .await
            .unwrap(),
        0
    );
    // Turning the digest off sends what waits one by one.
    s.at(due + days(1)).await;
    // The last due-soon reminder, caught up.
    let waiting = s.inbox("ada").await.len() - 3;
    assert!(waiting >= 1);
    assert_eq!(s.mails().len(), 2, "they wait for tomorrow's digest");
    s.preferences("ada", vec![], false, Some("digest")).await;
    s.at(due + days(1)).await;
    // What waited, and what came since, each alone.
    let since_the_digest = s.inbox("ada").await.len() - 3;
    assert!(since_the_digest >= waiting);
    assert_eq!(s.mails().len(), 2 + since_the_digest);
}

/// Training sessions: records-service's BookingChanged events, through the real outbox, become
/// notifications with the session's times in its own time zone.
async fn learners_hear_of_their_seats_waitlists_moves_and_cancellations(s: Suite) {
    use pb::NotificationKind::*;
    use records_pb::training_session_service_client::TrainingSessionServiceClient;
    let people = fixtures::people(
        s.suite.channel(Component::Enrolment),
        &s.admin,
        vec![fixtures::person("ada"), fixtures::person("grace")],
    )
    .await;
    let practical = pathway_pb::Step {
        title: "Practical".into(),
        required: true,
        kind: Some(pathway_pb::step::Kind::TrainingSession(
            pathway_pb::TrainingSessionStep {
                start_time: Some(prost_types::Timestamp {
                    seconds: 1_900_000_800,
                    nanos: 0,
                }),
                end_time: Some(prost_types::Timestamp {
                    seconds: 1_900_004_400,
                    nanos: 0,
                }),
                location: "Depot".into(),
                capacity: 1,
                instructor: "ivan".into(),
            },
        )),
        ..Default::default()
    };
    let version = fixtures::published_pathway(
        s.suite.channel(Component::Pathway),
        &s.admin,
        pathway_pb::Pathway {
            title: "Forklift practice".into(),
            outcome: pathway_pb::Outcome::Training as i32,
            ..Default::default()
        },
        vec![practical],
    )
    .await;
    let step = version.pathway.as_ref().unwrap().steps[0].id.clone();
    // Due long after the session, so no due-date reminder comes between.
    let due = chrono::NaiveDate::from_ymd_opt(2031, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let mut enrolments = Vec::new();
    for person in &people {
        enrolments.push(s.assign(&person.id, &version.pathway_id, due).await.id);
    }
    s.inbox_of("ada", 1).await;
    s.inbox_of("grace", 1).await;
    let sessions = || TrainingSessionServiceClient::new(s.suite.channel(Component::Records));
    let session = sessions()
        .create_session(bearer(
            &s.admin,
            records_pb::CreateSessionRequest {
                session: Some(records_pb::Session {
                    pathway_id: version.pathway_id.clone(),
                    step_id: step.clone(),
                    // 18:00 UTC: 20:00 in Johannesburg.
                    start_time: Some(prost_types::Timestamp {
                        seconds: 1_900_000_800,
                        nanos: 0,
                    }),
                    end_time: Some(prost_types::Timestamp {
                        seconds: 1_900_004_400,
                        nanos: 0,
                    }),
                    time_zone: "Africa/Johannesburg".into(),
                    location: "Depot, Bay 3".into(),
                    capacity: 1,
                    ..Default::default()
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    // Records-service knows the enrolments once enrolment-service's events arrive.
    let book = |who: &str, enrolment: &str| {
        let request = records_pb::BookSessionRequest {
            session_id: session.id.clone(),
            enrolment_id: enrolment.to_string(),
            ..Default::default()
        };
        let token = s.token(who);
        async move {
            for _ in 0..200 {
                match sessions()
                    .book_session(bearer(&token, request.clone()))
                    .await
                {
                    Ok(booking) => return booking.into_inner(),
                    Err(status) if status.code() == Code::NotFound => {
                        tokio::time::sleep(Duration::from_millis(50)).await
                    }
                    Err(status) => panic!("{status:?}"),
                }
            }
            panic!("the enrolment never reached records-service")
        }
    };
    let ada_booking = book("ada", &enrolments[0]).await;
    book("grace", &enrolments[1]).await;
    let ada = s.inbox_of("ada", 2).await;
    assert_eq!(ada[0].kind(), SessionBooked);
    assert_eq!(ada[0].subject, "Booked: Practical, Sun 17 Mar 2030, 20:00");
    assert!(
        ada[0].body.contains("Where: Depot, Bay 3"),
        "{}",
        ada[0].body
    );
    assert!(!ada[0].mandatory, "a confirmation may be muted");
    let grace = s.inbox_of("grace", 2).await;
    assert_eq!(grace[0].kind(), SessionWaitlisted);

    // Ada cancels: she is told, and Grace gets the seat.
    sessions()
        .cancel_booking(bearer(
            &s.token("ada"),
            records_pb::CancelBookingRequest {
                id: ada_booking.id.clone(),
                reason: "On leave".into(),
            },
        ))
        .await
        .unwrap();
    let ada = s.inbox_of("ada", 3).await;
    assert_eq!(ada[0].kind(), BookingCancelled);
    assert!(
        ada[0].body.contains("is cancelled: On leave"),
        "{}",
        ada[0].body
    );
    let grace = s.inbox_of("grace", 3).await;
    assert_eq!(grace[0].kind(), SessionBooked);
    assert!(
        grace[0].body.contains("A seat came free"),
        "{}",
        grace[0].body
    );

    // A day before the session, Grace is reminded (once, however often the scheduler runs).
    let session_start = chrono::DateTime::from_timestamp(1_900_000_800, 0)
        .unwrap()
        .naive_utc();
    assert_eq!(s.at(session_start - days(2)).await, 0, "not yet");
    assert_eq!(s.at(session_start - chrono::Duration::hours(23)).await, 1);
    assert_eq!(s.at(session_start - chrono::Duration::hours(22)).await, 0);
    let grace = s.inbox_of("grace", 4).await;
    assert_eq!(grace[0].kind(), SessionReminder);
    assert_eq!(
        grace[0].subject,
        "Coming up: Practical, Sun 17 Mar 2030, 20:00"
    );
    assert_eq!(
        s.inbox("ada").await.len(),
        3,
        "Ada gave up her seat: no reminder"
    );

    // The session moves an hour later, then is cancelled: Grace hears of both; they cannot be
    // muted.
    sessions()
        .update_session(bearer(
            &s.admin,
            records_pb::UpdateSessionRequest {
                session: Some(records_pb::Session {
                    id: session.id.clone(),
                    start_time: Some(prost_types::Timestamp {
                        seconds: 1_900_004_400,
                        nanos: 0,
                    }),
                    end_time: Some(prost_types::Timestamp {
                        seconds: 1_900_008_000,
                        nanos: 0,
                    }),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["start_time".into(), "end_time".into()],
                }),
            },
        ))
        .await
        .unwrap();
    // (The reminder, decided at a moved clock in 2030, is the newest in the inbox.)
    let of_kind = |inbox: &[pb::Notification], kind: pb::NotificationKind| {
        inbox
            .iter()
            .find(|n| n.kind() == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind:?} in {inbox:?}"))
    };
    let changed = of_kind(&s.inbox_of("grace", 5).await, SessionChanged);
    assert_eq!(
        changed.subject,
        "Changed: Practical is now Sun 17 Mar 2030, 21:00"
    );
    assert!(changed.mandatory);
    sessions()
        .cancel_session(bearer(
            &s.admin,
            records_pb::CancelSessionRequest {
                id: session.id.clone(),
                reason: "The forklift is in for repair.".into(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    let cancelled = of_kind(&s.inbox_of("grace", 6).await, SessionCancelled);
    assert!(
        cancelled
            .body
            .contains("is cancelled: The forklift is in for repair."),
        "{}",
        cancelled.body
    );
    assert_eq!(s.inbox("ada").await.len(), 3, "Ada was no longer booked");
    // The moved session's reminder went with the cancellation.
    assert_eq!(s.at(session_start).await, 0);
}
