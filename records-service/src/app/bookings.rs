//! Booking seats on training sessions: a learner books one session of a training step they can
//! take now; a full session puts them on its waitlist, and every seat that frees up goes to
//! the first learner waiting. Seats are counted under the session's lock, so concurrent
//! bookings never over-sell.

use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};
use lms_platform::outbox::{self, NewEvent};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, Role, audit, idempotency};

use super::progress::refusal;
use super::sessions::{lock_session, locked_session};
use super::{RecordsApp, is_staff, view, visible_enrolment};
use crate::domain::enrolment::EnrolmentStatus;
use crate::domain::pathway::StepKind;
use crate::domain::progress::StepState;
use crate::domain::session::{Booking, BookingState, Session};
use crate::events::{self, BookingNews};
use crate::storage::bookings::{self, BookingQuery};
use crate::storage::{enrolments, sessions};

/// A booking with the session it is for.
#[derive(Debug, Clone)]
pub struct BookingView {
    pub booking: Booking,
    pub session: Session,
}

/// A wish to book.
#[derive(Debug, Clone)]
pub struct BookingRequest {
    pub session_id: String,
    pub enrolment_id: EnrolmentId,
    /// Admins: the reason to book beyond capacity.
    pub override_reason: Option<String>,
    pub request_id: Option<String>,
}

impl RecordsApp {
    pub async fn book_session(
        &self,
        who: &Principal,
        request: BookingRequest,
    ) -> AppResult<BookingView> {
        if request.override_reason.is_some() && !who.has_any(&[Role::Admin]) {
            return Err(AppError::PermissionDenied(
                "only admins book beyond a session's capacity".into(),
            ));
        }
        let who = who.clone();
        let operation = format!("BookSession/{}", who.subject);
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    &operation,
                    request.request_id.as_deref(),
                    |conn, id| booking_view(conn, &tenant, id),
                    |conn| {
                        let made = book(conn, &who, &request)?;
                        let resource = format!("bookings/{}", made.booking.id);
                        audit::record(
                            conn,
                            &who,
                            audit::Change::created(resource, &made.booking)?,
                        )?;
                        Ok((made.booking.id.clone(), made))
                    },
                )
            })
            .await
    }

    /// Cancels a booking (a learner their own, until the cancellation deadline; admins any,
    /// any time) and gives a freed seat to the first learner waiting.
    pub async fn cancel_booking(
        &self,
        who: &Principal,
        id: String,
        reason: String,
    ) -> AppResult<BookingView> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                let found = bookings::get(conn, &tenant, &id)?;
                let admin = who.has_any(&[Role::Admin]);
                if !admin && found.learner != who.subject {
                    return Err(AppError::not_found(format!("booking {id}")));
                }
                let mut session = locked_session(conn, &tenant, &found.session_id)?;
                let mut booking = bookings::get(conn, &tenant, &id)?;
                let before = booking.clone();
                if !booking.is_live() {
                    return Err(AppError::FailedPrecondition(format!(
                        "booking {id} is already cancelled"
                    )));
                }
                let at = now();
                if !admin && !session.learner_may_cancel(at) {
                    return Err(AppError::FailedPrecondition(format!(
                        "cancelling closed at {} UTC; ask an administrator",
                        session
                            .schedule
                            .cancelling_closes()
                            .format("%Y-%m-%d %H:%M")
                    )));
                }
                if booking.attendance.is_some() {
                    return Err(AppError::FailedPrecondition(format!(
                        "attendance is already marked on booking {id}; correct the mark instead"
                    )));
                }
                let news = give_up(conn, &tenant, &mut session, &mut booking, &reason)?;
                outbox::enqueue(conn, &tenant, news)?;
                booking.waitlist_position = 0;
                let resource = format!("bookings/{id}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::updated(resource, &before, &booking)?,
                )?;
                Ok(BookingView { booking, session })
            })
            .await
    }

    /// A session's roster (staff), or a learner's bookings (a learner: their own), by id.
    pub async fn list_bookings(
        &self,
        who: &Principal,
        session_id: Option<String>,
        learner: Option<String>,
        include_cancelled: bool,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<BookingView>> {
        let learner = match (&session_id, learner) {
            (Some(_), None) if !is_staff(who) => {
                return Err(AppError::PermissionDenied(
                    "a session's roster is for staff; learners list their own bookings".into(),
                ));
            }
            (Some(_), None) => None,
            (_, learner) => Some(self.readable_learner(who, learner)?),
        };
        let limit = pagination::page_size(page_size)?;
        let filters = format!(
            "session={};learner={};cancelled={include_cancelled}",
            session_id.as_deref().unwrap_or_default(),
            learner.as_deref().unwrap_or_default()
        );
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                if let Some(id) = &session_id {
                    sessions::get(conn, &tenant, id)?;
                }
                let states = if include_cancelled {
                    Vec::new()
                } else {
                    vec![BookingState::Booked, BookingState::Waitlisted]
                };
                let found = bookings::list(
                    conn,
                    &tenant,
                    BookingQuery {
                        session_id,
                        learner,
                        states,
                        after,
                        limit: Some(limit + 1),
                    },
                )?;
                with_sessions(conn, &tenant, found)
            })
            .await?;
        Ok(paginate(items, limit, &filters, |b: &BookingView| {
            vec![b.booking.id.clone()]
        }))
    }
}

fn book(
    conn: &mut DbConnection,
    who: &Principal,
    request: &BookingRequest,
) -> AppResult<BookingView> {
    let tenant = &who.tenant_id;
    let enrolment = visible_enrolment(conn, who, &request.enrolment_id)?;
    let admin = who.has_any(&[Role::Admin]);
    if !admin && enrolment.learner != who.subject {
        return Err(AppError::PermissionDenied(
            "learners book for their own enrolments; admins book on a learner's behalf".into(),
        ));
    }
    if enrolment.status != EnrolmentStatus::Active {
        return Err(AppError::FailedPrecondition(format!(
            "the enrolment is {}; nothing can be booked on it",
            enrolment.status.as_str().to_lowercase()
        )));
    }
    // What the learner may do now is read before the session's lock, which then covers only
    // the seats: the lock is held by one booking at a time, so it is held briefly. (One live
    // booking per enrolment and step is the unique index's to keep, whatever runs at once.)
    let progress = view(conn, tenant, enrolment.clone())?;
    let mut session = sessions::get(conn, tenant, &request.session_id)?;
    let Some(step) = progress.progress.step(&session.step_id) else {
        return Err(AppError::invalid_field(
            "session_id",
            format!(
                "is a session of “{}” in pathway “{}”, not of a step of this enrolment's \
                 pathway (version {})",
                session.step_title, session.pathway_title, progress.pathway.version
            ),
        ));
    };
    match step.state {
        StepState::Completed => {
            return Err(AppError::FailedPrecondition(format!(
                "“{}” is already completed",
                step.step.title
            )));
        }
        StepState::Locked | StepState::Blocked => return Err(refusal(step)),
        StepState::Waiting => {
            return Err(AppError::AlreadyExists(format!(
                "this enrolment already holds a seat or a waitlist place for “{}”; cancel it \
                 before booking another session",
                step.step.title
            )));
        }
        StepState::Available => {}
    }
    lock_session(conn, tenant, &session.id)?;
    sessions::reread(conn, tenant, &mut session)?;
    let at = now();
    if let Some(closed) = session.closed_for_booking(at) {
        // Admins may still seat a latecomer until the session ends.
        let late_admin = admin
            && session.state == crate::domain::session::SessionState::Scheduled
            && at < session.schedule.end_at;
        if !late_admin {
            return Err(AppError::FailedPrecondition(closed));
        }
    }
    let state = if session.has_free_seat() || request.override_reason.is_some() {
        BookingState::Booked
    } else {
        BookingState::Waitlisted
    };
    let mut booking = Booking {
        id: new_id(),
        session_id: session.id.clone(),
        step_id: session.step_id.clone(),
        enrolment_id: enrolment.id.to_string(),
        learner: enrolment.learner.clone(),
        state,
        booked_by: who.subject.clone(),
        booked_at: at,
        override_reason: if session.has_free_seat() {
            String::new()
        } else {
            request.override_reason.clone().unwrap_or_default()
        },
        cancelled_at: None,
        cancel_reason: String::new(),
        attendance: None,
        waitlist_position: 0,
    };
    bookings::insert(conn, tenant, &booking)?;
    let news = match state {
        BookingState::Booked => {
            session.booked_count += 1;
            BookingNews::Booked
        }
        _ => {
            session.waitlist_count += 1;
            booking.waitlist_position = session.waitlist_count;
            BookingNews::Waitlisted
        }
    };
    sessions::set_counts(conn, tenant, &session)?;
    outbox::enqueue(
        conn,
        tenant,
        vec![events::booking_changed(&booking, &session, news, "")],
    )?;
    Ok(BookingView { booking, session })
}

/// Gives free seats to the learners waiting, first come first served (the session's lock
/// held); saves the session's counts when anyone moved up. A learner whose enrolment is on
/// hold keeps their place but is passed over: a seat they cannot use goes to the next.
pub(super) fn fill_free_seats(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session: &mut Session,
) -> AppResult<Vec<NewEvent>> {
    let mut news = Vec::new();
    if !session.has_free_seat() || session.waitlist_count == 0 {
        return Ok(news);
    }
    for mut next in bookings::waiting(conn, tenant, &session.id)? {
        if !session.has_free_seat() {
            break;
        }
        let enrolment =
            enrolments::get(conn, tenant, &EnrolmentId::from(next.enrolment_id.as_str()))?;
        if enrolment.status != EnrolmentStatus::Active {
            continue;
        }
        next.state = BookingState::Booked;
        bookings::set_state(conn, tenant, &next)?;
        session.booked_count += 1;
        session.waitlist_count -= 1;
        news.push(events::booking_changed(
            &next,
            session,
            BookingNews::Promoted,
            "",
        ));
    }
    if !news.is_empty() {
        sessions::set_counts(conn, tenant, session)?;
    }
    Ok(news)
}

/// Cancels a live booking (the session's lock held): the counts, the learner's news, and the
/// freed seat for the first learner waiting.
fn give_up(
    conn: &mut DbConnection,
    tenant: &TenantId,
    session: &mut Session,
    booking: &mut Booking,
    reason: &str,
) -> AppResult<Vec<NewEvent>> {
    match booking.state {
        BookingState::Booked => session.booked_count -= 1,
        _ => session.waitlist_count -= 1,
    }
    booking.state = BookingState::Cancelled;
    booking.cancelled_at = Some(now());
    booking.cancel_reason = reason.to_string();
    bookings::set_state(conn, tenant, booking)?;
    sessions::set_counts(conn, tenant, session)?;
    let mut news = vec![events::booking_changed(
        booking,
        session,
        BookingNews::Cancelled,
        reason,
    )];
    news.extend(fill_free_seats(conn, tenant, session)?);
    Ok(news)
}

/// Gives up the seats and waitlist places of enrolments that ended (withdrawn): each is
/// cancelled under its session's lock, and a freed seat goes to the first learner waiting.
/// Called while applying enrolment-service's events.
pub(super) fn release_ended(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[&str],
) -> AppResult<()> {
    lock_sessions_of(conn, tenant, enrolment_ids)?;
    let mut news = Vec::new();
    for found in bookings::live_of_enrolments(conn, tenant, enrolment_ids)? {
        let mut session = locked_session(conn, tenant, &found.session_id)?;
        let mut booking = bookings::get(conn, tenant, &found.id)?;
        if booking.is_live() {
            let reason = "the enrolment was withdrawn";
            news.extend(give_up(conn, tenant, &mut session, &mut booking, reason)?);
        }
    }
    outbox::enqueue(conn, tenant, news)
}

/// Takes the locks of the sessions these enrolments hold seats or waitlist places on, in
/// session order: taken before the enrolments' rows are written (see `architecture.md`,
/// "Training sessions"), in one order everywhere, two transactions never wait on each other in
/// a cycle. (A lock this transaction holds already is taken again at no cost.)
pub(super) fn lock_sessions_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[&str],
) -> AppResult<()> {
    if enrolment_ids.is_empty() {
        return Ok(());
    }
    let mut sessions: Vec<String> = bookings::live_of_enrolments(conn, tenant, enrolment_ids)?
        .into_iter()
        .map(|booking| booking.session_id)
        .collect();
    sessions.sort();
    sessions.dedup();
    for session in sessions {
        super::sessions::lock_session(conn, tenant, &session)?;
    }
    Ok(())
}

/// The training steps the caller can book now: unlocked, not completed, not booked, on their
/// active enrolments.
pub(super) fn bookable_steps(conn: &mut DbConnection, who: &Principal) -> AppResult<Vec<String>> {
    let tenant = &who.tenant_id;
    let mut open = Vec::new();
    for enrolment in enrolments::of_learner(conn, tenant, &who.subject)? {
        if enrolment.status != EnrolmentStatus::Active {
            continue;
        }
        let progress = view(conn, tenant, enrolment)?;
        open.extend(
            progress
                .progress
                .steps
                .iter()
                .filter(|s| {
                    s.step.kind == StepKind::TrainingSession && s.state == StepState::Available
                })
                .map(|s| s.step.id.clone()),
        );
    }
    Ok(open)
}

fn booking_view(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> AppResult<BookingView> {
    let booking = bookings::get(conn, tenant, id)?;
    let session = sessions::get(conn, tenant, &booking.session_id)?;
    Ok(BookingView { booking, session })
}

pub(super) fn with_sessions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    found: Vec<Booking>,
) -> AppResult<Vec<BookingView>> {
    let mut ids: Vec<String> = found.iter().map(|b| b.session_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let by_id = sessions::by_ids(conn, tenant, &ids)?;
    found
        .into_iter()
        .map(|booking| {
            let session = by_id.get(&booking.session_id).cloned().ok_or_else(|| {
                AppError::internal(anyhow::anyhow!(
                    "booking {} without its session",
                    booking.id
                ))
            })?;
            Ok(BookingView { booking, session })
        })
        .collect()
}
