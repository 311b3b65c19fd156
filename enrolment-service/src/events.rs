//! The events enrolment-service writes to its outbox (each enrolment as it is after the
//! change, for records-service) and the ones it reads (records-service's: a learner started,
//! a recertification window opened, an enrolment moved to a newer version). An enrolment's
//! wire form is defined here, where its events need it; responses use it too.

use chrono::NaiveDateTime;
use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::inbox::decode;
use lms_platform::outbox::NewEvent;
use lms_platform::resource::{etag, from_timestamp, timestamp};
use lms_proto::enrolment_v1 as pb;
use lms_proto::records_v1 as records_pb;
use prost::Name;

use crate::domain::assignment::Requirement;
use crate::domain::enrolment::{Enrolment, Source, Status, Withdrawal};
use crate::domain::role_binding::RoleBinding;

pub fn created(enrolment: &Enrolment) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentCreated {
            enrolment: Some(self::enrolment(enrolment.clone())),
        },
    )
}

pub fn updated(enrolment: &Enrolment) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentUpdated {
            enrolment: Some(self::enrolment(enrolment.clone())),
        },
    )
}

pub fn withdrawn(enrolment: &Enrolment) -> NewEvent {
    NewEvent::new(
        enrolment.id.clone(),
        &pb::EnrolmentWithdrawn {
            enrolment: Some(self::enrolment(enrolment.clone())),
        },
    )
}

/// A role binding created or deleted: every service's decision point forgets the principal.
pub fn role_binding_changed(binding: &RoleBinding, deleted: bool) -> NewEvent {
    NewEvent::new(
        binding.id.clone(),
        &pb::RoleBindingChanged {
            role_binding: Some(role_binding(binding.clone())),
            deleted,
        },
    )
}

/// A binding's wire form (responses and events).
pub fn role_binding(binding: RoleBinding) -> pb::RoleBinding {
    pb::RoleBinding {
        id: binding.id,
        principal: binding.principal,
        role: lms_platform::access::role_message(binding.role) as i32,
        scope: Some(lms_platform::access::scope_message(&binding.scope)),
        create_time: Some(timestamp(binding.created_at)),
        created_by: binding.created_by,
    }
}

/// What records-service told enrolment-service.
#[derive(Debug, Clone)]
pub enum Received {
    /// The learner's first activity: a started enrolment outlives its assignment.
    Started {
        enrolment_id: EnrolmentId,
        at: NaiveDateTime,
    },
    /// The certification earned by this enrolment enters its recertification window.
    CertificationExpiring {
        enrolment_id: EnrolmentId,
        expires_at: Option<NaiveDateTime>,
    },
    /// An admin moved the enrolment to a newer version of its pathway.
    VersionMoved {
        enrolment_id: EnrolmentId,
        pathway_id: PathwayId,
        to_version: i32,
        actor: String,
    },
}

/// The event types enrolment-service subscribes to (what [`read`] reads).
pub fn consumed() -> Vec<String> {
    vec![
        pb::EnrolmentStarted::type_url(),
        records_pb::CertificationExpiring::type_url(),
        records_pb::EnrolmentVersionMoved::type_url(),
    ]
}

/// Reads a delivered payload; Err says why it can never be applied.
pub fn read(any: &prost_types::Any) -> Result<Received, String> {
    let type_url = any.type_url.as_str();
    if type_url == records_pb::CertificationExpiring::type_url() {
        let expiring: records_pb::CertificationExpiring = decode(any)?;
        return Ok(Received::CertificationExpiring {
            enrolment_id: expiring.enrolment_id.into(),
            expires_at: expiring.expire_time.as_ref().and_then(from_timestamp),
        });
    }
    if type_url == records_pb::EnrolmentVersionMoved::type_url() {
        let moved: records_pb::EnrolmentVersionMoved = decode(any)?;
        return Ok(Received::VersionMoved {
            enrolment_id: moved.enrolment_id.into(),
            pathway_id: moved.pathway_id.into(),
            to_version: moved.to_version,
            actor: moved.actor,
        });
    }
    let started: pb::EnrolmentStarted = decode(any)?;
    let at = started
        .start_time
        .as_ref()
        .and_then(from_timestamp)
        .ok_or("EnrolmentStarted without start_time")?;
    Ok(Received::Started {
        enrolment_id: started.enrolment_id.into(),
        at,
    })
}

pub fn enrolment(e: Enrolment) -> pb::Enrolment {
    pb::Enrolment {
        etag: etag(e.revision),
        audit: Some(e.audit.to_proto()),
        id: e.id.into(),
        person_id: e.person_id.into(),
        learner: e.learner,
        pathway_id: e.pathway_id.into(),
        pathway_version: e.pathway_version,
        source: match e.source {
            Source::Assignment => pb::EnrolmentSource::Assignment,
            Source::SelfEnrolled => pb::EnrolmentSource::Self_,
            Source::Admin => pb::EnrolmentSource::Admin,
        } as i32,
        assignment_id: e.assignment_id,
        requirement: requirement(e.requirement) as i32,
        status: match e.status {
            Status::Active => pb::EnrolmentStatus::EnrolmentActive,
            Status::Suspended => pb::EnrolmentStatus::EnrolmentSuspended,
            Status::Withdrawn => pb::EnrolmentStatus::EnrolmentWithdrawn,
        } as i32,
        assign_time: Some(timestamp(e.assigned_at)),
        due_time: e.due_at.map(timestamp),
        start_time: e.started_at.map(timestamp),
        withdraw_time: e.withdrawn_at.map(timestamp),
        withdrawal: match e.withdrawal {
            None => pb::Withdrawal::Unspecified,
            Some(Withdrawal::ByAdmin) => pb::Withdrawal::ByAdmin,
            Some(Withdrawal::AssignmentRemoved) => pb::Withdrawal::AssignmentRemoved,
            Some(Withdrawal::LeftTarget) => pb::Withdrawal::LeftTarget,
            Some(Withdrawal::Recertification) => pb::Withdrawal::Recertification,
        } as i32,
        withdraw_reason: e.withdraw_reason,
        due_changes: e
            .due_changes
            .into_iter()
            .map(|c| pb::DueDateChange {
                previous_due_time: c.previous_due_at.map(timestamp),
                due_time: Some(timestamp(c.due_at)),
                reason: c.reason,
                actor: c.actor,
                change_time: Some(timestamp(c.changed_at)),
            })
            .collect(),
    }
}

/// A requirement as the wire says it.
pub fn requirement(r: Requirement) -> pb::Requirement {
    match r {
        Requirement::Mandatory => pb::Requirement::Mandatory,
        Requirement::Optional => pb::Requirement::Optional,
        Requirement::Open => pb::Requirement::Open,
    }
}
