//! notification-service: tells people what the suite knows they need to know. It follows the
//! other services' events (assignments, due dates, completions, certifications) and its own
//! reminder scheduler (due soon, overdue, escalation to the manager), decides each
//! notification once, renders it in the tenant's template for the recipient's locale, puts it
//! in their in-app inbox and emails it (SMTP, or a folder under `lms up`).
//!
//! Layout (the same in every service): `domain` holds the rules (kinds, reminder plans,
//! templates), `storage` the rows and queries, `app` the use cases, `grpc` the handlers,
//! `clients` what it asks others (the directory, pathway titles, the mail relay).

pub mod app;
pub mod clients;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod storage;

use std::time::Duration;

use lms_platform::client::Peer;
use lms_platform::config::{ServiceSettings, seconds};
use lms_platform::db::{DatabaseUrl, Db};
use lms_platform::inbox::EventConsumerGrpc;
use lms_platform::server::Context;
use lms_proto::events_v1::event_consumer_server::EventConsumerServer;
use lms_proto::notification_v1::notification_service_server::NotificationServiceServer;
use serde::Deserialize;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::clients::mail::{EmailSettings, Mailer};
use crate::clients::webhook_http::WebhookHttp;
use crate::domain::schedule::ReminderPlan;
use crate::domain::webhook::Destinations;
use lms_proto::notification_v1::webhook_service_server::WebhookServiceServer;

/// The component's name: in logs, traces, service tokens and messages of its callers.
pub const NAME: &str = "notification-service";
/// The fully qualified gRPC service name (health reports on it).
pub const SERVICE_NAME: &str = "lms.notification.v1.NotificationService";
/// Webhook subscriptions, served beside the inbox.
pub const WEBHOOKS_SERVICE_NAME: &str = "lms.notification.v1.WebhookService";
/// The event consumer it also serves.
pub const EVENTS_SERVICE_NAME: &str = "lms.events.v1.EventConsumer";

/// `[notification]`: this service's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[notification]
listen = "127.0.0.1:50055"
database_url = ""
db_pool_size = 8
reminder_scan_seconds = 60
send_interval_seconds = 1
due_soon_days = [14, 7, 1]
escalation_days = 7
digest_hour_utc = 7
session_reminder_hours = 24
portal_url = "http://127.0.0.1:8080"
batch_size = 500

[notification.email]
transport = "folder"
folder = ""
from = "Learning <learning@localhost>"
smtp_host = ""
smtp_port = 587
smtp_tls = "starttls"
smtp_ca_file = ""
smtp_username = ""
smtp_password = ""
smtp_timeout_seconds = 10
concurrency = 32

[notification.webhooks]
allow_http = false
allowed_networks = []
timeout_seconds = 10
concurrency = 64
"#;

/// `[notification]`'s own keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Own {
    /// How often the reminder scheduler looks for reminders due; 0 disables it.
    #[serde(rename = "reminder_scan_seconds", deserialize_with = "seconds")]
    pub reminder_scan: Duration,
    /// How often the sender looks for notifications to prepare and email; 0 disables it.
    #[serde(rename = "send_interval_seconds", deserialize_with = "seconds")]
    pub send_interval: Duration,
    /// Days before a due date when a "due soon" reminder goes out.
    pub due_soon_days: Vec<u32>,
    /// Days after a due date when the learner's manager is told; 0: never.
    pub escalation_days: u32,
    /// The hour (UTC) the daily digests go out.
    pub digest_hour_utc: u32,
    /// Hours before a training session when its booked learners are reminded; 0: never.
    pub session_reminder_hours: u32,
    /// The Learning Portal's address, for links in messages.
    pub portal_url: String,
    /// Rows the scheduler and the sender take at once.
    pub batch_size: i64,
    pub email: EmailSettings,
    pub webhooks: WebhookSettings,
}

/// `[notification.webhooks]`: where webhooks may point and how deliveries are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Accept `http://` URLs (tests and local trials; receivers in production use HTTPS).
    pub allow_http: bool,
    /// Private, loopback or link-local networks webhooks may nevertheless point to, as CIDR
    /// blocks (e.g. `["127.0.0.0/8"]`); refused otherwise.
    pub allowed_networks: Vec<String>,
    /// How long a receiver has to answer one delivery.
    #[serde(rename = "timeout_seconds", deserialize_with = "seconds")]
    pub timeout: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

pub type Settings = ServiceSettings<Own>;

/// The services notification-service calls.
#[derive(Clone)]
pub struct Peers {
    /// The directory: a person's name, address, locale and manager.
    pub enrolment: Peer,
    /// Pathway titles.
    pub pathway: Peer,
}

lms_platform::embedded_migrations!();

/// Opens the service's database and applies pending migrations (its own, and the processed
/// events of the platform's inbox).
pub async fn open_database(url: DatabaseUrl, pool_size: u32, migrate: bool) -> anyhow::Result<Db> {
    let sets = vec![
        migrations(),
        lms_platform::outbox::migrations(),
        lms_platform::audit::migrations(),
    ];
    Db::open(url, pool_size, NAME, sets, migrate).await
}

/// The service's use cases; bad email settings are an error naming the key.
pub fn app(db: Db, settings: &Settings, peers: &Peers) -> anyhow::Result<app::NotificationApp> {
    let own = &settings.own;
    anyhow::ensure!(
        own.batch_size > 0,
        "invalid configuration: notification.batch_size must be positive"
    );
    anyhow::ensure!(
        own.session_reminder_hours <= 24 * 14,
        "invalid configuration: notification.session_reminder_hours must be at most 336 (14 days)"
    );
    anyhow::ensure!(
        own.digest_hour_utc < 24,
        "invalid configuration: notification.digest_hour_utc must be an hour, 0 to 23"
    );
    let hooks = &own.webhooks;
    anyhow::ensure!(
        hooks.concurrency > 0 && !hooks.timeout.is_zero(),
        "invalid configuration: notification.webhooks.concurrency and timeout_seconds must be positive"
    );
    let destinations = Destinations::new(
        hooks.allow_http,
        &hooks.allowed_networks,
        "notification.webhooks.allowed_networks",
    )
    .map_err(|why| {
        anyhow::anyhow!("invalid configuration: notification.webhooks.allowed_networks: {why}")
    })?;
    let config = app::Config {
        plan: ReminderPlan::new(&own.due_soon_days, own.escalation_days),
        portal_url: own.portal_url.clone(),
        batch: own.batch_size.min(1_000),
        webhook_concurrency: hooks.concurrency,
        digest_hour: own.digest_hour_utc,
        session_reminder: (own.session_reminder_hours > 0)
            .then(|| chrono::Duration::hours(i64::from(own.session_reminder_hours))),
    };
    Ok(app::NotificationApp::new(
        db,
        clients::directory::Directory::new(peers.enrolment.clone()),
        clients::pathways::Pathways::new(peers.pathway.clone()),
        Mailer::from_settings(&own.email)?,
        WebhookHttp::new(destinations, hooks.timeout)?,
        config,
    ))
}

/// The service's routes: the inbox, preferences and templates, and the event consumer, behind
/// token verification and message size limits.
pub fn routes(app: app::NotificationApp, context: &Context) -> Routes {
    let limit = context.server.max_message_bytes;
    let service = NotificationServiceServer::new(grpc::NotificationGrpc::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let webhooks = WebhookServiceServer::new(grpc::webhooks::WebhookGrpc::new(app.clone()))
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let events =
        EventConsumerServer::new(EventConsumerGrpc::new(app)).max_decoding_message_size(limit);
    Routes::new(context.authorize(service, grpc::policy::POLICY))
        .add_service(context.authorize(webhooks, grpc::policy::WEBHOOKS_POLICY))
        .add_service(context.authorize(events, grpc::policy::EVENTS_POLICY))
}

/// Serves notification-service on `listener` until the context's shutdown, with its reminder
/// scheduler and sender.
pub async fn serve(
    listener: TcpListener,
    db: Db,
    context: Context,
    settings: Settings,
    peers: Peers,
) -> anyhow::Result<()> {
    let app = app(db.clone(), &settings, &peers)?;
    let scheduler = app.clone();
    context.every(settings.own.reminder_scan, move || {
        let app = scheduler.clone();
        async move { app.remind_and_log().await }
    });
    let sender = app.clone();
    context.every(settings.own.send_interval, move || {
        let app = sender.clone();
        async move { app.send_and_log().await }
    });
    let digests = app.clone();
    context.every(settings.own.send_interval, move || {
        let app = digests.clone();
        async move { app.send_digests_and_log().await }
    });
    let deliverer = app.clone();
    context.every(settings.own.send_interval, move || {
        let app = deliverer.clone();
        async move { app.deliver_webhooks_and_log().await }
    });
    let routes = context.with_audit_trail(routes(app, &context), &db);
    let routes = context.with_personal_data(routes, &db, &storage::personal_data::TABLES);
    context
        .serve(
            listener,
            routes,
            &[
                SERVICE_NAME,
                WEBHOOKS_SERVICE_NAME,
                EVENTS_SERVICE_NAME,
                lms_platform::audit::SERVICE_NAME,
                lms_platform::privacy::SERVICE_NAME,
            ],
            &db,
        )
        .await
}
