//! Recording an activity of the learner record together with its xAPI statement, in one
//! transaction (see `domain::xapi::learner_record`): every place that appends to the activity
//! log goes through [`record_activity`] — but cmi5's, whose statements are cmi5's own
//! (`app::cmi5`).

use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult};

use super::xapi::{home_page, prepare, store_in};
use crate::domain::activity::Activity;
use crate::domain::enrolment::Enrolment;
use crate::domain::xapi::{self, Version, learner_record};
use crate::storage::activities;

/// Appends `activity` (on `enrolment`, which every caller holds already) to the log and stores
/// its statement (when it has one: a move to another pathway version is not the learner's
/// learning).
pub(crate) fn record_activity(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
    activity: &Activity,
) -> AppResult<()> {
    activities::insert(conn, tenant, activity)?;
    let home = home_page(tenant);
    match learner_record::statement(tenant.as_str(), &home, enrolment, activity) {
        Some(statement) => store_lms_statements(conn, tenant, vec![statement]),
        None => Ok(()),
    }
}

/// Stores statements the suite itself makes (the learner record's, cmi5's), with the suite as
/// their authority, in the caller's transaction.
pub(crate) fn store_lms_statements(
    conn: &mut DbConnection,
    tenant: &TenantId,
    statements: Vec<serde_json::Value>,
) -> AppResult<()> {
    let body = serde_json::Value::Array(statements);
    let incoming = xapi::check_request(&body, None, Version::V2).map_err(|violations| {
        AppError::internal(anyhow::anyhow!(
            "the suite's own statement breaks xAPI: {violations:?}"
        ))
    })?;
    let authority = xapi::account_agent(&home_page(tenant), crate::NAME);
    store_in(
        conn,
        tenant,
        prepare(incoming),
        &authority,
        Version::V2.statement_default(),
    )
}
