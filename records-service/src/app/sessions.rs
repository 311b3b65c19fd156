//! Scheduling training sessions: admins and the step's instructor create them for a training
//! step of a published pathway; admins and the session's instructors change and cancel them.
//! Booked learners hear of every move and of a cancellation (BookingChanged events).

use chrono::NaiveDateTime;
use lms_platform::db::{DbConnection, lock_until_commit};
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::outbox;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{Audit, check_etag, now};
use lms_platform::validate::{Violations, new_id};
use lms_platform::{AppError, AppResult, Principal, Role, audit, idempotency};

use super::RecordsApp;
use crate::domain::pathway::StepKind;
use crate::domain::session::{BookingState, Schedule, Session, SessionState};
use crate::events::{self, BookingNews};
use crate::storage::bookings::{self, BookingQuery};
use crate::storage::sessions::{self, SessionQuery};
use crate::storage::versions;

/// A change to a session's schedule: the fields named in the update mask.
#[derive(Debug, Default, Clone)]
pub struct ScheduleChanges {
    pub start_at: Option<NaiveDateTime>,
    pub end_at: Option<NaiveDateTime>,
    pub time_zone: Option<String>,
    pub location: Option<String>,
    pub meeting_url: Option<String>,
    pub capacity: Option<i32>,
    pub instructors: Option<Vec<String>>,
    /// Some(None): back to "at the start".
    pub booking_deadline: Option<Option<NaiveDateTime>>,
    pub cancellation_deadline: Option<Option<NaiveDateTime>>,
}

/// What to list.
#[derive(Debug, Default, Clone)]
pub struct SessionFilter {
    pub pathway_id: Option<String>,
    pub step_id: Option<String>,
    pub instructor: Option<String>,
    pub bookable: bool,
    pub include_past: bool,
}

impl RecordsApp {
    pub async fn create_session(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        step_id: String,
        mut schedule: Schedule,
        request_id: Option<String>,
    ) -> AppResult<Session> {
        let tenant = who.tenant_id.clone();
        let published = self.pathways.latest(&tenant, &pathway_id).await?;
        let Some(step) = published.step(&step_id).cloned() else {
            return Err(AppError::invalid_field(
                "session.step_id",
                format!(
                    "is not a step of pathway {pathway_id} (published version {})",
                    published.version
                ),
            ));
        };
        if step.kind != StepKind::TrainingSession {
            return Err(AppError::invalid_field(
                "session.step_id",
                format!(
                    "“{}” is a {} step; sessions are scheduled for training session steps",
                    step.title,
                    step.kind.name().replace('_', " ")
                ),
            ));
        }
        if !who.has_any(&[Role::Admin]) {
            if step.instructor != who.subject {
                return Err(AppError::PermissionDenied(format!(
                    "only admins and the step's instructor schedule sessions of “{}”",
                    step.title
                )));
            }
            // The instructor who schedules a session teaches it (and so may manage it).
            if !schedule.instructors.contains(&who.subject) {
                schedule.instructors.push(who.subject.clone());
            }
        }
        let mut v = Violations::new();
        schedule.check(&mut v);
        v.finish()?;
        let who = who.clone();
        self.db
            .write(move |conn| {
                versions::store(conn, &tenant, &published)?;
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateSession",
                    request_id.as_deref(),
                    |conn, id| sessions::get(conn, &tenant, id),
                    |conn| {
                        let session = Session {
                            id: new_id(),
                            pathway_id: published.pathway_id.clone(),
                            step_id: step.id.clone(),
                            pathway_title: published.title.clone(),
                            step_title: step.title.clone(),
                            schedule,
                            state: SessionState::Scheduled,
                            cancel_reason: String::new(),
                            booked_count: 0,
                            waitlist_count: 0,
                            revision: 1,
                            audit: Audit::new(&who.subject),
                        };
                        sessions::insert(conn, &tenant, &session)?;
                        let resource = format!("sessions/{}", session.id);
                        audit::record(conn, &who, audit::Change::created(resource, &session)?)?;
                        Ok((session.id.clone(), session))
                    },
                )
            })
            .await
    }

    pub async fn get_session(&self, who: &Principal, id: String) -> AppResult<Session> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| sessions::get(conn, &tenant, &id))
            .await
    }

    /// Sessions by start time. `bookable`: those of steps the caller can book now.
    pub async fn list_sessions(
        &self,
        who: &Principal,
        filter: SessionFilter,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Session>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!(
            "pathway={};step={};instructor={};bookable={};past={}",
            filter.pathway_id.as_deref().unwrap_or_default(),
            filter.step_id.as_deref().unwrap_or_default(),
            filter.instructor.as_deref().unwrap_or_default(),
            filter.bookable,
            filter.include_past
        );
        let after = pagination::decode_key(&page_token, &filters)?
            .map(|[start, id]| parse_key(&start).map(|start| (start, id)))
            .transpose()?;
        let who = who.clone();
        let items = self
            .db
            .read(move |conn| {
                let tenant = &who.tenant_id;
                let at = now();
                let mut step_ids = filter.step_id.map(|s| vec![s]);
                if filter.bookable {
                    let open = super::bookings::bookable_steps(conn, &who)?;
                    step_ids = Some(match step_ids {
                        Some(wanted) => wanted.into_iter().filter(|s| open.contains(s)).collect(),
                        None => open,
                    });
                }
                if step_ids.as_ref().is_some_and(Vec::is_empty) {
                    return Ok(Vec::new());
                }
                let query = SessionQuery {
                    pathway_id: filter.pathway_id,
                    step_ids,
                    instructor: filter.instructor,
                    current_at: (!filter.include_past && !filter.bookable).then_some(at),
                    bookable_at: filter.bookable.then_some(at),
                    after,
                    limit: limit + 1,
                };
                sessions::list(conn, tenant, query)
            })
            .await?;
        Ok(paginate(items, limit, &filters, |s: &Session| {
            vec![
                s.schedule.start_at.format(KEY_FORMAT).to_string(),
                s.id.clone(),
            ]
        }))
    }

    /// Applies the changes to a scheduled session (its lock held), checks the result as a
    /// whole, and tells the booked learners when the time or the place moved.
    pub async fn update_session(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        changes: ScheduleChanges,
    ) -> AppResult<Session> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                let mut session = locked_session(conn, &tenant, &id)?;
                may_manage(&who, &session)?;
                check_etag(&etag, session.revision)?;
                if session.state == SessionState::Cancelled {
                    return Err(AppError::FailedPrecondition(format!(
                        "session {id} is cancelled; schedule a new one"
                    )));
                }
                let before = session.schedule.clone();
                let unchanged = session.clone();
                apply(&mut session.schedule, changes);
                let mut v = Violations::new();
                session.schedule.check(&mut v);
                if session.schedule.capacity < session.booked_count {
                    v.add(
                        "session.capacity",
                        format!(
                            "must be at least the {} seats booked; cancel bookings first",
                            session.booked_count
                        ),
                    );
                }
                v.finish()?;
                session.revision += 1;
                session.audit.touch(&who.subject);
                sessions::save(conn, &tenant, &session)?;
                if session.schedule.instructors != before.instructors {
                    sessions::set_instructors(conn, &tenant, &id, &session.schedule.instructors)?;
                }
                let mut news = Vec::new();
                if session.moved(&before) {
                    news.extend(tell_booked(
                        conn,
                        &tenant,
                        &session,
                        BookingNews::Moved,
                        "",
                    )?);
                }
                // More seats: the first learners waiting get them.
                news.extend(super::bookings::fill_free_seats(
                    conn,
                    &tenant,
                    &mut session,
                )?);
                outbox::enqueue(conn, &tenant, news)?;
                let resource = format!("sessions/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &unchanged, &session)?,
                )?;
                Ok(session)
            })
            .await
    }

    /// Cancels a session: every live booking is cancelled and its learner told; their step
    /// needs another session again.
    pub async fn cancel_session(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        reason: String,
    ) -> AppResult<Session> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                let mut session = locked_session(conn, &tenant, &id)?;
                may_manage(&who, &session)?;
                check_etag(&etag, session.revision)?;
                if session.state == SessionState::Cancelled {
                    return Err(AppError::FailedPrecondition(format!(
                        "session {id} is already cancelled"
                    )));
                }
                let at = now();
                let before = session.clone();
                let live = bookings::list(
                    conn,
                    &tenant,
                    BookingQuery {
                        session_id: Some(id.clone()),
                        states: vec![BookingState::Booked, BookingState::Waitlisted],
                        ..Default::default()
                    },
                )?;
                session.state = SessionState::Cancelled;
                session.cancel_reason = reason.clone();
                session.booked_count = 0;
                session.waitlist_count = 0;
                session.revision += 1;
                session.audit.touch(&who.subject);
                let mut news = Vec::new();
                for mut booking in live {
                    booking.state = BookingState::Cancelled;
                    booking.cancelled_at = Some(at);
                    booking.cancel_reason = format!("the session was cancelled: {reason}");
                    bookings::set_state(conn, &tenant, &booking)?;
                    news.push(events::booking_changed(
                        &booking,
                        &session,
                        BookingNews::SessionCancelled,
                        &reason,
                    ));
                }
                sessions::save(conn, &tenant, &session)?;
                outbox::enqueue(conn, &tenant, news)?;
                let resource = format!("sessions/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &session)?,
                )?;
                Ok(session)
            })
            .await
    }
}

/// Page keys sort as text in start order.
const KEY_FORMAT: &str = "%Y%m%d%H%M%S%.6f";

fn parse_key(key: &str) -> AppResult<NaiveDateTime> {
    NaiveDateTime::parse_from_str(key, KEY_FORMAT)
        .map_err(|_| AppError::invalid_field("page_token", "is not a token of this list"))
}

/// The session, its lock held until the transaction ends: bookings, cancellations, changes
/// and attendance on one session happen one at a time, so seats are never over-sold.
pub(super) fn locked_session(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> AppResult<Session> {
    lock_session(conn, tenant, id)?;
    sessions::get(conn, tenant, id)
}

/// The session's lock alone (taken before any enrolment's, everywhere).
pub(super) fn lock_session(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> AppResult<()> {
    lock_until_commit(conn, &format!("records/session/{tenant}/{id}"))
}

/// Admins manage every session; instructors the sessions they teach.
pub(super) fn may_manage(who: &Principal, session: &Session) -> AppResult<()> {
    if who.has_any(&[Role::Admin]) || session.teaches(&who.subject) {
        Ok(())
    } else {
        Err(AppError::PermissionDenied(format!(
            "only admins and the session's instructors manage session {}",
            session.id
        )))
    }
}

fn apply(schedule: &mut Schedule, changes: ScheduleChanges) {
    let old_start = schedule.start_at;
    if let Some(start) = changes.start_at {
        schedule.start_at = start;
        // A deadline that was "at the start" moves with the start.
        if changes.booking_deadline.is_none() && schedule.booking_deadline == Some(old_start) {
            schedule.booking_deadline = None;
        }
        if changes.cancellation_deadline.is_none()
            && schedule.cancellation_deadline == Some(old_start)
        {
            schedule.cancellation_deadline = None;
        }
    }
    if let Some(end) = changes.end_at {
        schedule.end_at = end;
    }
    if let Some(zone) = changes.time_zone {
        schedule.time_zone = zone;
    }
    if let Some(location) = changes.location {
        schedule.location = location;
    }
    if let Some(url) = changes.meeting_url {
        schedule.meeting_url = url;
    }
    if let Some(capacity) = changes.capacity {
        schedule.capacity = capacity;
    }
    if let Some(instructors) = changes.instructors {
        schedule.instructors = instructors;
    }
    if let Some(deadline) = changes.booking_deadline {
        schedule.booking_deadline = deadline;
    }
    if let Some(deadline) = changes.cancellation_deadline {
        schedule.cancellation_deadline = deadline;
    }
}

/// A BookingChanged event for every booked learner of a session.
fn tell_booked(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session: &Session,
    news: BookingNews,
    reason: &str,
) -> AppResult<Vec<lms_platform::outbox::NewEvent>> {
    let booked = bookings::list(
        conn,
        tenant,
        BookingQuery {
            session_id: Some(session.id.clone()),
            states: vec![BookingState::Booked],
            ..Default::default()
        },
    )?;
    Ok(booked
        .iter()
        .map(|b| events::booking_changed(b, session, news, reason))
        .collect())
}
