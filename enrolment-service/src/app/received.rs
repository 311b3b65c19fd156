//! Applying records-service's events, exactly once.

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};
use lms_platform::inbox::{self, Delivered, EventError, Outcome};
use lms_platform::outbox;
use lms_platform::resource::{Audit, now};
use lms_platform::{AppError, AppResult};

use super::EnrolmentApp;
use super::reconcile::lock_tenant_enrolments;
use crate::domain::enrolment::{Enrolment, Status, Withdrawal};
use crate::domain::person::PersonStatus;
use crate::events::{self, Received};
use crate::storage::enrolments::{self as enrolment_rows, Change};
use crate::storage::{assignments as assignment_rows, people as people_rows};

impl EnrolmentApp {
    /// Applies records-service's events: a learner started (the enrolment has progress, so
    /// removing its assignment keeps it), a recertification window opened (a new enrolment
    /// cycle), and an admin moved a learner to a newer pathway version.
    pub async fn apply_events(&self, events: Vec<Delivered<Received>>) -> AppResult<Outcome> {
        inbox::consume(&self.db, events, apply).await
    }
}

/// Applies one of records-service's events inside its transaction.
fn apply(
    conn: &mut DbConnection,
    tenant: &TenantId,
    received: &Received,
) -> Result<(), EventError> {
    let known =
        |conn: &mut DbConnection, id: &EnrolmentId| match enrolment_rows::get(conn, tenant, id) {
            Ok(enrolment) => Ok(enrolment),
            Err(AppError::NotFound(_)) => {
                Err(EventError::Reject(format!("unknown enrolment {id}")))
            }
            Err(other) => Err(other.into()),
        };
    match received {
        Received::CertificationExpiring {
            enrolment_id,
            expires_at,
        } => {
            let previous = known(conn, enrolment_id)?;
            start_recertification(conn, tenant, previous, *expires_at)?;
        }
        Received::VersionMoved {
            enrolment_id,
            pathway_id,
            to_version,
            actor,
        } => {
            known(conn, enrolment_id)?;
            let change = Change { at: now(), actor };
            if enrolment_rows::move_to_version(conn, tenant, enrolment_id, *to_version, &change)? {
                assignment_rows::set_pathway_version(conn, tenant, pathway_id, *to_version)?;
                let events =
                    enrolment_rows::by_ids(conn, tenant, std::slice::from_ref(enrolment_id))?
                        .iter()
                        .map(events::updated)
                        .collect();
                outbox::enqueue(conn, tenant, events)?;
            }
        }
        Received::Started { enrolment_id, at } => {
            known(conn, enrolment_id)?;
            enrolment_rows::mark_started(conn, tenant, enrolment_id, *at)?;
        }
    }
    Ok(())
}

/// A certification's recertification window opened: the enrolment that earned it is closed
/// (kept as a record) and a new cycle starts, due when the certification expires, on the
/// newest version this service knows. Nothing happens when a newer cycle exists already or the
/// person has left.
fn start_recertification(
    conn: &mut DbConnection,
    tenant: &TenantId,
    previous: Enrolment,
    due_at: Option<NaiveDateTime>,
) -> AppResult<()> {
    lock_tenant_enrolments(conn, tenant)?;
    if let Some(current) =
        enrolment_rows::current(conn, tenant, &previous.learner, &previous.pathway_id)?
        && current.id != previous.id
    {
        return Ok(());
    }
    let person = people_rows::key_facts_by_external_id(conn, tenant, &previous.learner)?;
    if !matches!(person, Some((_, PersonStatus::Active))) {
        return Ok(());
    }
    let at = now();
    let actor = "records-service";
    let mut events = Vec::new();
    if previous.status != Status::Withdrawn {
        enrolment_rows::withdraw(
            conn,
            tenant,
            std::slice::from_ref(&previous.id),
            Withdrawal::Recertification,
            "closed: a recertification cycle started",
            &Change { at, actor },
        )?;
        events.extend(
            enrolment_rows::by_ids(conn, tenant, std::slice::from_ref(&previous.id))?
                .iter()
                .map(events::withdrawn),
        );
    }
    let version = assignment_rows::latest_version(conn, tenant, &previous.pathway_id)?
        .unwrap_or(previous.pathway_version)
        .max(previous.pathway_version);
    let next = Enrolment {
        id: EnrolmentId::generate(),
        pathway_version: version,
        requirement: crate::domain::assignment::Requirement::Mandatory,
        status: Status::Active,
        assigned_at: at,
        due_at,
        started_at: None,
        withdrawn_at: None,
        withdrawal: None,
        withdraw_reason: String::new(),
        due_changes: Vec::new(),
        revision: 1,
        audit: Audit::new(actor),
        ..previous
    };
    enrolment_rows::insert_many(conn, tenant, std::slice::from_ref(&next))?;
    events.push(events::created(&next));
    outbox::enqueue(conn, tenant, events)?;
    Ok(())
}
