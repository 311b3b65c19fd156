//! The events this service writes to its outbox, each with the enrolment as it is after the
//! change (without its due-date history), for records-service.

use lms_platform::outbox::NewEvent;
use lms_proto::enrolment_v1 as pb;

use crate::domain::enrolment::Enrolment;
use crate::grpc::convert;

pub fn created(enrolment: &Enrolment) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentCreated {
            enrolment: Some(convert::enrolment(enrolment.clone())),
        },
    )
}

pub fn updated(enrolment: &Enrolment) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentUpdated {
            enrolment: Some(convert::enrolment(enrolment.clone())),
        },
    )
}

pub fn withdrawn(enrolment: &Enrolment) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentWithdrawn {
            enrolment: Some(convert::enrolment(enrolment.clone())),
        },
    )
}
