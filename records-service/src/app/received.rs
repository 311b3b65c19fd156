//! Applying what other services told records-service, exactly once: enrolments (the
//! projection) and assessment results (activities on assessment steps).

use lms_platform::ids::{PathwayId, TenantId};
use std::collections::{BTreeMap, BTreeSet};

use lms_platform::db::DbConnection;
use lms_platform::inbox::{self, Delivered, EventError, Outcome};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult};

use super::bookings::{lock_sessions_of, release_ended};
use super::learner_statements::record_activity;
use super::progress::follow_up;
use super::{RecordsApp, lock_enrolment, view};
use crate::domain::activity::{Activity, ActivityKind, ActivitySource, AssessmentResult};
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};
use crate::domain::progress::{StepReason, StepState};
use crate::events::Received;
use crate::storage::{enrolments, versions};

impl RecordsApp {
    /// Applies delivered events exactly once. Enrolment events first make sure their pathway
    /// version is cached (asking pathway-service outside any transaction); an event that
    /// cannot be applied yet (its enrolment not known here yet, pathway-service down) is left
    /// for the dispatcher to retry, never dropped.
    pub async fn apply_events(&self, events: Vec<Delivered<Received>>) -> AppResult<Outcome> {
        // Role bindings changed: the decision point forgets the principal (idempotent, no row).
        let (changes, events): (Vec<_>, Vec<_>) = events
            .into_iter()
            .partition(|e| matches!(e.payload, Ok(Received::BindingsChanged(_))));
        let mut forgotten = Vec::new();
        for change in changes {
            if let (Some(tenant), Ok(Received::BindingsChanged(principal))) =
                (&change.tenant_id, &change.payload)
            {
                self.access.forget(tenant, principal).await;
                forgotten.push(change.id);
            }
        }
        let mut outcome = self.apply_stored(events).await?;
        outcome.acknowledged.extend(forgotten);
        Ok(outcome)
    }

    async fn apply_stored(&self, events: Vec<Delivered<Received>>) -> AppResult<Outcome> {
        let mut wanted: BTreeSet<(TenantId, PathwayId, i32)> = BTreeSet::new();
        for event in &events {
            if let (Some(tenant), Ok(Received::Enrolment(e))) = (&event.tenant_id, &event.payload) {
                wanted.insert((tenant.clone(), e.pathway_id.clone(), e.pathway_version));
            }
        }
        for (tenant, pathway_id, version) in wanted {
            // Its events stay unacknowledged and come back.
            if let Err(error) = self.cached_version(&tenant, &pathway_id, version).await {
                tracing::warn!(%error, pathway = %pathway_id, version, "pathway version not cached");
            }
        }
        inbox::consume_batch(&self.db, events, apply_all, apply).await
    }
}

/// A delivery's new events in order, in one transaction (see `inbox::consume_batch`): runs of
/// enrolment events in bulk — each pathway version checked once, the enrolments upserted in a
/// few statements per tenant — and assessment results one by one. Any failure sends the
/// delivery the event-by-event way.
fn apply_all(conn: &mut DbConnection, events: &[(TenantId, Received)]) -> Result<(), EventError> {
    // The sessions every withdrawal gives seats up on are locked before anything is written:
    // the order (sessions, then enrolments) every booking and attendance mark keeps.
    let mut withdrawn: BTreeMap<&TenantId, Vec<&str>> = BTreeMap::new();
    for (tenant, received) in events {
        if let Received::Enrolment(enrolment) = received
            && enrolment.status == EnrolmentStatus::Withdrawn
        {
            withdrawn
                .entry(tenant)
                .or_default()
                .push(enrolment.id.as_str());
        }
    }
    for (tenant, ids) in withdrawn {
        lock_sessions_of(conn, tenant, &ids)?;
    }
    let mut run: Vec<(&TenantId, &Enrolment)> = Vec::new();
    for (tenant, received) in events {
        match received {
            Received::Enrolment(enrolment) => run.push((tenant, enrolment)),
            Received::AssessmentResult(result) => {
                apply_enrolments(conn, &run)?;
                run.clear();
                apply_result(conn, tenant, result)?;
            }
            // Taken out before the inbox (`apply_events`).
            Received::BindingsChanged(_) => {}
        }
    }
    apply_enrolments(conn, &run)
}

fn apply_enrolments(
    conn: &mut DbConnection,
    run: &[(&TenantId, &Enrolment)],
) -> Result<(), EventError> {
    let mut checked: BTreeSet<(&TenantId, &PathwayId, i32)> = BTreeSet::new();
    let mut by_tenant: BTreeMap<&TenantId, Vec<Enrolment>> = BTreeMap::new();
    for &(tenant, enrolment) in run {
        let version = (tenant, &enrolment.pathway_id, enrolment.pathway_version);
        if checked.insert(version)
            && !versions::exists(
                conn,
                tenant,
                &enrolment.pathway_id,
                enrolment.pathway_version,
            )?
        {
            return Err(EventError::Retry(AppError::Unavailable(
                "the pathway version is not cached yet".into(),
            )));
        }
        by_tenant.entry(tenant).or_default().push(enrolment.clone());
    }
    for (tenant, batch) in by_tenant {
        enrolments::upsert_all(conn, tenant, &batch)?;
        release_withdrawn(conn, tenant, &batch)?;
    }
    Ok(())
}

/// A withdrawn enrolment gives up its seats and waitlist places on training sessions.
fn release_withdrawn(
    conn: &mut DbConnection,
    tenant: &TenantId,
    changed: &[Enrolment],
) -> AppResult<()> {
    let mut ended: Vec<&str> = Vec::new();
    for enrolment in changed {
        // As stored: a late, older "withdrawn" revision does not end a reactivated enrolment.
        if enrolment.status == EnrolmentStatus::Withdrawn
            && enrolments::get(conn, tenant, &enrolment.id)?.status == EnrolmentStatus::Withdrawn
        {
            ended.push(enrolment.id.as_str());
        }
    }
    if ended.is_empty() {
        return Ok(());
    }
    release_ended(conn, tenant, &ended)
}

/// Applies one event inside its transaction (see `inbox::consume`).
fn apply(
    conn: &mut DbConnection,
    tenant: &TenantId,
    received: &Received,
) -> Result<(), EventError> {
    match received {
        Received::AssessmentResult(result) => apply_result(conn, tenant, result),
        Received::BindingsChanged(_) => Ok(()),
        Received::Enrolment(enrolment) => {
            if !versions::exists(
                conn,
                tenant,
                &enrolment.pathway_id,
                enrolment.pathway_version,
            )? {
                return Err(EventError::Retry(AppError::Unavailable(
                    "the pathway version is not cached yet".into(),
                )));
            }
            if enrolment.status == EnrolmentStatus::Withdrawn {
                lock_sessions_of(conn, tenant, &[enrolment.id.as_str()])?;
            }
            enrolments::upsert(conn, tenant, enrolment)?;
            release_withdrawn(conn, tenant, std::slice::from_ref(enrolment))?;
            Ok(())
        }
    }
}

/// An assessment result: recorded on the assessment step of the learner's enrolment, which it
/// completes when the assessment's result passes. Kept for a retry when the enrolment has not
/// arrived here yet.
fn apply_result(
    conn: &mut DbConnection,
    tenant: &TenantId,
    result: &AssessmentResult,
) -> Result<(), EventError> {
    let Some(enrolment) = enrolments::current(conn, tenant, &result.learner, &result.pathway_id)?
    else {
        return Err(EventError::Retry(AppError::Unavailable(format!(
            "no enrolment of {} in pathway {} yet",
            result.learner, result.pathway_id
        ))));
    };
    lock_enrolment(conn, tenant, &enrolment.id)?;
    let before = view(conn, tenant, enrolment.clone())?;
    let Some(step_id) = before
        .pathway
        .assessment_step(&result.step_id, &result.assessment_id)
        .map(|s| s.id.clone())
    else {
        return Err(EventError::Reject(format!(
            "step {:?} is not in pathway {} version {}",
            result.step_id, before.pathway.pathway_id, before.pathway.version
        )));
    };
    let first = !before.any_activity;
    let at = now();
    let step = before.progress.step(&step_id);
    // A pass completes only a step the learner may take now (or whose attempts a regrade
    // reopened): never one still locked or on an enrolment that is on hold. assessment-service
    // asks the same question before an attempt starts, so this guards against races only.
    let may_complete = step.is_some_and(|s| match s.state {
        StepState::Available => true,
        StepState::Blocked => matches!(s.reason, Some(StepReason::AttemptsUsed(_))),
        StepState::Locked | StepState::Waiting | StepState::Completed => false,
    });
    let completes = result.result_passed && may_complete;
    let mut note = format!("attempt {} ({})", result.attempt_number, result.attempt_id);
    if let Some(step) = step
        && result.result_passed
        && !may_complete
        && step.state != StepState::Completed
    {
        note.push_str(&format!(
            "; passed, but not counted: {}",
            step.reason
                .as_ref()
                .map(StepReason::text)
                .unwrap_or_default()
        ));
    }
    let kind = if completes {
        ActivityKind::StepCompleted
    } else if result.passed {
        ActivityKind::StepStarted
    } else {
        ActivityKind::StepFailed
    };
    record_activity(
        conn,
        tenant,
        &enrolment,
        &Activity {
            score: result.score,
            max_score: result.max_score,
            attempt_number: result.attempt_number,
            max_attempts: result.max_attempts,
            note,
            ..Activity::new(
                enrolment.id.clone(),
                step_id,
                kind,
                ActivitySource::AssessmentOutcome,
                "assessment-service".into(),
                at,
            )
        },
    )?;
    follow_up(conn, tenant, &enrolment, first, at)?;
    Ok(())
}
