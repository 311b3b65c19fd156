//! notification-service's use cases: applying events (deciding notifications), the reminder
//! scheduler, the sender (preparing and emailing), the inbox and preferences, and templates.

mod digest;
mod inbox;
mod received;
mod reminders;
mod sender;
mod templates;
mod webhook_sender;
mod webhooks;

pub use crate::domain::preferences::Preferences;
pub use inbox::NotificationView;
pub use templates::TemplateView;

pub use sender::Sent;
pub use webhooks::{DeliveryView, WebhookChange, WebhookView};

use std::sync::Arc;

use chrono::NaiveDateTime;
use lms_platform::db::{Db, DbConnection};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult};
use serde_json::{Map, Value};

use crate::clients::directory::Directory;
use crate::clients::mail::Mailer;
use crate::clients::pathways::Pathways;
use crate::clients::webhook_http::WebhookHttp;
use crate::domain::kind::Kind;
use crate::domain::schedule::ReminderPlan;
use crate::storage::notifications::{self, Row};

/// What the use cases are configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub plan: ReminderPlan,
    /// The Learning Portal's address, for links in messages.
    pub portal_url: String,
    /// Rows a worker takes at once.
    pub batch: i64,
    /// Webhook deliveries in flight at once.
    pub webhook_concurrency: usize,
    /// The hour (UTC, 0–23) the daily digests go out.
    pub digest_hour: u32,
    /// How long before a training session its booked learners are reminded; None: never.
    pub session_reminder: Option<chrono::Duration>,
}

#[derive(Clone)]
pub struct NotificationApp {
    db: Db,
    directory: Directory,
    pathways: Pathways,
    mailer: Mailer,
    hooks: WebhookHttp,
    config: Arc<Config>,
}

impl NotificationApp {
    pub fn new(
        db: Db,
        directory: Directory,
        pathways: Pathways,
        mailer: Mailer,
        hooks: WebhookHttp,
        config: Config,
    ) -> Self {
        Self {
            db,
            directory,
            pathways,
            mailer,
            hooks,
            config: Arc::new(config),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// A notification to decide: what it is, about whom, and the facts its template needs.
pub(crate) struct Decision<'a> {
    pub tenant: &'a str,
    pub kind: Kind,
    pub dedup_key: String,
    pub learner: &'a str,
    pub for_manager: bool,
    pub enrolment_id: &'a str,
    pub pathway_id: &'a str,
    pub mandatory: bool,
    pub facts: Map<String, Value>,
}

/// Decides a notification once: a second decision with the same key changes nothing.
pub(crate) fn decide(
    conn: &mut DbConnection,
    decision: Decision<'_>,
    now: NaiveDateTime,
) -> AppResult<bool> {
    notifications::decide(conn, &decided(decision, now))
}

/// The row of a decision, pending preparation.
pub(crate) fn decided(decision: Decision<'_>, now: NaiveDateTime) -> Row {
    Row {
        tenant_id: decision.tenant.to_string(),
        id: new_id(),
        dedup_key: decision.dedup_key,
        kind: decision.kind.as_str().to_string(),
        learner: decision.learner.to_string(),
        for_manager: decision.for_manager,
        recipient: String::new(),
        enrolment_id: decision.enrolment_id.to_string(),
        pathway_id: decision.pathway_id.to_string(),
        mandatory: decision.mandatory || !decision.kind.mutable(),
        facts: Value::Object(decision.facts).to_string(),
        subject: String::new(),
        body: String::new(),
        state: notifications::PENDING.to_string(),
        email_state: notifications::EMAIL_NONE.to_string(),
        email_to: String::new(),
        attempts: 0,
        next_attempt_at: now,
        lease_until: None,
        last_error: String::new(),
        created_at: now,
        read_at: None,
    }
}

/// When a claim made at `now` lets go of its rows: `lease` later, with random microseconds
/// (which both databases store exactly), so the rows a claim took are exactly those holding
/// its value.
pub(crate) fn lease_until(now: NaiveDateTime, lease: std::time::Duration) -> NaiveDateTime {
    use chrono::Timelike;
    let micros = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as i64;
    // From the clock, not only from the run's `now`: a run started minutes ago (a burst of
    // thousands) would otherwise take leases that have already run out for every other
    // worker, which would then send the same rows.
    let now = now.max(lms_platform::resource::now());
    now.with_nanosecond(0).unwrap_or(now)
        + chrono::Duration::from_std(lease).expect("a short lease")
        + chrono::Duration::microseconds(micros)
}

/// A date as templates show it.
pub(crate) fn date(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// NOT_FOUND for an id that is not one of the caller's.
pub(crate) fn not_yours(what: &str, id: &str) -> AppError {
    AppError::NotFound(format!("{what} {id}"))
}

#[cfg(test)]
#[path = "erasure_tests.rs"]
mod erasure_tests;
