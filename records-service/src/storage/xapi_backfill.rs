//! How far the learner record's statements have been made for what was recorded before the
//! record kept them: per tenant and source, the last record done.

use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::{activities, certifications, manual_records, xapi_backfill};

/// Where a source's backfill stands in a tenant: the last record done, and whether all are.
pub fn position(
    conn: &mut DbConnection,
    tenant: &TenantId,
    source: &str,
) -> Result<(String, bool), AppError> {
    let found: Option<(String, bool)> = xapi_backfill::table
        .filter(xapi_backfill::tenant_id.eq(tenant.as_str()))
        .filter(xapi_backfill::source.eq(source))
        .select((xapi_backfill::last_id, xapi_backfill::done))
        .first(conn)
        .optional()?;
    Ok(found.unwrap_or_default())
}

pub fn advance(
    conn: &mut DbConnection,
    tenant: &TenantId,
    source: &str,
    last_id: &str,
    done: bool,
) -> Result<(), AppError> {
    diesel::delete(xapi_backfill::table)
        .filter(xapi_backfill::tenant_id.eq(tenant.as_str()))
        .filter(xapi_backfill::source.eq(source))
        .execute(conn)?;
    diesel::insert_into(xapi_backfill::table)
        .values((
            xapi_backfill::tenant_id.eq(tenant.as_str()),
            xapi_backfill::source.eq(source),
            xapi_backfill::last_id.eq(last_id),
            xapi_backfill::done.eq(done),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every tenant with something a statement tells.
pub fn tenants(conn: &mut DbConnection) -> Result<Vec<TenantId>, AppError> {
    let mut tenants: Vec<TenantId> = activities::table
        .select(activities::tenant_id)
        .distinct()
        .load::<TenantId>(conn)?;
    tenants.extend(
        certifications::table
            .select(certifications::tenant_id)
            .distinct()
            .load::<TenantId>(conn)?,
    );
    tenants.extend(
        manual_records::table
            .select(manual_records::tenant_id)
            .distinct()
            .load::<TenantId>(conn)?,
    );
    tenants.sort();
    tenants.dedup();
    Ok(tenants)
}
