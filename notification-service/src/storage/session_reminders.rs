//! Seats on training sessions waiting for their reminder.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use super::schema::session_reminders;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = session_reminders)]
pub struct SessionReminder {
    pub tenant_id: String,
    pub booking_id: String,
    pub learner: String,
    pub enrolment_id: String,
    pub pathway_id: String,
    /// The notification's facts (the session's title, times and place), as JSON.
    pub facts: String,
    pub start_at: NaiveDateTime,
    pub remind_at: NaiveDateTime,
}

/// Follows a seat (a new one, or one whose session moved).
pub fn save(conn: &mut DbConnection, row: &SessionReminder) -> Result<(), AppError> {
    let changed = diesel::update(
        session_reminders::table
            .filter(session_reminders::tenant_id.eq(&row.tenant_id))
            .filter(session_reminders::booking_id.eq(&row.booking_id)),
    )
    .set(row)
    .execute(conn)?;
    if changed == 0 {
        diesel::insert_into(session_reminders::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Stops following a seat given up.
pub fn remove(conn: &mut DbConnection, tenant: &str, booking_id: &str) -> Result<(), AppError> {
    diesel::delete(
        session_reminders::table
            .filter(session_reminders::tenant_id.eq(tenant))
            .filter(session_reminders::booking_id.eq(booking_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Seats whose reminder is due at `now` (every tenant's), the earliest first, held until the
/// transaction ends: on PostgreSQL rows another transaction holds are skipped (see
/// `tracked::due`) — another replica's scan, or a session moved meanwhile, whose re-saved row
/// this scan's removal must not delete.
pub fn due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<SessionReminder>, AppError> {
    Ok(lms_platform::load_skipping_locked!(
        conn,
        session_reminders::table
            .filter(session_reminders::remind_at.le(now))
            .order(session_reminders::remind_at.asc())
            .limit(limit)
            .select(SessionReminder::as_select())
    )?)
}
