//! Webhooks as a receiving system meets them: a real receiver (tests/webhooks/receiver.py)
//! verifies every delivery with the independent `standardwebhooks` library. Real services over
//! gRPC, on SQLite and PostgreSQL; enrolment-service's events reach notification-service
//! through its outbox, and the tests move the sender's clock instead of sleeping.

mod support;

use std::time::Duration;

use chrono::NaiveDateTime;
use lms_platform::Role;
use lms_platform::resource::{now, timestamp};
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::notification_v1 as pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_test_support::{TestSuite, bearer, fixtures};
use lms_topology::Component;
use notification_service::app::NotificationApp;
use pb::webhook_service_client::WebhookServiceClient;
use serde_json::Value;
use tonic::Code;

lms_test_support::on_both_databases!(Suite;
    a_receiver_gets_every_event_signed_and_in_order_per_aggregate,
    bad_subscriptions_are_refused_and_nothing_is_saved,
    a_receiver_down_for_an_hour_gets_everything_it_missed_once,
    failures_are_logged_retried_and_persistent_failure_disables_and_tells_the_admin,
    a_rotated_secret_overlaps_and_redelivery_repeats_the_id,
    webhooks_are_the_admins_of_their_own_tenant,
    a_sender_that_dies_mid_batch_loses_and_doubles_nothing,
);

/// A running receiver; stopped when dropped.
struct Receiver {
    /// Runs while this lives.
    _server: support::PythonServer,
    port: u16,
    http: reqwest::Client,
}

impl Receiver {
    fn start() -> Option<Receiver> {
        let server = support::PythonServer::start("webhooks/receiver.py", "standardwebhooks", &[])?;
        Some(Receiver {
            port: server.port,
            _server: server,
            http: reqwest::Client::new(),
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    async fn control(&self, mode: &str, secrets: &[&str]) {
        let body = serde_json::json!({"mode": mode, "secrets": secrets});
        let url = format!("http://127.0.0.1:{}/_control", self.port);
        let answer = self.http.post(url).json(&body).send().await.unwrap();
        assert!(answer.status().is_success());
    }

    /// What it kept: (received deliveries, attempts, unverified).
    async fn received(&self) -> (Vec<Value>, u64, u64) {
        let url = format!("http://127.0.0.1:{}/_received", self.port);
        let state: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            state["received"].as_array().unwrap().clone(),
            state["attempts"].as_u64().unwrap(),
            state["unverified"].as_u64().unwrap(),
        )
    }
}

struct Suite {
    suite: TestSuite,
    receiver: Receiver,
    admin: String,
}

impl Suite {
    async fn start(backend: lms_test_support::TestBackend) -> Option<Suite> {
        let receiver = Receiver::start()?;
        let suite = TestSuite::start_with(
            backend,
            &[
                Component::Pathway,
                Component::Enrolment,
                Component::Notification,
            ],
            |settings| {
                let own = &mut settings.notification.own;
                // The tests send; the service's own sender would race them.
                own.send_interval = Duration::ZERO;
                own.email.transport = notification_service::clients::mail::Transport::None;
                own.webhooks.allow_http = true;
                own.webhooks.allowed_networks = vec!["127.0.0.0/8".into()];
                own.webhooks.timeout = Duration::from_secs(1);
            },
        )
        .await?;
        let admin = suite.auth.admin("acme");
        Some(Suite {
            suite,
            receiver,
            admin,
        })
    }

    fn client(&self) -> WebhookServiceClient<tonic::transport::Channel> {
        WebhookServiceClient::new(self.suite.channel(Component::Notification))
    }

    fn app(&self) -> NotificationApp {
        support::app(&self.suite)
    }

    async fn subscribe(&self, types: &[&str]) -> (pb::Webhook, String) {
        let created = self
            .client()
            .create_webhook(bearer(
                &self.admin,
                pb::CreateWebhookRequest {
                    webhook: Some(pb::Webhook {
                        url: self.receiver.url(),
                        event_types: types.iter().map(|t| t.to_string()).collect(),
                        description: "HR system".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        (created.webhook.unwrap(), created.secret)
    }

    /// People and a published pathway; returns the people's ids.
    async fn people(&self, names: &[&str]) -> (Vec<String>, String) {
        let people = fixtures::people(
            self.suite.channel(Component::Enrolment),
            &self.admin,
            names.iter().map(|n| fixtures::person(n)).collect(),
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
        (
            people.into_iter().map(|p| p.id).collect(),
            version.pathway_id,
        )
    }

    fn enrolments(
        &self,
    ) -> enrolment_pb::enrolment_service_client::EnrolmentServiceClient<tonic::transport::Channel>
    {
        enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(
            self.suite.channel(Component::Enrolment),
        )
    }

    /// Enrols a person, extends the due date and withdraws them: three events about one
    /// enrolment, in that order. Returns the enrolment id.
    async fn three_events(&self, person: &str, pathway: &str) -> String {
        let due = now() + chrono::Duration::days(30);
        let enrolment = self
            .enrolments()
            .enrol_person(bearer(
                &self.admin,
                enrolment_pb::EnrolPersonRequest {
                    person_id: person.into(),
                    pathway_id: pathway.into(),
                    due_time: Some(timestamp(due)),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let extended = self
            .enrolments()
            .extend_due_date(bearer(
                &self.admin,
                enrolment_pb::ExtendDueDateRequest {
                    id: enrolment.id.clone(),
                    due_time: Some(timestamp(due + chrono::Duration::days(7))),
                    reason: "holiday".into(),
                    etag: String::new(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        self.enrolments()
            .withdraw_enrolment(bearer(
                &self.admin,
                enrolment_pb::WithdrawEnrolmentRequest {
                    id: extended.id.clone(),
                    reason: "left the team".into(),
                    etag: String::new(),
                },
            ))
            .await
            .unwrap();
        enrolment.id
    }

    /// The webhook's deliveries once `count` are queued (the outbox delivers in the background).
    async fn queued(&self, webhook: &str, count: usize) -> Vec<pb::WebhookDelivery> {
        for _ in 0..200 {
            let log = self.log(webhook).await;
            if log.len() >= count {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{count} deliveries were not queued in 10 s");
    }

    async fn log(&self, webhook: &str) -> Vec<pb::WebhookDelivery> {
        self.client()
            .list_webhook_deliveries(bearer(
                &self.admin,
                pb::ListWebhookDeliveriesRequest {
                    webhook_id: webhook.into(),
                    page_size: 500,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .deliveries
    }

    async fn get(&self, id: &str) -> pb::Webhook {
        self.client()
            .get_webhook(bearer(&self.admin, pb::GetWebhookRequest { id: id.into() }))
            .await
            .unwrap()
            .into_inner()
    }
}

/// The `type`s of the received CloudEvents about `subject`, in arrival order.
fn types_about(received: &[Value], subject: &str) -> Vec<String> {
    received
        .iter()
        .filter(|r| r["event"]["subject"] == subject)
        .map(|r| r["event"]["type"].as_str().unwrap().to_string())
        .collect()
}

const IN_ORDER: [&str; 3] = [
    "lms.enrolment.v1.EnrolmentCreated",
    "lms.enrolment.v1.EnrolmentUpdated",
    "lms.enrolment.v1.EnrolmentWithdrawn",
];

async fn a_receiver_gets_every_event_signed_and_in_order_per_aggregate(s: Suite) {
    let (hook, secret) = s.subscribe(&["*"]).await;
    assert!(secret.starts_with("whsec_"));
    assert_eq!(hook.state, pb::WebhookState::Active as i32);
    s.receiver.control("ok", &[&secret]).await;
    let (people, pathway) = s.people(&["ada", "grace"]).await;
    let ada = s.three_events(&people[0], &pathway).await;
    let grace = s.three_events(&people[1], &pathway).await;
    s.queued(&hook.id, 6).await;
    // A delivery waits for the earlier one about its enrolment: rounds until all are sent.
    assert_eq!(deliver_at(&s.app(), now()).await, 6);
    let (received, attempts, unverified) = s.receiver.received().await;
    assert_eq!((received.len(), attempts, unverified), (6, 6, 0));
    assert_eq!(types_about(&received, &ada), IN_ORDER);
    assert_eq!(types_about(&received, &grace), IN_ORDER);
    let first = &received[0];
    assert_eq!(
        first["content_type"],
        "application/cloudevents+json; charset=utf-8"
    );
    let event = &first["event"];
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(
        first["webhook_id"], event["id"],
        "webhook-id is the event id"
    );
    assert_eq!(event["lmstenant"], "acme");
    assert_eq!(event["source"], "/lms/tenants/acme/enrolment");
    assert_eq!(event["data"]["enrolment"]["pathwayId"], pathway.as_str());
    // The log says what happened.
    let log = s.log(&hook.id).await;
    assert_eq!(log.len(), 6);
    for delivery in &log {
        assert_eq!(delivery.state, pb::DeliveryState::Succeeded as i32);
        assert_eq!((delivery.attempts, delivery.last_status_code), (1, 204));
        assert!(delivery.last_attempt_time.is_some());
    }
    assert!(s.get(&hook.id).await.last_success_time.is_some());
    // Sent once: another run sends nothing.
    assert_eq!(s.app().deliver_webhooks(now()).await.unwrap(), 0);
}

async fn bad_subscriptions_are_refused_and_nothing_is_saved(s: Suite) {
    let create = |url: &str, types: &[&str]| pb::CreateWebhookRequest {
        webhook: Some(pb::Webhook {
            url: url.into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }),
    };
    let any = &["lms.enrolment.v1.EnrolmentCreated"];
    for (request, field, words) in [
        (
            create("http://10.0.0.7/hook", any),
            "webhook.url",
            "not allowed",
        ),
        (
            create("https://169.254.169.254/latest", any),
            "webhook.url",
            "not allowed",
        ),
        (create("ftp://hr.example/", any), "webhook.url", "https"),
        (create("not a url", any), "webhook.url", "not a URL"),
        (create("", any), "webhook.url", "required"),
        (
            create(&s.receiver.url(), &["lms.enrolment.v1.Nope"]),
            "webhook.event_types[0]",
            "unknown event type",
        ),
        (
            create(&s.receiver.url(), &[]),
            "webhook.event_types",
            "at least one",
        ),
        (
            create(
                &s.receiver.url(),
                &["*", "lms.enrolment.v1.EnrolmentCreated"],
            ),
            "webhook.event_types[0]",
            "stands alone",
        ),
    ] {
        let status = s
            .client()
            .create_webhook(bearer(&s.admin, request))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let violations = lms_platform::error::field_violations(&status);
        assert_eq!(violations[0].field, field, "{status:?}");
        assert!(violations[0].description.contains(words), "{status:?}");
    }
    let listed = s
        .client()
        .list_webhooks(bearer(&s.admin, pb::ListWebhooksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.webhooks.is_empty());
    // An update with a bad URL changes nothing either.
    let (hook, _) = s.subscribe(&["*"]).await;
    let status = s
        .client()
        .update_webhook(bearer(
            &s.admin,
            pb::UpdateWebhookRequest {
                webhook: Some(pb::Webhook {
                    id: hook.id.clone(),
                    url: "https://192.168.0.1/".into(),
                    ..Default::default()
                }),
                update_mask: None,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(s.get(&hook.id).await.url, s.receiver.url());
    let status = s
        .client()
        .rotate_webhook_secret(bearer(
            &s.admin,
            pb::RotateWebhookSecretRequest {
                id: hook.id.clone(),
                overlap_seconds: -1,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// Runs the sender at `at` until nothing more is accepted.
async fn deliver_at(app: &NotificationApp, at: NaiveDateTime) -> usize {
    let mut total = 0;
    loop {
        let accepted = app.deliver_webhooks(at).await.unwrap();
        total += accepted;
        if accepted == 0 {
            return total;
        }
    }
}

async fn a_receiver_down_for_an_hour_gets_everything_it_missed_once(s: Suite) {
    let (hook, secret) = s.subscribe(&["*"]).await;
    s.receiver.control("fail", &[&secret]).await;
    let (people, pathway) = s.people(&["ada", "grace"]).await;
    let ada = s.three_events(&people[0], &pathway).await;
    let grace = s.three_events(&people[1], &pathway).await;
    s.queued(&hook.id, 6).await;
    let app = s.app();
    let start = now();
    // Down: the first attempt of each aggregate's first event fails, and keeps failing on the
    // schedule through the hour (5 s, 5 min and 30 min later, each up to 25 % later); the later events
    // wait behind it.
    for minutes in [0, 1, 10, 50] {
        assert_eq!(
            deliver_at(&app, start + chrono::Duration::minutes(minutes)).await,
            0
        );
    }
    let (received, attempts, _) = s.receiver.received().await;
    assert!(received.is_empty());
    assert_eq!(attempts, 2 * 4, "two aggregates, four attempts each");
    // Back after an hour: the next retry (2 to 2.5 h after the fourth) brings everything.
    s.receiver.control("ok", &[&secret]).await;
    assert_eq!(
        deliver_at(&app, start + chrono::Duration::hours(4)).await,
        6
    );
    let (received, _, unverified) = s.receiver.received().await;
    assert_eq!(unverified, 0);
    assert_eq!(types_about(&received, &ada), IN_ORDER);
    assert_eq!(types_about(&received, &grace), IN_ORDER);
    let mut ids: Vec<_> = received.iter().map(|r| r["webhook_id"].clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 6, "each exactly once");
    assert_eq!(
        deliver_at(&app, start + chrono::Duration::hours(30)).await,
        0
    );
}

async fn failures_are_logged_retried_and_persistent_failure_disables_and_tells_the_admin(s: Suite) {
    // The admin is a person in the directory, so the suite can tell them.
    let mut admin_person = fixtures::person("admin@acme");
    admin_person.email = "admin@acme.example".into();
    fixtures::people(
        s.suite.channel(Component::Enrolment),
        &s.admin,
        vec![admin_person],
    )
    .await;
    let (hook, secret) = s.subscribe(&["lms.enrolment.v1.EnrolmentCreated"]).await;
    let (people, pathway) = s.people(&["ada"]).await;
    s.three_events(&people[0], &pathway).await;
    let log = s.queued(&hook.id, 1).await;
    assert_eq!(log.len(), 1, "only the subscribed type is queued");
    let app = s.app();
    let mut at = now();
    // Each way a receiver can fail is logged as it happened.
    for (mode, status, words) in [
        ("fail", 500, "500"),
        ("slow", 0, "timed out"),
        ("close", 0, "failed"),
    ] {
        s.receiver.control(mode, &[&secret]).await;
        assert_eq!(deliver_at(&app, at).await, 0);
        let delivery = &s.log(&hook.id).await[0];
        assert_eq!(delivery.state, pb::DeliveryState::Pending as i32);
        assert_eq!(delivery.last_status_code, status, "{mode}");
        assert!(
            delivery.last_error.contains(words),
            "{mode}: {}",
            delivery.last_error
        );
        assert!(delivery.next_attempt_time.is_some());
        at += chrono::Duration::hours(13);
    }
    // Failing through the whole schedule (8 attempts over more than a day) gives up and
    // disables the webhook.
    s.receiver.control("fail", &[&secret]).await;
    for _ in 0..6 {
        deliver_at(&app, at).await;
        at += chrono::Duration::hours(13);
    }
    let delivery = &s.log(&hook.id).await[0];
    assert_eq!(delivery.state, pb::DeliveryState::Failed as i32);
    assert_eq!(delivery.attempts, 8);
    let disabled = s.get(&hook.id).await;
    assert_eq!(disabled.state, pb::WebhookState::Disabled as i32);
    assert!(
        disabled.disabled_reason.contains("8 attempts"),
        "{disabled:?}"
    );
    // The admin who created it finds out in their inbox.
    app.send_due(at).await.unwrap();
    let inbox = pb::notification_service_client::NotificationServiceClient::new(
        s.suite.channel(Component::Notification),
    )
    .list_notifications(bearer(&s.admin, pb::ListNotificationsRequest::default()))
    .await
    .unwrap()
    .into_inner()
    .notifications;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0].kind, pb::NotificationKind::WebhookDisabled as i32);
    assert!(
        inbox[0].body.contains(&s.receiver.url()),
        "{}",
        inbox[0].body
    );
    // Events while disabled are not kept for it; enabled again, new ones flow, and the
    // failed one is sent again on request.
    s.receiver.control("ok", &[&secret]).await;
    let enabled = s
        .client()
        .update_webhook(bearer(
            &s.admin,
            pb::UpdateWebhookRequest {
                webhook: Some(pb::Webhook {
                    id: hook.id.clone(),
                    state: pb::WebhookState::Active as i32,
                    etag: disabled.etag.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["state".into()],
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(enabled.state, pb::WebhookState::Active as i32);
    assert_eq!(enabled.disabled_reason, "");
    assert_eq!(
        enabled.description, "HR system",
        "the mask changed the state only"
    );
    let redelivered = s
        .client()
        .redeliver_webhook_delivery(bearer(
            &s.admin,
            pb::RedeliverWebhookDeliveryRequest {
                webhook_id: hook.id.clone(),
                id: delivery.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(redelivered.state, pb::DeliveryState::Pending as i32);
    assert_eq!(deliver_at(&app, at).await, 1);
    let (received, _, _) = s.receiver.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["webhook_id"], delivery.event_id.as_str());
}

async fn a_rotated_secret_overlaps_and_redelivery_repeats_the_id(s: Suite) {
    let (hook, old) = s.subscribe(&["lms.enrolment.v1.EnrolmentCreated"]).await;
    let rotated = s
        .client()
        .rotate_webhook_secret(bearer(
            &s.admin,
            pb::RotateWebhookSecretRequest {
                id: hook.id.clone(),
                overlap_seconds: 3600,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let new = rotated.secret;
    assert_ne!(new, old);
    assert!(
        rotated
            .webhook
            .unwrap()
            .previous_secret_expire_time
            .is_some()
    );
    s.receiver.control("ok", &[&old, &new]).await;
    let (people, pathway) = s.people(&["ada", "grace"]).await;
    s.three_events(&people[0], &pathway).await;
    s.queued(&hook.id, 1).await;
    let app = s.app();
    // During the overlap both secrets verify.
    assert_eq!(deliver_at(&app, now()).await, 1);
    // After it, only the new one.
    s.three_events(&people[1], &pathway).await;
    s.queued(&hook.id, 2).await;
    assert_eq!(
        deliver_at(&app, now() + chrono::Duration::hours(2)).await,
        1
    );
    let (received, _, unverified) = s.receiver.received().await;
    assert_eq!(unverified, 0);
    assert_eq!(received[0]["verified_with"], serde_json::json!([0, 1]));
    assert_eq!(received[1]["verified_with"], serde_json::json!([1]));
    // A redelivery carries the same webhook-id, so the receiver can tell.
    let first = s.log(&hook.id).await.pop().unwrap();
    s.client()
        .redeliver_webhook_delivery(bearer(
            &s.admin,
            pb::RedeliverWebhookDeliveryRequest {
                webhook_id: hook.id.clone(),
                id: first.id.clone(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(deliver_at(&app, now()).await, 1);
    let (received, _, _) = s.receiver.received().await;
    assert_eq!(received[2]["webhook_id"], received[0]["webhook_id"]);
    // Another tenant's admin neither lists nor redelivers it.
    let other = s.suite.auth.admin("globex");
    for status in [
        s.client()
            .list_webhook_deliveries(bearer(
                &other,
                pb::ListWebhookDeliveriesRequest {
                    webhook_id: hook.id.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err(),
        s.client()
            .redeliver_webhook_delivery(bearer(
                &other,
                pb::RedeliverWebhookDeliveryRequest {
                    webhook_id: hook.id.clone(),
                    id: first.id.clone(),
                },
            ))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(status.code(), Code::NotFound);
    }
    // An unknown delivery of one's own webhook is NOT_FOUND too.
    let status = s
        .client()
        .redeliver_webhook_delivery(bearer(
            &s.admin,
            pb::RedeliverWebhookDeliveryRequest {
                webhook_id: hook.id.clone(),
                id: "0190d5a0-0000-7000-8000-000000000099".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

async fn webhooks_are_the_admins_of_their_own_tenant(s: Suite) {
    let (hook, _) = s.subscribe(&["*"]).await;
    let other = s.suite.auth.admin("globex");
    let status = s
        .client()
        .get_webhook(bearer(
            &other,
            pb::GetWebhookRequest {
                id: hook.id.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let listed = s
        .client()
        .list_webhooks(bearer(&other, pb::ListWebhooksRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(listed.webhooks.is_empty());
    let status = s
        .client()
        .delete_webhook(bearer(
            &other,
            pb::DeleteWebhookRequest {
                id: hook.id.clone(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let learner = s.suite.auth.token("acme", "ada", &[Role::Learner]);
    let status = s
        .client()
        .list_webhooks(bearer(&learner, pb::ListWebhooksRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // A stale etag changes nothing; the current one deletes, and the log goes with it.
    let status = s
        .client()
        .delete_webhook(bearer(
            &s.admin,
            pb::DeleteWebhookRequest {
                id: hook.id.clone(),
                etag: "\"99\"".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    s.client()
        .delete_webhook(bearer(
            &s.admin,
            pb::DeleteWebhookRequest {
                id: hook.id.clone(),
                etag: hook.etag.clone(),
            },
        ))
        .await
        .unwrap();
    let status = s
        .client()
        .get_webhook(bearer(&s.admin, pb::GetWebhookRequest { id: hook.id }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

async fn a_sender_that_dies_mid_batch_loses_and_doubles_nothing(s: Suite) {
    use notification_service::storage::webhook_deliveries;
    let (hook, secret) = s.subscribe(&["lms.enrolment.v1.EnrolmentCreated"]).await;
    s.receiver.control("ok", &[&secret]).await;
    let (people, pathway) = s.people(&["ada", "grace", "alan"]).await;
    for person in &people {
        s.three_events(person, &pathway).await;
    }
    s.queued(&hook.id, 3).await;
    // A replica claims the batch (its lease: two minutes) and dies before sending anything.
    let start = now();
    let claimed = s
        .app()
        .db()
        .write(move |conn| {
            webhook_deliveries::claim(conn, start, start + chrono::Duration::minutes(2), 100)
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    // The others leave what it holds alone while its lease lasts ...
    let app = s.app();
    assert_eq!(
        deliver_at(&app, start + chrono::Duration::minutes(1)).await,
        0
    );
    assert_eq!(s.receiver.received().await.1, 0);
    // ... and send it, once each, when the lease has run out.
    assert_eq!(
        deliver_at(&app, start + chrono::Duration::minutes(3)).await,
        3
    );
    assert_eq!(
        deliver_at(&app, start + chrono::Duration::minutes(10)).await,
        0
    );
    let (received, attempts, _) = s.receiver.received().await;
    assert_eq!((received.len(), attempts), (3, 3));

    // The same for the people's notifications: the three assignments, claimed by a replica
    // that dies before preparing them, reach each inbox once after its lease.
    use notification_service::storage::notifications::{self, Work};
    let start = now();
    let claimed = s
        .app()
        .db()
        .write(move |conn| {
            notifications::claim(
                conn,
                Work::Prepare,
                start,
                start + chrono::Duration::minutes(2),
                100,
            )
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3, "the three assignments");
    let sent = app
        .send_due(start + chrono::Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(sent.prepared, 0, "held by the dead replica's lease");
    let sent = app
        .send_due(start + chrono::Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(sent.prepared, 3);
    let sent = app
        .send_due(start + chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(sent.prepared, 0);
    for person in ["ada", "grace", "alan"] {
        let inbox = pb::notification_service_client::NotificationServiceClient::new(
            s.suite.channel(Component::Notification),
        )
        .list_notifications(bearer(
            &s.suite.auth.token("acme", person, &[Role::Learner]),
            pb::ListNotificationsRequest::default(),
        ))
        .await
        .unwrap()
        .into_inner()
        .notifications;
        assert_eq!(inbox.len(), 1, "{person}: {inbox:?}");
    }
}
