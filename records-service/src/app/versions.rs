//! Moving in-flight learners to a newer published version of their pathway.

use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::outbox;
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::RecordsApp;
use super::learner_statements::record_activity;
use super::progress::follow_up;
use crate::domain::activity::{Activity, ActivityKind, ActivitySource};
use crate::events::{self, VersionMoved};
use crate::storage::{enrolments, versions};

/// What a move to a newer pathway version did.
#[derive(Debug, Default)]
pub struct VersionMove {
    pub enrolment_ids: Vec<EnrolmentId>,
    /// How many of the moved enrolments the new version completes.
    pub completed: usize,
}

impl RecordsApp {
    /// An admin moves in-flight enrolments of a pathway to a newer published version (fetched
    /// from pathway-service and cached first). Done steps carry over by step id because
    /// progress is always computed from the activity log against the enrolment's version; a
    /// move that meets the new version's completion rule completes the enrolment as an
    /// activity would.
    pub async fn move_to_version(
        &self,
        who: &Principal,
        pathway_id: PathwayId,
        version: i32,
        enrolment_ids: Vec<EnrolmentId>,
        reason: String,
    ) -> AppResult<VersionMove> {
        let tenant = who.tenant_id.clone();
        let target = self.pathways.fetch(&tenant, &pathway_id, version).await?;
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                versions::store(conn, &tenant, &target)?;
                for id in &enrolment_ids {
                    let enrolment = enrolments::get(conn, &tenant, id)?;
                    if enrolment.pathway_id != pathway_id {
                        return Err(AppError::invalid_field(
                            "enrolment_ids",
                            format!("enrolment {id} is not in pathway {pathway_id}"),
                        ));
                    }
                }
                let at = now();
                let mut moved = VersionMove::default();
                let mut events = Vec::new();
                let in_flight =
                    enrolments::in_flight_before(conn, &tenant, &pathway_id, version, &enrolment_ids)?;
                for mut enrolment in in_flight {
                    let from = enrolment.pathway_version;
                    enrolments::set_version(conn, &tenant, &enrolment.id, version)?;
                    enrolment.pathway_version = version;
                    let note = format!("version {from} → {version}: {reason}");
                    record_activity(
                        conn,
                        &tenant,
                        &enrolment,
                        &Activity {
                            note,
                            ..Activity::new(
                                enrolment.id.clone(),
                                String::new(),
                                ActivityKind::PathwayVersionMoved,
                                ActivitySource::AdminEntry,
                                actor.clone(),
                                at,
                            )
                        },
                    )?;
                    let after = follow_up(conn, &tenant, &enrolment, false, at)?;
                    if after.progress.completed_at.is_some() {
                        moved.completed += 1;
                    }
                    events.push(events::version_moved(VersionMoved {
                        enrolment_id: &enrolment.id,
                        pathway_id: &pathway_id,
                        from_version: from,
                        to_version: version,
                        actor: &actor,
                        reason: &reason,
                        at,
                    }));
                    moved.enrolment_ids.push(enrolment.id);
                }
                outbox::enqueue(conn, &tenant, events)?;
                tracing::info!(pathway = %pathway_id, version, moved = moved.enrolment_ids.len(), "enrolments moved to a newer version");
                let resource = format!("pathways/{pathway_id}/enrolments");
                let what = serde_json::json!({
                    "to_version": version,
                    "reason": reason,
                    "moved": moved.enrolment_ids,
                });
                audit::record(conn, &who, audit::Change::acted(resource, &what)?)?;
                Ok(moved)
            })
            .await
    }
}
