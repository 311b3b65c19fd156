//! Use cases: progress, recording activities, and applying other services' events.

use std::collections::BTreeSet;

use lms_platform::db::{Db, DbConnection};
use lms_platform::inbox::{self, EventError, payload};
use lms_platform::outbox::{self, NewEvent};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{now, timestamp};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, Role, idempotency};
use lms_proto::assessment_v1 as assessment_pb;
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::events_v1 as events_pb;

use crate::clients::pathways::PathwayVersions;
use crate::domain::certification;
use crate::domain::pathway::{PathwaySnapshot, StepKind};
use crate::domain::progress::{self, Progress, StepState};
use crate::storage::certifications::{self as cert_rows, CertificationRow};
use crate::storage::records::{self as rows, ActivityRow, EnrolmentRow};

pub const ANY_ROLE: [Role; 4] = [Role::Admin, Role::Instructor, Role::Learner, Role::Service];
/// Who reads and records for any learner.
pub const STAFF: [Role; 3] = [Role::Admin, Role::Instructor, Role::Service];

#[derive(Clone)]
pub struct RecordsApp {
    db: Db,
    pathways: PathwayVersions,
    directory: crate::clients::directory::Directory,
}

/// An enrolment's progress with what it rests on.
pub struct ProgressView {
    pub enrolment: EnrolmentRow,
    pub pathway: PathwaySnapshot,
    pub progress: Progress,
    /// Whether anything at all is recorded on the enrolment yet.
    pub any_activity: bool,
}

/// Which transcript entries to show: completed or not (None: both), dated in [from, to).
#[derive(Debug, Clone, Copy, Default)]
pub struct TranscriptFilter {
    pub outcome: Option<bool>,
    pub from: Option<chrono::NaiveDateTime>,
    pub to: Option<chrono::NaiveDateTime>,
}

/// One line of a learner's training history.
pub struct TranscriptEntry {
    pub progress: ProgressView,
    pub best_score_percent: f64,
    pub certification: Option<CertificationRow>,
}

/// One learner's line of a compliance report.
pub struct ComplianceLine {
    pub enrolment: EnrolmentRow,
    pub state: certification::Compliance,
    pub percent: f64,
    pub completed_at: Option<chrono::NaiveDateTime>,
    pub certification_expires_at: Option<chrono::NaiveDateTime>,
}

/// What a move to a newer pathway version did.
#[derive(Debug, Default)]
pub struct VersionMove {
    pub enrolment_ids: Vec<String>,
    /// How many of the moved enrolments the new version completes.
    pub completed: usize,
}

/// A learner's wish to record something on a step.
pub struct NewActivity {
    pub enrolment_id: String,
    pub step_id: String,
    pub completed: bool,
    pub evidence_url: String,
    pub note: String,
}

fn is_staff(who: &Principal) -> bool {
    who.has_any(&STAFF)
}

fn view(conn: &mut DbConnection, tenant: &str, enrolment: EnrolmentRow) -> AppResult<ProgressView> {
    let pathway = rows::pathway_version(
        conn,
        tenant,
        &enrolment.pathway_id,
        enrolment.pathway_version,
    )?
    .ok_or_else(|| {
        AppError::Unavailable("this enrolment's pathway version is not cached yet; retry".into())
    })?;
    let record = rows::record_of(conn, tenant, &enrolment.id)?;
    let progress = progress::compute(&pathway, &record, enrolment.due_at, now());
    Ok(ProgressView {
        enrolment,
        pathway,
        progress,
        any_activity: record.any_activity,
    })
}

/// The enrolment, when the caller may see it (a learner only their own: NOT_FOUND otherwise).
fn visible_enrolment(
    conn: &mut DbConnection,
    who: &Principal,
    id: &str,
) -> AppResult<EnrolmentRow> {
    let enrolment = rows::get_enrolment(conn, &who.tenant_id, id)?;
    if !is_staff(who) && enrolment.learner != who.subject {
        return Err(AppError::not_found(format!("enrolment {id}")));
    }
    Ok(enrolment)
}

impl RecordsApp {
    pub fn new(
        db: Db,
        pathways: PathwayVersions,
        directory: crate::clients::directory::Directory,
    ) -> Self {
        Self {
            db,
            pathways,
            directory,
        }
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub async fn get_progress(
        &self,
        who: &Principal,
        enrolment_id: String,
    ) -> AppResult<ProgressView> {
        let who = who.clone();
        self.db
            .read(move |conn| {
                let enrolment = visible_enrolment(conn, &who, &enrolment_id)?;
                view(conn, &who.tenant_id, enrolment)
            })
            .await
    }

    /// Every current enrolment of a learner with its progress: overdue first, then by due date.
    pub async fn list_progress(
        &self,
        who: &Principal,
        learner: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<ProgressView>> {
        let learner = self.readable_learner(who, learner)?;
        let limit = pagination::page_size(page_size)?;
        let filters = format!("learner={learner}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let mut all = self
            .db
            .read(move |conn| {
                rows::learner_enrolments(conn, &tenant, &learner)?
                    .into_iter()
                    .map(|e| view(conn, &tenant, e))
                    .collect::<AppResult<Vec<_>>>()
            })
            .await?;
        all.sort_by_key(sort_key);
        let start = match after {
            Some(after) => all
                .iter()
                .position(|v| sort_key(v) > after)
                .unwrap_or(all.len()),
            None => 0,
        };
        let items: Vec<ProgressView> = all
            .into_iter()
            .skip(start)
            .take(limit as usize + 1)
            .collect();
        Ok(paginate(items, limit, &filters, |v: &ProgressView| {
            vec![sort_key(v)]
        }))
    }

    /// Records a start or a completion on a step, if the step is the caller's to record and
    /// unlocked. Completing a completed step changes nothing.
    pub async fn record_activity(
        &self,
        who: &Principal,
        activity: NewActivity,
        request_id: Option<String>,
    ) -> AppResult<ProgressView> {
        let who = who.clone();
        // Request ids are the caller's own: two learners who happen to pick the same id must
        // both be recorded, and a replay answers with the enrolment the request was first
        // made for, read as the caller may see it.
        let operation = format!("RecordActivity/{}", who.subject);
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    &operation,
                    request_id.as_deref(),
                    |conn, recorded_enrolment| {
                        if recorded_enrolment != activity.enrolment_id {
                            return Err(AppError::invalid_field(
                                "request_id",
                                "was already used for another enrolment",
                            ));
                        }
                        let enrolment = visible_enrolment(conn, &who, recorded_enrolment)?;
                        view(conn, &tenant, enrolment)
                    },
                    |conn| {
                        let result = record(conn, &who, &activity)?;
                        Ok((activity.enrolment_id.clone(), result))
                    },
                )
            })
            .await
    }

    pub async fn list_activities(
        &self,
        who: &Principal,
        enrolment_id: String,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<ActivityRow>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!("enrolment={enrolment_id}");
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let who = who.clone();
        let items = self
            .db
            .read(move |conn| {
                visible_enrolment(conn, &who, &enrolment_id)?;
                rows::activities(conn, &who.tenant_id, &enrolment_id, after, Some(limit + 1))
            })
            .await?;
        Ok(paginate(items, limit, &filters, |a: &ActivityRow| {
            vec![a.id.clone()]
        }))
    }

    /// A learner's training history, newest first, filtered by date and outcome.
    pub async fn transcript(
        &self,
        who: &Principal,
        learner: Option<String>,
        filter: TranscriptFilter,
    ) -> AppResult<Vec<TranscriptEntry>> {
        let learner = self.readable_learner(who, learner)?;
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                let mut entries = Vec::new();
                for enrolment in rows::history(conn, &tenant, &learner)? {
                    let progress = view(conn, &tenant, enrolment)?;
                    let completed = progress.progress.status == progress::Status::Completed;
                    let dated = progress
                        .progress
                        .completed_at
                        .unwrap_or(progress.enrolment.assigned_at);
                    let wanted = match filter.outcome {
                        Some(true) => completed,
                        Some(false) => !completed,
                        None => true,
                    } && filter.from.is_none_or(|from| dated >= from)
                        && filter.to.is_none_or(|to| dated < to);
                    if !wanted {
                        continue;
                    }
                    let certification =
                        cert_rows::of_enrolment(conn, &tenant, &progress.enrolment.id)?;
                    let best_score_percent = progress
                        .progress
                        .steps
                        .iter()
                        .map(|s| s.score_percent)
                        .fold(0.0, f64::max);
                    entries.push(TranscriptEntry {
                        progress,
                        best_score_percent,
                        certification,
                    });
                }
                Ok(entries)
            })
            .await
    }

    /// The learner whose record the caller asks for: themselves, or anyone for staff.
    pub(crate) fn readable_learner(
        &self,
        who: &Principal,
        learner: Option<String>,
    ) -> AppResult<String> {
        match learner {
            None => Ok(who.subject.clone()),
            Some(l) if l == who.subject => Ok(l),
            Some(l) => {
                who.require_any(&STAFF).map_err(|_| {
                    AppError::PermissionDenied("you may read only your own record".into())
                })?;
                Ok(l)
            }
        }
    }

    /// Compliance on a pathway, one line per learner with a current enrolment, sent page by
    /// page as each is ready. Unscoped: pages of 1 000 enrolments in learner order. Scoped to
    /// an audience, class or department: enrolment-service's members come in external-id
    /// order, a page of 500 at a time (fetched ahead), and each page is joined with its
    /// learners' enrolments, so the first rows go out after one page, not after the whole
    /// membership. Each page is one query each for enrolments, activities and certifications.
    pub async fn compliance_report(
        &self,
        who: &Principal,
        pathway_id: String,
        scope: Option<crate::domain::report::Scope>,
    ) -> AppResult<tokio::sync::mpsc::Receiver<AppResult<ComplianceLine>>> {
        let mut member_pages = match &scope {
            Some(scope) => Some(self.directory.member_pages(&who.tenant_id, scope).await?),
            None => None,
        };
        let (send, receive) = tokio::sync::mpsc::channel(2_000);
        let db = self.db.clone();
        let tenant = who.tenant_id.clone();
        tokio::spawn(async move {
            let mut report = ReportPages {
                db,
                tenant,
                pathway_id,
                versions: Default::default(),
            };
            let mut after: Option<String> = None;
            loop {
                let page = match member_pages.as_mut() {
                    Some(pages) => match pages.recv().await {
                        None => return,
                        Some(Err(error)) => Err(error),
                        Some(Ok(learners)) => report.of_learners(learners).await.map(|l| (l, true)),
                    },
                    None => report.after(after.take()).await.map(|(lines, last)| {
                        let more = last.is_some();
                        after = last;
                        (lines, more)
                    }),
                };
                match page {
                    Ok((lines, more)) => {
                        for line in lines {
                            if send.send(Ok(line)).await.is_err() {
                                return;
                            }
                        }
                        if !more {
                            return;
                        }
                    }
                    Err(error) => {
                        let _ = send.send(Err(error)).await;
                        return;
                    }
                }
            }
        });
        Ok(receive)
    }

    pub async fn list_certifications(
        &self,
        who: &Principal,
        learner: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<CertificationRow>> {
        let learner = self.readable_learner(who, learner)?;
        let limit = pagination::page_size(page_size)?;
        let filters = format!("learner={learner}");
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| cert_rows::of_learner(conn, &tenant, &learner, before, limit + 1))
            .await?;
        Ok(paginate(items, limit, &filters, |c: &CertificationRow| {
            vec![c.id.clone()]
        }))
    }

    pub async fn get_certification(
        &self,
        who: &Principal,
        id: String,
    ) -> AppResult<CertificationRow> {
        let tenant = who.tenant_id.clone();
        let row = self
            .db
            .read(move |conn| cert_rows::get(conn, &tenant, &id))
            .await?;
        if !is_staff(who) && row.learner != who.subject {
            return Err(AppError::not_found(format!("certification {}", row.id)));
        }
        Ok(row)
    }

    pub async fn revoke_certification(
        &self,
        who: &Principal,
        id: String,
        reason: String,
    ) -> AppResult<CertificationRow> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                cert_rows::get(conn, &tenant, &id)?;
                if !cert_rows::revoke(conn, &tenant, &id, now(), &reason, &actor)? {
                    return Err(AppError::FailedPrecondition(format!(
                        "certification {id} is revoked already"
                    )));
                }
                tracing::info!(certification = %id, %actor, "certification revoked");
                cert_rows::get(conn, &tenant, &id)
            })
            .await
    }

    /// The certification scheduler's step: every certification whose recertification window has
    /// opened by `at` is announced once (a CertificationExpiring event in its transaction).
    /// Safe with several replicas: the conditional update lets exactly one announce each.
    /// Returns how many it announced.
    /// One run of the certification scheduler, logging what it announced.
    pub async fn announce_expiring_and_log(&self) {
        match self.announce_expiring(lms_platform::resource::now()).await {
            Ok(0) => {}
            Ok(announced) => tracing::info!(announced, "recertification windows announced"),
            Err(error) => tracing::warn!(%error, "certification scan failed; retrying next time"),
        }
    }

    pub async fn announce_expiring(&self, at: chrono::NaiveDateTime) -> AppResult<usize> {
        let due = self
            .db
            .read(move |conn| cert_rows::due_for_announcement(conn, at, 1_000))
            .await?;
        let mut announced = 0;
        for certification in due {
            let done = self
                .db
                .write(move |conn| {
                    if !cert_rows::mark_announced(conn, &certification.id, at)? {
                        return Ok(false);
                    }
                    outbox::enqueue(
                        conn,
                        &certification.tenant_id,
                        vec![NewEvent::new(
                            certification.id.clone(),
                            &lms_proto::records_v1::CertificationExpiring {
                                certification_id: certification.id.clone(),
                                learner: certification.learner.clone(),
                                pathway_id: certification.pathway_id.clone(),
                                enrolment_id: certification.enrolment_id.clone(),
                                expire_time: certification.expires_at.map(timestamp),
                            },
                        )],
                    )?;
                    Ok(true)
                })
                .await?;
            announced += usize::from(done);
        }
        Ok(announced)
    }

    /// Public verification by code: no principal, any tenant.
    pub async fn verify_certificate(&self, code: String) -> AppResult<CertificationRow> {
        self.db
            .read_one(move |conn| {
                cert_rows::by_code(conn, &code)?.ok_or_else(|| AppError::not_found("certificate"))
            })
            .await
    }

    /// An admin moves in-flight enrolments of a pathway to a newer published version (fetched
    /// from pathway-service and cached first). Done steps carry over by step id because progress
    /// is always computed from the activity log against the enrolment's version; a move that
    /// meets the new version's completion rule completes the enrolment as an activity would.
    pub async fn move_to_version(
        &self,
        who: &Principal,
        pathway_id: String,
        version: i32,
        enrolment_ids: Vec<String>,
        reason: String,
    ) -> AppResult<VersionMove> {
        let tenant = who.tenant_id.clone();
        let target = self.pathways.fetch(&tenant, &pathway_id, version).await?;
        let actor = who.subject.clone();
        self.db
            .write(move |conn| {
                rows::store_pathway_version(conn, &tenant, &target)?;
                for id in &enrolment_ids {
                    let enrolment = rows::get_enrolment(conn, &tenant, id)?;
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
                for mut enrolment in
                    rows::in_flight_before(conn, &tenant, &pathway_id, version, &enrolment_ids)?
                {
                    let from = enrolment.pathway_version;
                    rows::set_version(conn, &tenant, &enrolment.id, version)?;
                    enrolment.pathway_version = version;
                    rows::insert_activity(
                        conn,
                        &ActivityRow {
                            id: new_id(),
                            tenant_id: tenant.clone(),
                            enrolment_id: enrolment.id.clone(),
                            step_id: String::new(),
                            kind: rows::VERSION_MOVED.into(),
                            source: "ADMIN_ENTRY".into(),
                            actor: actor.clone(),
                            score: 0.0,
                            max_score: 0.0,
                            evidence_url: String::new(),
                            note: format!("version {from} → {version}: {reason}"),
                            recorded_at: at,
                        },
                    )?;
                    let after = follow_up(conn, &tenant, &enrolment, false, at)?;
                    if after.progress.completed_at.is_some() {
                        moved.completed += 1;
                    }
                    events.push(NewEvent::new(
                        enrolment.id.clone(),
                        &lms_proto::records_v1::EnrolmentVersionMoved {
                            enrolment_id: enrolment.id.clone(),
                            pathway_id: pathway_id.clone(),
                            from_version: from,
                            to_version: version,
                            actor: actor.clone(),
                            reason: reason.clone(),
                            move_time: Some(timestamp(at)),
                        },
                    ));
                    moved.enrolment_ids.push(enrolment.id);
                }
                outbox::enqueue(conn, &tenant, events)?;
                tracing::info!(pathway = %pathway_id, version, moved = moved.enrolment_ids.len(), "enrolments moved to a newer version");
                Ok(moved)
            })
            .await
    }

    /// Applies delivered events exactly once. Enrolment events first make sure their pathway
    /// version is cached (asking pathway-service outside any transaction); an event that cannot
    /// be applied yet (its enrolment not known here yet, pathway-service down) is left for the
    /// dispatcher to retry, never dropped.
    pub async fn apply_events(
        &self,
        events: Vec<events_pb::Event>,
    ) -> AppResult<events_pb::DeliverEventsResponse> {
        if events.len() > 500 {
            return Err(AppError::invalid_field(
                "events",
                "at most 500 per delivery",
            ));
        }
        let mut wanted: BTreeSet<(String, String, i32)> = BTreeSet::new();
        for event in &events {
            if let Some(e) = enrolment_of(event) {
                wanted.insert((
                    event.tenant_id.clone(),
                    e.pathway_id.clone(),
                    e.pathway_version,
                ));
            }
        }
        for (tenant, pathway_id, version) in wanted {
            let cached = {
                let (tenant, pathway_id) = (tenant.clone(), pathway_id.clone());
                self.db
                    .read_one(move |conn| {
                        rows::has_pathway_version(conn, &tenant, &pathway_id, version)
                    })
                    .await?
            };
            if cached {
                continue;
            }
            match self.pathways.fetch(&tenant, &pathway_id, version).await {
                Ok(snapshot) => {
                    let tenant = tenant.clone();
                    self.db
                        .write(move |conn| rows::store_pathway_version(conn, &tenant, &snapshot))
                        .await?;
                }
                // Its events stay unacknowledged and come back.
                Err(error) => {
                    tracing::warn!(%error, pathway = %pathway_id, version, "pathway version not cached")
                }
            }
        }
        Ok(inbox::consume(&self.db, events, apply_event).await)
    }
}

/// A compliance report's pages, with the pathway versions met so far.
struct ReportPages {
    db: Db,
    tenant: String,
    pathway_id: String,
    versions: std::collections::HashMap<i32, PathwaySnapshot>,
}

const REPORT_PAGE: i64 = 1_000;

impl ReportPages {
    /// The next page of every current enrolment, after the learner `after`; with the last
    /// learner of a full page (None after the last page).
    async fn after(
        &mut self,
        after: Option<String>,
    ) -> AppResult<(Vec<ComplianceLine>, Option<String>)> {
        let (tenant, pathway_id) = (self.tenant.clone(), self.pathway_id.clone());
        let (lines, last) = self
            .lines(move |conn| {
                rows::pathway_enrolments(conn, &tenant, &pathway_id, after, REPORT_PAGE)
            })
            .await?;
        Ok((lines, last))
    }

    /// The lines of these learners (those with a current enrolment).
    async fn of_learners(&mut self, learners: Vec<String>) -> AppResult<Vec<ComplianceLine>> {
        let (tenant, pathway_id) = (self.tenant.clone(), self.pathway_id.clone());
        let (lines, _) = self
            .lines(move |conn| rows::pathway_enrolments_of(conn, &tenant, &pathway_id, &learners))
            .await?;
        Ok(lines)
    }

    async fn lines(
        &mut self,
        enrolments: impl FnOnce(&mut DbConnection) -> AppResult<Vec<EnrolmentRow>> + Send + 'static,
    ) -> AppResult<(Vec<ComplianceLine>, Option<String>)> {
        let tenant = self.tenant.clone();
        let mut cached = std::mem::take(&mut self.versions);
        let (lines, cached, last) = self
            .db
            .read(move |conn| {
                let enrolments = enrolments(conn)?;
                let last = (enrolments.len() as i64 == REPORT_PAGE)
                    .then(|| enrolments.last().map(|e| e.learner.clone()))
                    .flatten();
                let lines = compliance_lines(conn, &tenant, enrolments, &mut cached)?;
                Ok((lines, cached, last))
            })
            .await?;
        self.versions = cached;
        Ok((lines, last))
    }
}

/// Each enrolment's compliance, from its records and certification (one query each for the
/// whole page).
fn compliance_lines(
    conn: &mut DbConnection,
    tenant: &str,
    enrolments: Vec<EnrolmentRow>,
    versions: &mut std::collections::HashMap<i32, PathwaySnapshot>,
) -> AppResult<Vec<ComplianceLine>> {
    let ids: Vec<String> = enrolments.iter().map(|e| e.id.clone()).collect();
    let records = rows::records_of(conn, tenant, &ids)?;
    let certs = cert_rows::of_enrolments(conn, tenant, &ids)?;
    let at = now();
    let mut lines = Vec::with_capacity(enrolments.len());
    for enrolment in enrolments {
        let pathway = match versions.entry(enrolment.pathway_version) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let snapshot = rows::pathway_version(
                    conn,
                    tenant,
                    &enrolment.pathway_id,
                    enrolment.pathway_version,
                )?
                .ok_or_else(|| {
                    AppError::Unavailable("a pathway version is not cached yet; retry".into())
                })?;
                slot.insert(snapshot)
            }
        };
        let record = records.get(&enrolment.id).cloned().unwrap_or_default();
        let progress = progress::compute(pathway, &record, enrolment.due_at, at);
        let cert = certs.get(&enrolment.id);
        let cert_status = cert.map(|c| {
            certification::status(c.expires_at, c.window_days, c.revoked_at.is_some(), at)
        });
        lines.push(ComplianceLine {
            state: certification::compliance(progress.status, cert_status),
            percent: progress.percent,
            completed_at: progress.completed_at,
            certification_expires_at: cert.and_then(|c| c.expires_at),
            enrolment,
        });
    }
    Ok(lines)
}

fn sort_key(v: &ProgressView) -> String {
    let rank = match v.progress.status {
        progress::Status::Overdue => 0,
        progress::Status::InProgress | progress::Status::NotStarted => 1,
        progress::Status::Completed => 2,
    };
    let due = v
        .enrolment
        .due_at
        .map(|d| d.format("%Y%m%d%H%M%S").to_string())
        .unwrap_or_else(|| "99999999999999".into());
    format!("{rank}|{due}|{}", v.enrolment.id)
}

/// Writes one activity after checking who may record what, and emits what follows from it.
/// Serialises the writes to one enrolment's record until the transaction ends (PostgreSQL;
/// SQLite runs one writer at a time anyway). Without it, two completions of the same step at
/// once were both recorded, and two last steps completed at once could each miss the other
/// and leave the enrolment uncompleted.
fn lock_enrolment(conn: &mut DbConnection, tenant: &str, enrolment_id: &str) -> AppResult<()> {
    lms_platform::db::lock_until_commit(conn, &format!("records/enrolment/{tenant}/{enrolment_id}"))
}

fn record(
    conn: &mut DbConnection,
    who: &Principal,
    activity: &NewActivity,
) -> AppResult<ProgressView> {
    let tenant = &who.tenant_id;
    lock_enrolment(conn, tenant, &activity.enrolment_id)?;
    let enrolment = visible_enrolment(conn, who, &activity.enrolment_id)?;
    if enrolment.status != "ACTIVE" {
        return Err(AppError::FailedPrecondition(format!(
            "the enrolment is {}; nothing can be recorded on it",
            enrolment.status.to_lowercase()
        )));
    }
    let before = view(conn, tenant, enrolment.clone())?;
    let Some(step) = before.progress.step(&activity.step_id) else {
        return Err(AppError::invalid_field(
            "step_id",
            format!(
                "is not a step of pathway {} version {}",
                before.pathway.pathway_id, before.pathway.version
            ),
        ));
    };
    let staff = who.has_any(&[Role::Admin, Role::Instructor]);
    let learner_self = who.subject == enrolment.learner;
    let source = match (step.step.kind, staff, learner_self) {
        (StepKind::Assessment, _, _) if activity.completed => {
            return Err(AppError::FailedPrecondition(
                "an assessment step completes only from a passing assessment result".into(),
            ));
        }
        (StepKind::Content | StepKind::Acknowledgement | StepKind::Assessment, _, true) => {
            "LEARNER"
        }
        (StepKind::TrainingSession, true, _) => "INSTRUCTOR_ATTENDANCE",
        (StepKind::External, true, _) => "ADMIN_ENTRY",
        (StepKind::Content | StepKind::Acknowledgement, true, false) => "ADMIN_ENTRY",
        (StepKind::TrainingSession, false, _) => {
            return Err(AppError::PermissionDenied(
                "attendance at a training session is marked by an instructor or admin".into(),
            ));
        }
        (StepKind::External, false, _) => {
            return Err(AppError::PermissionDenied(
                "external evidence is approved by an instructor or admin".into(),
            ));
        }
        _ => {
            return Err(AppError::PermissionDenied(
                "learners record only their own progress".into(),
            ));
        }
    };
    if step.state == StepState::Completed {
        return Ok(before);
    }
    if step.state == StepState::Locked {
        return Err(AppError::FailedPrecondition(format!(
            "step {} is locked until these steps are completed: {}",
            step.step.id,
            step.unlocked_by.join(", ")
        )));
    }
    let first = !before.any_activity;
    let at = now();
    rows::insert_activity(
        conn,
        &ActivityRow {
            id: new_id(),
            tenant_id: tenant.clone(),
            enrolment_id: enrolment.id.clone(),
            step_id: activity.step_id.clone(),
            kind: if activity.completed {
                "STEP_COMPLETED"
            } else {
                "STEP_STARTED"
            }
            .into(),
            source: source.into(),
            actor: who.subject.clone(),
            score: 0.0,
            max_score: 0.0,
            evidence_url: activity.evidence_url.clone(),
            note: activity.note.clone(),
            recorded_at: at,
        },
    )?;
    follow_up(conn, tenant, &enrolment, first, at)
}

/// After an activity: the first one tells enrolment-service the enrolment has started; a newly
/// met completion rule is recorded.
fn follow_up(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment: &EnrolmentRow,
    first: bool,
    at: chrono::NaiveDateTime,
) -> AppResult<ProgressView> {
    let mut events = Vec::new();
    if first {
        events.push(NewEvent::new(
            enrolment.id.clone(),
            &enrolment_pb::EnrolmentStarted {
                enrolment_id: enrolment.id.clone(),
                start_time: Some(timestamp(at)),
            },
        ));
    }
    let after = view(conn, tenant, enrolment.clone())?;
    if let Some(completed_at) = after.progress.completed_at
        && enrolment.completed_at.is_none()
    {
        rows::set_completed(conn, tenant, &enrolment.id, completed_at)?;
        if let Some(policy) = after.pathway.certification {
            issue_certification(
                conn,
                tenant,
                enrolment,
                &after.pathway,
                policy,
                completed_at,
            )?;
        }
    }
    outbox::enqueue(conn, tenant, events)?;
    Ok(after)
}

/// Issues the next certification cycle for a completed certification pathway.
fn issue_certification(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment: &EnrolmentRow,
    pathway: &PathwaySnapshot,
    policy: crate::domain::pathway::CertificationPolicy,
    completed_at: chrono::NaiveDateTime,
) -> AppResult<()> {
    if cert_rows::exists_for_enrolment(conn, tenant, &enrolment.id)? {
        return Ok(());
    }
    let previous =
        cert_rows::latest(conn, tenant, &enrolment.learner, &enrolment.pathway_id)?.map(|p| {
            certification::PreviousCycle {
                expires_at: p.expires_at,
                window_days: p.window_days,
            }
        });
    let cycle = cert_rows::cycles(conn, tenant, &enrolment.learner, &enrolment.pathway_id)? + 1;
    cert_rows::insert(
        conn,
        &CertificationRow {
            id: new_id(),
            tenant_id: tenant.to_string(),
            learner: enrolment.learner.clone(),
            pathway_id: enrolment.pathway_id.clone(),
            pathway_title: pathway.title.clone(),
            pathway_version: enrolment.pathway_version,
            enrolment_id: enrolment.id.clone(),
            cycle,
            completed_at,
            issued_at: now(),
            expires_at: certification::expiry(policy, completed_at, previous),
            window_days: policy.window_days,
            verification_code: certification::new_verification_code(),
            revoked_at: None,
            revoke_reason: String::new(),
            revoked_by: String::new(),
            expiring_announced_at: None,
        },
    )?;
    tracing::info!(learner = %enrolment.learner, pathway = %enrolment.pathway_id, cycle, "certification issued");
    Ok(())
}

fn enrolment_of(event: &events_pb::Event) -> Option<enrolment_pb::Enrolment> {
    let any = event.payload.as_ref()?;
    use prost::{Message, Name};
    let bytes = any.value.as_slice();
    if any.type_url == enrolment_pb::EnrolmentCreated::type_url() {
        enrolment_pb::EnrolmentCreated::decode(bytes)
            .ok()?
            .enrolment
    } else if any.type_url == enrolment_pb::EnrolmentUpdated::type_url() {
        enrolment_pb::EnrolmentUpdated::decode(bytes)
            .ok()?
            .enrolment
    } else if any.type_url == enrolment_pb::EnrolmentWithdrawn::type_url() {
        enrolment_pb::EnrolmentWithdrawn::decode(bytes)
            .ok()?
            .enrolment
    } else {
        None
    }
}

/// Applies one event inside its transaction (see `inbox::consume`).
fn apply_event(conn: &mut DbConnection, event: &events_pb::Event) -> Result<(), EventError> {
    use prost::Name;
    let tenant = event.tenant_id.as_str();
    let type_url = event
        .payload
        .as_ref()
        .map(|p| p.type_url.as_str())
        .unwrap_or_default();
    if type_url == assessment_pb::AssessmentOutcome::type_url() {
        let outcome: assessment_pb::AssessmentOutcome = payload(event)?;
        return apply_outcome(conn, tenant, &outcome);
    }
    let Some(e) = enrolment_of(event) else {
        return Err(EventError::Reject(format!("unknown event type {type_url}")));
    };
    if !rows::has_pathway_version(conn, tenant, &e.pathway_id, e.pathway_version)? {
        return Err(EventError::Retry(AppError::Unavailable(
            "the pathway version is not cached yet".into(),
        )));
    }
    let status = match enrolment_pb::EnrolmentStatus::try_from(e.status) {
        Ok(enrolment_pb::EnrolmentStatus::EnrolmentActive) => "ACTIVE",
        Ok(enrolment_pb::EnrolmentStatus::EnrolmentSuspended) => "SUSPENDED",
        Ok(enrolment_pb::EnrolmentStatus::EnrolmentWithdrawn) => "WITHDRAWN",
        _ => {
            return Err(EventError::Reject(format!(
                "enrolment {} without a status",
                e.id
            )));
        }
    };
    let revision = lms_platform::resource::revision_of_etag(&e.etag)
        .ok_or_else(|| EventError::Reject(format!("enrolment {} without a revision", e.id)))?;
    let assigned_at = e
        .assign_time
        .as_ref()
        .and_then(lms_platform::resource::from_timestamp)
        .ok_or_else(|| EventError::Reject(format!("enrolment {} without assign_time", e.id)))?;
    rows::upsert_enrolment(
        conn,
        &EnrolmentRow {
            id: e.id.clone(),
            tenant_id: tenant.to_string(),
            learner: e.learner.clone(),
            pathway_id: e.pathway_id.clone(),
            pathway_version: e.pathway_version,
            status: status.into(),
            requirement: enrolment_pb::Requirement::try_from(e.requirement)
                .map(|r| r.as_str_name().to_string())
                .unwrap_or_default(),
            assigned_at,
            due_at: e
                .due_time
                .as_ref()
                .and_then(lms_platform::resource::from_timestamp),
            completed_at: None,
            source_revision: revision,
        },
    )?;
    Ok(())
}

/// An assessment result: recorded on the assessment step of the learner's enrolment, which it
/// completes when the assessment's result passes. Kept for a retry when the enrolment has not
/// arrived here yet.
fn apply_outcome(
    conn: &mut DbConnection,
    tenant: &str,
    outcome: &assessment_pb::AssessmentOutcome,
) -> Result<(), EventError> {
    let Some(enrolment) =
        rows::current_enrolment(conn, tenant, &outcome.learner, &outcome.pathway_id)?
    else {
        return Err(EventError::Retry(AppError::Unavailable(format!(
            "no enrolment of {} in pathway {} yet",
            outcome.learner, outcome.pathway_id
        ))));
    };
    lock_enrolment(conn, tenant, &enrolment.id)?;
    let before = view(conn, tenant, enrolment.clone())?;
    let step_id = if outcome.step_id.is_empty() {
        // An assessment not tied to a step counts for the pathway's first assessment step.
        before
            .pathway
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Assessment)
            .map(|s| s.id.clone())
            .unwrap_or_default()
    } else {
        outcome.step_id.clone()
    };
    if before.pathway.step(&step_id).is_none() {
        return Err(EventError::Reject(format!(
            "step {step_id} is not in pathway {} version {}",
            before.pathway.pathway_id, before.pathway.version
        )));
    }
    let first = !before.any_activity;
    let at = now();
    let completes = outcome.result_passed
        && before
            .progress
            .step(&step_id)
            .is_some_and(|s| s.state != StepState::Completed);
    rows::insert_activity(
        conn,
        &ActivityRow {
            id: new_id(),
            tenant_id: tenant.to_string(),
            enrolment_id: enrolment.id.clone(),
            step_id,
            kind: if completes {
                "STEP_COMPLETED"
            } else if outcome.passed {
                "STEP_STARTED"
            } else {
                "STEP_FAILED"
            }
            .into(),
            source: "ASSESSMENT_OUTCOME".into(),
            actor: "assessment-service".into(),
            score: outcome.score,
            max_score: outcome.max_score,
            evidence_url: String::new(),
            note: format!(
                "attempt {} ({})",
                outcome.attempt_number, outcome.attempt_id
            ),
            recorded_at: at,
        },
    )?;
    follow_up(conn, tenant, &enrolment, first, at)?;
    Ok(())
}
