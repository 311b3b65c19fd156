//! A tenant's webhook subscriptions.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;

use super::schema::webhook_deliveries as d;
use super::schema::webhooks as w;

pub const ACTIVE: &str = "active";
pub const DISABLED: &str = "disabled";

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = w, treat_none_as_null = true)]
pub struct Webhook {
    pub tenant_id: String,
    pub id: String,
    pub url: String,
    pub event_types: String,
    pub description: String,
    pub state: String,
    pub disabled_reason: String,
    pub secret: String,
    pub previous_secret: String,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub last_success_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub revision: i64,
}

impl Webhook {
    /// The subscribed event types (full names, or `*`).
    pub fn types(&self) -> Vec<String> {
        self.event_types
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one during
    /// a rotation's overlap.
    pub fn signing_secrets(&self, now: NaiveDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if !self.previous_secret.is_empty()
            && self.previous_secret_until.is_some_and(|until| until > now)
        {
            secrets.push(&self.previous_secret);
        }
        secrets
    }
}

pub fn insert(conn: &mut DbConnection, webhook: &Webhook) -> AppResult<()> {
    diesel::insert_into(w::table)
        .values(webhook)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, tenant: &str, id: &str) -> AppResult<Option<Webhook>> {
    Ok(w::table
        .filter(w::tenant_id.eq(tenant))
        .filter(w::id.eq(id))
        .select(Webhook::as_select())
        .first(conn)
        .optional()?)
}

/// A page of the tenant's webhooks after `after` (by id, i.e. creation order).
pub fn list(
    conn: &mut DbConnection,
    tenant: &str,
    after: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Webhook>> {
    let mut query = w::table.filter(w::tenant_id.eq(tenant)).into_boxed();
    if let Some(after) = after {
        query = query.filter(w::id.gt(after.to_string()));
    }
    Ok(query
        .order(w::id.asc())
        .limit(limit)
        .select(Webhook::as_select())
        .load(conn)?)
}

/// The tenant's active webhooks (events are queued for these).
pub fn active(conn: &mut DbConnection, tenant: &str) -> AppResult<Vec<Webhook>> {
    Ok(w::table
        .filter(w::tenant_id.eq(tenant))
        .filter(w::state.eq(ACTIVE))
        .select(Webhook::as_select())
        .load(conn)?)
}

/// Saves `webhook` if it is still at `read_revision`; returns whether it was.
pub fn save(conn: &mut DbConnection, webhook: &Webhook, read_revision: i64) -> AppResult<bool> {
    let changed = diesel::update(
        w::table
            .filter(w::tenant_id.eq(&webhook.tenant_id))
            .filter(w::id.eq(&webhook.id))
            .filter(w::revision.eq(read_revision)),
    )
    .set(webhook)
    .execute(conn)?;
    Ok(changed == 1)
}

/// Deletes a webhook and its delivery log; returns whether it existed.
pub fn delete(conn: &mut DbConnection, tenant: &str, id: &str) -> AppResult<bool> {
    diesel::delete(
        d::table
            .filter(d::tenant_id.eq(tenant))
            .filter(d::webhook_id.eq(id)),
    )
    .execute(conn)?;
    let deleted = diesel::delete(
        w::table
            .filter(w::tenant_id.eq(tenant))
            .filter(w::id.eq(id)),
    )
    .execute(conn)?;
    Ok(deleted == 1)
}

/// Remembers the receiver's latest success.
pub fn succeeded(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    at: NaiveDateTime,
) -> AppResult<()> {
    diesel::update(
        w::table
            .filter(w::tenant_id.eq(tenant))
            .filter(w::id.eq(id))
            .filter(w::last_success_at.is_null().or(w::last_success_at.lt(at))),
    )
    .set(w::last_success_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// Disables an active webhook whose receiver has accepted nothing since `failing_since`;
/// returns it when this call disabled it (so its admin is told once).
pub fn disable_if_failing(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    failing_since: NaiveDateTime,
    reason: &str,
    now: NaiveDateTime,
) -> AppResult<Option<Webhook>> {
    let changed = diesel::update(
        w::table
            .filter(w::tenant_id.eq(tenant))
            .filter(w::id.eq(id))
            .filter(w::state.eq(ACTIVE))
            .filter(
                w::last_success_at
                    .is_null()
                    .or(w::last_success_at.lt(failing_since)),
            ),
    )
    .set((
        w::state.eq(DISABLED),
        w::disabled_reason.eq(reason),
        w::updated_at.eq(now),
        w::revision.eq(w::revision + 1),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Ok(None);
    }
    find(conn, tenant, id)
}
