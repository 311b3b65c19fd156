//! The events notification-service reads: every event the suite publishes, for webhooks; and
//! among them enrolments from enrolment-service, completions and certifications from
//! records-service, for the notifications they call for.

pub mod cloudevent;

use chrono::NaiveDateTime;
use lms_platform::inbox::decode;
use lms_platform::resource::{from_timestamp, revision_of_etag};
use lms_proto::assessment_v1 as assessment_pb;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::events_v1 as events_pb;
use lms_proto::records_v1 as records_pb;
use prost::Name;

/// Every event type the suite publishes (docs/events.md), by full name: what webhooks may
/// subscribe to.
pub fn published() -> Vec<String> {
    vec![
        enrolment_pb::EnrolmentCreated::full_name(),
        enrolment_pb::EnrolmentUpdated::full_name(),
        enrolment_pb::EnrolmentWithdrawn::full_name(),
        enrolment_pb::EnrolmentStarted::full_name(),
        enrolment_pb::RoleBindingChanged::full_name(),
        assessment_pb::AssessmentOutcome::full_name(),
        records_pb::EnrolmentCompleted::full_name(),
        records_pb::CertificationIssued::full_name(),
        records_pb::CertificationExpiring::full_name(),
        records_pb::CertificationExpired::full_name(),
        records_pb::EnrolmentVersionMoved::full_name(),
        records_pb::BookingChanged::full_name(),
    ]
}

/// The event types notification-service subscribes to: all of them (what [`read_event`]
/// reads).
pub fn consumed() -> Vec<String> {
    published()
        .into_iter()
        .map(|name| format!("type.googleapis.com/{name}"))
        .collect()
}

/// An event as it arrived: its envelope and payload (what webhooks carry), and what it means
/// for people's notifications, when it means anything.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub id: String,
    /// The full message name, e.g. `lms.enrolment.v1.EnrolmentCreated`.
    pub event_type: String,
    pub aggregate_id: String,
    pub occurred_at: NaiveDateTime,
    pub payload: Vec<u8>,
    pub received: Option<Received>,
}

/// Reads a delivered event; Err says why it can never be applied.
pub fn read_event(event: &events_pb::Event) -> Result<Incoming, String> {
    let any = event.payload.as_ref().ok_or("event without payload")?;
    let event_type = any
        .type_url
        .strip_prefix("type.googleapis.com/")
        .filter(|name| published().iter().any(|p| p == name))
        .ok_or_else(|| format!("unknown event type {}", any.type_url))?
        .to_string();
    let received = if event_type == assessment_pb::AssessmentOutcome::full_name() {
        graded(any)?
    } else if NOTIFYING.iter().any(|name| name == &event_type) {
        Some(read(any)?)
    } else {
        None
    };
    Ok(Incoming {
        id: event.id.clone(),
        event_type,
        aggregate_id: event.aggregate_id.clone(),
        occurred_at: event
            .occur_time
            .as_ref()
            .and_then(from_timestamp)
            .ok_or("event without occur_time")?,
        payload: any.value.clone(),
        received,
    })
}

/// An attempt's outcome calls for a notification when a person graded it.
fn graded(any: &prost_types::Any) -> Result<Option<Received>, String> {
    let outcome: assessment_pb::AssessmentOutcome = decode(any)?;
    if !outcome.graded_by_person {
        return Ok(None);
    }
    Ok(Some(Received::Graded {
        at: outcome
            .grade_time
            .as_ref()
            .and_then(from_timestamp)
            .ok_or("AssessmentOutcome without grade_time")?,
        attempt_id: outcome.attempt_id,
        learner: outcome.learner,
        pathway_id: outcome.pathway_id,
        score: outcome.score,
        max_score: outcome.max_score,
        passed: outcome.passed,
    }))
}

/// The types that call for notifications to people (what [`read`] reads).
const NOTIFYING: &[&str] = &[
    "lms.enrolment.v1.EnrolmentCreated",
    "lms.enrolment.v1.EnrolmentUpdated",
    "lms.enrolment.v1.EnrolmentWithdrawn",
    "lms.records.v1.EnrolmentCompleted",
    "lms.records.v1.CertificationIssued",
    "lms.records.v1.CertificationExpiring",
    "lms.records.v1.CertificationExpired",
    "lms.records.v1.BookingChanged",
];

/// An enrolment as enrolment-service says it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrolmentFacts {
    pub id: String,
    pub person_id: String,
    pub learner: String,
    pub pathway_id: String,
    pub mandatory: bool,
    /// Assigned to the learner (by an assignment or an admin), not chosen by them.
    pub assigned: bool,
    pub due_at: Option<NaiveDateTime>,
    pub status: EnrolmentStatus,
    pub revision: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrolmentStatus {
    Active,
    Suspended,
    Withdrawn,
}

/// A certification as records-service announces it.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificationFacts {
    pub id: String,
    pub learner: String,
    pub pathway_id: String,
    pub enrolment_id: String,
    pub expires_at: Option<NaiveDateTime>,
}

/// What happened to a learner's seat on a training session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingChange {
    Booked,
    Waitlisted,
    Promoted,
    Cancelled,
    SessionCancelled,
    SessionChanged,
}

/// A booking as records-service announces its change, with its session.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingFacts {
    pub booking_id: String,
    pub learner: String,
    pub enrolment_id: String,
    pub pathway_id: String,
    pub change: BookingChange,
    /// The session's revision: each change of a session is news once.
    pub session_etag: String,
    pub session_title: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub time_zone: String,
    pub location: String,
    pub meeting_url: String,
    pub reason: String,
}

/// What another service told notification-service.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// Created (`created`), updated or withdrawn.
    Enrolment {
        enrolment: EnrolmentFacts,
        created: bool,
    },
    Completed {
        enrolment_id: String,
        learner: String,
        pathway_id: String,
        at: NaiveDateTime,
    },
    CertificationIssued(CertificationFacts),
    CertificationExpiring(CertificationFacts),
    CertificationExpired(CertificationFacts),
    Booking(BookingFacts),
    /// A person graded an attempt's last essay.
    Graded {
        attempt_id: String,
        learner: String,
        pathway_id: String,
        score: f64,
        max_score: f64,
        passed: bool,
        at: NaiveDateTime,
    },
}

/// Reads a delivered payload; Err says why it can never be applied.
pub fn read(any: &prost_types::Any) -> Result<Received, String> {
    let type_url = any.type_url.as_str();
    if type_url == records_pb::BookingChanged::type_url() {
        return booking(decode(any)?).map(Received::Booking);
    }
    if type_url == records_pb::EnrolmentCompleted::type_url() {
        let done: records_pb::EnrolmentCompleted = decode(any)?;
        return Ok(Received::Completed {
            at: done
                .complete_time
                .as_ref()
                .and_then(from_timestamp)
                .ok_or("EnrolmentCompleted without complete_time")?,
            enrolment_id: done.enrolment_id,
            learner: done.learner,
            pathway_id: done.pathway_id,
        });
    }
    if type_url == records_pb::CertificationIssued::type_url() {
        let issued: records_pb::CertificationIssued = decode(any)?;
        return Ok(Received::CertificationIssued(CertificationFacts {
            expires_at: issued.expire_time.as_ref().and_then(from_timestamp),
            id: issued.certification_id,
            learner: issued.learner,
            pathway_id: issued.pathway_id,
            enrolment_id: issued.enrolment_id,
        }));
    }
    if type_url == records_pb::CertificationExpired::type_url() {
        let expired: records_pb::CertificationExpired = decode(any)?;
        return Ok(Received::CertificationExpired(CertificationFacts {
            expires_at: expired.expire_time.as_ref().and_then(from_timestamp),
            id: expired.certification_id,
            learner: expired.learner,
            pathway_id: expired.pathway_id,
            enrolment_id: expired.enrolment_id,
        }));
    }
    if type_url == records_pb::CertificationExpiring::type_url() {
        let expiring: records_pb::CertificationExpiring = decode(any)?;
        return Ok(Received::CertificationExpiring(CertificationFacts {
            expires_at: expiring.expire_time.as_ref().and_then(from_timestamp),
            id: expiring.certification_id,
            learner: expiring.learner,
            pathway_id: expiring.pathway_id,
            enrolment_id: expiring.enrolment_id,
        }));
    }
    let (enrolment, created) = if type_url == enrolment_pb::EnrolmentCreated::type_url() {
        (
            decode::<enrolment_pb::EnrolmentCreated>(any)?.enrolment,
            true,
        )
    } else if type_url == enrolment_pb::EnrolmentUpdated::type_url() {
        (
            decode::<enrolment_pb::EnrolmentUpdated>(any)?.enrolment,
            false,
        )
    } else if type_url == enrolment_pb::EnrolmentWithdrawn::type_url() {
        (
            decode::<enrolment_pb::EnrolmentWithdrawn>(any)?.enrolment,
            false,
        )
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
    let revision = revision_of_etag(&e.etag)
        .ok_or_else(|| format!("enrolment {} with an unreadable etag", e.id))?;
    Ok(Received::Enrolment {
        enrolment: EnrolmentFacts {
            mandatory: e.requirement == enrolment_pb::Requirement::Mandatory as i32,
            assigned: e.source != enrolment_pb::EnrolmentSource::Self_ as i32,
            due_at: e.due_time.as_ref().and_then(from_timestamp),
            id: e.id,
            person_id: e.person_id,
            learner: e.learner,
            pathway_id: e.pathway_id,
            status,
            revision,
        },
        created,
    })
}

fn booking(changed: records_pb::BookingChanged) -> Result<BookingFacts, String> {
    use records_pb::BookingChange as Pb;
    let change = match Pb::try_from(changed.change) {
        Ok(Pb::SeatBooked) => BookingChange::Booked,
        Ok(Pb::PutOnWaitlist) => BookingChange::Waitlisted,
        Ok(Pb::Promoted) => BookingChange::Promoted,
        Ok(Pb::CancelledByPerson) => BookingChange::Cancelled,
        Ok(Pb::SessionWasCancelled) => BookingChange::SessionCancelled,
        Ok(Pb::SessionWasChanged) => BookingChange::SessionChanged,
        _ => return Err(format!("booking {} without a change", changed.booking_id)),
    };
    let session = changed
        .session
        .ok_or_else(|| format!("booking {} without its session", changed.booking_id))?;
    let time = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .and_then(from_timestamp)
            .ok_or_else(|| format!("session {} without its times", session.id))
    };
    Ok(BookingFacts {
        booking_id: changed.booking_id,
        learner: changed.learner,
        enrolment_id: changed.enrolment_id,
        pathway_id: session.pathway_id.clone(),
        change,
        start_at: time(&session.start_time)?,
        end_at: time(&session.end_time)?,
        session_etag: session.etag,
        session_title: session.step_title,
        time_zone: session.time_zone,
        location: session.location,
        meeting_url: session.meeting_url,
        reason: changed.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn outcome(graded_by_person: bool) -> events_pb::Event {
        let outcome = assessment_pb::AssessmentOutcome {
            attempt_id: "a1".into(),
            learner: "ada".into(),
            score: 3.0,
            max_score: 4.0,
            passed: true,
            grade_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            graded_by_person,
            ..Default::default()
        };
        events_pb::Event {
            id: "e1".into(),
            tenant_id: "acme".into(),
            aggregate_id: "a1".into(),
            payload: Some(prost_types::Any {
                type_url: assessment_pb::AssessmentOutcome::type_url(),
                value: outcome.encode_to_vec(),
            }),
            occur_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            traceparent: String::new(),
        }
    }

    #[test]
    fn only_an_outcome_a_person_graded_calls_for_a_notification() {
        let automatic = read_event(&outcome(false)).unwrap();
        assert_eq!(automatic.event_type, "lms.assessment.v1.AssessmentOutcome");
        assert_eq!(automatic.received, None, "still read, for webhooks");
        let by_person = read_event(&outcome(true)).unwrap();
        assert!(matches!(
            by_person.received,
            Some(Received::Graded { passed: true, .. })
        ));
    }

    #[test]
    fn an_unpublished_type_is_refused() {
        let mut event = outcome(true);
        event.payload.as_mut().unwrap().type_url = "type.googleapis.com/lms.x.v1.Nope".into();
        assert!(
            read_event(&event)
                .unwrap_err()
                .contains("unknown event type")
        );
    }
}
