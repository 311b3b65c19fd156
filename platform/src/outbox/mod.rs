//! The transactional outbox (DESIGN §2).
//!
//! A service writes its cross-service events with [`enqueue`] inside the transaction that makes
//! the change, so an event exists exactly when its change does, queued in that transaction for
//! every destination subscribed to its type (one `outbox_deliveries` row each; where events go
//! is what the leading [`Dispatcher`] published, see `routes`). The dispatcher delivers each
//! destination's queue to its [`EventSink`] (the consumer's
//! `EventConsumer.DeliverEvents`) on its own, so a slow or dead destination holds back no other.
//! What a destination acknowledged is done; what it failed is retried with exponential backoff;
//! what it rejected for good is kept as a dead letter until an operator replays it
//! ([`DeadLettersGrpc`]). Nothing is lost while a consumer is down; consumers deduplicate by
//! event id, so nothing is applied twice.
//!
//! Only one dispatcher per database delivers at a time (a PostgreSQL advisory lock elects it),
//! so each destination gets events in write order even with many replicas. An event that failed
//! is retried after its backoff, possibly after later events went out.

mod dead_letters;
mod dispatcher;
mod leadership;
mod outcome;
mod routes;

pub use dead_letters::{DeadLettersGrpc, POLICY as DEAD_LETTERS_POLICY, replay_dead_letters};
pub use dispatcher::{Dispatcher, DispatcherConfig};

/// The gRPC name of the dead-letter service every service with an outbox serves.
pub const DEAD_LETTERS_SERVICE_NAME: &str = "lms.events.v1.DeadLetters";

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
use crate::error::AppResult;
use crate::ids::TenantId;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// The migrations of the outbox tables and of the consumers' `processed_events` (see `inbox`);
/// a service that writes or consumes events applies them with its own. Their versions
/// (`2000-01-01-…`, the outbox's `2026-11-23-000000` and `2026-11-2x-99xxxx`) never collide
/// with a service's own: diesel identifies a migration by its version alone.
pub fn migrations() -> Migrations {
    Migrations {
        postgres: POSTGRES_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    }
}

diesel::table! {
    /// Events as written; `fanned_out_at` is set once each destination has them queued.
    outbox_events (id) {
        id -> Text,
        tenant_id -> Text,
        aggregate_id -> Text,
        type_url -> Text,
        payload -> Binary,
        traceparent -> Text,
        created_at -> Timestamp,
        fanned_out_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One event's delivery to one destination.
    outbox_deliveries (destination, event_id) {
        destination -> Text,
        event_id -> Text,
        tenant_id -> Text,
        event_created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
        rejected_at -> Nullable<Timestamp>,
        last_error -> Text,
    }
}

diesel::joinable!(outbox_deliveries -> outbox_events (event_id));
diesel::allow_tables_to_appear_in_same_query!(outbox_events, outbox_deliveries);

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

/// An event row as written.
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
    /// When queued for its destinations: at once when routes are published, else NULL until
    /// the dispatcher's queuing pass.
    fanned_out_at: Option<NaiveDateTime>,
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// Writes `events` in the caller's transaction, in batches, queued for their destinations
/// when the leading dispatcher has published where events go (see `routes`).
pub fn enqueue(conn: &mut DbConnection, tenant: &TenantId, events: Vec<NewEvent>) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let at = now();
    let traceparent = crate::telemetry::current_traceparent();
    let routes = routes::Routes::published(conn)?;
    let queued = (!routes.is_empty()).then_some(at);
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
            fanned_out_at: queued,
        })
        .collect();
    // 8 columns a row: 3000 rows stay under the bundled SQLite's 32 766 bind parameters.
    for chunk in rows.chunks(3_000) {
        let insert = diesel::insert_into(outbox_events::table).values(chunk);
        crate::execute_on_backend!(&mut *conn, insert)?;
    }
    if queued.is_some() {
        let unqueued = rows.iter().map(|row| routes::Unqueued {
            id: &row.id,
            tenant_id: &row.tenant_id,
            created_at: row.created_at,
            type_url: &row.type_url,
        });
        routes::queue(conn, &routes, unqueued, at)?;
    }
    Ok(())
}

/// What a consumer said about a batch.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// Applied now or before: done.
    pub acknowledged: Vec<String>,
    /// Can never be applied: kept as dead letters.
    pub rejected: Vec<Rejection>,
}

/// An event a consumer can never apply, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub event_id: String,
    pub reason: String,
}

impl Rejection {
    pub fn new(event_id: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection {
            event_id: event_id.into(),
            reason: reason.into(),
        }
    }
}

impl From<Rejection> for pb::Rejection {
    fn from(rejection: Rejection) -> Self {
        pb::Rejection {
            event_id: rejection.event_id,
            reason: rejection.reason,
        }
    }
}

/// The rejections of a consumer's answer, with their reasons (an id listed without one gets a
/// generic reason).
fn rejections(response: &pb::DeliverEventsResponse) -> Vec<Rejection> {
    let mut rejected: Vec<Rejection> = response
        .rejections
        .iter()
        .map(|r| Rejection::new(&r.event_id, &r.reason))
        .collect();
    for id in &response.rejected {
        if !rejected.iter().any(|r| &r.event_id == id) {
            rejected.push(Rejection::new(id, "rejected by the destination"));
        }
    }
    rejected
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Where events go: the consumer's `EventConsumer.DeliverEvents`, or anything that acts like it.
pub trait EventSink: Send + Sync + 'static {
    fn deliver(&self, events: Vec<pb::Event>) -> BoxFuture<Result<Delivery, String>>;

    /// The destination's name: its deliveries' key, and a metrics label.
    fn destination(&self) -> &str {
        "consumer"
    }

    /// The event types the destination subscribes to (only those are queued for it); None:
    /// every type.
    fn subscribed_types(&self) -> Option<Vec<String>> {
        None
    }
}

/// A destination of a service's events: the consumer, and the event types it subscribes to
/// (what it reads; see each consumer's `events::CONSUMED`).
#[derive(Clone)]
pub struct Subscriber {
    pub consumer: Peer,
    pub types: Vec<String>,
}

/// Delivers through gRPC to a consumer's `EventConsumer`, with this service's own identity.
pub struct GrpcEventSink {
    consumer: Peer,
    /// What deliveries are authenticated as (each event names its own tenant).
    tenant: TenantId,
    /// The event types it is sent; None: all.
    types: Option<Vec<String>>,
}

/// How long a consumer may take to apply one delivery (up to 500 events in a transaction).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

impl GrpcEventSink {
    /// Sends `consumer` every event.
    pub fn new(consumer: Peer) -> Self {
        Self {
            consumer: consumer.with_timeout(DELIVERY_TIMEOUT),
            tenant: TenantId::parse(DELIVERY_TENANT).expect("the delivery tenant is a tenant id"),
            types: None,
        }
    }

    /// Sends the subscriber the event types it subscribes to.
    pub fn subscribed(subscriber: Subscriber) -> Self {
        Self {
            types: Some(subscriber.types),
            ..Self::new(subscriber.consumer)
        }
    }
}

impl EventSink for GrpcEventSink {
    fn destination(&self) -> &str {
        self.consumer.name()
    }

    fn subscribed_types(&self) -> Option<Vec<String>> {
        self.types.clone()
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
                rejected: rejections(&response),
                acknowledged: response.acknowledged,
            })
        })
    }
}

/// Deliveries still to make (an event not yet queued counts once), for health reports and
/// tests. Dead letters are not pending.
pub async fn pending_count(db: &Db) -> AppResult<i64> {
    db.read(|conn| {
        let unqueued: i64 = outbox_events::table
            .filter(outbox_events::fanned_out_at.is_null())
            .count()
            .get_result(conn)?;
        let queued: i64 = outbox_deliveries::table
            .filter(outbox_deliveries::delivered_at.is_null())
            .filter(outbox_deliveries::rejected_at.is_null())
            .count()
            .get_result(conn)?;
        Ok(unqueued + queued)
    })
    .await
}

/// The tenant a service's own event deliveries are authenticated under; each event carries the
/// tenant it belongs to, which consumers apply it in.
pub const DELIVERY_TENANT: &str = "lms-system";

/// Starts delivering this database's outbox to each subscriber's `EventConsumer` (connecting
/// when first needed) until `shutdown`. Without subscribers nothing starts, and events wait in
/// the outbox.
pub fn spawn_delivery(
    db: Db,
    subscribers: Vec<Subscriber>,
    mut sinks: Vec<Arc<dyn EventSink>>,
    name: &'static str,
    shutdown: CancellationToken,
) {
    sinks.extend(
        subscribers.into_iter().map(|subscriber| {
            Arc::new(GrpcEventSink::subscribed(subscriber)) as Arc<dyn EventSink>
        }),
    );
    if sinks.is_empty() {
        return;
    }
    let dispatcher = Dispatcher::new(db, sinks, DispatcherConfig::default(), name);
    tokio::spawn(dispatcher.run(shutdown));
}
