//! Webhook deliveries: queued in the transaction that applies an event (once per event and
//! webhook, whatever redeliveries do), then POSTed by the sender — signed, in order per
//! aggregate, retried on the Standard Webhooks schedule — and logged. A delivery that fails for
//! its whole schedule, with no success from the receiver meanwhile, disables the webhook and
//! tells the admin who created it.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use futures::StreamExt;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::inbox::EventError;
use lms_platform::resource::now;
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult};
use serde_json::{Map, Value};

use super::{Decision, NotificationApp, decide};
use crate::clients::webhook_http::{Answer, Outgoing};
use crate::domain::kind::Kind;
use crate::domain::webhook::{self, MAX_ATTEMPTS, retry_after};
use crate::events::Incoming;
use crate::events::cloudevent::{self, Source};
use crate::storage::webhook_deliveries::{self as deliveries, Attempted, Delivery};
use crate::storage::webhooks::{self, ACTIVE, Webhook};

/// How long a sender holds the deliveries it claimed (longer than a batch of timeouts).
const LEASE: Duration = Duration::from_secs(120);

impl NotificationApp {
    /// Queues each of `events` (one tenant's) for each of the tenant's active webhooks
    /// subscribed to its type, in the transaction that applies them. A payload that does not
    /// render can never be sent: the event is rejected (a dead letter at its producer).
    pub(crate) fn enqueue_webhooks(
        &self,
        conn: &mut DbConnection,
        tenant: &TenantId,
        events: &[Incoming],
        at: NaiveDateTime,
    ) -> Result<(), EventError> {
        let hooks: Vec<(Webhook, Vec<String>)> = webhooks::active(conn, tenant.as_str())?
            .into_iter()
            .map(|hook| {
                let types = hook.types();
                (hook, types)
            })
            .collect();
        if hooks.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::new();
        for event in events {
            let subscribed: Vec<&Webhook> = hooks
                .iter()
                .filter(|(_, types)| webhook::subscribed(types, &event.event_type))
                .map(|(hook, _)| hook)
                .collect();
            if subscribed.is_empty() {
                continue;
            }
            let payload = cloudevent::render(&Source {
                tenant_id: tenant.as_str(),
                event_id: &event.id,
                event_type: &event.event_type,
                aggregate_id: &event.aggregate_id,
                occurred_at: event.occurred_at,
                payload: &event.payload,
            })
            .map_err(EventError::Reject)?;
            rows.extend(subscribed.into_iter().map(|hook| Delivery {
                tenant_id: tenant.to_string(),
                id: new_id(),
                webhook_id: hook.id.clone(),
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                aggregate_id: event.aggregate_id.clone(),
                payload: payload.clone(),
                state: deliveries::PENDING.into(),
                attempts: 0,
                next_attempt_at: at,
                lease_until: None,
                last_status: 0,
                last_latency_ms: 0,
                last_error: String::new(),
                last_attempt_at: None,
                created_at: at,
            }));
        }
        deliveries::enqueue(conn, &rows)?;
        Ok(())
    }

    /// Sends every delivery due at `now`, batch after batch; returns how many the receivers
    /// accepted. Tests pass their own `now` to reach retries without sleeping (signatures
    /// always carry the real time, which receivers check).
    pub async fn deliver_webhooks(&self, now: NaiveDateTime) -> AppResult<usize> {
        let mut accepted = 0;
        loop {
            let (claimed, ok) = self.webhook_batch(now).await?;
            accepted += ok;
            if claimed < self.config.batch as usize {
                return Ok(accepted);
            }
        }
    }

    /// The periodic task.
    pub async fn deliver_webhooks_and_log(&self) {
        if let Err(error) = self.deliver_webhooks(now()).await {
            tracing::warn!(%error, "delivering webhooks failed; it runs again");
        }
    }

    /// One batch: (claimed, accepted).
    async fn webhook_batch(&self, now: NaiveDateTime) -> AppResult<(usize, usize)> {
        let batch = self.config.batch;
        let lease_until = super::lease_until(now, LEASE);
        let (rows, hooks) = self
            .db
            .write(move |conn| {
                let rows = deliveries::claim(conn, now, lease_until, batch)?;
                let mut hooks: HashMap<(String, String), Webhook> = HashMap::new();
                for row in &rows {
                    let key = (row.tenant_id.clone(), row.webhook_id.clone());
                    if !hooks.contains_key(&key)
                        && let Some(hook) = webhooks::find(conn, &key.0, &key.1)?
                    {
                        hooks.insert(key, hook);
                    }
                }
                Ok((rows, hooks))
            })
            .await?;
        let claimed = rows.len();
        let hooks = &hooks;
        let outcomes: Vec<(Delivery, Option<Answer>)> = futures::stream::iter(rows)
            .map(|row| async move {
                let hook = hooks
                    .get(&(row.tenant_id.clone(), row.webhook_id.clone()))
                    .filter(|hook| hook.state == ACTIVE);
                let answer = match hook {
                    Some(hook) => Some(self.post(hook, &row, now).await),
                    None => None,
                };
                (row, answer)
            })
            .buffer_unordered(self.config.webhook_concurrency)
            .collect()
            .await;
        let accepted = outcomes
            .iter()
            .filter(|(_, answer)| answer.as_ref().is_some_and(Answer::succeeded))
            .count();
        let app = self.clone();
        self.db
            .write(move |conn| {
                // Each webhook's success once per batch, before any failure in the same batch
                // is judged (a success since a delivery was queued keeps the webhook enabled).
                let mut succeeded: Vec<(&str, &str)> = outcomes
                    .iter()
                    .filter(|(_, answer)| answer.as_ref().is_some_and(Answer::succeeded))
                    .map(|(row, _)| (row.tenant_id.as_str(), row.webhook_id.as_str()))
                    .collect();
                succeeded.sort();
                succeeded.dedup();
                for (tenant, webhook) in succeeded {
                    webhooks::succeeded(conn, tenant, webhook, now)?;
                }
                for (row, answer) in &outcomes {
                    match answer {
                        None => deliveries::release(conn, row)?,
                        Some(answer) => app.record(conn, row, answer, now)?,
                    }
                }
                Ok(())
            })
            .await?;
        Ok((claimed, accepted))
    }

    /// Signs and POSTs one delivery.
    async fn post(&self, hook: &Webhook, row: &Delivery, now: NaiveDateTime) -> Answer {
        let timestamp = chrono::Utc::now().timestamp();
        let mut signatures = Vec::new();
        for secret in hook.signing_secrets(now) {
            match webhook::signature(secret, &row.event_id, timestamp, &row.payload) {
                Ok(signature) => signatures.push(signature),
                Err(why) => {
                    return Answer {
                        status: 0,
                        latency: Duration::ZERO,
                        error: why,
                    };
                }
            }
        }
        self.hooks
            .post(Outgoing {
                url: &hook.url,
                id: &row.event_id,
                timestamp,
                signature: &signatures.join(" "),
                body: &row.payload,
            })
            .await
    }

    /// Writes an attempt's outcome: accepted, retried later, or given up on — which disables
    /// the webhook when the receiver accepted nothing since the delivery was queued.
    fn record(
        &self,
        conn: &mut DbConnection,
        row: &Delivery,
        answer: &Answer,
        now: NaiveDateTime,
    ) -> AppResult<()> {
        let latency_ms = i32::try_from(answer.latency.as_millis()).unwrap_or(i32::MAX);
        let attempts = row.attempts + 1;
        let mut outcome = Attempted {
            state: deliveries::SUCCEEDED,
            status: i32::from(answer.status),
            latency_ms,
            error: &answer.error,
            at: now,
            next_attempt_at: row.next_attempt_at,
        };
        if answer.succeeded() {
            return deliveries::attempted(conn, row, &outcome);
        }
        match retry_after(attempts) {
            Some(wait) => {
                outcome.state = deliveries::PENDING;
                outcome.next_attempt_at =
                    now + chrono::Duration::from_std(wait).map_err(AppError::internal)?;
                deliveries::attempted(conn, row, &outcome)
            }
            None => {
                outcome.state = deliveries::FAILED;
                deliveries::attempted(conn, row, &outcome)?;
                let reason = format!(
                    "{} attempts since {} failed, the last: {}",
                    MAX_ATTEMPTS,
                    row.created_at.format("%Y-%m-%d %H:%M UTC"),
                    answer.error
                );
                let disabled = webhooks::disable_if_failing(
                    conn,
                    &row.tenant_id,
                    &row.webhook_id,
                    row.created_at,
                    &reason,
                    now,
                )?;
                if let Some(hook) = disabled {
                    tracing::warn!(webhook = %hook.id, url = %hook.url, %reason, "disabled a failing webhook");
                    tell_admin(conn, &hook, now)?;
                }
                Ok(())
            }
        }
    }
}

/// The admin who created a disabled webhook is told (in-app and by email).
fn tell_admin(conn: &mut DbConnection, hook: &Webhook, now: NaiveDateTime) -> AppResult<()> {
    let mut facts = Map::new();
    facts.insert("webhook_url".into(), Value::from(hook.url.clone()));
    facts.insert(
        "disabled_reason".into(),
        Value::from(hook.disabled_reason.clone()),
    );
    decide(
        conn,
        Decision {
            tenant: &hook.tenant_id,
            kind: Kind::WebhookDisabled,
            dedup_key: format!("webhook_disabled:{}:{}", hook.id, hook.revision),
            learner: &hook.created_by,
            for_manager: false,
            enrolment_id: "",
            pathway_id: "",
            mandatory: true,
            facts,
        },
        now,
    )?;
    Ok(())
}
