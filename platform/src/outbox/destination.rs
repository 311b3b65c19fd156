//! One destination's queue, delivered batch after batch while leadership holds. Three batches
//! are in hand at once: one offered to the destination, the one before it being recorded, and
//! the one after it being read — so a destination that keeps up waits neither for the outbox's
//! bookkeeping nor for its reads. Each read leaves out the batches in hand (not yet marked
//! delivered), so one dispatcher never offers an event twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Dispatcher, PendingRow};
use crate::error::AppResult;
use crate::outbox::EventSink;
use crate::outbox::leadership::Leadership;

impl Dispatcher {
    /// Delivers `sink`'s queue batch after batch while leadership holds.
    pub(super) async fn deliver_to(
        self: Arc<Self>,
        sink: Arc<dyn EventSink>,
        leadership: Arc<Leadership>,
        queued: Arc<Notify>,
    ) {
        // The lag is measured at most this often (counts over the destination's queue).
        const LAG_EVERY: Duration = Duration::from_secs(5);
        let mut lag_measured: Option<Instant> = None;
        // The outcome of the last batch, being written while the next is offered.
        let mut recording: Option<Recording> = None;
        // The next batch, being read while the last is offered.
        let mut reading: Option<ReadAhead> = None;
        while leadership.confirm().await {
            if lag_measured.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
                lag_measured = Some(Instant::now());
                if let Err(error) = self.report_lag(sink.destination()).await {
                    tracing::debug!(%error, "measuring the outbox lag failed");
                }
            }
            let started = Instant::now();
            let pending = match reading.take() {
                Some(read_ahead) => read_ahead.finish().await,
                None => {
                    let excluding = recording.as_ref().map(|r| r.ids.clone());
                    let read = self.due(sink.destination(), excluding.unwrap_or_default());
                    ok_or_nothing(read.await)
                }
            };
            if pending.is_empty() {
                if let Some(previous) = recording.take() {
                    // Perhaps only the batch being written was due: look again once it is.
                    previous.finish().await;
                    continue;
                }
                tokio::select! {
                    _ = leadership.lost.cancelled() => return,
                    _ = queued.notified() => {}
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                }
                continue;
            }
            let read = started.elapsed();
            reading = Some(self.read_ahead(sink.destination(), &pending, recording.as_ref()));
            let offer = self.offer(sink.as_ref(), pending).await;
            let offered = started.elapsed();
            // Outcomes are written one at a time, in order.
            if let Some(previous) = recording.take() {
                previous.finish().await;
            }
            tracing::debug!(
                destination = sink.destination(),
                settled = offer.settled,
                read_ms = read.as_secs_f64() * 1e3,
                deliver_ms = (offered - read).as_secs_f64() * 1e3,
                waited_ms = (started.elapsed() - offered).as_secs_f64() * 1e3,
                "delivered a batch"
            );
            let settled = offer.settled;
            let this = self.clone();
            recording = Some(Recording {
                ids: offer.ids,
                writing: tokio::spawn(async move { this.record(offer.outcome).await }),
            });
            if settled == 0 {
                // Nothing taken (the destination is down): what was read ahead is not offered
                // now, and the backoff is written before the next look.
                if let Some(ahead) = reading.take() {
                    ahead.0.abort();
                }
                if let Some(failed) = recording.take() {
                    failed.finish().await;
                }
                tokio::select! {
                    _ = leadership.lost.cancelled() => return,
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                }
            }
        }
        if let Some(ahead) = reading.take() {
            ahead.0.abort();
        }
        if let Some(last) = recording.take() {
            last.finish().await;
        }
    }

    /// Starts reading the batch after `offered`, without its events and those of the batch
    /// being recorded.
    fn read_ahead(
        self: &Arc<Self>,
        destination: &str,
        offered: &[PendingRow],
        recording: Option<&Recording>,
    ) -> ReadAhead {
        let mut excluding: Vec<String> = offered.iter().map(|row| row.id.clone()).collect();
        excluding.extend(recording.iter().flat_map(|r| r.ids.iter().cloned()));
        let (this, destination) = (self.clone(), destination.to_string());
        ReadAhead(tokio::spawn(async move {
            this.due(&destination, excluding).await
        }))
    }
}

fn ok_or_nothing(read: AppResult<Vec<PendingRow>>) -> Vec<PendingRow> {
    read.unwrap_or_else(|error| {
        tracing::warn!(%error, "outbox dispatch failed");
        Vec::new()
    })
}

/// The next batch being read.
struct ReadAhead(JoinHandle<AppResult<Vec<PendingRow>>>);

impl ReadAhead {
    async fn finish(self) -> Vec<PendingRow> {
        match self.0.await {
            Ok(read) => ok_or_nothing(read),
            Err(error) => {
                tracing::warn!(%error, "reading the next outbox batch stopped");
                Vec::new()
            }
        }
    }
}

/// A batch's outcome being written: later batches are read without its events (they are not
/// marked delivered yet).
struct Recording {
    ids: Vec<String>,
    writing: JoinHandle<AppResult<()>>,
}

impl Recording {
    async fn finish(self) {
        match self.writing.await {
            Ok(Ok(())) => {}
            // Its events stay queued and are offered again (consumers apply each once).
            Ok(Err(error)) => tracing::warn!(%error, "recording a delivery's outcome failed"),
            Err(error) => tracing::warn!(%error, "recording a delivery's outcome stopped"),
        }
    }
}
