//! Where each event goes, and queuing an event for its destinations.
//!
//! The delivering dispatcher publishes its destinations' subscriptions as `outbox_routes` when
//! it takes the lead; [`super::enqueue`] reads them and queues each new event for its
//! destinations in the transaction that writes it (one `outbox_deliveries` row each), so a
//! burst of events is delivered without a separate queuing pass that reads every event back
//! and writes it again. Events written while no routes are published (before any dispatcher
//! led) stay unqueued, and the dispatcher's queuing pass queues them by its own destinations —
//! as it does those of replicas still running a version from before routes, during an upgrade
//! (these may then reach a destination after later events queued as written).

use std::sync::Arc;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{EventSink, outbox_deliveries};
use crate::db::DbConnection;
use crate::error::AppResult;

diesel::table! {
    /// One destination's subscription to one event type (`*`: every type).
    outbox_routes (destination, type_url) {
        destination -> Text,
        type_url -> Text,
    }
}

/// Stands for every event type in `outbox_routes.type_url`.
const EVERY_TYPE: &str = "*";

/// Destinations and the event types each subscribes to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Routes(Vec<(String, String)>);

impl Routes {
    /// What `sinks` subscribe to.
    pub(super) fn of(sinks: &[Arc<dyn EventSink>]) -> Self {
        let mut routes = Vec::new();
        for sink in sinks {
            let destination = sink.destination().to_string();
            match sink.subscribed_types() {
                None => routes.push((destination, EVERY_TYPE.to_string())),
                Some(types) => routes.extend(types.into_iter().map(|t| (destination.clone(), t))),
            }
        }
        routes.sort();
        routes.dedup();
        Routes(routes)
    }

    /// The routes published by the dispatcher that leads (empty before any has led).
    pub(super) fn published(conn: &mut DbConnection) -> AppResult<Self> {
        let mut routes: Vec<(String, String)> = outbox_routes::table
            .select((outbox_routes::destination, outbox_routes::type_url))
            .load(conn)?;
        // In the order `of` makes (the database's collation may sort text otherwise).
        routes.sort();
        Ok(Routes(routes))
    }

    /// Makes these the published routes, replacing any earlier leader's. On PostgreSQL it first
    /// waits for every transaction that read the routes to end (and holds new ones until it
    /// commits), so once it has, every event written unqueued is committed and the queuing pass
    /// can queue them all before any event queued as written is delivered: write order holds
    /// across the change. (SQLite's writers take turns anyway.) It waits at most a few seconds:
    /// while it waits, new writers of events wait behind it, so a long transaction in flight
    /// makes it give up (an error) and leave them free; the dispatcher tries again.
    pub(super) fn publish(&self, conn: &mut DbConnection) -> AppResult<()> {
        if let DbConnection::Postgres(pg) = conn {
            diesel::sql_query("SET LOCAL lock_timeout = '2s'").execute(pg)?;
            diesel::sql_query("LOCK TABLE outbox_routes IN ACCESS EXCLUSIVE MODE").execute(pg)?;
        }
        diesel::delete(outbox_routes::table).execute(conn)?;
        if self.0.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = self
            .0
            .iter()
            .map(|(destination, type_url)| {
                (
                    outbox_routes::destination.eq(destination),
                    outbox_routes::type_url.eq(type_url),
                )
            })
            .collect();
        let insert = diesel::insert_into(outbox_routes::table).values(rows);
        crate::execute_on_backend!(conn, insert)?;
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The destinations subscribed to events of `type_url`.
    fn destinations<'a>(&'a self, type_url: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(_, t)| t == EVERY_TYPE || t == type_url)
            .map(|(destination, _)| destination.as_str())
    }
}

/// An event to queue: its id, tenant, write time and type.
pub(super) struct Unqueued<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub created_at: NaiveDateTime,
    pub type_url: &'a str,
}

/// One queued delivery: every column but `delivered_at` and `rejected_at` (NULL until then).
#[derive(Insertable)]
#[diesel(table_name = outbox_deliveries)]
struct DeliveryRow<'a> {
    destination: &'a str,
    event_id: &'a str,
    tenant_id: &'a str,
    event_created_at: NaiveDateTime,
    attempts: i32,
    next_attempt_at: NaiveDateTime,
    last_error: &'a str,
}

/// Queues `events` for every destination of `routes` subscribed to their type, due at `at`.
pub(super) fn queue<'a>(
    conn: &mut DbConnection,
    routes: &'a Routes,
    events: impl IntoIterator<Item = Unqueued<'a>>,
    at: NaiveDateTime,
) -> AppResult<()> {
    let rows: Vec<DeliveryRow> = events
        .into_iter()
        .flat_map(|event| {
            routes
                .destinations(event.type_url)
                .map(move |destination| DeliveryRow {
                    destination,
                    event_id: event.id,
                    tenant_id: event.tenant_id,
                    event_created_at: event.created_at,
                    attempts: 0,
                    next_attempt_at: at,
                    last_error: "",
                })
        })
        .collect();
    // 7 columns a row: under SQLite's 32 766 bind parameters.
    for chunk in rows.chunks(3_000) {
        let insert = diesel::insert_into(outbox_deliveries::table).values(chunk);
        crate::execute_on_backend!(&mut *conn, insert)?;
    }
    Ok(())
}
