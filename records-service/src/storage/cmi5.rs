//! cmi5 launch sessions and what each assignable unit achieved in a registration.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::{cmi5_sessions, cmi5_units};
use crate::domain::cmi5::{SessionState, UnitState};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = cmi5_sessions)]
pub struct SessionRow {
    pub id: String,
    pub tenant_id: String,
    pub enrolment_id: String,
    pub step_id: String,
    pub fetch_hash: String,
    pub auth_hash: Option<String>,
    pub verbs: String,
    pub launched_at: NaiveDateTime,
    pub last_statement_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub initialized_timestamp: Option<NaiveDateTime>,
    pub latest_timestamp: Option<NaiveDateTime>,
    pub terminated_timestamp: Option<NaiveDateTime>,
}

impl SessionRow {
    pub fn state(&self) -> SessionState {
        SessionState {
            verbs: self.verbs.split_whitespace().map(str::to_string).collect(),
            initialized_at: self.initialized_timestamp,
            latest_at: self.latest_timestamp,
            terminated_at: self.terminated_timestamp,
        }
    }
}

pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> Result<(), AppError> {
    diesel::insert_into(cmi5_sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The session with this id, in any tenant (a fetch URL or an auth token names only it).
pub fn by_id(conn: &mut DbConnection, id: &str) -> Result<Option<SessionRow>, AppError> {
    Ok(cmi5_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The sessions of an enrolment that have not ended.
pub fn open_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &str,
) -> Result<Vec<SessionRow>, AppError> {
    Ok(cmi5_sessions::table
        .filter(cmi5_sessions::tenant_id.eq(tenant.as_str()))
        .filter(cmi5_sessions::enrolment_id.eq(enrolment_id))
        .filter(cmi5_sessions::ended_at.is_null())
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// Keeps the credential the fetch URL handed out; false when it was used already.
pub fn set_fetched(conn: &mut DbConnection, id: &str, auth_hash: &str) -> Result<bool, AppError> {
    let changed = diesel::update(
        cmi5_sessions::table
            .find(id)
            .filter(cmi5_sessions::auth_hash.is_null()),
    )
    .set(cmi5_sessions::auth_hash.eq(auth_hash))
    .execute(conn)?;
    Ok(changed == 1)
}

/// After the AU's statements: the verbs sent and their order, when, and when the session
/// ended (if it has: statements taken in the grace after terminated keep the first end).
pub fn record_statements(
    conn: &mut DbConnection,
    id: &str,
    state: &SessionState,
    at: NaiveDateTime,
    ended: Option<NaiveDateTime>,
) -> Result<(), AppError> {
    diesel::update(cmi5_sessions::table.find(id))
        .set((
            cmi5_sessions::verbs.eq(state.verbs.join(" ")),
            cmi5_sessions::last_statement_at.eq(at),
            cmi5_sessions::ended_at.eq(ended),
            cmi5_sessions::initialized_timestamp.eq(state.initialized_at),
            cmi5_sessions::latest_timestamp.eq(state.latest_at),
            cmi5_sessions::terminated_timestamp.eq(state.terminated_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn end(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), AppError> {
    diesel::update(cmi5_sessions::table.find(id))
        .set(cmi5_sessions::ended_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// What the AU achieved in the registration, and when it was satisfied.
pub fn unit(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &str,
    step_id: &str,
) -> Result<(UnitState, Option<NaiveDateTime>), AppError> {
    let found: Option<(bool, bool, Option<NaiveDateTime>)> = cmi5_units::table
        .find((tenant.as_str(), enrolment_id, step_id))
        .select((
            cmi5_units::completed,
            cmi5_units::passed,
            cmi5_units::satisfied_at,
        ))
        .first(conn)
        .optional()?;
    Ok(match found {
        Some((completed, passed, satisfied_at)) => (UnitState { completed, passed }, satisfied_at),
        None => (UnitState::default(), None),
    })
}

/// The AUs of an enrolment satisfied so far (their step ids).
pub fn satisfied_steps(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &str,
) -> Result<Vec<String>, AppError> {
    Ok(cmi5_units::table
        .filter(cmi5_units::tenant_id.eq(tenant.as_str()))
        .filter(cmi5_units::enrolment_id.eq(enrolment_id))
        .filter(cmi5_units::satisfied_at.is_not_null())
        .select(cmi5_units::step_id)
        .load(conn)?)
}

pub fn save_unit(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &str,
    step_id: &str,
    state: UnitState,
    satisfied_at: Option<NaiveDateTime>,
) -> Result<(), AppError> {
    diesel::delete(cmi5_units::table.find((tenant.as_str(), enrolment_id, step_id)))
        .execute(conn)?;
    diesel::insert_into(cmi5_units::table)
        .values((
            cmi5_units::tenant_id.eq(tenant.as_str()),
            cmi5_units::enrolment_id.eq(enrolment_id),
            cmi5_units::step_id.eq(step_id),
            cmi5_units::completed.eq(state.completed),
            cmi5_units::passed.eq(state.passed),
            cmi5_units::satisfied_at.eq(satisfied_at),
        ))
        .execute(conn)?;
    Ok(())
}
