//! What each person muted, whether they take their reminders as a daily digest, and when their
//! last digest went out.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::resource::now;

use super::schema::notification_preferences as p;
use crate::domain::kind::Kind;
use crate::domain::preferences::Preferences;

pub fn get(conn: &mut DbConnection, tenant: &str, person: &str) -> AppResult<Preferences> {
    let stored: Option<(String, bool)> = p::table
        .filter(p::tenant_id.eq(tenant))
        .filter(p::person.eq(person))
        .select((p::muted, p::digest))
        .first(conn)
        .optional()?;
    Ok(
        stored.map_or_else(Preferences::default, |(muted, digest)| Preferences {
            muted: muted.split(',').filter_map(Kind::parse).collect(),
            digest,
        }),
    )
}

pub fn save(
    conn: &mut DbConnection,
    tenant: &str,
    person: &str,
    preferences: &Preferences,
) -> AppResult<()> {
    let text = preferences
        .muted
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let key = p::table
        .filter(p::tenant_id.eq(tenant))
        .filter(p::person.eq(person));
    let updated = diesel::update(key)
        .set((
            p::muted.eq(&text),
            p::digest.eq(preferences.digest),
            p::updated_at.eq(now()),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(p::table)
            .values((
                p::tenant_id.eq(tenant),
                p::person.eq(person),
                p::muted.eq(&text),
                p::digest.eq(preferences.digest),
                p::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Takes the day's digest of `person` (whose digest is on and not sent since `cutoff`), so one
/// replica alone sends it; returns when the previous one went out (to give it back if sending
/// fails), or None when there is nothing to take.
pub fn take_digest(
    conn: &mut DbConnection,
    tenant: &str,
    person: &str,
    cutoff: NaiveDateTime,
    at: NaiveDateTime,
) -> AppResult<Option<Option<NaiveDateTime>>> {
    let key = || {
        p::table
            .filter(p::tenant_id.eq(tenant))
            .filter(p::person.eq(person))
            .filter(p::digest.eq(true))
            .filter(p::last_digest_at.is_null().or(p::last_digest_at.lt(cutoff)))
    };
    let previous: Option<Option<NaiveDateTime>> =
        key().select(p::last_digest_at).first(conn).optional()?;
    let Some(previous) = previous else {
        return Ok(None);
    };
    let taken = diesel::update(key())
        .set(p::last_digest_at.eq(Some(at)))
        .execute(conn)?;
    Ok((taken == 1).then_some(previous))
}

/// Gives a digest back after it could not be sent: the next run tries again.
pub fn give_back_digest(
    conn: &mut DbConnection,
    tenant: &str,
    person: &str,
    previous: Option<NaiveDateTime>,
) -> AppResult<()> {
    diesel::update(
        p::table
            .filter(p::tenant_id.eq(tenant))
            .filter(p::person.eq(person)),
    )
    .set(p::last_digest_at.eq(previous))
    .execute(conn)?;
    Ok(())
}
