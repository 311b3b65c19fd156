//! Training sessions and who teaches them.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::resource::Audit;

use super::schema::{session_instructors, training_sessions};
use crate::domain::session::{Schedule, Session, SessionState};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = training_sessions)]
struct SessionRow {
    id: String,
    tenant_id: String,
    pathway_id: String,
    step_id: String,
    pathway_title: String,
    step_title: String,
    start_at: NaiveDateTime,
    end_at: NaiveDateTime,
    time_zone: String,
    location: String,
    meeting_url: String,
    capacity: i32,
    booking_deadline: NaiveDateTime,
    cancellation_deadline: NaiveDateTime,
    state: String,
    cancel_reason: String,
    booked_count: i32,
    waitlist_count: i32,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

#[derive(Debug, Clone, PartialEq, Insertable)]
#[diesel(table_name = session_instructors)]
struct InstructorRow {
    tenant_id: String,
    session_id: String,
    instructor: String,
}

impl SessionRow {
    fn new(tenant: &TenantId, s: &Session) -> Self {
        SessionRow {
            id: s.id.clone(),
            tenant_id: tenant.to_string(),
            pathway_id: s.pathway_id.to_string(),
            step_id: s.step_id.clone(),
            pathway_title: s.pathway_title.clone(),
            step_title: s.step_title.clone(),
            start_at: s.schedule.start_at,
            end_at: s.schedule.end_at,
            time_zone: s.schedule.time_zone.clone(),
            location: s.schedule.location.clone(),
            meeting_url: s.schedule.meeting_url.clone(),
            capacity: s.schedule.capacity,
            booking_deadline: s.schedule.booking_closes(),
            cancellation_deadline: s.schedule.cancelling_closes(),
            state: s.state.as_str().to_string(),
            cancel_reason: s.cancel_reason.clone(),
            booked_count: s.booked_count,
            waitlist_count: s.waitlist_count,
            revision: s.revision,
            created_at: s.audit.created_at,
            created_by: s.audit.created_by.clone(),
            updated_at: s.audit.updated_at,
            updated_by: s.audit.updated_by.clone(),
        }
    }

    fn into_session(self, instructors: Vec<String>) -> Result<Session, AppError> {
        let state = SessionState::parse(&self.state).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "session {} has state {:?}",
                self.id,
                self.state
            ))
        })?;
        Ok(Session {
            schedule: Schedule {
                start_at: self.start_at,
                end_at: self.end_at,
                time_zone: self.time_zone,
                location: self.location,
                meeting_url: self.meeting_url,
                capacity: self.capacity,
                instructors,
                booking_deadline: Some(self.booking_deadline),
                cancellation_deadline: Some(self.cancellation_deadline),
            },
            id: self.id,
            pathway_id: PathwayId::from(self.pathway_id.as_str()),
            step_id: self.step_id,
            pathway_title: self.pathway_title,
            step_title: self.step_title,
            state,
            cancel_reason: self.cancel_reason,
            booked_count: self.booked_count,
            waitlist_count: self.waitlist_count,
            revision: self.revision,
            audit: Audit {
                created_at: self.created_at,
                created_by: self.created_by,
                updated_at: self.updated_at,
                updated_by: self.updated_by,
            },
        })
    }
}

pub fn insert(conn: &mut DbConnection, tenant: &TenantId, s: &Session) -> Result<(), AppError> {
    diesel::insert_into(training_sessions::table)
        .values(SessionRow::new(tenant, s))
        .execute(conn)?;
    set_instructors(conn, tenant, &s.id, &s.schedule.instructors)
}

/// Writes every field of the session (its lock held), bumping nothing: the caller set the
/// revision.
pub fn save(conn: &mut DbConnection, tenant: &TenantId, s: &Session) -> Result<(), AppError> {
    let row = SessionRow::new(tenant, s);
    diesel::update(
        training_sessions::table
            .filter(training_sessions::tenant_id.eq(tenant))
            .filter(training_sessions::id.eq(&s.id)),
    )
    .set((
        training_sessions::start_at.eq(row.start_at),
        training_sessions::end_at.eq(row.end_at),
        training_sessions::time_zone.eq(&row.time_zone),
        training_sessions::location.eq(&row.location),
        training_sessions::meeting_url.eq(&row.meeting_url),
        training_sessions::capacity.eq(row.capacity),
        training_sessions::booking_deadline.eq(row.booking_deadline),
        training_sessions::cancellation_deadline.eq(row.cancellation_deadline),
        training_sessions::state.eq(&row.state),
        training_sessions::cancel_reason.eq(&row.cancel_reason),
        training_sessions::booked_count.eq(row.booked_count),
        training_sessions::waitlist_count.eq(row.waitlist_count),
        training_sessions::revision.eq(row.revision),
        training_sessions::updated_at.eq(row.updated_at),
        training_sessions::updated_by.eq(&row.updated_by),
    ))
    .execute(conn)?;
    Ok(())
}

/// Reads the session's row again (its lock held), keeping the instructors already read.
pub fn reread(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session: &mut Session,
) -> Result<(), AppError> {
    let instructors = std::mem::take(&mut session.schedule.instructors);
    let row = training_sessions::table
        .filter(training_sessions::tenant_id.eq(tenant))
        .filter(training_sessions::id.eq(&session.id))
        .select(SessionRow::as_select())
        .first(conn)?;
    *session = row.into_session(instructors)?;
    Ok(())
}

/// Writes the seat counts only (the session's lock held).
pub fn set_counts(conn: &mut DbConnection, tenant: &TenantId, s: &Session) -> Result<(), AppError> {
    diesel::update(
        training_sessions::table
            .filter(training_sessions::tenant_id.eq(tenant))
            .filter(training_sessions::id.eq(&s.id)),
    )
    .set((
        training_sessions::booked_count.eq(s.booked_count),
        training_sessions::waitlist_count.eq(s.waitlist_count),
    ))
    .execute(conn)?;
    Ok(())
}

/// Replaces who teaches a session.
pub fn set_instructors(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session_id: &str,
    instructors: &[String],
) -> Result<(), AppError> {
    diesel::delete(
        session_instructors::table
            .filter(session_instructors::tenant_id.eq(tenant))
            .filter(session_instructors::session_id.eq(session_id)),
    )
    .execute(conn)?;
    let rows: Vec<InstructorRow> = instructors
        .iter()
        .map(|i| InstructorRow {
            tenant_id: tenant.to_string(),
            session_id: session_id.to_string(),
            instructor: i.clone(),
        })
        .collect();
    if !rows.is_empty() {
        let insert = diesel::insert_into(session_instructors::table).values(rows);
        lms_platform::execute_on_backend!(conn, insert)?;
    }
    Ok(())
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Session, AppError> {
    let row = training_sessions::table
        .filter(training_sessions::tenant_id.eq(tenant))
        .filter(training_sessions::id.eq(id))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("session {id}")))?;
    let mut sessions = with_instructors(conn, tenant, vec![row])?;
    Ok(sessions.remove(0))
}

/// Many sessions by id (those that exist), in one query each for sessions and instructors.
pub fn by_ids(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, Session>, AppError> {
    let rows = training_sessions::table
        .filter(training_sessions::tenant_id.eq(tenant))
        .filter(training_sessions::id.eq_any(ids))
        .select(SessionRow::as_select())
        .load(conn)?;
    Ok(with_instructors(conn, tenant, rows)?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect())
}

/// What to list, by start time then id.
#[derive(Debug, Default, Clone)]
pub struct SessionQuery {
    pub pathway_id: Option<String>,
    pub step_ids: Option<Vec<String>>,
    pub instructor: Option<String>,
    /// Only scheduled sessions not yet ended at this time.
    pub current_at: Option<NaiveDateTime>,
    /// Only sessions still open for booking at this time.
    pub bookable_at: Option<NaiveDateTime>,
    /// (start, id) of the last session of the previous page.
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    q: SessionQuery,
) -> Result<Vec<Session>, AppError> {
    let mut query = training_sessions::table
        .filter(training_sessions::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(pathway) = &q.pathway_id {
        query = query.filter(training_sessions::pathway_id.eq(pathway.clone()));
    }
    if let Some(steps) = q.step_ids {
        query = query.filter(training_sessions::step_id.eq_any(steps));
    }
    if let Some(instructor) = q.instructor {
        let taught = session_instructors::table
            .filter(session_instructors::tenant_id.eq(tenant.to_string()))
            .filter(session_instructors::instructor.eq(instructor))
            .select(session_instructors::session_id);
        query = query.filter(training_sessions::id.eq_any(taught));
    }
    if let Some(at) = q.current_at {
        query = query
            .filter(training_sessions::state.eq(SessionState::Scheduled.as_str()))
            .filter(training_sessions::end_at.gt(at));
    }
    if let Some(at) = q.bookable_at {
        query = query
            .filter(training_sessions::state.eq(SessionState::Scheduled.as_str()))
            .filter(training_sessions::booking_deadline.gt(at));
    }
    if let Some((start, id)) = q.after {
        query = query.filter(
            training_sessions::start_at
                .gt(start)
                .or(training_sessions::start_at
                    .eq(start)
                    .and(training_sessions::id.gt(id))),
        );
    }
    let rows = query
        .order((
            training_sessions::start_at.asc(),
            training_sessions::id.asc(),
        ))
        .limit(q.limit)
        .select(SessionRow::as_select())
        .load(conn)?;
    with_instructors(conn, tenant, rows)
}

fn with_instructors(
    conn: &mut DbConnection,
    tenant: &TenantId,
    rows: Vec<SessionRow>,
) -> Result<Vec<Session>, AppError> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut teaching: HashMap<String, Vec<String>> = HashMap::new();
    let pairs: Vec<(String, String)> = session_instructors::table
        .filter(session_instructors::tenant_id.eq(tenant))
        .filter(session_instructors::session_id.eq_any(ids))
        .order(session_instructors::instructor.asc())
        .select((
            session_instructors::session_id,
            session_instructors::instructor,
        ))
        .load(conn)?;
    for (session, instructor) in pairs {
        teaching.entry(session).or_default().push(instructor);
    }
    rows.into_iter()
        .map(|r| {
            let instructors = teaching.remove(&r.id).unwrap_or_default();
            r.into_session(instructors)
        })
        .collect()
}
