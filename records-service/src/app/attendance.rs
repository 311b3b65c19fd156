//! Attendance at training sessions. Marks are appended, never changed: a correction is a new entry with a reason, and moves
//! the step's progress with it (ATTENDED completes the step; a correction away from ATTENDED
//! reopens it).

use std::collections::HashSet;

use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::validate::{Violations, new_id};
use lms_platform::{AppError, AppResult, Principal, audit};

use super::learner_statements::record_activity;
use super::progress::follow_up;
use super::sessions::{locked_session, may_manage};
use super::{RecordsApp, lock_enrolment, view};
use crate::domain::activity::{Activity, ActivityKind, ActivitySource};
use crate::domain::enrolment::EnrolmentStatus;
use crate::domain::session::{
    AttendanceEntry, AttendanceStatus, Booking, BookingState, Session, SessionState, completes_step,
};
use crate::storage::bookings::{self, BookingQuery};
use crate::storage::enrolments;
use crate::storage::sessions;

/// The most marks one call writes.
pub const MAX_MARKS: usize = 1_000;

/// One learner's mark as the instructor gives it.
#[derive(Debug, Clone)]
pub struct Mark {
    pub learner: String,
    pub status: AttendanceStatus,
    pub reason: String,
}

/// Marks for some learners, or one status for everyone on the roster not marked yet.
#[derive(Debug, Clone)]
pub enum Marking {
    Learners(Vec<Mark>),
    WholeRoster(AttendanceStatus),
}

impl RecordsApp {
    pub async fn mark_attendance(
        &self,
        who: &Principal,
        session_id: String,
        marking: Marking,
    ) -> AppResult<Vec<AttendanceEntry>> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                let session = locked_session(conn, &tenant, &session_id)?;
                may_manage(&who, &session)?;
                if session.state == SessionState::Cancelled {
                    return Err(AppError::FailedPrecondition(format!(
                        "session {session_id} is cancelled; nobody attended it"
                    )));
                }
                let at = now();
                if at < session.schedule.start_at {
                    return Err(AppError::FailedPrecondition(format!(
                        "attendance is marked once the session has started (at {} UTC)",
                        session.schedule.start_at.format("%Y-%m-%d %H:%M")
                    )));
                }
                let roster = bookings::list(
                    conn,
                    &tenant,
                    BookingQuery {
                        session_id: Some(session_id.clone()),
                        states: vec![BookingState::Booked],
                        ..Default::default()
                    },
                )?;
                let targets = targets(&roster, marking)?;
                let latest = bookings::latest_marks(conn, &tenant, &session_id)?;
                let mut written = Vec::with_capacity(targets.len());
                for (booking, mark) in targets {
                    let entry = AttendanceEntry {
                        id: new_id(),
                        session_id: session_id.clone(),
                        booking_id: booking.id.clone(),
                        learner: booking.learner.clone(),
                        status: mark.status,
                        reason: mark.reason,
                        marked_by: who.subject.clone(),
                        marked_at: at,
                        corrects: latest.get(&booking.id).cloned().unwrap_or_default(),
                    };
                    bookings::add_mark(conn, &tenant, &entry)?;
                    move_progress(conn, &tenant, &session, booking, &entry)?;
                    written.push(entry);
                }
                let resource = format!("sessions/{session_id}/attendance");
                let marks = serde_json::json!({ "marks": &written });
                audit::record(conn, &who, audit::Change::acted(resource, &marks)?)?;
                Ok(written)
            })
            .await
    }

    /// A session's attendance log, oldest first (staff).
    pub async fn list_attendance(
        &self,
        who: &Principal,
        session_id: String,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<AttendanceEntry>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("session={session_id}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                sessions::get(conn, &tenant, &session_id)?;
                bookings::marks(conn, &tenant, &session_id, after, Some(limit + 1))
            })
            .await?;
        Ok(paginate(items, limit, &filters, |e: &AttendanceEntry| {
            vec![e.id.clone()]
        }))
    }
}

/// Who gets which mark: named learners must hold a seat, once each, and a learner marked
/// before is corrected only with a reason; the whole roster means everyone not marked yet.
fn targets(roster: &[Booking], marking: Marking) -> AppResult<Vec<(&Booking, Mark)>> {
    match marking {
        Marking::WholeRoster(status) => Ok(roster
            .iter()
            .filter(|b| b.attendance.is_none())
            .map(|b| {
                (
                    b,
                    Mark {
                        learner: b.learner.clone(),
                        status,
                        reason: String::new(),
                    },
                )
            })
            .collect()),
        Marking::Learners(marks) => {
            let mut v = Violations::new();
            let mut seen = HashSet::new();
            let mut chosen = Vec::with_capacity(marks.len());
            for (i, mark) in marks.into_iter().enumerate() {
                let Some(booking) = roster.iter().find(|b| b.learner == mark.learner) else {
                    v.add(
                        format!("marks[{i}].learner"),
                        format!("{} holds no seat on this session", mark.learner),
                    );
                    continue;
                };
                if !seen.insert(mark.learner.clone()) {
                    v.add(
                        format!("marks[{i}].learner"),
                        "is marked twice in this call",
                    );
                    continue;
                }
                if booking.attendance.is_some() && mark.reason.trim().is_empty() {
                    v.add(
                        format!("marks[{i}].reason"),
                        "is required to correct an earlier mark",
                    );
                    continue;
                }
                chosen.push((booking, mark));
            }
            v.finish()?;
            Ok(chosen)
        }
    }
}

/// The learner record follows the mark: ATTENDED completes the step (a first activity starts
/// the enrolment); a correction away from ATTENDED reopens it, unless the enrolment is already
/// completed (its completion, and any certification, stand: that is refused).
fn move_progress(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session: &Session,
    booking: &Booking,
    entry: &AttendanceEntry,
) -> AppResult<()> {
    let enrolment_id = EnrolmentId::from(booking.enrolment_id.as_str());
    lock_enrolment(conn, tenant, &enrolment_id)?;
    let enrolment = enrolments::get(conn, tenant, &enrolment_id)?;
    if enrolment.status != EnrolmentStatus::Active {
        return Ok(());
    }
    let was = booking.attendance.is_some_and(completes_step);
    let now_completes = completes_step(entry.status);
    let kind = match (was, now_completes) {
        (false, true) => ActivityKind::StepCompleted,
        (true, false) if enrolment.completed_at.is_some() => {
            return Err(AppError::FailedPrecondition(format!(
                "{}'s enrolment was completed with this attendance; its completion stands \
                 (revoke a certification it issued if it must not)",
                booking.learner
            )));
        }
        (true, false) => ActivityKind::StepReopened,
        (false, false) if entry.status == AttendanceStatus::PartiallyAttended => {
            ActivityKind::StepStarted
        }
        _ => return Ok(()),
    };
    let before = view(conn, tenant, enrolment.clone())?;
    let note = match entry.reason.as_str() {
        "" => format!("{} at session {}", entry.status.as_str(), session.id),
        why => format!("{} at session {}: {why}", entry.status.as_str(), session.id),
    };
    record_activity(
        conn,
        tenant,
        &enrolment,
        &Activity {
            note,
            ..Activity::new(
                enrolment.id.clone(),
                session.step_id.clone(),
                kind,
                ActivitySource::InstructorAttendance,
                entry.marked_by.clone(),
                entry.marked_at,
            )
        },
    )?;
    follow_up(
        conn,
        tenant,
        &enrolment,
        !before.any_activity,
        entry.marked_at,
    )?;
    Ok(())
}
