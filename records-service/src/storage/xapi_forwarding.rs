//! Where a tenant's statements are forwarded (another LRS).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::xapi_forwarding;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = xapi_forwarding)]
pub struct ForwardingRow {
    pub tenant_id: String,
    pub endpoint: String,
    pub username: String,
    pub password: String,
    pub enabled: bool,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

pub fn get(conn: &mut DbConnection, tenant: &str) -> Result<Option<ForwardingRow>, AppError> {
    Ok(xapi_forwarding::table
        .find(tenant)
        .select(ForwardingRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether the tenant forwards its statements now (one read by primary key per store).
pub fn enabled(conn: &mut DbConnection, tenant: &TenantId) -> Result<bool, AppError> {
    Ok(xapi_forwarding::table
        .find(tenant.as_str())
        .select(xapi_forwarding::enabled)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}

pub fn put(conn: &mut DbConnection, row: &ForwardingRow) -> Result<(), AppError> {
    diesel::delete(xapi_forwarding::table.find(&row.tenant_id)).execute(conn)?;
    diesel::insert_into(xapi_forwarding::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}
