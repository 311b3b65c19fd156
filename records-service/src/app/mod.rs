//! Use cases: progress, recording activities, the training history, certifications,
//! compliance reports, manual records, moves to newer versions, and applying other services'
//! events. Who may call each RPC is the gRPC layer's policy; what a caller may see of the
//! record (a learner only their own) is decided here.

mod attendance;
mod bookings;
mod calendars;
mod certifications;
pub mod cmi5;
mod compliance;
mod evidence;
mod learner_statements;
mod manual;
mod progress;
mod received;
mod sessions;
mod snapshots;
mod statement_backfill;
mod steps;
mod transcript;
mod versions;
pub mod xapi;
pub mod xapi_clients;
mod xapi_definitions;
pub mod xapi_documents;
pub mod xapi_forwarding;
pub mod xapi_parts;

use std::sync::Arc;

use lms_platform::access::{Access, Permission, Target};
use lms_platform::db::{Db, DbConnection};
use lms_platform::egress::Destinations;
use lms_platform::ids::{EnrolmentId, TenantId};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, Role};

use crate::clients::directory::Directory;
use crate::clients::pathways::PathwayVersions;
use crate::domain::activity::Activity;
use crate::domain::enrolment::Enrolment;
use crate::domain::pathway::{PathwaySnapshot, StepKind};
use crate::domain::progress::{self as rules, Progress, Record};
use crate::storage::{
    activities, bookings as booking_rows, enrolments, evidence as evidence_rows,
    versions as cached_versions,
};

pub use attendance::{MAX_MARKS, Mark, Marking};
pub use bookings::{BookingRequest, BookingView};
pub use calendars::NewFeed;
pub use compliance::ComplianceLine;
pub use sessions::{ScheduleChanges, SessionFilter};
pub use steps::StepQuestion;
pub use transcript::{TranscriptEntry, TranscriptFilter};
pub use versions::VersionMove;

/// `lms up`'s gateway, for an app built without settings (tests of the use cases).
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// The setting that lets forwarding endpoints point to private networks.
pub const FORWARDING_NETWORKS: &str = "records.forwarding.allowed_networks";

/// Who reads and records for any learner.
const STAFF: [Role; 3] = [Role::Admin, Role::Instructor, Role::Service];

#[derive(Clone)]
pub struct RecordsApp {
    db: Db,
    pathways: PathwayVersions,
    directory: Directory,
    /// The decision point: whose records a binding lets its holder read.
    access: Access,
    /// Pathway versions kept parsed (immutable, so never stale).
    snapshots: snapshots::Snapshots,
    /// Where browsers and cmi5 content reach the gateway (no trailing slash): launch URLs
    /// name its `/xapi/` and `/cmi5/fetch/`.
    public_url: String,
    /// The most attachment bytes one streamed store request carries (`records.max_attachment_bytes`).
    max_attachment_bytes: u64,
    /// Where statements may be forwarded (`records.forwarding`): the webhook rules.
    forwarding_destinations: Arc<Destinations>,
}

/// An enrolment's progress with what it rests on.
pub struct ProgressView {
    pub enrolment: Enrolment,
    /// Shared with the kept versions (`snapshots`): a view does not copy its version.
    pub pathway: Arc<PathwaySnapshot>,
    pub progress: Progress,
    /// Whether anything at all is recorded on the enrolment yet.
    pub any_activity: bool,
}

impl ProgressView {
    /// This progress once `activity` is added to `record`, the record it was computed from:
    /// what reading the record back after writing the activity would give, without reading
    /// it (a step completion used to read its version and activity log twice).
    fn with_recorded(mut self, record: &mut Record, activity: &Activity) -> Self {
        record.add(activity);
        self.progress = rules::compute(
            &self.pathway,
            record,
            self.enrolment.status,
            self.enrolment.due_at,
            now(),
        );
        self.any_activity = record.any_activity;
        self
    }
}

impl RecordsApp {
    pub fn new(db: Db, pathways: PathwayVersions, directory: Directory, access: Access) -> Self {
        Self {
            db,
            pathways,
            directory,
            access,
            snapshots: snapshots::Snapshots::default(),
            public_url: DEFAULT_PUBLIC_URL.to_string(),
            max_attachment_bytes: 256 << 20,
            forwarding_destinations: Arc::new(Destinations {
                allow_http: false,
                allowed_networks: Vec::new(),
                setting: FORWARDING_NETWORKS,
            }),
        }
    }

    /// Where forwarding endpoints may point (`records.forwarding`).
    pub fn with_forwarding_destinations(mut self, destinations: Arc<Destinations>) -> Self {
        self.forwarding_destinations = destinations;
        self
    }

    pub fn with_max_attachment_bytes(mut self, bytes: u64) -> Self {
        self.max_attachment_bytes = bytes;
        self
    }

    pub fn max_attachment_bytes(&self) -> u64 {
        self.max_attachment_bytes
    }

    /// The gateway's address as browsers reach it (`records.public_url`).
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = url.trim_end_matches('/').to_string();
        self
    }

    /// The learner whose record the caller asks for: themselves, or anyone for staff.
    fn readable_learner(&self, who: &Principal, learner: Option<String>) -> AppResult<String> {
        match learner {
            None => Ok(who.subject.clone()),
            Some(l) if l == who.subject => Ok(l),
            Some(_) if !is_staff(who) => Err(AppError::PermissionDenied(
                "you may read only your own record".into(),
            )),
            Some(l) => Ok(l),
        }
    }
}

impl RecordsApp {
    /// The learner whose progress, transcript or certifications the caller asks for:
    /// themselves; anyone the decision point lets them read (staff: everyone; a binding's
    /// holder: the people of its audiences, departments, classes); or a person who reports to
    /// them (directly or further down), as enrolment-service's directory says now. Anyone
    /// else's is `PERMISSION_DENIED`, whether or not they exist.
    async fn team_readable_learner(
        &self,
        who: &Principal,
        learner: Option<String>,
    ) -> AppResult<String> {
        match learner {
            Some(l) if l != who.subject => {
                if self
                    .access
                    .allows(who, Permission::ReadRecords, Target::Person(&l))
                    .await?
                    || self
                        .directory
                        .manages(&who.tenant_id, &who.subject, &l)
                        .await?
                {
                    Ok(l)
                } else {
                    Err(AppError::PermissionDenied(
                        "you may read only your own record, your team's and the records of the \
                         groups you are given"
                            .into(),
                    ))
                }
            }
            other => self.readable_learner(who, other),
        }
    }
}

fn is_staff(who: &Principal) -> bool {
    who.has_any(&STAFF)
}

/// An enrolment's progress, computed from its pathway version (read from the database) and
/// its activity log.
fn view(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: Enrolment,
) -> AppResult<ProgressView> {
    Ok(one_view(conn, tenant, enrolment, None)?.0)
}

/// An enrolment's progress, its version from `kept` (parsed once per process), with the record
/// it was computed from (see [`ProgressView::with_recorded`]).
fn kept_view(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: Enrolment,
    kept: &snapshots::Snapshots,
) -> AppResult<(ProgressView, Record)> {
    one_view(conn, tenant, enrolment, Some(kept))
}

fn one_view(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: Enrolment,
    kept: Option<&snapshots::Snapshots>,
) -> AppResult<(ProgressView, Record)> {
    views_and_records(conn, tenant, vec![enrolment], kept)?
        .pop()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("one enrolment gave no progress")))
}

/// The progress of many enrolments with one statement per kind of record (activities;
/// evidence and bookings only when a version has such steps), their versions from `kept`
/// (parsed once per process) or, without it, from the database.
fn views(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolments: Vec<Enrolment>,
    kept: Option<&snapshots::Snapshots>,
) -> AppResult<Vec<ProgressView>> {
    Ok(views_and_records(conn, tenant, enrolments, kept)?
        .into_iter()
        .map(|(view, _)| view)
        .collect())
}

fn views_and_records(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolments: Vec<Enrolment>,
    kept: Option<&snapshots::Snapshots>,
) -> AppResult<Vec<(ProgressView, Record)>> {
    let mut pathways = Vec::with_capacity(enrolments.len());
    for enrolment in &enrolments {
        let (id, version) = (&enrolment.pathway_id, enrolment.pathway_version);
        let pathway = match kept {
            Some(kept) => kept.get(conn, tenant, id, version)?,
            None => cached_versions::get(conn, tenant, id, version)?.map(Arc::new),
        }
        .ok_or_else(|| {
            AppError::Unavailable(
                "this enrolment's pathway version is not cached yet; retry".into(),
            )
        })?;
        pathways.push(pathway);
    }
    let with_kind = |kind: StepKind| -> Vec<EnrolmentId> {
        enrolments
            .iter()
            .zip(&pathways)
            .filter(|(_, p)| p.steps.iter().any(|s| s.kind == kind))
            .map(|(e, _)| e.id.clone())
            .collect()
    };
    let (external, sessions) = (
        with_kind(StepKind::External),
        with_kind(StepKind::TrainingSession),
    );
    let ids: Vec<EnrolmentId> = enrolments.iter().map(|e| e.id.clone()).collect();
    let mut records = activities::records_of(conn, tenant, &ids)?;
    let mut evidence = if external.is_empty() {
        Default::default()
    } else {
        evidence_rows::standings_of_all(conn, tenant, &external)?
    };
    let mut bookings = if sessions.is_empty() {
        Default::default()
    } else {
        booking_rows::standings_of_all(conn, tenant, &sessions)?
    };
    let at = now();
    Ok(enrolments
        .into_iter()
        .zip(pathways)
        .map(|(enrolment, pathway)| {
            let mut record = records.remove(&enrolment.id).unwrap_or_default();
            record.evidence = evidence.remove(&enrolment.id).unwrap_or_default();
            record.bookings = bookings.remove(enrolment.id.as_str()).unwrap_or_default();
            let progress =
                rules::compute(&pathway, &record, enrolment.status, enrolment.due_at, at);
            let view = ProgressView {
                enrolment,
                pathway,
                progress,
                any_activity: record.any_activity,
            };
            (view, record)
        })
        .collect())
}

/// The enrolment, when the caller may see it (a learner only their own: NOT_FOUND otherwise).
fn visible_enrolment(
    conn: &mut DbConnection,
    who: &Principal,
    id: &EnrolmentId,
) -> AppResult<Enrolment> {
    let enrolment = enrolments::get(conn, &who.tenant_id, id)?;
    if !is_staff(who) && enrolment.learner != who.subject {
        return Err(AppError::not_found(format!("enrolment {id}")));
    }
    Ok(enrolment)
}

/// Serialises the writes to one enrolment's record until the transaction ends (PostgreSQL;
/// SQLite runs one writer at a time anyway). Without it, two completions of the same step at
/// once were both recorded, and two last steps completed at once could each miss the other
/// and leave the enrolment uncompleted.
fn lock_enrolment(conn: &mut DbConnection, tenant: &TenantId, enrolment_id: &str) -> AppResult<()> {
    lms_platform::db::lock_until_commit(conn, &format!("records/enrolment/{tenant}/{enrolment_id}"))
}
