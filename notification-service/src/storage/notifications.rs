//! Notifications: decided once (by dedup key), prepared (recipient, template), in the inbox,
//! and emailed. Workers claim rows with a lease, so replicas share the work without sending
//! anything twice.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};
use lms_platform::AppResult;
use lms_platform::db::{DbConnection, MultiBackend};
use lms_platform::ids::TenantId;

use super::schema::notifications as n;

/// A notification as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = n)]
pub struct Row {
    pub tenant_id: String,
    pub id: String,
    pub dedup_key: String,
    pub kind: String,
    pub learner: String,
    pub for_manager: bool,
    pub recipient: String,
    pub enrolment_id: String,
    pub pathway_id: String,
    pub mandatory: bool,
    pub facts: String,
    pub subject: String,
    pub body: String,
    pub state: String,
    pub email_state: String,
    pub email_to: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub last_error: String,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

pub const PENDING: &str = "pending";
pub const READY: &str = "ready";
pub const MUTED: &str = "muted";
pub const CANCELLED: &str = "cancelled";
pub const FAILED: &str = "failed";
pub const EMAIL_NONE: &str = "none";
pub const EMAIL_PENDING: &str = "pending";
pub const EMAIL_SENT: &str = "sent";
pub const EMAIL_FAILED: &str = "failed";
/// In the inbox; emailed with the recipient's next daily digest.
pub const EMAIL_DIGEST: &str = "digest";

/// Records the decision to notify, unless one with the same dedup key exists in the tenant.
/// Returns whether it is new.
pub fn decide(conn: &mut DbConnection, row: &Row) -> AppResult<bool> {
    let insert = diesel::insert_into(n::table)
        .values(row)
        .on_conflict((n::tenant_id, n::dedup_key))
        .do_nothing();
    let inserted = match conn {
        DbConnection::Postgres(pg) => insert.execute(pg)?,
        DbConnection::Sqlite(sqlite) => insert.execute(sqlite)?,
    };
    Ok(inserted == 1)
}

/// Records many decisions in one statement per 1,000, each unless one with the same dedup key
/// exists; returns how many are new.
pub fn decide_all(conn: &mut DbConnection, rows: &[Row]) -> AppResult<usize> {
    let mut inserted = 0;
    match conn {
        // One round trip per 1,000 (22 columns a row, far under PostgreSQL's bind limit).
        DbConnection::Postgres(pg) => {
            for chunk in rows.chunks(1_000) {
                inserted += diesel::insert_into(n::table)
                    .values(chunk)
                    .on_conflict((n::tenant_id, n::dedup_key))
                    .do_nothing()
                    .execute(pg)?;
            }
        }
        // In process, a statement costs no round trip (and diesel's SQLite batch insert has no
        // ON CONFLICT).
        DbConnection::Sqlite(_) => {
            for row in rows {
                inserted += usize::from(decide(conn, row)?);
            }
        }
    }
    Ok(inserted)
}

/// Claims up to `limit` rows of `work` due at `now` until `lease_until` (which the caller makes
/// unique to this claim): rows another worker holds are left to it. The conditional update is
/// what decides between two workers reading the same rows: it asks again that each row be
/// free and still `work` — a row another worker claimed, prepared or emailed since the
/// candidates were read is free again, and taking it would send it twice.
pub fn claim(
    conn: &mut DbConnection,
    work: Work,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<Row>> {
    // The queue fills in bursts (an assignment to thousands): plan for its size now, as the
    // outbox's and inbox's batch transactions do (see `plan_for_actual_sizes`).
    lms_platform::db::plan_for_actual_sizes(conn)?;
    let candidates: Vec<(String, String)> = n::table
        .filter(claimable(work, now))
        .order(n::next_attempt_at.asc())
        .limit(limit)
        .select((n::tenant_id, n::id))
        .load(conn)?;
    // By tenant, so each statement finds its rows through the primary key (tenant_id, id).
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (tenant, id) in &candidates {
        by_tenant.entry(tenant).or_default().push(id);
    }
    let mut claimed = Vec::with_capacity(candidates.len());
    for (tenant, ids) in by_tenant {
        for chunk in ids.chunks(500) {
            // Only rows no other claim holds: claims never wait on each other (see
            // `lock_unheld`).
            let unheld = lms_platform::db::lock_unheld(conn, "notifications", tenant, chunk)?;
            // A set, not `eq_any`: probed through the primary key whatever the statistics
            // of a queue just filled say (see `in_set`).
            let of_ids = lms_platform::db::in_set(conn, "notifications.id", &unheld);
            let mine = |of_ids| n::table.filter(n::tenant_id.eq(tenant)).filter(of_ids);
            diesel::update(mine(of_ids.clone()).filter(claimable(work, now)))
                .set(n::lease_until.eq(Some(lease_until)))
                .execute(conn)?;
            let rows: Vec<Row> = mine(of_ids)
                .filter(n::lease_until.eq(Some(lease_until)))
                .select(Row::as_select())
                .load(conn)?;
            claimed.extend(rows);
        }
    }
    claimed.sort_by_key(|row| row.next_attempt_at);
    Ok(claimed)
}

/// Rows of `work` due at `now` and held by no worker (never leased, or their lease ran out).
fn claimable(
    work: Work,
    now: NaiveDateTime,
) -> Box<dyn BoxableExpression<n::table, MultiBackend, SqlType = Nullable<Bool>>> {
    let due = n::next_attempt_at
        .le(now)
        .and(n::lease_until.is_null().or(n::lease_until.lt(now)));
    match work {
        Work::Prepare => Box::new(due.and(n::state.eq(PENDING))),
        Work::Email => Box::new(
            due.and(n::state.eq(READY))
                .and(n::email_state.eq(EMAIL_PENDING)),
        ),
    }
}

/// What a worker claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Decided, to be given a recipient and a text.
    Prepare,
    /// In the inbox, to be emailed.
    Email,
}

/// The outcome of preparing a notification.
#[derive(Clone, Copy)]
pub struct Prepared<'a> {
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub state: &'a str,
    pub email_state: &'a str,
    pub email_to: &'a str,
    pub note: &'a str,
}

/// Writes a preparation — unless the notification's learner changed since the worker read it:
/// an erasure (`lms.privacy.v1`) that ran meanwhile replaced them with a pseudonym, and the
/// text, recipient and address prepared from the directory's answer before it must not bring
/// their identity back. The row then stays claimed until its lease ends and is prepared
/// again, for the pseudonym. Likewise unless the claim's lease ran out: the row is another
/// worker's then, and may be done already (writing it again would send it again).
pub fn prepared(conn: &mut DbConnection, row: &Row, done: Prepared<'_>) -> AppResult<()> {
    diesel::update(
        n::table
            .filter(n::tenant_id.eq(&row.tenant_id))
            .filter(n::id.eq(&row.id))
            .filter(n::learner.eq(&row.learner))
            .filter(n::lease_until.eq(row.lease_until)),
    )
    .set((
        n::recipient.eq(done.recipient),
        n::subject.eq(done.subject),
        n::body.eq(done.body),
        n::state.eq(done.state),
        n::email_state.eq(done.email_state),
        n::email_to.eq(done.email_to),
        n::attempts.eq(0),
        n::lease_until.eq(None::<NaiveDateTime>),
        n::last_error.eq(done.note),
    ))
    .execute(conn)?;
    Ok(())
}

/// [`prepared`] for many rows (each under the same condition): on PostgreSQL one statement per
/// 1,000 (arrays unnested), on SQLite row by row (in process, a statement costs no round
/// trip).
pub fn prepared_all(conn: &mut DbConnection, done: &[(&Row, Prepared<'_>)]) -> AppResult<()> {
    use diesel::sql_types::{Array, Text, Timestamp};
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in done.chunks(1_000) {
                let texts = |pick: fn(&(&Row, Prepared<'_>)) -> String| -> Vec<String> {
                    chunk.iter().map(pick).collect()
                };
                diesel::sql_query(
                    "UPDATE notifications AS n \
                     SET recipient = v.recipient, subject = v.subject, body = v.body, \
                         state = v.state, email_state = v.email_state, email_to = v.email_to, \
                         attempts = 0, lease_until = NULL, last_error = v.note \
                     FROM (SELECT unnest($1::text[]) AS tenant, unnest($2::text[]) AS id, \
                                  unnest($3::text[]) AS recipient, unnest($4::text[]) AS subject, \
                                  unnest($5::text[]) AS body, unnest($6::text[]) AS state, \
                                  unnest($7::text[]) AS email_state, \
                                  unnest($8::text[]) AS email_to, unnest($9::text[]) AS note, \
                                  unnest($10::text[]) AS learner, \
                                  unnest($11::timestamp[]) AS lease) AS v \
                     WHERE n.tenant_id = v.tenant AND n.id = v.id AND n.learner = v.learner \
                       AND n.lease_until = v.lease",
                )
                .bind::<Array<Text>, _>(texts(|(r, _)| r.tenant_id.clone()))
                .bind::<Array<Text>, _>(texts(|(r, _)| r.id.clone()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.recipient.to_string()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.subject.to_string()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.body.to_string()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.state.to_string()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.email_state.to_string()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.email_to.to_string()))
                .bind::<Array<Text>, _>(texts(|(_, p)| p.note.to_string()))
                .bind::<Array<Text>, _>(texts(|(r, _)| r.learner.clone()))
                .bind::<Array<Timestamp>, _>(
                    // A row without a lease was not claimed: it matches none.
                    chunk
                        .iter()
                        .map(|(r, _)| r.lease_until.unwrap_or_default())
                        .collect::<Vec<_>>(),
                )
                .execute(pg)?;
            }
        }
        DbConnection::Sqlite(_) => {
            for (row, outcome) in done {
                prepared(conn, row, *outcome)?;
            }
        }
    }
    Ok(())
}

/// Sets the email outcome (`sent` or `failed`) and frees the row. Only while the row still
/// holds the claim's lease: one another worker took over (its lease having run out) is that
/// worker's.
pub fn emailed(conn: &mut DbConnection, row: &Row, email_state: &str, note: &str) -> AppResult<()> {
    diesel::update(
        n::table
            .filter(n::tenant_id.eq(&row.tenant_id))
            .filter(n::id.eq(&row.id))
            .filter(n::lease_until.eq(row.lease_until)),
    )
    .set((
        n::email_state.eq(email_state),
        n::lease_until.eq(None::<NaiveDateTime>),
        n::last_error.eq(note),
    ))
    .execute(conn)?;
    Ok(())
}

/// Gives up on preparing a notification (e.g. an escalation for a learner without a
/// manager). Only while the row still holds the claim's lease: one another worker took over
/// (its lease having run out) is that worker's.
pub fn failed(conn: &mut DbConnection, row: &Row, why: &str) -> AppResult<()> {
    diesel::update(
        n::table
            .filter(n::tenant_id.eq(&row.tenant_id))
            .filter(n::id.eq(&row.id))
            .filter(n::lease_until.eq(row.lease_until)),
    )
    .set((
        n::state.eq(FAILED),
        n::lease_until.eq(None::<NaiveDateTime>),
        n::last_error.eq(why),
    ))
    .execute(conn)?;
    Ok(())
}

/// Tries again at `at` (the work failed for a reason that may pass). Only while the row still
/// holds the claim's lease: one another worker took over (its lease having run out) is that
/// worker's.
pub fn retry_at(
    conn: &mut DbConnection,
    row: &Row,
    at: NaiveDateTime,
    error: &str,
) -> AppResult<()> {
    diesel::update(
        n::table
            .filter(n::tenant_id.eq(&row.tenant_id))
            .filter(n::id.eq(&row.id))
            .filter(n::lease_until.eq(row.lease_until)),
    )
    .set((
        n::attempts.eq(n::attempts + 1),
        n::next_attempt_at.eq(at),
        n::lease_until.eq(None::<NaiveDateTime>),
        n::last_error.eq(error),
    ))
    .execute(conn)?;
    Ok(())
}

/// A page of `recipient`'s inbox, newest first, after the (created_at, id) key.
pub fn inbox(
    conn: &mut DbConnection,
    tenant: &TenantId,
    recipient: &str,
    unread_only: bool,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> AppResult<Vec<Row>> {
    let mut query = n::table
        .filter(n::tenant_id.eq(tenant.as_str()))
        .filter(n::recipient.eq(recipient))
        .filter(n::state.eq(READY))
        .into_boxed();
    if unread_only {
        query = query.filter(n::read_at.is_null());
    }
    if let Some((at, id)) = after {
        query = query.filter(
            n::created_at
                .lt(at)
                .or(n::created_at.eq(at).and(n::id.lt(id))),
        );
    }
    Ok(query
        .order((n::created_at.desc(), n::id.desc()))
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?)
}

pub fn unread(conn: &mut DbConnection, tenant: &TenantId, recipient: &str) -> AppResult<i64> {
    Ok(n::table
        .filter(n::tenant_id.eq(tenant.as_str()))
        .filter(n::recipient.eq(recipient))
        .filter(n::state.eq(READY))
        .filter(n::read_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Which of `ids` are `recipient`'s (in the inbox).
pub fn owned(
    conn: &mut DbConnection,
    tenant: &TenantId,
    recipient: &str,
    ids: &[String],
) -> AppResult<Vec<String>> {
    Ok(n::table
        .filter(n::tenant_id.eq(tenant.as_str()))
        .filter(n::recipient.eq(recipient))
        .filter(n::state.eq(READY))
        .filter(n::id.eq_any(ids))
        .select(n::id)
        .load(conn)?)
}

/// Marks `recipient`'s unread notifications read (those of `ids`, or all); returns how many.
pub fn mark_read(
    conn: &mut DbConnection,
    tenant: &TenantId,
    recipient: &str,
    ids: Option<&[String]>,
    at: NaiveDateTime,
) -> AppResult<usize> {
    let mut target = n::table
        .filter(n::tenant_id.eq(tenant.as_str()))
        .filter(n::recipient.eq(recipient))
        .filter(n::state.eq(READY))
        .filter(n::read_at.is_null())
        .into_boxed();
    if let Some(ids) = ids {
        target = target.filter(n::id.eq_any(ids));
    }
    let keys: Vec<String> = target.select(n::id).load(conn)?;
    for chunk in keys.chunks(500) {
        diesel::update(
            n::table
                .filter(n::tenant_id.eq(tenant.as_str()))
                .filter(n::id.eq_any(chunk)),
        )
        .set(n::read_at.eq(Some(at)))
        .execute(conn)?;
    }
    Ok(keys.len())
}

/// People with digest on, whose reminders wait for a digest since before `cutoff`, and whose
/// digest has not gone out since: (tenant, recipient).
pub fn awaiting_digest(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    limit: i64,
) -> AppResult<Vec<(String, String)>> {
    use super::schema::notification_preferences as p;
    Ok(n::table
        .inner_join(
            p::table.on(p::tenant_id
                .eq(n::tenant_id)
                .and(p::person.eq(n::recipient))),
        )
        .filter(n::email_state.eq(EMAIL_DIGEST))
        .filter(n::created_at.lt(cutoff))
        .filter(p::digest.eq(true))
        .filter(p::last_digest_at.is_null().or(p::last_digest_at.lt(cutoff)))
        .select((n::tenant_id, n::recipient))
        .distinct()
        .limit(limit)
        .load(conn)?)
}

/// A recipient's notifications waiting for the digest since before `cutoff`, oldest first.
pub fn in_digest(
    conn: &mut DbConnection,
    tenant: &str,
    recipient: &str,
    cutoff: NaiveDateTime,
) -> AppResult<Vec<Row>> {
    Ok(n::table
        .filter(n::tenant_id.eq(tenant))
        .filter(n::recipient.eq(recipient))
        .filter(n::email_state.eq(EMAIL_DIGEST))
        .filter(n::created_at.lt(cutoff))
        .order((n::created_at.asc(), n::id.asc()))
        .select(Row::as_select())
        .load(conn)?)
}

/// Sets the email outcome of notifications that went out in a digest (or could not).
pub fn digested(
    conn: &mut DbConnection,
    tenant: &str,
    ids: &[String],
    email_state: &str,
    note: &str,
) -> AppResult<()> {
    diesel::update(
        n::table
            .filter(n::tenant_id.eq(tenant))
            .filter(n::id.eq_any(ids)),
    )
    .set((n::email_state.eq(email_state), n::last_error.eq(note)))
    .execute(conn)?;
    Ok(())
}

/// A person turned their digest off: what waited for it is emailed one by one.
pub fn release_digest(conn: &mut DbConnection, tenant: &str, recipient: &str) -> AppResult<()> {
    diesel::update(
        n::table
            .filter(n::tenant_id.eq(tenant))
            .filter(n::recipient.eq(recipient))
            .filter(n::email_state.eq(EMAIL_DIGEST)),
    )
    .set(n::email_state.eq(EMAIL_PENDING))
    .execute(conn)?;
    Ok(())
}
