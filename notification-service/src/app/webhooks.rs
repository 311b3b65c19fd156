//! Managing a tenant's webhooks (admins): subscribe, change, rotate the secret, read the
//! delivery log, redeliver. Every read and write is the caller's tenant's only: another
//! tenant's webhook is NOT_FOUND.

use chrono::NaiveDateTime;
use lms_platform::pagination::{self, Page};
use lms_platform::resource::{check_etag, now};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::{NotificationApp, not_yours};
use crate::domain::webhook::{self, new_secret};
use crate::events::published;
use crate::storage::webhook_deliveries::{self as deliveries, Delivery};
use crate::storage::webhooks::{self as stored, ACTIVE, DISABLED, Webhook};

/// What an admin gives when subscribing or changing a webhook (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Some(true): active; Some(false): disabled.
    pub active: Option<bool>,
}

/// A webhook as admins see it (never its secrets).
#[derive(Debug, Clone)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
    pub active: bool,
    pub disabled_reason: String,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub last_success_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub revision: i64,
}

impl From<Webhook> for WebhookView {
    fn from(w: Webhook) -> Self {
        WebhookView {
            event_types: w.types(),
            active: w.state == ACTIVE,
            id: w.id,
            url: w.url,
            description: w.description,
            disabled_reason: w.disabled_reason,
            previous_secret_until: w.previous_secret_until,
            last_success_at: w.last_success_at,
            created_by: w.created_by,
            created_at: w.created_at,
            updated_at: w.updated_at,
            revision: w.revision,
        }
    }
}

/// A delivery in the log.
#[derive(Debug, Clone)]
pub struct DeliveryView {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub subject: String,
    /// pending, succeeded or failed.
    pub state: String,
    pub attempts: i32,
    pub last_status: i32,
    pub last_latency_ms: i32,
    pub last_error: String,
    pub created_at: NaiveDateTime,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub next_attempt_at: Option<NaiveDateTime>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            next_attempt_at: (d.state == deliveries::PENDING).then_some(d.next_attempt_at),
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type,
            subject: d.aggregate_id,
            state: d.state,
            attempts: d.attempts,
            last_status: d.last_status,
            last_latency_ms: d.last_latency_ms,
            last_error: d.last_error,
            created_at: d.created_at,
            last_attempt_at: d.last_attempt_at,
        }
    }
}

/// The longest overlap of a secret rotation.
const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

impl NotificationApp {
    /// Checks what an admin gives: the URL against the destination rules, the event types
    /// against the published ones. INVALID_ARGUMENT names the field.
    fn check_change(&self, change: &WebhookChange) -> AppResult<()> {
        let mut v = lms_platform::validate::Violations::new();
        if let Some(url) = &change.url
            && let Err(why) = self.hooks.destinations().check_url(url)
        {
            v.add("webhook.url", why);
        }
        if let Some(types) = &change.event_types
            && let Err((i, why)) = webhook::check_event_types(types, &published())
        {
            v.add(format!("webhook.event_types[{i}]"), why);
        }
        if let Some(description) = &change.description {
            v.max_text("webhook.description", description, 500);
        }
        v.finish()
    }

    /// Subscribes a webhook; returns it and its secret (shown this once).
    pub async fn create_webhook(
        &self,
        who: &Principal,
        change: WebhookChange,
    ) -> AppResult<(WebhookView, String)> {
        if change.url.is_none() {
            return Err(AppError::invalid_field("webhook.url", "required"));
        }
        if change.event_types.is_none() {
            return Err(AppError::invalid_field(
                "webhook.event_types",
                "name at least one event type, or *",
            ));
        }
        self.check_change(&change)?;
        let at = now();
        let secret = new_secret();
        let row = Webhook {
            tenant_id: who.tenant_id.to_string(),
            id: new_id(),
            url: change.url.unwrap_or_default(),
            event_types: change.event_types.unwrap_or_default().join(" "),
            description: change.description.unwrap_or_default(),
            state: if change.active == Some(false) {
                DISABLED
            } else {
                ACTIVE
            }
            .to_string(),
            disabled_reason: String::new(),
            secret: secret.clone(),
            previous_secret: String::new(),
            previous_secret_until: None,
            last_success_at: None,
            created_by: who.subject.clone(),
            created_at: at,
            updated_at: at,
            revision: 1,
        };
        let saved = row.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                stored::insert(conn, &saved)?;
                let resource = format!("webhooks/{}", saved.id);
                audit::record(
                    conn,
                    &who,
                    audit::Change::created(resource, &audited(&saved))?,
                )
            })
            .await?;
        Ok((row.into(), secret))
    }

    async fn webhook_of(&self, who: &Principal, id: &str) -> AppResult<Webhook> {
        let (tenant, id) = (who.tenant_id.to_string(), id.to_string());
        let found = {
            let id = id.clone();
            self.db
                .read(move |conn| stored::find(conn, &tenant, &id))
                .await?
        };
        found.ok_or_else(|| not_yours("webhook", &id))
    }

    pub async fn webhook(&self, who: &Principal, id: &str) -> AppResult<WebhookView> {
        Ok(self.webhook_of(who, id).await?.into())
    }

    pub async fn webhooks(
        &self,
        who: &Principal,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<WebhookView>> {
        let limit = pagination::page_size(page_size)?;
        let after = pagination::decode_key::<1>(page_token, "webhooks")?.map(|[id]| id);
        let tenant = who.tenant_id.to_string();
        let rows = self
            .db
            .read(move |conn| stored::list(conn, &tenant, after.as_deref(), limit + 1))
            .await?;
        let page = pagination::paginate(rows, limit, "webhooks", |w| vec![w.id.clone()]);
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// Changes what `change` gives, if `etag` (when given) is current. Enabling a disabled
    /// webhook clears the reason.
    pub async fn update_webhook(
        &self,
        who: &Principal,
        id: &str,
        etag: &str,
        change: WebhookChange,
    ) -> AppResult<WebhookView> {
        self.check_change(&change)?;
        let mut row = self.webhook_of(who, id).await?;
        check_etag(etag, row.revision)?;
        let read_revision = row.revision;
        let before = audited(&row);
        if let Some(url) = change.url {
            row.url = url;
        }
        if let Some(types) = change.event_types {
            row.event_types = types.join(" ");
        }
        if let Some(description) = change.description {
            row.description = description;
        }
        match change.active {
            Some(true) if row.state != ACTIVE => {
                row.state = ACTIVE.into();
                row.disabled_reason.clear();
            }
            Some(false) => row.state = DISABLED.into(),
            _ => {}
        }
        row.updated_at = now();
        row.revision += 1;
        let saved = row.clone();
        let who = who.clone();
        let done = self
            .db
            .write(move |conn| {
                let done = stored::save(conn, &saved, read_revision)?;
                if done {
                    let resource = format!("webhooks/{}", saved.id);
                    let change = audit::Change::updated(resource, &before, &audited(&saved))?;
                    audit::record(conn, &who, change)?;
                }
                Ok(done)
            })
            .await?;
        AppError::unless_updated(usize::from(done), "webhook")?;
        Ok(row.into())
    }

    pub async fn delete_webhook(&self, who: &Principal, id: &str, etag: &str) -> AppResult<()> {
        let row = self.webhook_of(who, id).await?;
        check_etag(etag, row.revision)?;
        let (tenant, id) = (row.tenant_id.clone(), row.id.clone());
        let before = audited(&row);
        let who = who.clone();
        let deleted = self
            .db
            .write(move |conn| {
                let deleted = stored::delete(conn, &tenant, &id)?;
                if deleted {
                    let resource = format!("webhooks/{id}");
                    audit::record(conn, &who, audit::Change::deleted(resource, &before)?)?;
                }
                Ok(deleted)
            })
            .await?;
        if !deleted {
            return Err(not_yours("webhook", &row.id));
        }
        Ok(())
    }

    /// Issues a new secret; the old one keeps signing for `overlap_seconds` (0: a day).
    pub async fn rotate_webhook_secret(
        &self,
        who: &Principal,
        id: &str,
        overlap_seconds: i32,
    ) -> AppResult<(WebhookView, String)> {
        let overlap = match i64::from(overlap_seconds) {
            0 => 24 * 3600,
            n if !(1..=MAX_OVERLAP_SECONDS).contains(&n) => {
                return Err(AppError::invalid_field(
                    "overlap_seconds",
                    format!("between 1 and {MAX_OVERLAP_SECONDS} (7 days), or 0 for a day"),
                ));
            }
            n => n,
        };
        let mut row = self.webhook_of(who, id).await?;
        let read_revision = row.revision;
        let at = now();
        let secret = new_secret();
        row.previous_secret = std::mem::replace(&mut row.secret, secret.clone());
        row.previous_secret_until = Some(at + chrono::Duration::seconds(overlap));
        row.updated_at = at;
        row.revision += 1;
        let saved = row.clone();
        let who = who.clone();
        let done = self
            .db
            .write(move |conn| {
                let done = stored::save(conn, &saved, read_revision)?;
                if done {
                    // The secrets themselves are never recorded: only that one was rotated.
                    let resource = format!("webhooks/{}", saved.id);
                    let rotated = serde_json::json!({
                        "revision": saved.revision,
                        "previous_secret_until": saved.previous_secret_until,
                    });
                    audit::record(conn, &who, audit::Change::acted(resource, &rotated)?)?;
                }
                Ok(done)
            })
            .await?;
        AppError::unless_updated(usize::from(done), "webhook")?;
        Ok((row.into(), secret))
    }

    /// A page of the webhook's delivery log, newest first.
    pub async fn webhook_deliveries(
        &self,
        who: &Principal,
        webhook_id: &str,
        state: Option<&'static str>,
        page_size: i32,
        page_token: &str,
    ) -> AppResult<Page<DeliveryView>> {
        let webhook = self.webhook_of(who, webhook_id).await?;
        let limit = pagination::page_size(page_size)?;
        let filters = format!("{webhook_id}/{}", state.unwrap_or(""));
        let before = pagination::decode_key::<1>(page_token, &filters)?.map(|[id]| id);
        let rows = self
            .db
            .read(move |conn| {
                deliveries::list(
                    conn,
                    &webhook.tenant_id,
                    &webhook.id,
                    state,
                    before.as_deref(),
                    limit + 1,
                )
            })
            .await?;
        let page = pagination::paginate(rows, limit, &filters, |d| vec![d.id.clone()]);
        Ok(Page {
            items: page.items.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// Puts a delivery back in line now (same event id, fresh retry schedule).
    pub async fn redeliver(
        &self,
        who: &Principal,
        webhook_id: &str,
        id: &str,
    ) -> AppResult<DeliveryView> {
        let webhook = self.webhook_of(who, webhook_id).await?;
        let id = id.to_string();
        let who = who.clone();
        let found = self
            .db
            .write(move |conn| {
                let Some(row) = deliveries::find(conn, &webhook.tenant_id, &webhook.id, &id)?
                else {
                    return Ok(Err(id));
                };
                deliveries::requeue(conn, &row, now())?;
                let resource = format!("webhooks/{}/deliveries/{id}", webhook.id);
                let what = serde_json::json!({ "redelivered": true });
                audit::record(conn, &who, audit::Change::acted(resource, &what)?)?;
                Ok(Ok(deliveries::find(
                    conn,
                    &row.tenant_id,
                    &row.webhook_id,
                    &row.id,
                )?))
            })
            .await?;
        match found {
            Ok(Some(row)) => Ok(row.into()),
            Ok(None) => Err(AppError::internal(anyhow::anyhow!("requeued row vanished"))),
            Err(id) => Err(not_yours("delivery", &id)),
        }
    }
}

/// A webhook as the audit trail keeps it: never its secrets.
fn audited(webhook: &Webhook) -> serde_json::Value {
    serde_json::json!({
        "url": webhook.url,
        "event_types": webhook.event_types,
        "description": webhook.description,
        "state": webhook.state,
        "disabled_reason": webhook.disabled_reason,
        "revision": webhook.revision,
    })
}
