//! The reminder scheduler: finds the enrolments whose next reminder is due (an indexed query
//! over those rows only), decides the reminder (once: its dedup key holds the enrolment, the
//! due date and the stage), and moves each enrolment's plan on; then the seats on training
//! sessions that start soon.

use chrono::NaiveDateTime;
use lms_platform::AppResult;
use serde_json::{Map, Value};

use super::{Decision, NotificationApp, date, decided};
use crate::domain::kind::Kind;
use crate::domain::schedule::{Stage, days_between};
use crate::storage::notifications;
use crate::storage::session_reminders;
use crate::storage::tracked::{self, NextReminder};

impl NotificationApp {
    /// Decides every reminder due at `now`; returns how many were decided. Tests pass their
    /// own `now` (they move the clock instead of sleeping).
    pub async fn run_reminders(&self, now: NaiveDateTime) -> AppResult<usize> {
        let mut decided = 0;
        loop {
            let (seen, new) = self.remind_batch(now).await?;
            decided += new;
            if seen < self.config.batch as usize {
                break;
            }
        }
        loop {
            let (seen, new) = self.session_reminder_batch(now).await?;
            decided += new;
            if seen < self.config.batch as usize {
                return Ok(decided);
            }
        }
    }

    /// One batch of seats whose session starts soon, in one transaction: the reminder is
    /// decided (once per seat and start time) unless the session has already started, and the
    /// seat is no longer followed. (rows seen, reminders decided)
    async fn session_reminder_batch(&self, now: NaiveDateTime) -> AppResult<(usize, usize)> {
        let batch = self.config.batch;
        self.db
            .write(move |conn| {
                let due = session_reminders::due(conn, now, batch)?;
                let mut decisions = Vec::with_capacity(due.len());
                for row in due.iter().filter(|row| row.start_at > now) {
                    let facts: Map<String, Value> =
                        serde_json::from_str(&row.facts).unwrap_or_default();
                    decisions.push(decided(
                        Decision {
                            tenant: &row.tenant_id,
                            kind: Kind::SessionReminder,
                            dedup_key: format!(
                                "booking:{}:reminder:{}",
                                row.booking_id,
                                row.start_at.format("%Y%m%d%H%M%S")
                            ),
                            learner: &row.learner,
                            for_manager: false,
                            enrolment_id: &row.enrolment_id,
                            pathway_id: &row.pathway_id,
                            mandatory: false,
                            facts,
                        },
                        now,
                    ));
                }
                let decided = notifications::decide_all(conn, &decisions)?;
                for row in &due {
                    session_reminders::remove(conn, &row.tenant_id, &row.booking_id)?;
                }
                Ok((due.len(), decided))
            })
            .await
    }

    /// One batch in one transaction: (rows seen, reminders decided).
    async fn remind_batch(&self, now: NaiveDateTime) -> AppResult<(usize, usize)> {
        let (plan, batch) = (self.config.plan.clone(), self.config.batch);
        self.db
            .write(move |conn| {
                let due = tracked::due(conn, now, batch)?;
                let mut decisions = Vec::with_capacity(due.len());
                let mut moves = Vec::with_capacity(due.len());
                for row in &due {
                    let (Some(due_at), Some(stage), true) = (
                        row.due_at,
                        plan.stage(row.next_stage as usize),
                        row.state == tracked::OPEN,
                    ) else {
                        moves.push(NextReminder {
                            tenant_id: row.tenant_id.clone(),
                            enrolment_id: row.enrolment_id.clone(),
                            next_stage: 0,
                            next_reminder_at: None,
                        });
                        continue;
                    };
                    let mut facts = Map::new();
                    facts.insert("due_date".into(), Value::from(date(due_at)));
                    facts.insert("days_left".into(), days_between(now, due_at).into());
                    facts.insert("days_overdue".into(), days_between(due_at, now).into());
                    decisions.push(decided(
                        Decision {
                            tenant: &row.tenant_id,
                            kind: stage.kind(),
                            dedup_key: stage.dedup_key(&row.enrolment_id, due_at),
                            learner: &row.learner,
                            for_manager: matches!(stage, Stage::Escalation(_)),
                            enrolment_id: &row.enrolment_id,
                            pathway_id: &row.pathway_id,
                            mandatory: row.mandatory,
                            facts,
                        },
                        now,
                    ));
                    let next = plan.next(due_at, row.next_stage as usize + 1, now);
                    moves.push(NextReminder {
                        tenant_id: row.tenant_id.clone(),
                        enrolment_id: row.enrolment_id.clone(),
                        next_stage: next.map_or(row.next_stage + 1, |n| n.stage as i32),
                        next_reminder_at: next.map(|n| n.at),
                    });
                }
                let decided = notifications::decide_all(conn, &decisions)?;
                tracked::set_next_all(conn, &moves)?;
                Ok((due.len(), decided))
            })
            .await
    }

    /// Runs the scheduler now and logs what it did (the periodic task).
    pub async fn remind_and_log(&self) {
        match self.run_reminders(lms_platform::resource::now()).await {
            Ok(0) => {}
            Ok(decided) => tracing::info!(decided, "reminders decided"),
            Err(error) => tracing::warn!(%error, "the reminder scan failed; it runs again"),
        }
    }
}
