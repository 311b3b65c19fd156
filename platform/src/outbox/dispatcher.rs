//! Delivering one database's outbox to every destination, each at its own pace.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_proto::events_v1 as pb;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::leadership::Leadership;
use super::outcome::Outcome;
use super::routes::{self, Routes, Unqueued};
use super::{EventSink, now, outbox_deliveries, outbox_events};
use crate::db::Db;
use crate::error::AppResult;

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

/// A batch offered to a destination: what came of it, to be written.
struct Offer {
    /// Acknowledged or rejected.
    settled: usize,
    outcome: Outcome,
    /// Every event offered.
    ids: Vec<String>,
}

/// Delivers one database's outbox to its destinations.
pub struct Dispatcher {
    db: Db,
    sinks: Vec<Arc<dyn EventSink>>,
    /// What `sinks` subscribe to.
    routes: Routes,
    config: DispatcherConfig,
    /// Names the advisory lock: one delivering dispatcher per service database.
    name: &'static str,
    /// Destinations that may have deliveries waiting out a backoff: every destination at
    /// first (an earlier leader may have left some), then each whose delivery failed. Only
    /// for these does an accepted batch make the waiting deliveries due at once — a statement
    /// that visits the destination's whole queue, too dear to run after every batch.
    may_be_backing_off: std::sync::Mutex<HashSet<String>>,
}

impl Dispatcher {
    pub fn new(
        db: Db,
        sinks: Vec<Arc<dyn EventSink>>,
        config: DispatcherConfig,
        name: &'static str,
    ) -> Self {
        let may_be_backing_off = sinks
            .iter()
            .map(|sink| sink.destination().to_string())
            .collect();
        Self {
            db,
            routes: Routes::of(&sinks),
            sinks,
            config,
            name,
            may_be_backing_off: std::sync::Mutex::new(may_be_backing_off),
        }
    }

    fn limit(&self) -> i64 {
        self.config.batch_size.clamp(1, 500)
    }

    /// Publishes where this dispatcher's destinations want events (`outbox_routes`), so that
    /// events written from now on are queued in the transaction that writes them. Routes
    /// already published as they are stay untouched: publishing holds every writer of events
    /// back until the transactions that read the old routes end (see `Routes::publish`).
    pub async fn publish_routes(&self) -> AppResult<()> {
        let routes = self.routes.clone();
        self.db
            .write(move |conn| {
                if Routes::published(conn)? != routes {
                    routes.publish(conn)?;
                }
                Ok(())
            })
            .await
    }

    /// Queues up to one batch of events written unqueued (before routes were published) for
    /// every destination subscribed to their type, in one transaction. Returns how many events
    /// were queued.
    pub async fn fan_out_once(&self) -> AppResult<usize> {
        let routes = self.routes.clone();
        let limit = self.limit();
        let started = std::time::Instant::now();
        let fanned = self
            .db
            .write(move |conn| {
                crate::db::plan_for_actual_sizes(conn)?;
                crate::db::commit_without_waiting_for_disk(conn)?;
                let new: Vec<(String, String, NaiveDateTime, String)> = outbox_events::table
                    .filter(outbox_events::fanned_out_at.is_null())
                    .order((outbox_events::created_at.asc(), outbox_events::id.asc()))
                    .limit(limit)
                    .select((
                        outbox_events::id,
                        outbox_events::tenant_id,
                        outbox_events::created_at,
                        outbox_events::type_url,
                    ))
                    .load(conn)?;
                if new.is_empty() {
                    return Ok(0);
                }
                let at = now();
                let unqueued = new.iter().map(|(id, tenant, created, type_url)| Unqueued {
                    id,
                    tenant_id: tenant,
                    created_at: *created,
                    type_url,
                });
                routes::queue(conn, &routes, unqueued, at)?;
                let ids: Vec<&String> = new.iter().map(|(id, ..)| id).collect();
                for chunk in ids.chunks(500) {
                    let of_ids = crate::db::in_set(conn, "outbox_events.id", chunk);
                    diesel::update(outbox_events::table.filter(of_ids))
                        .set(outbox_events::fanned_out_at.eq(Some(at)))
                        .execute(conn)?;
                }
                Ok(new.len())
            })
            .await?;
        if fanned > 0 {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::debug!(
                outbox = self.name,
                fanned,
                ms,
                "queued events for their destinations"
            );
        }
        Ok(fanned)
    }

    /// Offers one batch of `sink`'s due deliveries and records the outcome. Returns how many
    /// were settled (acknowledged or rejected).
    pub async fn deliver_batch(&self, sink: &dyn EventSink) -> AppResult<usize> {
        let pending = self.due(sink.destination(), Vec::new()).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let offer = self.offer(sink, pending).await;
        self.record(offer.outcome).await?;
        Ok(offer.settled)
    }

    /// `destination`'s due deliveries, oldest first, one batch at most, but for those of
    /// `excluding` (a batch whose outcome is still being written).
    async fn due(&self, destination: &str, excluding: Vec<String>) -> AppResult<Vec<PendingRow>> {
        let (limit, due, queue) = (self.limit(), now(), destination.to_string());
        self.db
            .read(move |conn| {
                crate::db::plan_for_actual_sizes(conn)?;
                let mut query = outbox_deliveries::table
                    .inner_join(outbox_events::table)
                    .filter(outbox_deliveries::destination.eq(queue))
                    .filter(outbox_deliveries::delivered_at.is_null())
                    .filter(outbox_deliveries::rejected_at.is_null())
                    .filter(outbox_deliveries::next_attempt_at.le(due))
                    .into_boxed();
                if !excluding.is_empty() {
                    let of_ids = crate::db::in_set(conn, "outbox_deliveries.event_id", &excluding);
                    query = query.filter(diesel::dsl::not(of_ids));
                }
                Ok(query
                    .order((
                        outbox_deliveries::event_created_at.asc(),
                        outbox_deliveries::event_id.asc(),
                    ))
                    .limit(limit)
                    .select((
                        outbox_events::id,
                        outbox_events::tenant_id,
                        outbox_events::aggregate_id,
                        outbox_events::type_url,
                        outbox_events::payload,
                        outbox_events::traceparent,
                        outbox_events::created_at,
                        outbox_deliveries::attempts,
                    ))
                    .load(conn)?)
            })
            .await
    }

    /// Offers `pending` to `sink` and says what came of it; nothing is written yet.
    async fn offer(&self, sink: &dyn EventSink, pending: Vec<PendingRow>) -> Offer {
        let destination = sink.destination().to_string();
        let attempts = pending.iter().map(|row| row.attempts).max().unwrap_or(0);
        let ids: Vec<String> = pending.iter().map(|row| row.id.clone()).collect();
        let events = pending.into_iter().map(to_event).collect();
        let (reached, mut acknowledged, mut rejected, error) = match sink.deliver(events).await {
            Ok(delivery) => (
                true,
                delivery.acknowledged,
                delivery.rejected,
                "not acknowledged".to_string(),
            ),
            Err(error) => {
                tracing::warn!(%destination, %error, events = ids.len(), "event delivery failed; will retry");
                (false, Vec::new(), Vec::new(), error)
            }
        };
        // Only what was offered counts, each once; an acknowledgement wins over a rejection.
        let offered: HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut settled_ids: HashSet<&str> = HashSet::with_capacity(ids.len());
        let mut settle = |id: &str| offered.get(id).is_some_and(|&id| settled_ids.insert(id));
        acknowledged.retain(|id| settle(id));
        rejected.retain(|r| settle(&r.event_id));
        for rejection in &rejected {
            tracing::error!(%destination, event = %rejection.event_id, reason = %rejection.reason,
                "the destination rejected an event for good; kept as a dead letter");
        }
        let failed: Vec<String> = ids
            .iter()
            .filter(|id| !settled_ids.contains(id.as_str()))
            .cloned()
            .collect();
        let settled = acknowledged.len() + rejected.len();
        let end_backoffs = self.note_backoffs(&destination, reached, !failed.is_empty());
        Offer {
            settled,
            outcome: Outcome {
                destination,
                end_backoffs,
                acknowledged,
                rejected,
                failed,
                retry_at: now() + backoff(&self.config, attempts + 1),
                error: error.chars().take(500).collect(),
            },
            ids,
        }
    }

    /// Writes what came of an offer.
    async fn record(&self, outcome: Outcome) -> AppResult<()> {
        let (destination, end_backoffs) = (outcome.destination.clone(), outcome.end_backoffs);
        let started = std::time::Instant::now();
        let written = self.db.write(move |conn| outcome.record(conn)).await;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(%destination, ms, "recorded a delivery's outcome");
        if written.is_err() && end_backoffs {
            // Not recorded: what waits still waits.
            self.note_backoffs(&destination, false, true);
        }
        written
    }

    /// Notes whether `destination` may now have deliveries waiting out a backoff (some of
    /// this batch failed) and says whether this batch ends them: it reached the destination,
    /// and earlier failures (or an earlier leader's) may have left some waiting.
    fn note_backoffs(&self, destination: &str, reached: bool, some_failed: bool) -> bool {
        let mut backing_off = self
            .may_be_backing_off
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let end = reached && backing_off.remove(destination);
        if some_failed {
            backing_off.insert(destination.to_string());
        }
        end
    }

    /// Queues what is new, then offers one batch to each destination in turn. Returns how many
    /// deliveries were settled. (The running dispatcher does the same, each destination on its
    /// own task, and writes each batch's outcome while it offers the next.)
    pub async fn dispatch_once(&self) -> AppResult<usize> {
        self.fan_out_once().await?;
        let mut settled = 0;
        for sink in &self.sinks {
            settled += self.deliver_batch(sink.as_ref()).await?;
        }
        Ok(settled)
    }

    /// Reports, for `destination`, how many deliveries wait and how old the oldest is, and how
    /// many dead letters it left (`lms_outbox_pending_events`,
    /// `lms_outbox_oldest_pending_age_seconds`, `lms_outbox_dead_letters`).
    pub async fn report_lag(&self, destination: &str) -> AppResult<()> {
        let queue = destination.to_string();
        type Lag = (i64, Option<NaiveDateTime>);
        let (unqueued, queued, dead): (Lag, Lag, i64) = self
            .db
            .read_one(move |conn| {
                let unqueued = outbox_events::table
                    .filter(outbox_events::fanned_out_at.is_null())
                    .select((
                        diesel::dsl::count_star(),
                        diesel::dsl::min(outbox_events::created_at),
                    ))
                    .get_result(conn)?;
                let queued = outbox_deliveries::table
                    .filter(outbox_deliveries::destination.eq(&queue))
                    .filter(outbox_deliveries::delivered_at.is_null())
                    .filter(outbox_deliveries::rejected_at.is_null())
                    .select((
                        diesel::dsl::count_star(),
                        diesel::dsl::min(outbox_deliveries::event_created_at),
                    ))
                    .get_result(conn)?;
                let dead = outbox_deliveries::table
                    .filter(outbox_deliveries::destination.eq(&queue))
                    .filter(outbox_deliveries::rejected_at.is_not_null())
                    .count()
                    .get_result(conn)?;
                Ok((unqueued, queued, dead))
            })
            .await?;
        let labels = crate::telemetry::OutboxLabels {
            producer: self.name.trim_end_matches("-service"),
            destination: destination.trim_end_matches("-service").to_string(),
        };
        let metrics = crate::telemetry::metrics();
        let pending = metrics.outbox_pending_events.get_or_create(&labels);
        pending.set(unqueued.0 + queued.0);
        let oldest = [unqueued.1, queued.1].into_iter().flatten().min();
        let age = oldest.map_or(0, |at| (now() - at).num_seconds().max(0));
        metrics
            .outbox_oldest_pending_age_seconds
            .get_or_create(&labels)
            .set(age);
        metrics.outbox_dead_letters.get_or_create(&labels).set(dead);
        Ok(())
    }

    /// Delivers until `shutdown`, while holding leadership; when leadership is lost (the
    /// session holding the lock died), stops delivering and competes for it again.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        loop {
            let Some(leadership) = this.lead(&shutdown).await else {
                return;
            };
            this.clone()
                .deliver_while_leading(Arc::new(leadership))
                .await;
            if shutdown.is_cancelled() {
                return;
            }
            tracing::warn!(
                outbox = this.name,
                "outbox leadership lost (its database session ended); delivery paused until it is won again"
            );
        }
    }

    /// Waits until this dispatcher holds leadership (None at shutdown).
    async fn lead(&self, shutdown: &CancellationToken) -> Option<Leadership> {
        loop {
            match Leadership::acquire(&self.db, self.name, shutdown).await {
                Ok(Some(leadership)) => return Some(leadership),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "outbox leadership check failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    /// Queues new events for every destination, while each destination's own task delivers
    /// its queue; all stop when leadership is lost or at shutdown.
    async fn deliver_while_leading(self: Arc<Self>, leadership: Arc<Leadership>) {
        tracing::info!(outbox = self.name, "delivering outbox events");
        // Until its routes are published, events are queued by whatever routes an earlier
        // leader published — without a destination added since — so nothing is delivered
        // before they are.
        while let Err(error) = self.publish_routes().await {
            tracing::warn!(%error, "publishing the outbox routes failed; trying again");
            tokio::select! {
                _ = leadership.lost.cancelled() => break,
                _ = tokio::time::sleep(self.config.max_backoff) => {}
            }
            if !leadership.confirm().await {
                break;
            }
        }
        // What was written unqueued is queued before any destination is offered an event
        // queued as it was written, so each gets them in write order.
        while leadership.confirm().await {
            match self.fan_out_once().await {
                Ok(fanned) if (fanned as i64) == self.limit() => {}
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "queuing outbox events failed");
                    tokio::select! {
                        _ = leadership.lost.cancelled() => break,
                        _ = tokio::time::sleep(self.config.idle_poll) => {}
                    }
                }
            }
        }
        let queued = Arc::new(Notify::new());
        let mut destinations = tokio::task::JoinSet::new();
        for sink in self.sinks.clone() {
            let (this, leadership, queued) = (self.clone(), leadership.clone(), queued.clone());
            destinations.spawn(this.deliver_to(sink, leadership, queued));
        }
        while leadership.confirm().await {
            let fanned = match self.fan_out_once().await {
                Ok(fanned) => fanned,
                Err(error) => {
                    tracing::warn!(%error, "queuing outbox events failed");
                    0
                }
            };
            if fanned > 0 {
                queued.notify_waiters();
            }
            if (fanned as i64) < self.limit() {
                tokio::select! {
                    _ = leadership.lost.cancelled() => break,
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                }
            }
        }
        leadership.release().await;
        while destinations.join_next().await.is_some() {}
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

#[path = "destination.rs"]
mod destination;

#[cfg(test)]
#[path = "dispatcher_tests.rs"]
mod tests;
