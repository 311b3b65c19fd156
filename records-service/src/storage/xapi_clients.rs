//! LRS clients: per-tenant Basic credentials for the Learning Record Store.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::xapi_clients;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = xapi_clients)]
pub struct ClientRow {
    pub key: String,
    pub tenant_id: String,
    pub name: String,
    pub secret_hash: String,
    pub can_read: bool,
    pub can_write: bool,
    pub created_at: NaiveDateTime,
    pub created_by: String,
}

pub fn insert(conn: &mut DbConnection, row: &ClientRow) -> Result<(), AppError> {
    diesel::insert_into(xapi_clients::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A tenant's clients, newest first.
pub fn list(conn: &mut DbConnection, tenant: &TenantId) -> Result<Vec<ClientRow>, AppError> {
    Ok(xapi_clients::table
        .filter(xapi_clients::tenant_id.eq(tenant.as_str()))
        .order((xapi_clients::created_at.desc(), xapi_clients::key.desc()))
        .select(ClientRow::as_select())
        .load(conn)?)
}

/// Removes a tenant's client; the row it was, if there was one.
pub fn delete(
    conn: &mut DbConnection,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<ClientRow>, AppError> {
    let found = xapi_clients::table
        .filter(xapi_clients::tenant_id.eq(tenant.as_str()))
        .filter(xapi_clients::key.eq(key))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?;
    if found.is_some() {
        diesel::delete(xapi_clients::table.filter(xapi_clients::key.eq(key))).execute(conn)?;
    }
    Ok(found)
}

/// The client with this key, in any tenant (a Basic request names only its key).
pub fn by_key(conn: &mut DbConnection, key: &str) -> Result<Option<ClientRow>, AppError> {
    Ok(xapi_clients::table
        .filter(xapi_clients::key.eq(key))
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?)
}
