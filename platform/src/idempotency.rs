//! Idempotent creates (AIP-155): a create with a `request_id` already seen returns what the
//! first call made. Each service's migrations create the `idempotency_keys` table below.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::error::AppResult;

diesel::table! {
    idempotency_keys (tenant_id, operation, request_id) {
        tenant_id -> Text,
        operation -> Text,
        request_id -> Text,
        resource_id -> Text,
        created_at -> Timestamp,
    }
}

/// The resource a create with this `request_id` already made, if any.
pub fn find(
    conn: &mut DbConnection,
    tenant: &str,
    operation: &str,
    request_id: &str,
) -> AppResult<Option<String>> {
    Ok(idempotency_keys::table
        .filter(idempotency_keys::tenant_id.eq(tenant))
        .filter(idempotency_keys::operation.eq(operation))
        .filter(idempotency_keys::request_id.eq(request_id))
        .select(idempotency_keys::resource_id)
        .first::<String>(conn)
        .optional()?)
}

/// Remembers, in the create's transaction, that `request_id` made `resource_id`.
pub fn record(
    conn: &mut DbConnection,
    tenant: &str,
    operation: &str,
    request_id: &str,
    resource_id: &str,
    at: NaiveDateTime,
) -> AppResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::tenant_id.eq(tenant),
            idempotency_keys::operation.eq(operation),
            idempotency_keys::request_id.eq(request_id),
            idempotency_keys::resource_id.eq(resource_id),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
