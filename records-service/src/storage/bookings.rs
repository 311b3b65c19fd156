//! Seats, waitlists and the attendance log of training sessions.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};

use super::schema::{attendance_marks, session_bookings};
use crate::domain::session::{AttendanceEntry, AttendanceStatus, Booking, BookingState};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = session_bookings)]
struct BookingRow {
    id: String,
    tenant_id: String,
    session_id: String,
    step_id: String,
    enrolment_id: String,
    learner: String,
    state: String,
    booked_by: String,
    booked_at: NaiveDateTime,
    override_reason: String,
    cancelled_at: Option<NaiveDateTime>,
    cancel_reason: String,
    attendance: String,
}

impl BookingRow {
    fn into_booking(self) -> Result<Booking, AppError> {
        let state = BookingState::parse(&self.state).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "booking {} has state {:?}",
                self.id,
                self.state
            ))
        })?;
        Ok(Booking {
            attendance: AttendanceStatus::parse(&self.attendance),
            id: self.id,
            session_id: self.session_id,
            step_id: self.step_id,
            enrolment_id: self.enrolment_id,
            learner: self.learner,
            state,
            booked_by: self.booked_by,
            booked_at: self.booked_at,
            override_reason: self.override_reason,
            cancelled_at: self.cancelled_at,
            cancel_reason: self.cancel_reason,
            waitlist_position: 0,
        })
    }
}

/// Inserts a live booking; ALREADY_EXISTS when the enrolment holds one for the step already.
pub fn insert(conn: &mut DbConnection, tenant: &TenantId, b: &Booking) -> Result<(), AppError> {
    let row = BookingRow {
        id: b.id.clone(),
        tenant_id: tenant.to_string(),
        session_id: b.session_id.clone(),
        step_id: b.step_id.clone(),
        enrolment_id: b.enrolment_id.clone(),
        learner: b.learner.clone(),
        state: b.state.as_str().to_string(),
        booked_by: b.booked_by.clone(),
        booked_at: b.booked_at,
        override_reason: b.override_reason.clone(),
        cancelled_at: b.cancelled_at,
        cancel_reason: b.cancel_reason.clone(),
        attendance: b.attendance.map(|a| a.as_str()).unwrap_or_default().into(),
    };
    diesel::insert_into(session_bookings::table)
        .values(row)
        .execute(conn)
        .map_err(|e| {
            AppError::on_conflict(e, || {
                AppError::AlreadyExists(
                    "this enrolment already holds a seat or a waitlist place for the step; \
                     cancel it before booking another session"
                        .into(),
                )
            })
        })?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Booking, AppError> {
    let booking = session_bookings::table
        .filter(session_bookings::tenant_id.eq(tenant))
        .filter(session_bookings::id.eq(id))
        .select(BookingRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("booking {id}")))?
        .into_booking()?;
    with_positions(conn, tenant, vec![booking]).map(|mut b| b.remove(0))
}

/// The live booking of an enrolment's step, if any.
pub fn live_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &str,
    step_id: &str,
) -> Result<Option<Booking>, AppError> {
    session_bookings::table
        .filter(session_bookings::tenant_id.eq(tenant))
        .filter(session_bookings::enrolment_id.eq(enrolment_id))
        .filter(session_bookings::step_id.eq(step_id))
        .filter(session_bookings::state.eq_any(live()))
        .select(BookingRow::as_select())
        .first(conn)
        .optional()?
        .map(BookingRow::into_booking)
        .transpose()
}

/// Step id → the live booking's state, per enrolment, for many enrolments in one query.
pub fn standings_of_all(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[EnrolmentId],
) -> Result<HashMap<String, HashMap<String, BookingState>>, AppError> {
    let rows: Vec<(String, String, String)> = session_bookings::table
        .filter(session_bookings::tenant_id.eq(tenant))
        .filter(session_bookings::enrolment_id.eq_any(enrolment_ids))
        .filter(session_bookings::state.eq_any(live()))
        .select((
            session_bookings::enrolment_id,
            session_bookings::step_id,
            session_bookings::state,
        ))
        .load(conn)?;
    let mut out: HashMap<String, HashMap<String, BookingState>> = HashMap::new();
    for (enrolment, step, state) in rows {
        if let Some(state) = BookingState::parse(&state) {
            out.entry(enrolment).or_default().insert(step, state);
        }
    }
    Ok(out)
}

/// Changes a booking's state (and its cancellation, if cancelled).
pub fn set_state(conn: &mut DbConnection, tenant: &TenantId, b: &Booking) -> Result<(), AppError> {
    diesel::update(
        session_bookings::table
            .filter(session_bookings::tenant_id.eq(tenant))
            .filter(session_bookings::id.eq(&b.id)),
    )
    .set((
        session_bookings::state.eq(b.state.as_str()),
        session_bookings::cancelled_at.eq(b.cancelled_at),
        session_bookings::cancel_reason.eq(&b.cancel_reason),
    ))
    .execute(conn)?;
    Ok(())
}

/// The learners waiting for a seat on a session, first come first.
pub fn waiting(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session_id: &str,
) -> Result<Vec<Booking>, AppError> {
    session_bookings::table
        .filter(session_bookings::tenant_id.eq(tenant))
        .filter(session_bookings::session_id.eq(session_id))
        .filter(session_bookings::state.eq(BookingState::Waitlisted.as_str()))
        .order(session_bookings::id.asc())
        .select(BookingRow::as_select())
        .load(conn)?
        .into_iter()
        .map(BookingRow::into_booking)
        .collect()
}

/// The live bookings of these enrolments (any step, any session).
pub fn live_of_enrolments(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[&str],
) -> Result<Vec<Booking>, AppError> {
    let mut found = Vec::new();
    for chunk in enrolment_ids.chunks(500) {
        let rows: Vec<BookingRow> = session_bookings::table
            .filter(session_bookings::tenant_id.eq(tenant))
            .filter(session_bookings::enrolment_id.eq_any(chunk))
            .filter(session_bookings::state.eq_any(live()))
            .select(BookingRow::as_select())
            .load(conn)?;
        for row in rows {
            found.push(row.into_booking()?);
        }
    }
    Ok(found)
}

/// What to list: a session's roster or a learner's bookings, by id.
#[derive(Debug, Default, Clone)]
pub struct BookingQuery {
    pub session_id: Option<String>,
    pub learner: Option<String>,
    /// Only these states (empty: any).
    pub states: Vec<BookingState>,
    pub after: Option<String>,
    pub limit: Option<i64>,
}

pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    q: BookingQuery,
) -> Result<Vec<Booking>, AppError> {
    let mut query = session_bookings::table
        .filter(session_bookings::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(session) = q.session_id {
        query = query.filter(session_bookings::session_id.eq(session));
    }
    if let Some(learner) = q.learner {
        query = query.filter(session_bookings::learner.eq(learner));
    }
    if !q.states.is_empty() {
        let states: Vec<&str> = q.states.iter().map(|s| s.as_str()).collect();
        query = query.filter(session_bookings::state.eq_any(states));
    }
    if let Some(after) = q.after {
        query = query.filter(session_bookings::id.gt(after));
    }
    if let Some(limit) = q.limit {
        query = query.limit(limit);
    }
    let bookings = query
        .order(session_bookings::id.asc())
        .select(BookingRow::as_select())
        .load(conn)?
        .into_iter()
        .map(BookingRow::into_booking)
        .collect::<Result<Vec<_>, _>>()?;
    with_positions(conn, tenant, bookings)
}

/// Fills in the waitlist positions of waitlisted bookings (one query per session involved).
fn with_positions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    mut bookings: Vec<Booking>,
) -> Result<Vec<Booking>, AppError> {
    let mut waiting: HashMap<String, Vec<String>> = HashMap::new();
    for b in &bookings {
        if b.state == BookingState::Waitlisted && !waiting.contains_key(&b.session_id) {
            let ids = session_bookings::table
                .filter(session_bookings::tenant_id.eq(tenant))
                .filter(session_bookings::session_id.eq(&b.session_id))
                .filter(session_bookings::state.eq(BookingState::Waitlisted.as_str()))
                .order(session_bookings::id.asc())
                .select(session_bookings::id)
                .load(conn)?;
            waiting.insert(b.session_id.clone(), ids);
        }
    }
    for b in &mut bookings {
        if let Some(queue) = waiting.get(&b.session_id)
            && b.state == BookingState::Waitlisted
        {
            b.waitlist_position = queue
                .iter()
                .position(|id| *id == b.id)
                .map_or(0, |p| p as i32 + 1);
        }
    }
    Ok(bookings)
}

fn live() -> [&'static str; 2] {
    [
        BookingState::Booked.as_str(),
        BookingState::Waitlisted.as_str(),
    ]
}

/// Appends to the attendance log and keeps the booking's latest mark beside it.
pub fn add_mark(
    conn: &mut DbConnection,
    tenant: &TenantId,
    entry: &AttendanceEntry,
) -> Result<(), AppError> {
    diesel::insert_into(attendance_marks::table)
        .values((
            attendance_marks::id.eq(&entry.id),
            attendance_marks::tenant_id.eq(tenant.to_string()),
            attendance_marks::session_id.eq(&entry.session_id),
            attendance_marks::booking_id.eq(&entry.booking_id),
            attendance_marks::learner.eq(&entry.learner),
            attendance_marks::status.eq(entry.status.as_str()),
            attendance_marks::reason.eq(&entry.reason),
            attendance_marks::marked_by.eq(&entry.marked_by),
            attendance_marks::marked_at.eq(entry.marked_at),
            attendance_marks::corrects.eq(&entry.corrects),
        ))
        .execute(conn)?;
    diesel::update(
        session_bookings::table
            .filter(session_bookings::tenant_id.eq(tenant))
            .filter(session_bookings::id.eq(&entry.booking_id)),
    )
    .set(session_bookings::attendance.eq(entry.status.as_str()))
    .execute(conn)?;
    Ok(())
}

type MarkRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    NaiveDateTime,
    String,
);

/// A session's attendance log, oldest first, after the id `after`.
pub fn marks(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session_id: &str,
    after: Option<String>,
    limit: Option<i64>,
) -> Result<Vec<AttendanceEntry>, AppError> {
    let mut query = attendance_marks::table
        .filter(attendance_marks::tenant_id.eq(tenant))
        .filter(attendance_marks::session_id.eq(session_id))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(attendance_marks::id.gt(after));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    let rows: Vec<MarkRow> = query
        .order(attendance_marks::id.asc())
        .select((
            attendance_marks::id,
            attendance_marks::session_id,
            attendance_marks::booking_id,
            attendance_marks::learner,
            attendance_marks::status,
            attendance_marks::reason,
            attendance_marks::marked_by,
            attendance_marks::marked_at,
            attendance_marks::corrects,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let status = AttendanceStatus::parse(&r.4).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("attendance {} has status {:?}", r.0, r.4))
            })?;
            Ok(AttendanceEntry {
                id: r.0,
                session_id: r.1,
                booking_id: r.2,
                learner: r.3,
                status,
                reason: r.5,
                marked_by: r.6,
                marked_at: r.7,
                corrects: r.8,
            })
        })
        .collect()
}

/// Booking id → the id of its latest attendance entry, for a session.
pub fn latest_marks(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session_id: &str,
) -> Result<HashMap<String, String>, AppError> {
    let rows: Vec<(String, String)> = attendance_marks::table
        .filter(attendance_marks::tenant_id.eq(tenant))
        .filter(attendance_marks::session_id.eq(session_id))
        .order(attendance_marks::id.asc())
        .select((attendance_marks::booking_id, attendance_marks::id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
