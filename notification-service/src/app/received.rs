//! Applying the other services' events: following enrolments (their due dates drive the
//! reminders) and deciding the notifications the events themselves call for. Each event is
//! applied exactly once (platform::inbox), and each decision has a dedup key, so a redelivered
//! event tells nobody anything twice.

use chrono::NaiveDateTime;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::inbox::{self, Delivered, EventError, Outcome};
use lms_platform::resource::now;
use serde_json::{Map, Value};

use super::{Decision, NotificationApp, date, decide};
use crate::domain::kind::Kind;
use crate::events::{CertificationFacts, EnrolmentFacts, EnrolmentStatus, Incoming, Received};
use crate::storage::tracked::{self, Tracked};

impl NotificationApp {
    /// Applies a delivery, each event exactly once: the notifications it calls for, and its
    /// webhook deliveries.
    pub async fn apply_events(&self, events: Vec<Delivered<Incoming>>) -> AppResult<Outcome> {
        let app = self.clone();
        inbox::consume(&self.db, events, move |conn, tenant, event| {
            let at = now();
            if let Some(received) = &event.received {
                app.apply_event(conn, tenant, received, at)
                    .map_err(EventError::Retry)?;
            }
            app.enqueue_webhooks(conn, tenant, event, at)
        })
        .await
    }

    /// Applies one event at `at`.
    pub fn apply_event(
        &self,
        conn: &mut DbConnection,
        tenant: &TenantId,
        event: &Received,
        at: NaiveDateTime,
    ) -> AppResult<()> {
        match event {
            Received::Enrolment { enrolment, created } => {
                self.follow(conn, tenant, enrolment, *created, at)
            }
            Received::Completed {
                enrolment_id,
                learner,
                pathway_id,
                at: completed_at,
            } => {
                if let Some(mut row) = tracked::find(conn, tenant, enrolment_id)? {
                    row.state = tracked::COMPLETED.into();
                    row.next_reminder_at = None;
                    tracked::save(conn, &row)?;
                }
                let mut facts = Map::new();
                facts.insert("completed_date".into(), date(*completed_at).into());
                decide(
                    conn,
                    Decision {
                        tenant: tenant.as_str(),
                        kind: Kind::Completed,
                        dedup_key: format!("completed:{enrolment_id}"),
                        learner,
                        for_manager: false,
                        enrolment_id,
                        pathway_id,
                        mandatory: false,
                        facts,
                    },
                    at,
                )?;
                Ok(())
            }
            Received::CertificationIssued(certification) => {
                certified(conn, tenant, certification, Kind::CertificationIssued, at)
            }
            Received::CertificationExpiring(certification) => {
                certified(conn, tenant, certification, Kind::CertificationExpiring, at)
            }
            Received::CertificationExpired(certification) => {
                certified(conn, tenant, certification, Kind::CertificationExpired, at)
            }
            Received::Graded {
                attempt_id,
                learner,
                pathway_id,
                score,
                max_score,
                passed,
                at: graded_at,
            } => {
                let mut facts = Map::new();
                facts.insert("score".into(), Value::from(*score));
                facts.insert("max_score".into(), Value::from(*max_score));
                facts.insert("passed".into(), Value::from(*passed));
                facts.insert("grade_date".into(), Value::from(date(*graded_at)));
                decide(
                    conn,
                    Decision {
                        tenant: tenant.as_str(),
                        kind: Kind::EssayGraded,
                        dedup_key: format!("essay_graded:{attempt_id}"),
                        learner,
                        for_manager: false,
                        enrolment_id: "",
                        pathway_id,
                        mandatory: false,
                        facts,
                    },
                    at,
                )?;
                Ok(())
            }
        }
    }

    /// Keeps the newest state of an enrolment and its reminder plan; a new assignment is
    /// announced to its learner.
    fn follow(
        &self,
        conn: &mut DbConnection,
        tenant: &TenantId,
        enrolment: &EnrolmentFacts,
        created: bool,
        at: NaiveDateTime,
    ) -> AppResult<()> {
        let known = tracked::find(conn, tenant, &enrolment.id)?;
        if known
            .as_ref()
            .is_some_and(|k| k.revision >= enrolment.revision)
        {
            return Ok(());
        }
        let state = match (enrolment.status, &known) {
            (EnrolmentStatus::Withdrawn, _) => tracked::WITHDRAWN,
            (_, Some(k)) if k.state == tracked::COMPLETED => tracked::COMPLETED,
            (EnrolmentStatus::Suspended, _) => tracked::SUSPENDED,
            (EnrolmentStatus::Active, _) => tracked::OPEN,
        };
        // The plan starts again when the due date moves or the enrolment (re)opens; otherwise
        // it goes on where it was.
        let replan = known.as_ref().is_none_or(|k| {
            k.due_at != enrolment.due_at || k.state != tracked::OPEN || k.next_reminder_at.is_none()
        });
        let (next_stage, next_reminder_at) = match (state, enrolment.due_at) {
            (tracked::OPEN, Some(due)) if replan => self
                .config
                .plan
                .next(due, 0, at)
                .map_or((0, None), |next| (next.stage as i32, Some(next.at))),
            (tracked::OPEN, Some(_)) => {
                let k = known.as_ref().expect("not replanned: known");
                (k.next_stage, k.next_reminder_at)
            }
            _ => (0, None),
        };
        tracked::save(
            conn,
            &Tracked {
                tenant_id: tenant.to_string(),
                enrolment_id: enrolment.id.clone(),
                person_id: enrolment.person_id.clone(),
                learner: enrolment.learner.clone(),
                pathway_id: enrolment.pathway_id.clone(),
                mandatory: enrolment.mandatory,
                due_at: enrolment.due_at,
                state: state.to_string(),
                revision: enrolment.revision,
                next_reminder_at,
                next_stage,
            },
        )?;
        if created && enrolment.assigned && state == tracked::OPEN {
            let mut facts = Map::new();
            let due = enrolment.due_at.map(date).unwrap_or_default();
            facts.insert("due_date".into(), Value::from(due));
            decide(
                conn,
                Decision {
                    tenant: tenant.as_str(),
                    kind: Kind::Assigned,
                    dedup_key: format!("assigned:{}", enrolment.id),
                    learner: &enrolment.learner,
                    for_manager: false,
                    enrolment_id: &enrolment.id,
                    pathway_id: &enrolment.pathway_id,
                    mandatory: enrolment.mandatory,
                    facts,
                },
                at,
            )?;
        }
        Ok(())
    }
}

fn certified(
    conn: &mut DbConnection,
    tenant: &TenantId,
    certification: &CertificationFacts,
    kind: Kind,
    at: NaiveDateTime,
) -> AppResult<()> {
    let mut facts = Map::new();
    let expires = certification.expires_at.map(date).unwrap_or_default();
    facts.insert("expire_date".into(), Value::from(expires));
    decide(
        conn,
        Decision {
            tenant: tenant.as_str(),
            kind,
            dedup_key: format!("{}:{}", kind.as_str(), certification.id),
            learner: &certification.learner,
            for_manager: false,
            enrolment_id: &certification.enrolment_id,
            pathway_id: &certification.pathway_id,
            mandatory: !kind.mutable(),
            facts,
        },
        at,
    )?;
    Ok(())
}
