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

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Decision, NotificationApp, date, decide, decided};
use crate::domain::kind::Kind;
use crate::events::{
    BookingChange, BookingFacts, CertificationFacts, EnrolmentFacts, EnrolmentStatus, Incoming,
    Received,
};
use crate::storage::notifications;
use crate::storage::session_reminders::{self, SessionReminder};
use crate::storage::tracked::{self, Tracked};

impl NotificationApp {
    /// Applies a delivery, each event exactly once: the notifications it calls for, and its
    /// webhook deliveries. A delivery is applied as a batch (a few statements for all its
    /// events); when that fails, event by event.
    pub async fn apply_events(&self, events: Vec<Delivered<Incoming>>) -> AppResult<Outcome> {
        let (all, one) = (self.clone(), self.clone());
        inbox::consume_batch(
            &self.db,
            events,
            move |conn, events| all.apply_all(conn, events, now()),
            move |conn, tenant, event| {
                let at = now();
                if let Some(received) = &event.received {
                    one.apply_event(conn, tenant, received, at)
                        .map_err(EventError::Retry)?;
                }
                one.enqueue_webhooks(conn, tenant, std::slice::from_ref(event), at)
            },
        )
        .await
    }

    /// Applies a delivery's new events in order: runs of enrolment events in bulk, anything
    /// else one by one; then their webhook deliveries.
    pub fn apply_all(
        &self,
        conn: &mut DbConnection,
        events: &[(TenantId, Incoming)],
        at: NaiveDateTime,
    ) -> Result<(), EventError> {
        let mut run: Vec<(&TenantId, &EnrolmentFacts, bool)> = Vec::new();
        for (tenant, event) in events {
            match &event.received {
                Some(Received::Enrolment { enrolment, created }) => {
                    run.push((tenant, enrolment, *created));
                }
                Some(other) => {
                    self.follow_all(conn, &run, at)?;
                    run.clear();
                    self.apply_event(conn, tenant, other, at)?;
                }
                None => {}
            }
        }
        self.follow_all(conn, &run, at)?;
        let mut by_tenant: BTreeMap<&TenantId, Vec<Incoming>> = BTreeMap::new();
        for (tenant, event) in events {
            by_tenant.entry(tenant).or_default().push(event.clone());
        }
        for (tenant, events) in by_tenant {
            self.enqueue_webhooks(conn, tenant, &events, at)?;
        }
        Ok(())
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
            Received::Booking(booking) => {
                booked(conn, tenant, booking, self.config.session_reminder, at)
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
        if let Some((row, announce)) =
            self.plan_follow(tenant, known.as_ref(), enrolment, created, at)
        {
            tracked::save(conn, &row)?;
            if let Some(announce) = announce {
                notifications::decide(conn, &announce)?;
            }
        }
        Ok(())
    }

    /// [`Self::follow`] for a run of enrolment events, in order: the followed rows are read
    /// and written with a statement each, the announcements decided together.
    fn follow_all(
        &self,
        conn: &mut DbConnection,
        run: &[(&TenantId, &EnrolmentFacts, bool)],
        at: NaiveDateTime,
    ) -> AppResult<()> {
        let mut by_tenant: BTreeMap<&str, Vec<(&TenantId, &EnrolmentFacts, bool)>> =
            BTreeMap::new();
        for entry in run {
            by_tenant.entry(entry.0.as_str()).or_default().push(*entry);
        }
        for (tenant, events) in by_tenant {
            let ids: Vec<&str> = events.iter().map(|(_, e, _)| e.id.as_str()).collect();
            let mut known: HashMap<String, Tracked> = tracked::find_all(conn, tenant, &ids)?
                .into_iter()
                .map(|row| (row.enrolment_id.clone(), row))
                .collect();
            // In first-change order; the set answers "seen already?" without a scan.
            let mut changed: Vec<String> = Vec::new();
            let mut seen: HashSet<String> = HashSet::new();
            let mut announcements = Vec::new();
            for (tenant_id, enrolment, created) in events {
                let Some((row, announce)) =
                    self.plan_follow(tenant_id, known.get(&enrolment.id), enrolment, created, at)
                else {
                    continue;
                };
                if seen.insert(row.enrolment_id.clone()) {
                    changed.push(row.enrolment_id.clone());
                }
                known.insert(row.enrolment_id.clone(), row);
                announcements.extend(announce);
            }
            let rows: Vec<Tracked> = changed.iter().map(|id| known[id].clone()).collect();
            tracked::save_all(conn, &rows)?;
            notifications::decide_all(conn, &announcements)?;
        }
        Ok(())
    }

    /// What an enrolment event changes: the followed row (None: the event is older than what
    /// is known) and, for a new assignment, its announcement.
    fn plan_follow(
        &self,
        tenant: &TenantId,
        known: Option<&Tracked>,
        enrolment: &EnrolmentFacts,
        created: bool,
        at: NaiveDateTime,
    ) -> Option<(Tracked, Option<notifications::Row>)> {
        if known.is_some_and(|k| k.revision >= enrolment.revision) {
            return None;
        }
        let state = match (enrolment.status, known) {
            (EnrolmentStatus::Withdrawn, _) => tracked::WITHDRAWN,
            (_, Some(k)) if k.state == tracked::COMPLETED => tracked::COMPLETED,
            (EnrolmentStatus::Suspended, _) => tracked::SUSPENDED,
            (EnrolmentStatus::Active, _) => tracked::OPEN,
        };
        // The plan starts again when the due date moves or the enrolment (re)opens; otherwise
        // it goes on where it was.
        let replan = known.is_none_or(|k| {
            k.due_at != enrolment.due_at || k.state != tracked::OPEN || k.next_reminder_at.is_none()
        });
        let (next_stage, next_reminder_at) = match (state, enrolment.due_at, known) {
            (tracked::OPEN, Some(due), _) if replan => self
                .config
                .plan
                .next(due, 0, at)
                .map_or((0, None), |next| (next.stage as i32, Some(next.at))),
            (tracked::OPEN, Some(_), Some(k)) => (k.next_stage, k.next_reminder_at),
            _ => (0, None),
        };
        let row = Tracked {
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
        };
        let announce = (created && enrolment.assigned && state == tracked::OPEN).then(|| {
            let mut facts = Map::new();
            let due = enrolment.due_at.map(date).unwrap_or_default();
            facts.insert("due_date".into(), Value::from(due));
            decided(
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
            )
        });
        Some((row, announce))
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
            mandatory: false,
            facts,
        },
        at,
    )?;
    Ok(())
}

/// Tells a learner what happened to their seat on a training session, with the session's
/// times in its own time zone; and follows the seat for the reminder before the session.
fn booked(
    conn: &mut DbConnection,
    tenant: &TenantId,
    booking: &BookingFacts,
    remind_before: Option<chrono::Duration>,
    at: NaiveDateTime,
) -> AppResult<()> {
    let (kind, news) = match booking.change {
        BookingChange::Booked => (Kind::SessionBooked, "booked".to_string()),
        BookingChange::Promoted => (Kind::SessionBooked, "promoted".to_string()),
        BookingChange::Waitlisted => (Kind::SessionWaitlisted, "waitlisted".to_string()),
        BookingChange::SessionChanged => (
            Kind::SessionChanged,
            format!("changed:{}", booking.session_etag),
        ),
        BookingChange::SessionCancelled => (Kind::SessionCancelled, "cancelled".to_string()),
        BookingChange::Cancelled => (Kind::BookingCancelled, "cancelled".to_string()),
    };
    let mut facts = Map::new();
    let local = |t: NaiveDateTime| local_time(t, &booking.time_zone);
    facts.insert("session_title".into(), booking.session_title.clone().into());
    facts.insert("session_start".into(), local(booking.start_at).into());
    facts.insert("session_end".into(), local(booking.end_at).into());
    facts.insert("time_zone".into(), booking.time_zone.clone().into());
    facts.insert("location".into(), booking.location.clone().into());
    facts.insert("meeting_url".into(), booking.meeting_url.clone().into());
    facts.insert(
        "promoted".into(),
        (booking.change == BookingChange::Promoted).into(),
    );
    facts.insert("reason".into(), booking.reason.clone().into());
    match (booking.change, remind_before) {
        (
            BookingChange::Booked | BookingChange::Promoted | BookingChange::SessionChanged,
            Some(before),
        ) => {
            let mut session = facts.clone();
            session.remove("promoted");
            session.remove("reason");
            session_reminders::save(
                conn,
                &SessionReminder {
                    tenant_id: tenant.to_string(),
                    booking_id: booking.booking_id.clone(),
                    learner: booking.learner.clone(),
                    enrolment_id: booking.enrolment_id.clone(),
                    pathway_id: booking.pathway_id.clone(),
                    facts: Value::Object(session).to_string(),
                    start_at: booking.start_at,
                    remind_at: booking.start_at - before,
                },
            )?;
        }
        (BookingChange::Cancelled | BookingChange::SessionCancelled, _) => {
            session_reminders::remove(conn, tenant.as_str(), &booking.booking_id)?;
        }
        _ => {}
    }
    decide(
        conn,
        Decision {
            tenant: tenant.as_str(),
            kind,
            dedup_key: format!("booking:{}:{news}", booking.booking_id),
            learner: &booking.learner,
            for_manager: false,
            enrolment_id: &booking.enrolment_id,
            pathway_id: &booking.pathway_id,
            mandatory: false,
            facts,
        },
        at,
    )?;
    Ok(())
}

/// "Tue 1 Dec 2026, 09:00" in the session's time zone (UTC when the zone is unknown).
fn local_time(at: NaiveDateTime, zone: &str) -> String {
    const FORMAT: &str = "%a %-d %b %Y, %H:%M";
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at.and_utc().with_timezone(&tz).format(FORMAT).to_string(),
        Err(_) => format!("{} UTC", at.format(FORMAT)),
    }
}
