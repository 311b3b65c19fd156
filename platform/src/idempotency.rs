//! Idempotent creates (AIP-155): a create with a `request_id` already seen returns what the
//! first call made. Each service's migrations create the `idempotency_keys` table below.

use crate::ids::TenantId;
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
    tenant: &TenantId,
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
    tenant: &TenantId,
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

/// Forgets a request id, when what it created was undone (a create whose second half, in
/// another service, failed): the request may then be sent again.
pub fn forget(
    conn: &mut DbConnection,
    tenant: &TenantId,
    operation: &str,
    request_id: &str,
) -> AppResult<()> {
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::tenant_id.eq(tenant))
            .filter(idempotency_keys::operation.eq(operation))
            .filter(idempotency_keys::request_id.eq(request_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Runs an idempotent create: when `request_id` was seen for `operation`, returns what
/// `existing` reads for the resource it made; otherwise runs `create` (which returns the new
/// resource's id with the result) and remembers the request. Call inside the transaction.
pub fn create_once<T, Id: AsRef<str>>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    operation: &str,
    request_id: Option<&str>,
    existing: impl FnOnce(&mut DbConnection, &str) -> AppResult<T>,
    create: impl FnOnce(&mut DbConnection) -> AppResult<(Id, T)>,
) -> AppResult<T> {
    if let Some(request_id) = request_id {
        // The same request sent twice at once: the second waits for the first to commit, then
        // finds its key, instead of creating a twin or failing on the key's uniqueness.
        crate::db::lock_until_commit(
            conn,
            &format!("idempotency/{tenant}/{operation}/{request_id}"),
        )?;
        if let Some(id) = find(conn, tenant, operation, request_id)? {
            return existing(conn, &id);
        }
    }
    let (id, created) = create(conn)?;
    if let Some(request_id) = request_id {
        record(
            conn,
            tenant,
            operation,
            request_id,
            id.as_ref(),
            crate::resource::now(),
        )?;
    }
    Ok(created)
}
