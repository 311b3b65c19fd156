//! The events records-service reads (enrolment-service's enrolments, assessment-service's
//! results) and writes (a learner started, a recertification window opened, an enrolment moved
//! to a newer version), in their protobuf form.

use chrono::NaiveDateTime;
use lms_platform::inbox::decode;
use lms_platform::outbox::NewEvent;
use lms_platform::resource::{from_timestamp, revision_of_etag, timestamp};
use lms_proto::assessment_v1 as assessment_pb;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::records_v1 as pb;
use prost::Name;

use crate::domain::activity::AssessmentResult;
use crate::domain::certification::Certification;
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};
use crate::domain::session::{Booking, BookingState, Session, SessionState};

/// What another service told records-service.
#[derive(Debug, Clone)]
pub enum Received {
    /// An enrolment as it is now in enrolment-service (created, updated or withdrawn).
    Enrolment(Enrolment),
    AssessmentResult(AssessmentResult),
    /// A principal's role bindings changed: the decision point forgets them (nothing is
    /// stored, so it is applied outside the inbox).
    BindingsChanged(String),
}

/// The event types records-service subscribes to (what [`read`] reads).
pub fn consumed() -> Vec<String> {
    vec![
        enrolment_pb::EnrolmentCreated::type_url(),
        enrolment_pb::EnrolmentUpdated::type_url(),
        enrolment_pb::EnrolmentWithdrawn::type_url(),
        assessment_pb::AssessmentOutcome::type_url(),
        enrolment_pb::RoleBindingChanged::type_url(),
    ]
}

/// Reads a delivered payload; Err says why it can never be applied.
pub fn read(any: &prost_types::Any) -> Result<Received, String> {
    let type_url = any.type_url.as_str();
    if type_url == enrolment_pb::RoleBindingChanged::type_url() {
        return <lms_platform::access::Access as lms_platform::inbox::Consumer>::read(any)
            .map(Received::BindingsChanged);
    }
    if type_url == assessment_pb::AssessmentOutcome::type_url() {
        let outcome: assessment_pb::AssessmentOutcome = decode(any)?;
        return Ok(Received::AssessmentResult(AssessmentResult {
            learner: outcome.learner,
            pathway_id: outcome.pathway_id.into(),
            assessment_id: outcome.assessment_id,
            step_id: outcome.step_id,
            attempt_id: outcome.attempt_id,
            attempt_number: outcome.attempt_number,
            max_attempts: outcome.max_attempts,
            score: outcome.score,
            max_score: outcome.max_score,
            passed: outcome.passed,
            result_passed: outcome.result_passed,
        }));
    }
    let enrolment = if type_url == enrolment_pb::EnrolmentCreated::type_url() {
        decode::<enrolment_pb::EnrolmentCreated>(any)?.enrolment
    } else if type_url == enrolment_pb::EnrolmentUpdated::type_url() {
        decode::<enrolment_pb::EnrolmentUpdated>(any)?.enrolment
    } else if type_url == enrolment_pb::EnrolmentWithdrawn::type_url() {
        decode::<enrolment_pb::EnrolmentWithdrawn>(any)?.enrolment
    } else {
        return Err(format!("unknown event type {type_url}"));
    };
    let e = enrolment.ok_or("an enrolment event without its enrolment")?;
    let status = match enrolment_pb::EnrolmentStatus::try_from(e.status) {
        Ok(enrolment_pb::EnrolmentStatus::EnrolmentActive) => EnrolmentStatus::Active,
        Ok(enrolment_pb::EnrolmentStatus::EnrolmentSuspended) => EnrolmentStatus::Suspended,
        Ok(enrolment_pb::EnrolmentStatus::EnrolmentWithdrawn) => EnrolmentStatus::Withdrawn,
        _ => return Err(format!("enrolment {} without a status", e.id)),
    };
    let source_revision = revision_of_etag(&e.etag)
        .ok_or_else(|| format!("enrolment {} without a revision", e.id))?;
    let assigned_at = e
        .assign_time
        .as_ref()
        .and_then(from_timestamp)
        .ok_or_else(|| format!("enrolment {} without assign_time", e.id))?;
    Ok(Received::Enrolment(Enrolment {
        requirement: enrolment_pb::Requirement::try_from(e.requirement)
            .map(|r| r.as_str_name().to_string())
            .unwrap_or_default(),
        due_at: e.due_time.as_ref().and_then(from_timestamp),
        id: e.id.into(),
        learner: e.learner,
        pathway_id: e.pathway_id.into(),
        pathway_version: e.pathway_version,
        status,
        assigned_at,
        completed_at: None,
        source_revision,
    }))
}

/// The learner's first activity on an enrolment: enrolment-service keeps a started enrolment
/// when its assignment goes away.
pub fn enrolment_started(enrolment_id: &str, at: NaiveDateTime) -> NewEvent {
    NewEvent::new(
        enrolment_id,
        &enrolment_pb::EnrolmentStarted {
            enrolment_id: enrolment_id.to_string(),
            start_time: Some(timestamp(at)),
        },
    )
}

/// A certification's recertification window opened: enrolment-service starts the next cycle.
pub fn certification_expiring(certification: &Certification) -> NewEvent {
    NewEvent::new(
        certification.id.clone(),
        &pb::CertificationExpiring {
            certification_id: certification.id.clone(),
            learner: certification.learner.clone(),
            pathway_id: certification.pathway_id.clone().into(),
            enrolment_id: certification.enrolment_id.clone().into(),
            expire_time: certification.expires_at.map(timestamp),
        },
    )
}

/// A certification expired without a newer cycle replacing it.
pub fn certification_expired(certification: &Certification) -> NewEvent {
    NewEvent::new(
        certification.id.clone(),
        &pb::CertificationExpired {
            certification_id: certification.id.clone(),
            learner: certification.learner.clone(),
            pathway_id: certification.pathway_id.clone().into(),
            enrolment_id: certification.enrolment_id.clone().into(),
            expire_time: certification.expires_at.map(timestamp),
        },
    )
}

/// A learner's progress first met their pathway's completion rule.
pub fn enrolment_completed(enrolment: &Enrolment, at: NaiveDateTime) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentCompleted {
            enrolment_id: enrolment.id.clone().into(),
            learner: enrolment.learner.clone(),
            pathway_id: enrolment.pathway_id.clone().into(),
            complete_time: Some(timestamp(at)),
        },
    )
}

/// Completing a certification pathway issued a certification.
pub fn certification_issued(certification: &Certification) -> NewEvent {
    NewEvent::new(
        certification.id.clone(),
        &pb::CertificationIssued {
            certification_id: certification.id.clone(),
            learner: certification.learner.clone(),
            pathway_id: certification.pathway_id.clone().into(),
            enrolment_id: certification.enrolment_id.clone().into(),
            issue_time: Some(timestamp(certification.issued_at)),
            expire_time: certification.expires_at.map(timestamp),
        },
    )
}

/// What an admin's move of an enrolment to a newer pathway version was.
pub struct VersionMoved<'a> {
    pub enrolment_id: &'a str,
    pub pathway_id: &'a str,
    pub from_version: i32,
    pub to_version: i32,
    pub actor: &'a str,
    pub reason: &'a str,
    pub at: NaiveDateTime,
}

/// An enrolment moved to a newer version: enrolment-service shows it on its enrolment.
pub fn version_moved(moved: VersionMoved<'_>) -> NewEvent {
    NewEvent::new(
        moved.enrolment_id,
        &pb::EnrolmentVersionMoved {
            enrolment_id: moved.enrolment_id.to_string(),
            pathway_id: moved.pathway_id.to_string(),
            from_version: moved.from_version,
            to_version: moved.to_version,
            actor: moved.actor.to_string(),
            reason: moved.reason.to_string(),
            move_time: Some(timestamp(moved.at)),
        },
    )
}

/// What happened to a booking, as its learner hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingNews {
    Booked,
    Waitlisted,
    Promoted,
    Cancelled,
    SessionCancelled,
    Moved,
}

/// A booking changed (booked, waitlisted, promoted, cancelled, or its session moved or was
/// cancelled); notification-service tells the learner.
pub fn booking_changed(
    booking: &Booking,
    session: &Session,
    news: BookingNews,
    reason: &str,
) -> NewEvent {
    let change = match news {
        BookingNews::Booked => pb::BookingChange::SeatBooked,
        BookingNews::Waitlisted => pb::BookingChange::PutOnWaitlist,
        BookingNews::Promoted => pb::BookingChange::Promoted,
        BookingNews::Cancelled => pb::BookingChange::CancelledByPerson,
        BookingNews::SessionCancelled => pb::BookingChange::SessionWasCancelled,
        BookingNews::Moved => pb::BookingChange::SessionWasChanged,
    };
    // Per learner and step: a learner's news about one step arrive in order.
    NewEvent::new(
        format!("{}/{}", booking.enrolment_id, booking.step_id),
        &pb::BookingChanged {
            booking_id: booking.id.clone(),
            learner: booking.learner.clone(),
            enrolment_id: booking.enrolment_id.clone(),
            change: change as i32,
            state: booking_state(booking.state) as i32,
            session: Some(session_message(session)),
            pathway_title: session.pathway_title.clone(),
            reason: reason.to_string(),
        },
    )
}

pub fn booking_state(state: BookingState) -> pb::BookingState {
    match state {
        BookingState::Booked => pb::BookingState::Booked,
        BookingState::Waitlisted => pb::BookingState::Waitlisted,
        BookingState::Cancelled => pb::BookingState::BookingCancelled,
    }
}

/// A session in its wire form (the API's and the events').
pub fn session_message(s: &Session) -> pb::Session {
    pb::Session {
        id: s.id.clone(),
        pathway_id: s.pathway_id.to_string(),
        step_id: s.step_id.clone(),
        step_title: s.step_title.clone(),
        start_time: Some(timestamp(s.schedule.start_at)),
        end_time: Some(timestamp(s.schedule.end_at)),
        time_zone: s.schedule.time_zone.clone(),
        location: s.schedule.location.clone(),
        meeting_url: s.schedule.meeting_url.clone(),
        capacity: s.schedule.capacity,
        instructors: s.schedule.instructors.clone(),
        booking_deadline: Some(timestamp(s.schedule.booking_closes())),
        cancellation_deadline: Some(timestamp(s.schedule.cancelling_closes())),
        state: match s.state {
            SessionState::Scheduled => pb::SessionState::Scheduled,
            SessionState::Cancelled => pb::SessionState::SessionCancelled,
        } as i32,
        cancel_reason: s.cancel_reason.clone(),
        booked_count: s.booked_count,
        waitlist_count: s.waitlist_count,
        etag: lms_platform::resource::etag(s.revision),
        create_time: Some(timestamp(s.audit.created_at)),
        created_by: s.audit.created_by.clone(),
        update_time: Some(timestamp(s.audit.updated_at)),
        pathway_title: s.pathway_title.clone(),
    }
}

/// A statement to forward to the tenant's other LRS (`app::xapi_forwarding`): the statement as
/// stored, JSON text.
pub fn statement_stored(statement_id: &str, statement: &str) -> NewEvent {
    NewEvent::new(
        statement_id,
        &lms_proto::xapi_v1::StatementStored {
            statement_id: statement_id.to_string(),
            statement: statement.to_string(),
        },
    )
}
