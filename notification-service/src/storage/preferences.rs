//! What each person muted.

use diesel::prelude::*;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::resource::now;

use super::schema::notification_preferences as p;
use crate::domain::kind::Kind;

/// The kinds `person` muted.
pub fn muted(conn: &mut DbConnection, tenant: &str, person: &str) -> AppResult<Vec<Kind>> {
    let text: Option<String> = p::table
        .filter(p::tenant_id.eq(tenant))
        .filter(p::person.eq(person))
        .select(p::muted)
        .first(conn)
        .optional()?;
    Ok(text
        .unwrap_or_default()
        .split(',')
        .filter_map(Kind::parse)
        .collect())
}

pub fn set_muted(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &str,
    muted: &[Kind],
) -> AppResult<()> {
    let text = muted
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let key = p::table
        .filter(p::tenant_id.eq(tenant.as_str()))
        .filter(p::person.eq(person));
    let updated = diesel::update(key)
        .set((p::muted.eq(&text), p::updated_at.eq(now())))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(p::table)
            .values((
                p::tenant_id.eq(tenant.as_str()),
                p::person.eq(person),
                p::muted.eq(&text),
                p::updated_at.eq(now()),
            ))
            .execute(conn)?;
    }
    Ok(())
}
