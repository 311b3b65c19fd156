//! Calendar feeds: a person's secret address, kept as the secret's hash.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::calendar_feeds;

/// Gives `subject` a feed with this secret hash, replacing any they had.
pub fn replace(
    conn: &mut DbConnection,
    tenant: &TenantId,
    subject: &str,
    secret_hash: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    remove(conn, tenant, subject)?;
    diesel::insert_into(calendar_feeds::table)
        .values((
            calendar_feeds::tenant_id.eq(tenant.as_str()),
            calendar_feeds::subject.eq(subject),
            calendar_feeds::secret_hash.eq(secret_hash),
            calendar_feeds::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stops `subject`'s feed; whether there was one.
pub fn remove(conn: &mut DbConnection, tenant: &TenantId, subject: &str) -> Result<bool, AppError> {
    let removed = diesel::delete(
        calendar_feeds::table
            .filter(calendar_feeds::tenant_id.eq(tenant.as_str()))
            .filter(calendar_feeds::subject.eq(subject)),
    )
    .execute(conn)?;
    Ok(removed > 0)
}

/// The tenant and person whose feed has this secret hash, in any tenant (the secret is the
/// only credential a calendar app sends; hashes are unique across the suite).
pub fn owner(
    conn: &mut DbConnection,
    secret_hash: &str,
) -> Result<Option<(String, String)>, AppError> {
    Ok(calendar_feeds::table
        .filter(calendar_feeds::secret_hash.eq(secret_hash))
        .select((calendar_feeds::tenant_id, calendar_feeds::subject))
        .first(conn)
        .optional()?)
}
