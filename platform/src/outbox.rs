//! The transactional outbox (DESIGN §2).
//!
//! A service writes its cross-service events with [`enqueue`] inside the transaction that makes
//! the change, so an event exists exactly when its change does. A [`Dispatcher`] delivers
//! pending events to an [`EventSink`] (the consumer's `EventConsumer.DeliverEvents`) and marks
//! what the consumer acknowledged; the rest is retried with exponential backoff. Nothing is lost
//! while the consumer is down; consumers deduplicate by event id, so nothing is applied twice.
//!
//! Only one dispatcher per database delivers at a time (a PostgreSQL advisory lock elects it),
//! so events go out in write order even with many replicas. An event that failed is retried
//! after its backoff, possibly after later events went out.

use crate::ids::TenantId;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use lms_proto::events_v1 as pb;
use tokio_util::sync::CancellationToken;

use crate::client::Peer;
use crate::db::{Db, DbConnection, Migrations};
use crate::error::{AppError, AppResult};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The migrations of the outbox table and of the consumers' `processed_events` (see `inbox`); a
/// service that writes or consumes events applies them with its own. Their versions
/// (`2000-01-01-…`, the outbox's `2026-11-23-000000` and `2026-11-23-99xxxx`) never collide with a service's own:
/// diesel identifies a migration by its version alone.
pub fn migrations() -> Migrations {
    Migrations {
        postgres: POSTGRES_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    }
}

diesel::table! {
    outbox_events (id) {
        id -> Text,
        tenant_id -> Text,
        aggregate_id -> Text,
        type_url -> Text,
        payload -> Binary,
        traceparent -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        last_error -> Text,
    }
}

/// An event to write: what it is about and its payload (`type_url` names the message).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub aggregate_id: String,
    pub payload: prost_types::Any,
}

impl NewEvent {
    /// An event carrying `message`, typed as `type.googleapis.com/<full name>`.
    pub fn new<M: prost::Name>(aggregate_id: impl Into<String>, message: &M) -> Self {
        NewEvent {
            aggregate_id: aggregate_id.into(),
            payload: prost_types::Any {
                type_url: M::type_url(),
                value: prost::Message::encode_to_vec(message),
            },
        }
    }
}

/// Every column but `delivered_at` (NULL until delivery), so the insert is a plain multi-row
/// insert on both backends.
#[derive(Insertable)]
#[diesel(table_name = outbox_events)]
struct EventRow {
    id: String,
    tenant_id: String,
    aggregate_id: String,
    type_url: String,
    payload: Vec<u8>,
    traceparent: String,
    created_at: NaiveDateTime,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_error: String,
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Writes `events` in the caller's transaction, in batches.
pub fn enqueue(conn: &mut DbConnection, tenant: &TenantId, events: Vec<NewEvent>) -> AppResult<()> {
    let at = now();
    let traceparent = crate::telemetry::current_traceparent();
    let rows: Vec<EventRow> = events
        .into_iter()
        .map(|event| EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.to_string(),
            aggregate_id: event.aggregate_id,
            type_url: event.payload.type_url,
            payload: event.payload.value,
            traceparent: traceparent.clone(),
            created_at: at,
            attempts: 0,
            next_attempt_at: at,
            last_error: String::new(),
        })
        .collect();
    // 10 columns a row: 3000 rows stay under the bundled SQLite's 32 766 bind parameters.
    for chunk in rows.chunks(3_000) {
        let insert = diesel::insert_into(outbox_events::table).values(chunk);
        crate::execute_on_backend!(conn, insert)?;
    }
    Ok(())
}

/// What a consumer said about a batch.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// Applied now or before: done.
    pub acknowledged: Vec<String>,
    /// Can never be applied: done too, and logged.
    pub rejected: Vec<String>,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where events go: the consumer's `EventConsumer.DeliverEvents`, or anything that acts like it.
pub trait EventSink: Send + Sync + 'static {
    fn deliver(&self, events: Vec<pb::Event>) -> BoxFuture<Result<Delivery, String>>;

    /// The destination's name, for metrics.
    fn destination(&self) -> &str {
        "consumer"
    }
}

/// Delivers through gRPC to a consumer's `EventConsumer`, with this service's own identity.
pub struct GrpcEventSink {
    consumer: Peer,
    /// What deliveries are authenticated as (each event names its own tenant).
    tenant: TenantId,
}

/// How long a consumer may take to apply one delivery (up to 500 events in a transaction).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

impl GrpcEventSink {
    pub fn new(consumer: Peer) -> Self {
        Self {
            consumer: consumer.with_timeout(DELIVERY_TIMEOUT),
            tenant: TenantId::parse(DELIVERY_TENANT).expect("the delivery tenant is a tenant id"),
        }
    }
}

impl EventSink for GrpcEventSink {
    fn destination(&self) -> &str {
        self.consumer.name()
    }

    fn deliver(&self, events: Vec<pb::Event>) -> BoxFuture<Result<Delivery, String>> {
        let (consumer, tenant) = (self.consumer.clone(), self.tenant.clone());
        Box::pin(async move {
            // Sent once per attempt: the dispatcher's backoff is the retry.
            let response = consumer
                .send(
                    &tenant,
                    pb::DeliverEventsRequest { events },
                    |channel, request| async move {
                        pb::event_consumer_client::EventConsumerClient::new(channel)
                            .deliver_events(request)
                            .await
                    },
                )
                .await
                .map_err(|error| format!("{:?}: {error}", error.code()))?;
            Ok(Delivery {
                acknowledged: response.acknowledged,
                rejected: response.rejected,
            })
        })
    }
}

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Events offered per delivery (at most 500, the contract's limit).
    pub batch_size: i64,
    /// How long to wait when nothing is pending.
    pub idle_poll: Duration,
    /// Retry backoff: first wait, doubled per attempt up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            idle_poll: Duration::from_millis(500),
            first_backoff: Duration::from_secs(1),
            // A destination that is down is tried again at least this often, so its backlog
            // flows within seconds of its return.
            max_backoff: Duration::from_secs(10),
        }
    }
}

#[derive(Queryable)]
struct PendingRow {
    id: String,
    tenant_id: String,
    aggregate_id: String,
    type_url: String,
    payload: Vec<u8>,
    traceparent: String,
    created_at: NaiveDateTime,
    attempts: i32,
}

/// Delivers one database's outbox.
pub struct Dispatcher {
    db: Db,
    sink: Arc<dyn EventSink>,
    config: DispatcherConfig,
    /// Names the advisory lock: one delivering dispatcher per service database.
    name: &'static str,
}

impl Dispatcher {
    pub fn new(
        db: Db,
        sink: Arc<dyn EventSink>,
        config: DispatcherConfig,
        name: &'static str,
    ) -> Self {
        Self {
            db,
            sink,
            config,
            name,
        }
    }

    /// Offers one batch of due events to the sink and records the outcome. Returns how many
    /// events were settled (acknowledged or rejected).
    pub async fn dispatch_once(&self) -> AppResult<usize> {
        let limit = self.config.batch_size.clamp(1, 500);
        let due = now();
        let pending: Vec<PendingRow> = self
            .db
            .read(move |conn| {
                Ok(outbox_events::table
                    .filter(outbox_events::delivered_at.is_null())
                    .filter(outbox_events::next_attempt_at.le(due))
                    .order((outbox_events::created_at.asc(), outbox_events::id.asc()))
                    .limit(limit)
                    .select((
                        outbox_events::id,
                        outbox_events::tenant_id,
                        outbox_events::aggregate_id,
                        outbox_events::type_url,
                        outbox_events::payload,
                        outbox_events::traceparent,
                        outbox_events::created_at,
                        outbox_events::attempts,
                    ))
                    .load(conn)?)
            })
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let attempts = pending.iter().map(|row| row.attempts).max().unwrap_or(0);
        let ids: Vec<String> = pending.iter().map(|row| row.id.clone()).collect();
        let events = pending.into_iter().map(to_event).collect();
        let mut reached = false;
        let (settled, error) = match self.sink.deliver(events).await {
            Ok(delivery) => {
                reached = true;
                for id in &delivery.rejected {
                    tracing::error!(event = %id, "consumer rejected an event for good");
                }
                let mut settled = delivery.acknowledged;
                settled.extend(delivery.rejected);
                settled.retain(|id| ids.contains(id));
                (settled, "not acknowledged".to_string())
            }
            Err(error) => {
                tracing::warn!(%error, events = ids.len(), "event delivery failed; will retry");
                (Vec::new(), error)
            }
        };
        let failed: Vec<String> = ids.into_iter().filter(|id| !settled.contains(id)).collect();
        let retry_at = now() + backoff(&self.config, attempts + 1);
        let count = settled.len();
        let error: String = error.chars().take(500).collect();
        self.db
            .write(move |conn| {
                let at = now();
                for chunk in settled.chunks(500) {
                    diesel::update(outbox_events::table.filter(outbox_events::id.eq_any(chunk)))
                        .set(outbox_events::delivered_at.eq(Some(at)))
                        .execute(conn)?;
                }
                if reached {
                    // The destination answers again: what waited out a backoff while it was
                    // down is due now, not when each event's own backoff ends.
                    diesel::update(
                        outbox_events::table
                            .filter(outbox_events::delivered_at.is_null())
                            .filter(outbox_events::next_attempt_at.gt(at)),
                    )
                    .set(outbox_events::next_attempt_at.eq(at))
                    .execute(conn)?;
                }
                for chunk in failed.chunks(500) {
                    diesel::update(outbox_events::table.filter(outbox_events::id.eq_any(chunk)))
                        .set((
                            outbox_events::attempts.eq(outbox_events::attempts + 1),
                            outbox_events::next_attempt_at.eq(retry_at),
                            outbox_events::last_error.eq(&error),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await?;
        Ok(count)
    }

    /// Reports how many events wait and how old the oldest is, as
    /// `lms_outbox_pending_events` / `lms_outbox_oldest_pending_age_seconds` for `destination`.
    pub async fn report_lag(&self, destination: &str) -> AppResult<()> {
        let (count, oldest): (i64, Option<chrono::NaiveDateTime>) = self
            .db
            .read_one(|conn| {
                Ok(outbox_events::table
                    .filter(outbox_events::delivered_at.is_null())
                    .select((
                        diesel::dsl::count_star(),
                        diesel::dsl::min(outbox_events::created_at),
                    ))
                    .get_result(conn)?)
            })
            .await?;
        let labels = crate::telemetry::OutboxLabels {
            producer: self.name.trim_end_matches("-service"),
            destination: destination.trim_end_matches("-service").to_string(),
        };
        let metrics = crate::telemetry::metrics();
        metrics
            .outbox_pending_events
            .get_or_create(&labels)
            .set(count);
        let age = oldest.map_or(0, |at| (now() - at).num_seconds().max(0));
        metrics
            .outbox_oldest_pending_age_seconds
            .get_or_create(&labels)
            .set(age);
        Ok(())
    }

    /// Delivers until `shutdown`, while holding leadership; when leadership is lost (the
    /// session holding the lock died), stops delivering and competes for it again.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let Some(leader) = self.lead(&shutdown).await else {
                return;
            };
            self.deliver_while_leading(leader, &shutdown).await;
            if shutdown.is_cancelled() {
                return;
            }
            tracing::warn!(
                outbox = self.name,
                "outbox leadership lost (its database session ended); delivery paused until it is won again"
            );
        }
    }

    /// Waits until this dispatcher holds leadership (None at shutdown).
    async fn lead(&self, shutdown: &CancellationToken) -> Option<LeaderLock> {
        loop {
            match self.acquire_leadership().await {
                Ok(Some(lock)) => return Some(lock),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "outbox leadership check failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Delivers batches while `leader`'s session (and so its lock) is alive.
    async fn deliver_while_leading(&self, mut leader: LeaderLock, shutdown: &CancellationToken) {
        tracing::info!(outbox = self.name, "delivering outbox events");
        // The lag is measured at most this often (a count over the pending events).
        const LAG_EVERY: Duration = Duration::from_secs(5);
        let mut lag_measured: Option<std::time::Instant> = None;
        loop {
            // Checked before every batch: a dispatcher whose lock session died must not keep
            // delivering beside the one that takes the lock next.
            leader = match leader.still_held().await {
                Some(leader) => leader,
                None => return,
            };
            if lag_measured.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
                lag_measured = Some(std::time::Instant::now());
                if let Err(error) = self.report_lag(self.sink.destination()).await {
                    tracing::debug!(%error, "measuring the outbox lag failed");
                }
            }
            let settled = match self.dispatch_once().await {
                Ok(settled) => settled,
                Err(error) => {
                    tracing::warn!(%error, "outbox dispatch failed");
                    0
                }
            };
            if settled == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// On PostgreSQL, a session advisory lock held on a dedicated connection for as long as the
    /// returned guard lives; on SQLite (one process per file) leadership is implicit.
    async fn acquire_leadership(&self) -> AppResult<Option<LeaderLock>> {
        let key = crate::db::advisory_lock_key(&format!("outbox:{}", self.name));
        let mut conn = self.db.dedicated().await?;
        let leader = tokio::task::spawn_blocking(move || -> AppResult<Option<LeaderLock>> {
            match &mut **conn {
                DbConnection::Sqlite(_) => Ok(Some(LeaderLock { conn, key: None })),
                DbConnection::Postgres(pg) => {
                    #[derive(QueryableByName)]
                    struct Locked {
                        #[diesel(sql_type = diesel::sql_types::Bool)]
                        locked: bool,
                    }
                    let locked: Locked =
                        diesel::sql_query(format!("SELECT pg_try_advisory_lock({key}) AS locked"))
                            .get_result(pg)?;
                    Ok(locked.locked.then_some(LeaderLock {
                        conn,
                        key: Some(key),
                    }))
                }
            }
        })
        .await
        .map_err(AppError::internal)??;
        Ok(leader)
    }
}

/// Holds the connection whose session owns the advisory lock. Dropping it unlocks before the
/// connection goes back to the pool (a pooled session would otherwise keep the lock).
struct LeaderLock {
    conn: crate::db::PooledConnection,
    key: Option<i64>,
}

impl LeaderLock {
    /// The lock again when its session still answers (on SQLite leadership cannot be lost).
    async fn still_held(mut self) -> Option<LeaderLock> {
        if self.key.is_none() {
            return Some(self);
        }
        tokio::task::spawn_blocking(move || {
            use diesel::connection::SimpleConnection;
            let alive = match &mut **self.conn {
                DbConnection::Postgres(pg) => pg.batch_execute("SELECT 1").is_ok(),
                DbConnection::Sqlite(_) => true,
            };
            if alive {
                Some(self)
            } else {
                // The session is gone and its lock with it: nothing to unlock on drop.
                self.key.take();
                drop(self);
                None
            }
        })
        .await
        .ok()
        .flatten()
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        if let (Some(key), DbConnection::Postgres(pg)) = (self.key, &mut **self.conn) {
            use diesel::connection::SimpleConnection;
            if let Err(error) = pg.batch_execute(&format!("SELECT pg_advisory_unlock({key})")) {
                tracing::warn!(%error, "releasing outbox leadership failed");
            }
        }
    }
}

fn backoff(config: &DispatcherConfig, attempt: i32) -> chrono::Duration {
    let factor = 2u32.saturating_pow((attempt - 1).clamp(0, 20) as u32);
    let wait = config
        .first_backoff
        .saturating_mul(factor)
        .min(config.max_backoff);
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(300))
}

fn to_event(row: PendingRow) -> pb::Event {
    let created = row.created_at.and_utc();
    pb::Event {
        id: row.id,
        tenant_id: row.tenant_id,
        aggregate_id: row.aggregate_id,
        payload: Some(prost_types::Any {
            type_url: row.type_url,
            value: row.payload,
        }),
        occur_time: Some(prost_types::Timestamp {
            seconds: created.timestamp(),
            nanos: created.timestamp_subsec_nanos() as i32,
        }),
        traceparent: row.traceparent,
    }
}

/// Undelivered events, for health reports and tests.
pub async fn pending_count(db: &Db) -> AppResult<i64> {
    db.read(|conn| {
        Ok(outbox_events::table
            .filter(outbox_events::delivered_at.is_null())
            .count()
            .get_result(conn)?)
    })
    .await
}

/// The tenant a service's own event deliveries are authenticated under; each event carries the
/// tenant it belongs to, which consumers apply it in.
pub const DELIVERY_TENANT: &str = "lms-system";

/// Starts delivering this database's outbox to `consumer`'s `EventConsumer` (connecting when
/// first needed) until `shutdown`.
pub fn spawn_delivery(db: Db, consumer: Peer, name: &'static str, shutdown: CancellationToken) {
    let sink = GrpcEventSink::new(consumer);
    let dispatcher = Dispatcher::new(db, Arc::new(sink), DispatcherConfig::default(), name);
    tokio::spawn(dispatcher.run(shutdown));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = DispatcherConfig::default();
        assert_eq!(backoff(&config, 1), chrono::Duration::seconds(1));
        assert_eq!(backoff(&config, 4), chrono::Duration::seconds(8));
        assert_eq!(backoff(&config, 40), chrono::Duration::seconds(10));
    }
}
