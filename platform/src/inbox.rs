//! The consumer side of the outbox: applying delivered events exactly once.
//!
//! Delivery is at least once, so [`consume`] applies each event atomically (a savepoint of the
//! delivery's transaction) together with a row in `processed_events` (created by [`crate::outbox::migrations`]). An event whose
//! id is already there is acknowledged without being applied again. An event that can never be
//! applied (unknown type, unreadable payload, unknown tenant data) is rejected and logged, so it
//! does not block the stream; a transient failure leaves it unacknowledged for a retry.

use diesel::prelude::*;
use lms_proto::events_v1 as pb;

use crate::db::{Db, DbConnection};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::outbox::Rejection;

diesel::table! {
    processed_events (event_id) {
        event_id -> Text,
        tenant_id -> Text,
        type_url -> Text,
        processed_at -> Timestamp,
    }
}

/// Why an event was not applied.
#[derive(Debug)]
pub enum EventError {
    /// It can never be applied: acknowledge it as rejected.
    Reject(String),
    /// It may apply later (the database is down): leave it for the dispatcher to retry.
    Retry(AppError),
}

impl From<AppError> for EventError {
    fn from(error: AppError) -> Self {
        EventError::Retry(error)
    }
}

impl From<diesel::result::Error> for EventError {
    fn from(error: diesel::result::Error) -> Self {
        EventError::Retry(error.into())
    }
}

/// An event as delivered: its envelope, and its payload as the consuming service reads it
/// (its `events` module; an unreadable payload is the reason it will be rejected).
#[derive(Debug, Clone)]
pub struct Delivered<T> {
    pub id: String,
    /// None: the event names no valid tenant (it is rejected).
    pub tenant_id: Option<TenantId>,
    pub type_url: String,
    pub payload: Result<T, String>,
}

impl<T> Delivered<T> {
    /// Reads each event of a delivery with `read` (given the whole event: its envelope and
    /// payload).
    pub fn read_all(
        events: Vec<pb::Event>,
        read: impl Fn(&pb::Event) -> Result<T, String>,
    ) -> Vec<Delivered<T>> {
        events
            .into_iter()
            .map(|event| Delivered {
                type_url: event
                    .payload
                    .as_ref()
                    .map(|any| any.type_url.clone())
                    .unwrap_or_default(),
                payload: read(&event),
                tenant_id: TenantId::parse(&event.tenant_id).ok(),
                id: event.id,
            })
            .collect()
    }
}

/// Decodes `any` as `M`: Err names what arrived instead.
pub fn decode<M: prost::Message + prost::Name + Default>(
    any: &prost_types::Any,
) -> Result<M, String> {
    if any.type_url != M::type_url() {
        return Err(format!("expected {}, got {}", M::type_url(), any.type_url));
    }
    M::decode(any.value.as_slice()).map_err(|e| format!("unreadable {}: {e}", M::full_name()))
}

/// What a consumer says of a delivery: the events done (applied now or before) and those that
/// can never be applied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub acknowledged: Vec<String>,
    pub rejected: Vec<Rejection>,
}

impl From<Outcome> for pb::DeliverEventsResponse {
    fn from(outcome: Outcome) -> Self {
        pb::DeliverEventsResponse {
            acknowledged: outcome.acknowledged,
            rejected: outcome
                .rejected
                .iter()
                .map(|r| r.event_id.clone())
                .collect(),
            rejections: outcome.rejected.into_iter().map(Into::into).collect(),
        }
    }
}

/// Applies each event once, with its processed-event row: `apply(conn, tenant, payload)`. The
/// whole delivery is first tried as one transaction — one commit instead of one per event,
/// which is what lets a backlog drain quickly. When an event in it fails, that rolls the batch
/// back and it is applied again with a savepoint per event, so the failed event is rolled back
/// alone and the others still commit.
pub async fn consume<T, F>(db: &Db, events: Vec<Delivered<T>>, apply: F) -> AppResult<Outcome>
where
    T: Clone + Send + Sync + 'static,
    F: Fn(&mut DbConnection, &TenantId, &T) -> Result<(), EventError> + Clone + Send + 'static,
{
    if events.len() > MAX_DELIVERY {
        return Err(AppError::invalid_field(
            "events",
            format!("at most {MAX_DELIVERY} per delivery"),
        ));
    }
    Ok(apply_all(db, events, apply).await)
}

/// The most events one delivery carries (the contract's limit).
pub const MAX_DELIVERY: usize = 500;

async fn apply_all<T, F>(db: &Db, events: Vec<Delivered<T>>, apply: F) -> Outcome
where
    T: Clone + Send + Sync + 'static,
    F: Fn(&mut DbConnection, &TenantId, &T) -> Result<(), EventError> + Clone + Send + 'static,
{
    let mut response = Outcome::default();
    let mut valid = Vec::with_capacity(events.len());
    for event in events {
        if event.id.is_empty() || event.tenant_id.is_none() {
            tracing::warn!(event.id, "rejected an event without id or tenant");
            let reason = if event.id.is_empty() {
                "the event has no id"
            } else {
                "the event names no valid tenant"
            };
            response.rejected.push(Rejection::new(event.id, reason));
        } else {
            valid.push(event);
        }
    }
    if valid.is_empty() {
        return response;
    }
    // The common case first: every event applies, in one transaction without savepoints.
    let all = {
        let (events, apply) = (valid.clone(), apply.clone());
        db.write(move |conn| {
            crate::db::plan_for_actual_sizes(conn)?;
            for event in &events {
                apply_once(conn, event, &apply)?;
            }
            Ok(())
        })
        .await
    };
    if all.is_ok() {
        response
            .acknowledged
            .extend(valid.into_iter().map(|event| event.id));
        return response;
    }
    // Some event failed and rolled the batch back: again, each event in its own savepoint.
    let count = valid.len();
    let batch = {
        let (events, apply) = (valid, apply);
        db.write(move |conn| {
            Ok(events
                .iter()
                .map(|event| {
                    use diesel::Connection;
                    let outcome = conn.transaction(|conn| apply_once(conn, event, &apply));
                    (event.id.clone(), outcome)
                })
                .collect::<Vec<_>>())
        })
        .await
    };
    let outcomes = match batch {
        Ok(outcomes) => outcomes,
        // The transaction itself failed (the database went away): nothing is acknowledged,
        // and the dispatcher offers the whole delivery again.
        Err(error) => {
            tracing::warn!(%error, events = count, "could not apply a delivery; it will be retried");
            return response;
        }
    };
    for (id, outcome) in outcomes {
        match outcome {
            Ok(()) => response.acknowledged.push(id),
            Err(AppError::FailedPrecondition(why)) => {
                tracing::warn!(event.id = %id, %why, "rejected an event that cannot be applied");
                response.rejected.push(Rejection::new(id, why));
            }
            Err(error) => {
                tracing::warn!(event.id = %id, %error, "could not apply an event; it will be retried");
            }
        }
    }
    response
}

/// Claims the event and applies it; an event seen before is acknowledged without effect.
fn apply_once<T, F>(
    conn: &mut DbConnection,
    event: &Delivered<T>,
    apply: &F,
) -> Result<(), AppError>
where
    F: Fn(&mut DbConnection, &TenantId, &T) -> Result<(), EventError>,
{
    let Some(tenant) = &event.tenant_id else {
        return Err(AppError::FailedPrecondition(
            "an event without a tenant".into(),
        ));
    };
    if !claim(conn, tenant, event)? {
        return Ok(());
    }
    let applied = match &event.payload {
        Ok(payload) => apply(conn, tenant, payload),
        Err(why) => Err(EventError::Reject(why.clone())),
    };
    match applied {
        Ok(()) => Ok(()),
        Err(EventError::Reject(why)) => Err(AppError::FailedPrecondition(why)),
        Err(EventError::Retry(error)) => Err(error),
    }
}

fn claim<T>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    event: &Delivered<T>,
) -> Result<bool, AppError> {
    let seen = processed_events::table
        .filter(processed_events::event_id.eq(&event.id))
        .count()
        .get_result::<i64>(conn)?;
    if seen > 0 {
        return Ok(false);
    }
    diesel::insert_into(processed_events::table)
        .values((
            processed_events::event_id.eq(&event.id),
            processed_events::tenant_id.eq(tenant),
            processed_events::type_url.eq(&event.type_url),
            processed_events::processed_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)
        // Two deliveries of one event racing: the loser's insert conflicts and rolls back,
        // and the dispatcher retries it, to find it processed.
        .map_err(|e| match AppError::from(e) {
            AppError::AlreadyExists(_) => AppError::Aborted("event being applied".into()),
            other => other,
        })?;
    Ok(true)
}

/// A service that consumes events: how it reads a payload, and how it applies a delivery.
pub trait Consumer: Send + Sync + 'static {
    type Event: Clone + Send + Sync + 'static;

    /// Reads one payload (Err: why it can never be applied).
    fn read(payload: &prost_types::Any) -> Result<Self::Event, String>;

    /// Reads one event; by default its payload alone. A consumer that needs the envelope too
    /// (the aggregate, the time it happened) reads it here.
    fn read_event(event: &pb::Event) -> Result<Self::Event, String> {
        match &event.payload {
            Some(any) => Self::read(any),
            None => Err("event without payload".to_string()),
        }
    }

    /// Applies a delivery exactly once per event (see [`consume`]).
    fn apply(
        &self,
        events: Vec<Delivered<Self::Event>>,
    ) -> impl std::future::Future<Output = AppResult<Outcome>> + Send;
}

/// `lms.events.v1.EventConsumer`, served by any [`Consumer`].
pub struct EventConsumerGrpc<C> {
    consumer: C,
}

impl<C> EventConsumerGrpc<C> {
    pub fn new(consumer: C) -> Self {
        Self { consumer }
    }
}

#[tonic::async_trait]
impl<C: Consumer> pb::event_consumer_server::EventConsumer for EventConsumerGrpc<C> {
    async fn deliver_events(
        &self,
        request: tonic::Request<pb::DeliverEventsRequest>,
    ) -> Result<tonic::Response<pb::DeliverEventsResponse>, tonic::Status> {
        let delivered = Delivered::read_all(request.into_inner().events, C::read_event);
        let outcome = self.consumer.apply(delivered).await?;
        Ok(tonic::Response::new(outcome.into()))
    }
}

/// Applies a delivery with set-based statements: the events not processed before are found
/// with one query, recorded as processed with one insert, and handed to `apply_all` together
/// (in delivery order), all in one transaction — a handful of statements per delivery instead
/// of several per event. When that transaction fails, the delivery is applied again event by
/// event with `apply_one` ([`consume`]), so an event that cannot be applied is rolled back
/// alone and the others still commit.
pub async fn consume_batch<T, A, F>(
    db: &Db,
    events: Vec<Delivered<T>>,
    apply_all: A,
    apply_one: F,
) -> AppResult<Outcome>
where
    T: Clone + Send + Sync + 'static,
    A: Fn(&mut DbConnection, &[(TenantId, T)]) -> Result<(), EventError> + Send + 'static,
    F: Fn(&mut DbConnection, &TenantId, &T) -> Result<(), EventError> + Clone + Send + 'static,
{
    if events.len() > MAX_DELIVERY {
        return Err(AppError::invalid_field(
            "events",
            format!("at most {MAX_DELIVERY} per delivery"),
        ));
    }
    // Events that can never apply (no id, no tenant, an unreadable payload) go the per-event
    // way, which rejects them with their reason.
    let readable = events
        .iter()
        .all(|e| !e.id.is_empty() && e.tenant_id.is_some() && e.payload.is_ok());
    if !readable || events.is_empty() {
        return consume(db, events, apply_one).await;
    }
    let batch = events.clone();
    let started = std::time::Instant::now();
    let applied = db
        .write(move |conn| {
            crate::db::plan_for_actual_sizes(conn)?;
            let ids: Vec<&str> = batch.iter().map(|e| e.id.as_str()).collect();
            let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
            for chunk in ids.chunks(MAX_DELIVERY) {
                let of_ids = crate::db::in_set(conn, "processed_events.event_id", chunk);
                seen.extend(
                    processed_events::table
                        .filter(of_ids)
                        .select(processed_events::event_id)
                        .load::<String>(conn)?,
                );
            }
            let at = crate::resource::now();
            let mut fresh = Vec::with_capacity(batch.len());
            let mut rows = Vec::with_capacity(batch.len());
            for event in &batch {
                // `seen` also drops an id repeated within the delivery.
                if !seen.insert(event.id.clone()) {
                    continue;
                }
                let (Some(tenant), Ok(payload)) = (&event.tenant_id, &event.payload) else {
                    continue;
                };
                rows.push((
                    processed_events::event_id.eq(event.id.as_str()),
                    processed_events::tenant_id.eq(tenant.as_str()),
                    processed_events::type_url.eq(event.type_url.as_str()),
                    processed_events::processed_at.eq(at),
                ));
                fresh.push((tenant.clone(), payload.clone()));
            }
            match conn {
                DbConnection::Postgres(pg) => {
                    for chunk in rows.chunks(MAX_DELIVERY) {
                        diesel::insert_into(processed_events::table)
                            .values(chunk)
                            .execute(pg)?;
                    }
                }
                DbConnection::Sqlite(sqlite) => {
                    for row in &rows {
                        diesel::insert_into(processed_events::table)
                            .values(*row)
                            .execute(sqlite)?;
                    }
                }
            }
            match apply_all(conn, &fresh) {
                Ok(()) => Ok(()),
                Err(EventError::Reject(why)) => Err(AppError::FailedPrecondition(why)),
                Err(EventError::Retry(error)) => Err(error),
            }
        })
        .await;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::debug!(
        events = events.len(),
        ms,
        ok = applied.is_ok(),
        "applied a delivery as a batch"
    );
    match applied {
        Ok(()) => Ok(Outcome {
            acknowledged: events.into_iter().map(|e| e.id).collect(),
            rejected: Vec::new(),
        }),
        Err(error) => {
            tracing::debug!(%error, "a delivery did not apply as a batch; applying it event by event");
            consume(db, events, apply_one).await
        }
    }
}
