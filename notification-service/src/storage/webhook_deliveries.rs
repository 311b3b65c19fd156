//! Webhook deliveries: queued with the event that caused them, claimed by the sender with a
//! lease (replicas share the work), and kept as the webhook's delivery log.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::dsl::min;
use diesel::prelude::*;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;

use super::schema::webhook_deliveries as d;
use super::schema::webhooks as w;
use super::webhooks::ACTIVE;

pub const PENDING: &str = "pending";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = d)]
pub struct Delivery {
    pub tenant_id: String,
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub aggregate_id: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_status: i32,
    pub last_latency_ms: i32,
    pub last_error: String,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Queues deliveries, each unless the same event is already queued for the webhook (a
/// redelivered event); returns how many are new.
pub fn enqueue(conn: &mut DbConnection, rows: &[Delivery]) -> AppResult<usize> {
    let mut inserted = 0;
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in rows.chunks(1_000) {
                inserted += diesel::insert_into(d::table)
                    .values(chunk)
                    .on_conflict((d::tenant_id, d::webhook_id, d::event_id))
                    .do_nothing()
                    .execute(pg)?;
            }
        }
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                inserted += diesel::insert_into(d::table)
                    .values(row)
                    .on_conflict((d::tenant_id, d::webhook_id, d::event_id))
                    .do_nothing()
                    .execute(sqlite)?;
            }
        }
    }
    Ok(inserted)
}

/// Claims up to `limit` deliveries due at `now` to active webhooks until `lease_until` (unique
/// to this claim), only the first pending one of each webhook and aggregate, so a receiver gets
/// each aggregate's events in order. A delivery waiting behind an earlier one is moved to that
/// one's next attempt, so it does not stand in the way of other aggregates' deliveries.
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    // The queue fills in bursts: plan for its size now (see `plan_for_actual_sizes`).
    lms_platform::db::plan_for_actual_sizes(conn)?;
    let free = || d::lease_until.is_null().or(d::lease_until.lt(now));
    let candidates: Vec<(String, String, String, String)> = d::table
        .inner_join(w::table.on(w::tenant_id.eq(d::tenant_id).and(w::id.eq(d::webhook_id))))
        .filter(d::state.eq(PENDING))
        .filter(d::next_attempt_at.le(now))
        .filter(free())
        .filter(w::state.eq(ACTIVE))
        .order(d::next_attempt_at.asc())
        .limit(limit)
        .select((d::tenant_id, d::id, d::webhook_id, d::aggregate_id))
        .load(conn)?;
    let mut by_tenant: BTreeMap<&str, Vec<(&str, &str, &str)>> = BTreeMap::new();
    for (tenant, id, webhook, aggregate) in &candidates {
        by_tenant
            .entry(tenant)
            .or_default()
            .push((id, webhook, aggregate));
    }
    let mut claimed = Vec::with_capacity(candidates.len());
    for (tenant, rows) in by_tenant {
        for chunk in rows.chunks(500) {
            // Only rows no other claim holds: claims never wait on each other (see
            // `lock_unheld`).
            let ids: Vec<&str> = chunk.iter().map(|(id, _, _)| *id).collect();
            let unheld: HashSet<String> =
                lms_platform::db::lock_unheld(conn, "webhook_deliveries", tenant, &ids)?
                    .into_iter()
                    .collect();
            let chunk: Vec<(&str, &str, &str)> = chunk
                .iter()
                .filter(|(id, _, _)| unheld.contains(*id))
                .copied()
                .collect();
            let (ready, waiting) = first_of_each_aggregate(conn, tenant, &chunk)?;
            for (head_next_attempt, followers) in waiting {
                diesel::update(
                    d::table
                        .filter(d::tenant_id.eq(tenant))
                        .filter(d::id.eq_any(followers)),
                )
                .set(d::next_attempt_at.eq(head_next_attempt.max(now)))
                .execute(conn)?;
            }
            let mine = || {
                d::table
                    .filter(d::tenant_id.eq(tenant))
                    .filter(d::id.eq_any(&ready))
            };
            // Asked again, not assumed from the candidates' read: a delivery another worker
            // attempted since is free again, and taking it would send it twice.
            let claimable = || {
                d::state
                    .eq(PENDING)
                    .and(d::next_attempt_at.le(now))
                    .and(free())
            };
            diesel::update(mine().filter(claimable()))
                .set(d::lease_until.eq(Some(lease_until)))
                .execute(conn)?;
            claimed.extend(
                mine()
                    .filter(d::lease_until.eq(Some(lease_until)))
                    .select(Delivery::as_select())
                    .load(conn)?,
            );
        }
    }
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(claimed)
}

/// Splits candidates into those first in line for their webhook and aggregate, and those
/// waiting behind an earlier pending delivery (grouped by that one's next attempt).
#[allow(clippy::type_complexity)]
fn first_of_each_aggregate(
    conn: &mut DbConnection,
    tenant: &str,
    candidates: &[(&str, &str, &str)],
) -> AppResult<(Vec<String>, Vec<(NaiveDateTime, Vec<String>)>)> {
    let webhooks: Vec<&str> = candidates.iter().map(|(_, w, _)| *w).collect();
    let aggregates: Vec<&str> = candidates.iter().map(|(_, _, a)| *a).collect();
    let heads: Vec<(String, String, Option<String>)> = d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::webhook_id.eq_any(&webhooks))
        .filter(d::aggregate_id.eq_any(&aggregates))
        .filter(d::state.eq(PENDING))
        .group_by((d::webhook_id, d::aggregate_id))
        .select((d::webhook_id, d::aggregate_id, min(d::id)))
        .load(conn)?;
    let heads: HashMap<(String, String), String> = heads
        .into_iter()
        .filter_map(|(webhook, aggregate, id)| Some(((webhook, aggregate), id?)))
        .collect();
    let mut ready = Vec::new();
    let mut behind: HashMap<&str, Vec<String>> = HashMap::new();
    for (id, webhook, aggregate) in candidates {
        match heads.get(&(webhook.to_string(), aggregate.to_string())) {
            Some(head) if head.as_str() < *id => {
                behind
                    .entry(head.as_str())
                    .or_default()
                    .push(id.to_string());
            }
            _ => ready.push(id.to_string()),
        }
    }
    if behind.is_empty() {
        return Ok((ready, Vec::new()));
    }
    // The next attempt of every head something waits behind, in one query.
    let head_ids: Vec<&str> = behind.keys().copied().collect();
    let due: HashMap<String, NaiveDateTime> = d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::id.eq_any(&head_ids))
        .select((d::id, d::next_attempt_at))
        .load::<(String, NaiveDateTime)>(conn)?
        .into_iter()
        .collect();
    let waiting = behind
        .into_iter()
        .filter_map(|(head, followers)| Some((*due.get(head)?, followers)))
        .collect();
    Ok((ready, waiting))
}

/// What one attempt came to.
pub struct Attempted<'a> {
    pub state: &'a str,
    pub status: i32,
    pub latency_ms: i32,
    pub error: &'a str,
    pub at: NaiveDateTime,
    /// The next attempt (pending only).
    pub next_attempt_at: NaiveDateTime,
}

/// Records an attempt and frees the delivery.
/// Only while the delivery still holds the claim's lease: one another worker took over (its
/// lease having run out) is that worker's.
pub fn attempted(
    conn: &mut DbConnection,
    row: &Delivery,
    outcome: &Attempted<'_>,
) -> AppResult<()> {
    diesel::update(
        d::table
            .filter(d::tenant_id.eq(&row.tenant_id))
            .filter(d::id.eq(&row.id))
            .filter(d::lease_until.eq(row.lease_until)),
    )
    .set((
        d::state.eq(outcome.state),
        d::attempts.eq(d::attempts + 1),
        d::last_status.eq(outcome.status),
        d::last_latency_ms.eq(outcome.latency_ms),
        d::last_error.eq(outcome.error),
        d::last_attempt_at.eq(Some(outcome.at)),
        d::next_attempt_at.eq(outcome.next_attempt_at),
        d::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Frees a claimed delivery without an attempt (its webhook went away or was disabled).
/// Only while the delivery still holds the claim's lease: one another worker took over (its
/// lease having run out) is that worker's.
pub fn release(conn: &mut DbConnection, row: &Delivery) -> AppResult<()> {
    diesel::update(
        d::table
            .filter(d::tenant_id.eq(&row.tenant_id))
            .filter(d::id.eq(&row.id))
            .filter(d::lease_until.eq(row.lease_until)),
    )
    .set(d::lease_until.eq(None::<NaiveDateTime>))
    .execute(conn)?;
    Ok(())
}

/// A page of a webhook's log, newest first, before the delivery `before`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &str,
    webhook: &str,
    state: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Delivery>> {
    let mut query = d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::webhook_id.eq(webhook))
        .into_boxed();
    if let Some(state) = state {
        query = query.filter(d::state.eq(state.to_string()));
    }
    if let Some(before) = before {
        query = query.filter(d::id.lt(before.to_string()));
    }
    Ok(query
        .order(d::id.desc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?)
}

pub fn find(
    conn: &mut DbConnection,
    tenant: &str,
    webhook: &str,
    id: &str,
) -> AppResult<Option<Delivery>> {
    Ok(d::table
        .filter(d::tenant_id.eq(tenant))
        .filter(d::webhook_id.eq(webhook))
        .filter(d::id.eq(id))
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// Puts a delivery back in line now, with a fresh retry schedule.
pub fn requeue(conn: &mut DbConnection, row: &Delivery, now: NaiveDateTime) -> AppResult<()> {
    diesel::update(
        d::table
            .filter(d::tenant_id.eq(&row.tenant_id))
            .filter(d::id.eq(&row.id)),
    )
    .set((
        d::state.eq(PENDING),
        d::attempts.eq(0),
        d::next_attempt_at.eq(now),
        d::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(())
}

/// How many deliveries wait (all tenants): the backlog gauge.
pub fn pending_count(conn: &mut DbConnection) -> AppResult<i64> {
    Ok(d::table
        .filter(d::state.eq(PENDING))
        .count()
        .get_result(conn)?)
}
