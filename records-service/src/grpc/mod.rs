//! The gRPC handlers: authorise, convert, call the use case, convert back.

pub mod policy;

use lms_platform::auth::principal;
use lms_platform::resource::timestamp;
use lms_platform::validate::{Violations, parse_id};
use lms_proto::records_v1 as pb;
use pb::records_service_server::RecordsService;
use tonic::{Request, Response, Status};

use crate::app::{NewActivity, ProgressView, RecordsApp, TranscriptEntry, TranscriptFilter};
use crate::domain::progress::{self, StepState};
use crate::storage::records::ActivityRow;

pub struct RecordsGrpc {
    app: RecordsApp,
}

impl RecordsGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

/// The optional `learner` of a list request (empty: the caller, for learners).
fn learner_filter(learner: String) -> Result<Option<String>, Status> {
    let mut v = Violations::new();
    v.max_text("learner", &learner, 128);
    v.finish()?;
    Ok((!learner.is_empty()).then_some(learner))
}

pub fn progress(v: ProgressView) -> pb::Progress {
    let next_step_ids = v.progress.next_step_ids();
    pb::Progress {
        enrolment_id: v.enrolment.id,
        learner: v.enrolment.learner,
        pathway_id: v.enrolment.pathway_id,
        pathway_version: v.enrolment.pathway_version,
        pathway_title: v.pathway.title,
        status: match v.progress.status {
            progress::Status::NotStarted => pb::ProgressStatus::NotStarted,
            progress::Status::InProgress => pb::ProgressStatus::InProgress,
            progress::Status::Completed => pb::ProgressStatus::Completed,
            progress::Status::Overdue => pb::ProgressStatus::Overdue,
        } as i32,
        percent: v.progress.percent,
        due_time: v.enrolment.due_at.map(timestamp),
        complete_time: v.progress.completed_at.map(timestamp),
        steps: v
            .progress
            .steps
            .into_iter()
            .map(|s| pb::StepProgress {
                step_id: s.step.id,
                title: s.step.title,
                kind: s.step.kind.name().into(),
                required: s.step.required,
                state: match s.state {
                    StepState::Locked => pb::StepState::StepLocked,
                    StepState::Available => pb::StepState::StepAvailable,
                    StepState::Completed => pb::StepState::StepDone,
                } as i32,
                unlocked_by: s.unlocked_by,
                complete_time: s.completed_at.map(timestamp),
                score_percent: s.score_percent,
            })
            .collect(),
        next_step_ids,
        active: v.enrolment.status == "ACTIVE",
    }
}

fn activity(a: ActivityRow) -> pb::Activity {
    pb::Activity {
        id: a.id,
        enrolment_id: a.enrolment_id,
        step_id: a.step_id,
        kind: pb::ActivityKind::from_str_name(&a.kind).unwrap_or_default() as i32,
        source: pb::ActivitySource::from_str_name(&a.source).unwrap_or_default() as i32,
        actor: a.actor,
        score: a.score,
        max_score: a.max_score,
        evidence_url: a.evidence_url,
        note: a.note,
        record_time: Some(timestamp(a.recorded_at)),
    }
}

fn certification_status(
    c: &crate::storage::certifications::CertificationRow,
) -> pb::CertificationStatus {
    use crate::domain::certification::{Status, status};
    match status(
        c.expires_at,
        c.window_days,
        c.revoked_at.is_some(),
        lms_platform::resource::now(),
    ) {
        Status::Active => pb::CertificationStatus::CertActive,
        Status::Expiring => pb::CertificationStatus::CertExpiring,
        Status::Expired => pb::CertificationStatus::CertExpired,
        Status::Revoked => pb::CertificationStatus::CertRevoked,
    }
}

pub fn certification(c: crate::storage::certifications::CertificationRow) -> pb::Certification {
    let status = certification_status(&c);
    pb::Certification {
        status: status as i32,
        id: c.id,
        learner: c.learner,
        pathway_id: c.pathway_id,
        pathway_title: c.pathway_title,
        pathway_version: c.pathway_version,
        enrolment_id: c.enrolment_id,
        cycle: c.cycle,
        complete_time: Some(timestamp(c.completed_at)),
        issue_time: Some(timestamp(c.issued_at)),
        expire_time: c.expires_at.map(timestamp),
        verification_code: c.verification_code,
        revoke_time: c.revoked_at.map(timestamp),
        revoke_reason: c.revoke_reason,
    }
}

/// The learner and filter of a transcript request, validated.
fn transcript_request(
    req: &pb::ListTranscriptRequest,
) -> Result<(Option<String>, TranscriptFilter), Status> {
    let mut v = Violations::new();
    v.max_text("learner", &req.learner, 128);
    if req.page_size < 0 {
        v.add("page_size", "must not be negative");
    }
    let outcome = match pb::TranscriptOutcome::try_from(req.outcome) {
        Ok(pb::TranscriptOutcome::Unspecified) => None,
        Ok(pb::TranscriptOutcome::OnlyCompleted) => Some(true),
        Ok(pb::TranscriptOutcome::OnlyNotCompleted) => Some(false),
        Err(_) => {
            v.add("outcome", "unknown outcome filter");
            None
        }
    };
    let from = req
        .from_time
        .as_ref()
        .and_then(lms_platform::resource::from_timestamp);
    let to = req
        .to_time
        .as_ref()
        .and_then(lms_platform::resource::from_timestamp);
    if let (Some(from), Some(to)) = (from, to)
        && to <= from
    {
        v.add("to_time", "must be after from_time");
    }
    v.finish()?;
    Ok((
        (!req.learner.is_empty()).then(|| req.learner.clone()),
        TranscriptFilter { outcome, from, to },
    ))
}

fn transcript_entry(e: TranscriptEntry) -> pb::TranscriptEntry {
    let requirement = e.progress.enrolment.requirement.clone();
    let enrolment_status = e.progress.enrolment.status.clone();
    let assign_time = Some(timestamp(e.progress.enrolment.assigned_at));
    let p = progress(e.progress);
    pb::TranscriptEntry {
        enrolment_id: p.enrolment_id,
        pathway_id: p.pathway_id,
        pathway_title: p.pathway_title,
        pathway_version: p.pathway_version,
        requirement,
        enrolment_status,
        status: p.status,
        percent: p.percent,
        assign_time,
        due_time: p.due_time,
        complete_time: p.complete_time,
        best_score_percent: e.best_score_percent,
        certification_id: e
            .certification
            .as_ref()
            .map(|c| c.id.clone())
            .unwrap_or_default(),
        certification_expire_time: e.certification.and_then(|c| c.expires_at).map(timestamp),
    }
}

fn transcript_entries(entries: Vec<TranscriptEntry>) -> Vec<pb::TranscriptEntry> {
    entries.into_iter().map(transcript_entry).collect()
}

fn iso(t: &Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The transcript as CSV text.
fn transcript_csv(entries: &[pb::TranscriptEntry]) -> Result<Vec<u8>, Status> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |_| Status::internal("internal error");
    out.write_record([
        "pathway",
        "version",
        "requirement",
        "enrolment_status",
        "status",
        "percent",
        "assigned",
        "due",
        "completed",
        "best_score_percent",
        "certification_id",
        "certification_expires",
    ])
    .map_err(failed)?;
    for e in entries {
        let status = pb::ProgressStatus::try_from(e.status)
            .unwrap_or_default()
            .as_str_name();
        out.write_record([
            e.pathway_title.as_str(),
            &e.pathway_version.to_string(),
            &e.requirement,
            &e.enrolment_status,
            status,
            &format!("{:.2}", e.percent),
            &iso(&e.assign_time),
            &iso(&e.due_time),
            &iso(&e.complete_time),
            &format!("{:.2}", e.best_score_percent),
            &e.certification_id,
            &iso(&e.certification_expire_time),
        ])
        .map_err(failed)?;
    }
    out.into_inner()
        .map_err(|_| Status::internal("internal error"))
}

fn manual_record(r: crate::storage::manual::ManualRecordRow) -> pb::ManualRecord {
    pb::ManualRecord {
        etag: lms_platform::resource::etag(r.revision),
        id: r.id,
        learner: r.learner,
        title: r.title,
        provider: r.provider,
        complete_time: Some(timestamp(r.completed_at)),
        hours: r.hours,
        evidence_url: r.evidence_url,
        create_time: Some(timestamp(r.created_at)),
        created_by: r.created_by,
        delete_time: r.deleted_at.map(timestamp),
    }
}

/// The manual-record fields named in `paths`, validated.
fn manual_fields(
    v: &mut Violations,
    record: &pb::ManualRecord,
    paths: &[&str],
) -> crate::manual::ManualFields {
    let mut fields = crate::manual::ManualFields::default();
    for path in paths {
        match *path {
            "title" => {
                v.required_text("record.title", &record.title, 200);
                fields.title = Some(record.title.trim().to_string());
            }
            "provider" => {
                v.max_text("record.provider", &record.provider, 200);
                fields.provider = Some(record.provider.trim().to_string());
            }
            "complete_time" => match record.complete_time.as_ref().and_then(lms_platform::resource::from_timestamp) {
                Some(at) if at <= lms_platform::resource::now() => fields.completed_at = Some(at),
                Some(_) => v.add("record.complete_time", "must not be in the future"),
                None => v.add("record.complete_time", "is required"),
            },
            "hours" => {
                if !(0.0..=10_000.0).contains(&record.hours) {
                    v.add("record.hours", "must be 0..10000");
                }
                fields.hours = Some(record.hours);
            }
            "evidence_url" => {
                if !record.evidence_url.is_empty() {
                    v.url("record.evidence_url", &record.evidence_url, 2048);
                }
                fields.evidence_url = Some(record.evidence_url.trim().to_string());
            }
            other => v.add(
                "update_mask",
                format!(
                    "unknown path {other:?}; updatable: title, provider, complete_time, hours, evidence_url"
                ),
            ),
        }
    }
    fields
}

const MANUAL_PATHS: [&str; 5] = [
    "title",
    "provider",
    "complete_time",
    "hours",
    "evidence_url",
];

#[tonic::async_trait]
impl RecordsService for RecordsGrpc {
    async fn create_manual_record(
        &self,
        request: Request<pb::CreateManualRecordRequest>,
    ) -> Result<Response<pb::ManualRecord>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let record = req.record.unwrap_or_default();
        let mut v = Violations::new();
        v.required_text("record.learner", &record.learner, 128);
        v.required_text("reason", &req.reason, 500);
        let request_id = v
            .optional_id("request_id", &req.request_id)
            .map(|id| id.to_string());
        let fields = manual_fields(&mut v, &record, &MANUAL_PATHS);
        v.finish()?;
        let created = self
            .app
            .create_manual_record(
                &who,
                record.learner,
                fields,
                req.reason.trim().to_string(),
                request_id,
            )
            .await?;
        Ok(Response::new(manual_record(created)))
    }

    async fn update_manual_record(
        &self,
        request: Request<pb::UpdateManualRecordRequest>,
    ) -> Result<Response<pb::ManualRecord>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let record = req.record.unwrap_or_default();
        let mut v = Violations::new();
        v.id("record.id", &record.id);
        v.required_text("reason", &req.reason, 500);
        let paths: Vec<String> = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let paths: Vec<&str> = if paths.is_empty() {
            MANUAL_PATHS.to_vec()
        } else {
            paths.iter().map(String::as_str).collect()
        };
        let fields = manual_fields(&mut v, &record, &paths);
        v.finish()?;
        let updated = self
            .app
            .update_manual_record(
                &who,
                record.id,
                record.etag,
                fields,
                req.reason.trim().to_string(),
            )
            .await?;
        Ok(Response::new(manual_record(updated)))
    }

    async fn delete_manual_record(
        &self,
        request: Request<pb::DeleteManualRecordRequest>,
    ) -> Result<Response<pb::ManualRecord>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("id", &req.id);
        v.required_text("reason", &req.reason, 500);
        v.finish()?;
        let deleted = self
            .app
            .delete_manual_record(&who, req.id, req.etag, req.reason.trim().to_string())
            .await?;
        Ok(Response::new(manual_record(deleted)))
    }

    async fn list_manual_records(
        &self,
        request: Request<pb::ListManualRecordsRequest>,
    ) -> Result<Response<pb::ListManualRecordsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let learner = learner_filter(req.learner)?;
        let page = self
            .app
            .list_manual_records(&who, learner, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListManualRecordsResponse {
            records: page.items.into_iter().map(manual_record).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn list_manual_record_audit(
        &self,
        request: Request<pb::ListManualRecordAuditRequest>,
    ) -> Result<Response<pb::ListManualRecordAuditResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        let changes = self.app.manual_record_audit(&who, req.id).await?;
        Ok(Response::new(pb::ListManualRecordAuditResponse {
            changes: changes
                .into_iter()
                .map(|c| pb::ManualRecordChange {
                    action: c.action,
                    actor: c.actor,
                    change_time: Some(timestamp(c.changed_at)),
                    reason: c.reason,
                    snapshot: c.snapshot,
                })
                .collect(),
        }))
    }

    type StreamComplianceReportStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::ComplianceReportItem, Status>> + Send>,
    >;

    async fn stream_compliance_report(
        &self,
        request: Request<pb::ComplianceReportRequest>,
    ) -> Result<Response<Self::StreamComplianceReportStream>, Status> {
        use crate::domain::certification::Compliance;
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("pathway_id", &req.pathway_id);
        let scope = match req.scope {
            None => None,
            Some(pb::compliance_report_request::Scope::AudienceId(id)) => {
                v.id("audience_id", &id);
                Some(crate::domain::report::Scope::Audience(id))
            }
            Some(pb::compliance_report_request::Scope::ClassId(id)) => {
                v.id("class_id", &id);
                Some(crate::domain::report::Scope::Class(id))
            }
            Some(pb::compliance_report_request::Scope::Department(name)) => {
                v.required_text("department", &name, 200);
                Some(crate::domain::report::Scope::Department(name))
            }
        };
        v.finish()?;
        let mut lines = self
            .app
            .compliance_report(&who, req.pathway_id, scope)
            .await?;
        let stream = async_stream(move |send| async move {
            let mut totals = pb::ComplianceTotals::default();
            while let Some(line) = lines.recv().await {
                let line = match line {
                    Ok(line) => line,
                    Err(error) => {
                        let _ = send.send(Err(error.into())).await;
                        return;
                    }
                };
                totals.learners += 1;
                let state = match line.state {
                    Compliance::Compliant => {
                        totals.compliant += 1;
                        pb::ComplianceState::ComplianceCompliant
                    }
                    Compliance::InProgress => {
                        totals.in_progress += 1;
                        pb::ComplianceState::ComplianceInProgress
                    }
                    Compliance::Overdue => {
                        totals.overdue += 1;
                        pb::ComplianceState::ComplianceOverdue
                    }
                    Compliance::Expired => {
                        totals.expired += 1;
                        pb::ComplianceState::ComplianceExpired
                    }
                    Compliance::NotStarted => {
                        totals.not_started += 1;
                        pb::ComplianceState::ComplianceNotStarted
                    }
                };
                let row = pb::ComplianceRow {
                    learner: line.enrolment.learner,
                    enrolment_id: line.enrolment.id,
                    state: state as i32,
                    percent: line.percent,
                    due_time: line.enrolment.due_at.map(timestamp),
                    complete_time: line.completed_at.map(timestamp),
                    certification_expire_time: line.certification_expires_at.map(timestamp),
                };
                let item = pb::ComplianceReportItem {
                    item: Some(pb::compliance_report_item::Item::Row(row)),
                };
                if send.send(Ok(item)).await.is_err() {
                    return;
                }
            }
            let _ = send
                .send(Ok(pb::ComplianceReportItem {
                    item: Some(pb::compliance_report_item::Item::Totals(totals)),
                }))
                .await;
        });
        Ok(Response::new(stream))
    }

    type ExportTranscriptStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::CsvChunk, Status>> + Send>>;

    async fn list_transcript(
        &self,
        request: Request<pb::ListTranscriptRequest>,
    ) -> Result<Response<pb::ListTranscriptResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let (learner, filter) = transcript_request(&req)?;
        let limit = lms_platform::pagination::page_size(req.page_size)? as usize;
        let filters = format!("{learner:?}/{filter:?}");
        let after = lms_platform::pagination::decode_key::<1>(&req.page_token, &filters)?;
        let all = transcript_entries(self.app.transcript(&who, learner, filter).await?);
        let start = match after {
            Some([after]) => all
                .iter()
                .position(|e| e.enrolment_id == after)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<pb::TranscriptEntry> = all.into_iter().skip(start).take(limit + 1).collect();
        let more = page.len() > limit;
        let entries: Vec<pb::TranscriptEntry> = page.into_iter().take(limit).collect();
        let next_page_token = match (more, entries.last()) {
            (true, Some(last)) => {
                lms_platform::pagination::encode(vec![last.enrolment_id.clone()], &filters)
            }
            _ => String::new(),
        };
        Ok(Response::new(pb::ListTranscriptResponse {
            entries,
            next_page_token,
        }))
    }

    async fn export_transcript(
        &self,
        request: Request<pb::ListTranscriptRequest>,
    ) -> Result<Response<Self::ExportTranscriptStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let (learner, filter) = transcript_request(&req)?;
        let entries = transcript_entries(self.app.transcript(&who, learner, filter).await?);
        let bytes = transcript_csv(&entries)?;
        let chunks: Vec<Result<pb::CsvChunk, Status>> = bytes
            .chunks(64 * 1024)
            .map(|c| Ok(pb::CsvChunk { data: c.to_vec() }))
            .collect();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn list_certifications(
        &self,
        request: Request<pb::ListCertificationsRequest>,
    ) -> Result<Response<pb::ListCertificationsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let learner = learner_filter(req.learner)?;
        let page = self
            .app
            .list_certifications(&who, learner, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListCertificationsResponse {
            certifications: page.items.into_iter().map(certification).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_certification(
        &self,
        request: Request<pb::GetCertificationRequest>,
    ) -> Result<Response<pb::Certification>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("id", &req.id)?;
        Ok(Response::new(certification(
            self.app.get_certification(&who, req.id).await?,
        )))
    }

    async fn revoke_certification(
        &self,
        request: Request<pb::RevokeCertificationRequest>,
    ) -> Result<Response<pb::Certification>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("id", &req.id);
        v.required_text("reason", &req.reason, 500);
        v.finish()?;
        let revoked = self
            .app
            .revoke_certification(&who, req.id, req.reason.trim().to_string())
            .await?;
        Ok(Response::new(certification(revoked)))
    }

    async fn get_progress(
        &self,
        request: Request<pb::GetProgressRequest>,
    ) -> Result<Response<pb::Progress>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("enrolment_id", &req.enrolment_id)?;
        Ok(Response::new(progress(
            self.app.get_progress(&who, req.enrolment_id).await?,
        )))
    }

    async fn list_progress(
        &self,
        request: Request<pb::ListProgressRequest>,
    ) -> Result<Response<pb::ListProgressResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let learner = learner_filter(req.learner)?;
        let page = self
            .app
            .list_progress(&who, learner, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListProgressResponse {
            progress: page.items.into_iter().map(progress).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn record_activity(
        &self,
        request: Request<pb::RecordActivityRequest>,
    ) -> Result<Response<pb::Progress>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("enrolment_id", &req.enrolment_id);
        v.id("step_id", &req.step_id);
        v.max_text("evidence_url", &req.evidence_url, 2000);
        v.max_text("note", &req.note, 2000);
        let request_id = v
            .optional_id("request_id", &req.request_id)
            .map(|id| id.to_string());
        let completed = match pb::ActivityKind::try_from(req.kind) {
            Ok(pb::ActivityKind::StepCompleted | pb::ActivityKind::Unspecified) => true,
            Ok(pb::ActivityKind::StepStarted) => false,
            _ => {
                v.add("kind", "STEP_STARTED or STEP_COMPLETED");
                false
            }
        };
        v.finish()?;
        let view = self
            .app
            .record_activity(
                &who,
                NewActivity {
                    enrolment_id: req.enrolment_id,
                    step_id: req.step_id,
                    completed,
                    evidence_url: req.evidence_url,
                    note: req.note,
                },
                request_id,
            )
            .await?;
        Ok(Response::new(progress(view)))
    }

    async fn move_to_version(
        &self,
        request: Request<pb::MoveToVersionRequest>,
    ) -> Result<Response<pb::MoveToVersionResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("pathway_id", &req.pathway_id);
        if req.version < 1 {
            v.add("version", "must be a published version (1 or more)");
        }
        v.required_text("reason", &req.reason, 500);
        if req.enrolment_ids.len() > 1000 {
            v.add("enrolment_ids", "at most 1000");
        }
        for (i, id) in req.enrolment_ids.iter().enumerate() {
            v.id(&format!("enrolment_ids[{i}]"), id);
        }
        v.finish()?;
        let moved = self
            .app
            .move_to_version(
                &who,
                req.pathway_id,
                req.version,
                req.enrolment_ids,
                req.reason,
            )
            .await?;
        Ok(Response::new(pb::MoveToVersionResponse {
            enrolment_ids: moved.enrolment_ids,
            completed: moved.completed as i32,
        }))
    }

    async fn list_activities(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        parse_id("enrolment_id", &req.enrolment_id)?;
        let page = self
            .app
            .list_activities(&who, req.enrolment_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListActivitiesResponse {
            activities: page.items.into_iter().map(activity).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}

/// `lms.events.v1.EventConsumer`: enrolment and assessment events.
pub struct EventsGrpc {
    app: RecordsApp,
}

impl EventsGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl lms_proto::events_v1::event_consumer_server::EventConsumer for EventsGrpc {
    async fn deliver_events(
        &self,
        request: Request<lms_proto::events_v1::DeliverEventsRequest>,
    ) -> Result<Response<lms_proto::events_v1::DeliverEventsResponse>, Status> {
        let events = request.into_inner().events;
        Ok(Response::new(self.app.apply_events(events).await?))
    }
}

/// `lms.records.v1.CertificateVerification`: public, no token.
pub struct VerificationGrpc {
    app: RecordsApp,
}

impl VerificationGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::certificate_verification_server::CertificateVerification for VerificationGrpc {
    async fn verify_certificate(
        &self,
        request: Request<pb::VerifyCertificateRequest>,
    ) -> Result<Response<pb::VerifiedCertificate>, Status> {
        let code = request.into_inner().verification_code.trim().to_uppercase();
        if code.is_empty() || code.len() > 64 {
            return Err(lms_platform::AppError::invalid_field(
                "verification_code",
                "is required (16 characters)",
            )
            .into());
        }
        let c = self.app.verify_certificate(code).await?;
        let status = certification_status(&c);
        Ok(Response::new(pb::VerifiedCertificate {
            valid: matches!(
                status,
                pb::CertificationStatus::CertActive | pb::CertificationStatus::CertExpiring
            ),
            status: status as i32,
            learner: c.learner,
            pathway_title: c.pathway_title,
            issue_time: Some(timestamp(c.issued_at)),
            expire_time: c.expires_at.map(timestamp),
            revoke_reason: c.revoke_reason,
        }))
    }
}

/// A stream fed by a task: `produce` gets the sending half of a bounded channel.
fn async_stream<T, F, Fut>(
    produce: F,
) -> std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Result<T, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (send, receive) = tokio::sync::mpsc::channel(256);
    tokio::spawn(produce(send));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receive))
}
