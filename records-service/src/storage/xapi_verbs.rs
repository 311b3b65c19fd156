//! The verbs' canonical displays (`xapi_verbs`): the language maps statements give a verb,
//! gathered, shown in place of a statement's own `display` in `canonical` format.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use lms_platform::db::{DbConnection, in_set};
use lms_platform::error::AppError;
use lms_platform::ids::TenantId;

use super::schema::xapi_verbs;

/// The displays kept for these verbs (verb id → display JSON).
pub fn displays(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, String>, AppError> {
    let found: Vec<(String, String)> = xapi_verbs::table
        .filter(xapi_verbs::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_verbs.verb_id", ids))
        .select((xapi_verbs::verb_id, xapi_verbs::display))
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// Keeps these displays (verb id → display JSON, in id order), replacing the stored ones, as
/// `xapi_documents::keep_definitions` keeps activities' definitions (an upsert; id order keeps
/// two such transactions from waiting on each other's rows in opposite orders).
pub fn keep_displays(
    conn: &mut DbConnection,
    tenant: &TenantId,
    displays: &[(String, String)],
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let newer = (
        xapi_verbs::display.eq(excluded(xapi_verbs::display)),
        xapi_verbs::updated_at.eq(excluded(xapi_verbs::updated_at)),
    );
    for (id, display) in displays {
        let row = (
            xapi_verbs::tenant_id.eq(tenant.as_str()),
            xapi_verbs::verb_id.eq(id.as_str()),
            xapi_verbs::display.eq(display.as_str()),
            xapi_verbs::updated_at.eq(at),
        );
        let upsert = diesel::insert_into(xapi_verbs::table)
            .values(row)
            .on_conflict((xapi_verbs::tenant_id, xapi_verbs::verb_id))
            .do_update()
            .set(newer);
        lms_platform::execute_on_backend!(&mut *conn, upsert)?;
    }
    Ok(())
}
