//! `lms.records.v1.TrainingSessionService`: convert, call the use case, convert back.

use chrono::NaiveDateTime;
use lms_platform::auth::principal;
use lms_platform::field_mask::update_paths;
use lms_platform::resource::{from_timestamp, timestamp};
use lms_platform::validate::Violations;
use lms_proto::records_v1 as pb;
use pb::training_session_service_server::TrainingSessionService;
use tonic::{Request, Response, Status};

use crate::app::{
    BookingRequest, BookingView, MAX_MARKS, Mark, Marking, RecordsApp, ScheduleChanges,
    SessionFilter,
};
use crate::domain::session::{AttendanceEntry, AttendanceStatus, MAX_INSTRUCTORS, Schedule};
use crate::events::{booking_state, session_message};

pub struct SessionsGrpc {
    app: RecordsApp,
}

impl SessionsGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

/// The fields UpdateSession changes.
const UPDATABLE: [&str; 9] = [
    "start_time",
    "end_time",
    "time_zone",
    "location",
    "meeting_url",
    "capacity",
    "instructors",
    "booking_deadline",
    "cancellation_deadline",
];

#[tonic::async_trait]
impl TrainingSessionService for SessionsGrpc {
    async fn create_session(
        &self,
        request: Request<pb::CreateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let session = req.session.unwrap_or_default();
        let mut v = Violations::new();
        let pathway = v.typed_id("session.pathway_id", &session.pathway_id);
        v.id("session.step_id", &session.step_id);
        let request_id = v.optional_id("request_id", &req.request_id);
        let changes = schedule_fields(&mut v, &session, &UPDATABLE);
        let start = required_time(&mut v, "session.start_time", changes.start_at);
        let end = required_time(&mut v, "session.end_time", changes.end_at);
        if session.capacity == 0 {
            v.add("session.capacity", "is required");
        }
        v.finish()?;
        let Some(pathway) = pathway else {
            return Err(Status::invalid_argument("invalid session.pathway_id"));
        };
        let schedule = Schedule {
            start_at: start.unwrap_or_default(),
            end_at: end.unwrap_or_default(),
            time_zone: changes.time_zone.unwrap_or_default(),
            location: changes.location.unwrap_or_default(),
            meeting_url: changes.meeting_url.unwrap_or_default(),
            capacity: session.capacity,
            instructors: changes.instructors.unwrap_or_default(),
            booking_deadline: changes.booking_deadline.flatten(),
            cancellation_deadline: changes.cancellation_deadline.flatten(),
        };
        let created = self
            .app
            .create_session(
                &who,
                pathway,
                session.step_id,
                schedule,
                request_id.map(|id| id.to_string()),
            )
            .await?;
        Ok(Response::new(session_message(&created)))
    }

    async fn get_session(
        &self,
        request: Request<pb::GetSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("id", &req.id);
        v.finish()?;
        let session = self.app.get_session(&who, req.id).await?;
        Ok(Response::new(session_message(&session)))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.optional_id("pathway_id", &req.pathway_id);
        v.optional_id("step_id", &req.step_id);
        v.max_text("instructor", &req.instructor, 128);
        let instructor = match (non_empty(req.instructor), req.taught_by_me) {
            (Some(named), true) if named != who.subject => {
                v.add(
                    "instructor",
                    "name no instructor with taught_by_me, or yourself",
                );
                None
            }
            (_, true) => Some(who.subject.clone()),
            (named, false) => named,
        };
        v.finish()?;
        let filter = SessionFilter {
            pathway_id: non_empty(req.pathway_id),
            step_id: non_empty(req.step_id),
            instructor,
            bookable: req.bookable,
            include_past: req.include_past,
        };
        let page = self
            .app
            .list_sessions(&who, filter, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: page.items.iter().map(session_message).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_session(
        &self,
        request: Request<pb::UpdateSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let session = req.session.unwrap_or_default();
        let mut v = Violations::new();
        v.id("session.id", &session.id);
        let paths = update_paths(req.update_mask.as_ref(), &session, &UPDATABLE)?;
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let changes = schedule_fields(&mut v, &session, &paths);
        for (path, value) in [
            ("start_time", changes.start_at),
            ("end_time", changes.end_at),
        ] {
            if paths.contains(&path) {
                required_time(&mut v, &format!("session.{path}"), value);
            }
        }
        v.finish()?;
        let updated = self
            .app
            .update_session(&who, session.id, session.etag, changes)
            .await?;
        Ok(Response::new(session_message(&updated)))
    }

    async fn cancel_session(
        &self,
        request: Request<pb::CancelSessionRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("id", &req.id);
        v.required_text("reason", &req.reason, 500);
        v.finish()?;
        let cancelled = self
            .app
            .cancel_session(&who, req.id, req.etag, req.reason.trim().to_string())
            .await?;
        Ok(Response::new(session_message(&cancelled)))
    }

    async fn book_session(
        &self,
        request: Request<pb::BookSessionRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("session_id", &req.session_id);
        let enrolment = v.typed_id("enrolment_id", &req.enrolment_id);
        let request_id = v.optional_id("request_id", &req.request_id);
        if req.override_capacity {
            v.required_text("reason", &req.reason, 500);
        } else {
            v.max_text("reason", &req.reason, 500);
        }
        v.finish()?;
        let Some(enrolment) = enrolment else {
            return Err(Status::invalid_argument("invalid enrolment_id"));
        };
        let booked = self
            .app
            .book_session(
                &who,
                BookingRequest {
                    session_id: req.session_id,
                    enrolment_id: enrolment,
                    override_reason: req.override_capacity.then(|| req.reason.trim().to_string()),
                    request_id: request_id.map(|id| id.to_string()),
                },
            )
            .await?;
        Ok(Response::new(booking(booked)))
    }

    async fn cancel_booking(
        &self,
        request: Request<pb::CancelBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("id", &req.id);
        v.max_text("reason", &req.reason, 500);
        v.finish()?;
        let cancelled = self
            .app
            .cancel_booking(&who, req.id, req.reason.trim().to_string())
            .await?;
        Ok(Response::new(booking(cancelled)))
    }

    async fn list_bookings(
        &self,
        request: Request<pb::ListBookingsRequest>,
    ) -> Result<Response<pb::ListBookingsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.optional_id("session_id", &req.session_id);
        v.max_text("learner", &req.learner, 128);
        v.finish()?;
        let page = self
            .app
            .list_bookings(
                &who,
                non_empty(req.session_id),
                non_empty(req.learner),
                req.include_cancelled,
                req.page_size,
                req.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListBookingsResponse {
            bookings: page.items.into_iter().map(booking).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn mark_attendance(
        &self,
        request: Request<pb::MarkAttendanceRequest>,
    ) -> Result<Response<pb::MarkAttendanceResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("session_id", &req.session_id);
        let marking = if req.whole_roster != 0 {
            if !req.marks.is_empty() {
                v.add("whole_roster", "give marks or whole_roster, not both");
            }
            // A bad status is a violation; the placeholder never reaches the use case.
            let status = attendance_status(&mut v, "whole_roster", req.whole_roster);
            Marking::WholeRoster(status.unwrap_or(AttendanceStatus::Absent))
        } else {
            if req.marks.is_empty() {
                v.add("marks", "give at least one mark, or whole_roster");
            }
            if req.marks.len() > MAX_MARKS {
                v.add("marks", format!("at most {MAX_MARKS} marks in one call"));
            }
            let mut marks = Vec::with_capacity(req.marks.len());
            for (i, m) in req.marks.into_iter().enumerate() {
                v.required_text(&format!("marks[{i}].learner"), &m.learner, 128);
                v.max_text(&format!("marks[{i}].reason"), &m.reason, 500);
                if let Some(status) =
                    attendance_status(&mut v, &format!("marks[{i}].status"), m.status)
                {
                    marks.push(Mark {
                        learner: m.learner.trim().to_string(),
                        status,
                        reason: m.reason.trim().to_string(),
                    });
                }
            }
            Marking::Learners(marks)
        };
        v.finish()?;
        let entries = self
            .app
            .mark_attendance(&who, req.session_id, marking)
            .await?;
        Ok(Response::new(pb::MarkAttendanceResponse {
            entries: entries.into_iter().map(entry).collect(),
        }))
    }

    async fn list_attendance(
        &self,
        request: Request<pb::ListAttendanceRequest>,
    ) -> Result<Response<pb::ListAttendanceResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("session_id", &req.session_id);
        v.finish()?;
        let page = self
            .app
            .list_attendance(&who, req.session_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListAttendanceResponse {
            entries: page.items.into_iter().map(entry).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    type ExportCalendarStream = CalendarStream;

    async fn export_calendar(
        &self,
        request: Request<pb::ExportCalendarRequest>,
    ) -> Result<Response<Self::ExportCalendarStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.optional_id("booking_id", &req.booking_id);
        v.finish()?;
        let text = self
            .app
            .export_calendar(&who, non_empty(req.booking_id))
            .await?;
        Ok(Response::new(calendar_stream(text)))
    }

    async fn create_calendar_feed(
        &self,
        request: Request<pb::CreateCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let who = principal(&request)?;
        let feed = self.app.create_calendar_feed(&who).await?;
        Ok(Response::new(pb::CalendarFeed {
            path: format!("/v1/calendarFeeds/{}", feed.secret),
            secret: feed.secret,
            create_time: Some(timestamp(feed.created_at)),
        }))
    }

    async fn delete_calendar_feed(
        &self,
        request: Request<pb::DeleteCalendarFeedRequest>,
    ) -> Result<Response<pb::DeleteCalendarFeedResponse>, Status> {
        let who = principal(&request)?;
        let deleted = self.app.delete_calendar_feed(&who).await?;
        Ok(Response::new(pb::DeleteCalendarFeedResponse { deleted }))
    }
}

/// A calendar download as one chunk (a person's calendar is at most 1 000 sessions).
pub(super) fn calendar_stream(text: String) -> CalendarStream {
    let chunk = pb::CalendarChunk {
        data: text.into_bytes(),
    };
    Box::pin(tokio_stream::once(Ok(chunk)))
}

pub(super) type CalendarStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::CalendarChunk, Status>> + Send>>;

fn non_empty(s: String) -> Option<String> {
    let s = s.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn time(
    v: &mut Violations,
    field: &str,
    t: &Option<prost_types::Timestamp>,
) -> Option<NaiveDateTime> {
    let t = t.as_ref()?;
    let at = from_timestamp(t);
    if at.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    at
}

fn required_time(
    v: &mut Violations,
    field: &str,
    at: Option<NaiveDateTime>,
) -> Option<NaiveDateTime> {
    if at.is_none() {
        v.add(field, "is required");
    }
    at
}

/// The schedule fields named in `paths`, each checked on its own (the rules between them are
/// the domain's).
fn schedule_fields(v: &mut Violations, s: &pb::Session, paths: &[&str]) -> ScheduleChanges {
    let mut changes = ScheduleChanges::default();
    for path in paths {
        match *path {
            "start_time" => changes.start_at = time(v, "session.start_time", &s.start_time),
            "end_time" => changes.end_at = time(v, "session.end_time", &s.end_time),
            "time_zone" => {
                v.required_text("session.time_zone", &s.time_zone, 64);
                changes.time_zone = Some(s.time_zone.trim().to_string());
            }
            "location" => {
                v.max_text("session.location", &s.location, 500);
                changes.location = Some(s.location.trim().to_string());
            }
            "meeting_url" => {
                if !s.meeting_url.trim().is_empty() {
                    v.url("session.meeting_url", s.meeting_url.trim(), 2048);
                }
                changes.meeting_url = Some(s.meeting_url.trim().to_string());
            }
            "capacity" => changes.capacity = Some(s.capacity),
            "instructors" => {
                if s.instructors.len() > MAX_INSTRUCTORS {
                    v.add(
                        "session.instructors",
                        format!("at most {MAX_INSTRUCTORS} instructors"),
                    );
                }
                let mut instructors = Vec::new();
                for (i, subject) in s.instructors.iter().enumerate() {
                    v.required_text(&format!("session.instructors[{i}]"), subject, 128);
                    let subject = subject.trim().to_string();
                    if !instructors.contains(&subject) {
                        instructors.push(subject);
                    }
                }
                changes.instructors = Some(instructors);
            }
            "booking_deadline" => {
                changes.booking_deadline =
                    Some(time(v, "session.booking_deadline", &s.booking_deadline))
            }
            "cancellation_deadline" => {
                changes.cancellation_deadline = Some(time(
                    v,
                    "session.cancellation_deadline",
                    &s.cancellation_deadline,
                ))
            }
            _ => {}
        }
    }
    changes
}

fn attendance_status(v: &mut Violations, field: &str, value: i32) -> Option<AttendanceStatus> {
    match pb::AttendanceStatus::try_from(value) {
        Ok(pb::AttendanceStatus::Attended) => Some(AttendanceStatus::Attended),
        Ok(pb::AttendanceStatus::PartiallyAttended) => Some(AttendanceStatus::PartiallyAttended),
        Ok(pb::AttendanceStatus::Absent) => Some(AttendanceStatus::Absent),
        Ok(pb::AttendanceStatus::NoShow) => Some(AttendanceStatus::NoShow),
        _ => {
            v.add(
                field,
                "must be ATTENDED, PARTIALLY_ATTENDED, ABSENT or NO_SHOW",
            );
            None
        }
    }
}

fn status_message(s: AttendanceStatus) -> pb::AttendanceStatus {
    match s {
        AttendanceStatus::Attended => pb::AttendanceStatus::Attended,
        AttendanceStatus::PartiallyAttended => pb::AttendanceStatus::PartiallyAttended,
        AttendanceStatus::Absent => pb::AttendanceStatus::Absent,
        AttendanceStatus::NoShow => pb::AttendanceStatus::NoShow,
    }
}

fn booking(view: BookingView) -> pb::Booking {
    let b = view.booking;
    pb::Booking {
        id: b.id,
        session_id: b.session_id,
        enrolment_id: b.enrolment_id,
        learner: b.learner,
        state: booking_state(b.state) as i32,
        waitlist_position: b.waitlist_position,
        booked_by: b.booked_by,
        book_time: Some(timestamp(b.booked_at)),
        override_reason: b.override_reason,
        cancel_time: b.cancelled_at.map(timestamp),
        cancel_reason: b.cancel_reason,
        attendance: b
            .attendance
            .map_or(pb::AttendanceStatus::Unspecified, status_message) as i32,
        session: Some(session_message(&view.session)),
    }
}

fn entry(e: AttendanceEntry) -> pb::AttendanceEntry {
    pb::AttendanceEntry {
        id: e.id,
        session_id: e.session_id,
        booking_id: e.booking_id,
        learner: e.learner,
        status: status_message(e.status) as i32,
        reason: e.reason,
        marked_by: e.marked_by,
        mark_time: Some(timestamp(e.marked_at)),
        corrects_entry_id: e.corrects,
    }
}
