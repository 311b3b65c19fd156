//! What one delivery to one destination came to, and writing it down.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{Rejection, now, outbox_deliveries};
use crate::error::AppResult;

/// What one delivery to one destination came to, written in one transaction.
pub(super) struct Outcome {
    pub destination: String,
    /// The destination answered (whatever it said), and deliveries may be waiting out a
    /// backoff: they are due now.
    pub end_backoffs: bool,
    pub acknowledged: Vec<String>,
    pub rejected: Vec<Rejection>,
    pub failed: Vec<String>,
    pub retry_at: NaiveDateTime,
    pub error: String,
}

impl Outcome {
    pub fn record(&self, conn: &mut crate::db::DbConnection) -> AppResult<()> {
        use outbox_deliveries::dsl as d;
        let at = now();
        crate::db::plan_for_actual_sizes(conn)?;
        crate::db::commit_without_waiting_for_disk(conn)?;
        let queue = || outbox_deliveries::table.filter(d::destination.eq(&self.destination));
        for chunk in self.acknowledged.chunks(500) {
            let of_ids = crate::db::in_set(conn, "outbox_deliveries.event_id", chunk);
            diesel::update(queue().filter(of_ids))
                .set(d::delivered_at.eq(Some(at)))
                .execute(conn)?;
        }
        for rejection in &self.rejected {
            let reason: String = rejection.reason.chars().take(500).collect();
            diesel::update(queue().filter(d::event_id.eq(&rejection.event_id)))
                .set((
                    d::rejected_at.eq(Some(at)),
                    d::attempts.eq(d::attempts + 1),
                    d::last_error.eq(reason),
                ))
                .execute(conn)?;
        }
        if self.end_backoffs {
            // The destination answers again: what waited out a backoff while it was down is
            // due now, not when each delivery's own backoff ends.
            diesel::update(
                queue()
                    .filter(d::delivered_at.is_null())
                    .filter(d::rejected_at.is_null())
                    .filter(d::next_attempt_at.gt(at)),
            )
            .set(d::next_attempt_at.eq(at))
            .execute(conn)?;
        }
        for chunk in self.failed.chunks(500) {
            let of_ids = crate::db::in_set(conn, "outbox_deliveries.event_id", chunk);
            diesel::update(queue().filter(of_ids))
                .set((
                    d::attempts.eq(d::attempts + 1),
                    d::next_attempt_at.eq(self.retry_at),
                    d::last_error.eq(&self.error),
                ))
                .execute(conn)?;
        }
        Ok(())
    }
}
