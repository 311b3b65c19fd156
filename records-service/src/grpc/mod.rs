//! The gRPC handlers: convert, call the use case, convert back. Who may call each RPC is
//! declared in [`policy`] and checked before a handler runs.

mod calendar_feeds;
mod cmi5;
pub mod convert;
pub mod csv_export;
mod events;
pub mod lrs_auth;
pub mod policy;
mod sessions;
mod steps;
mod verification;
mod xapi;
mod xapi_clients;
mod xapi_documents;
mod xapi_forwarding;
mod xapi_streams;

use lms_platform::auth::principal;
use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::resource::timestamp;
use lms_platform::validate::{Violations, parse_id};
use lms_proto::records_v1 as pb;
use pb::records_service_server::RecordsService;
use tonic::{Request, Response, Status};

use crate::app::RecordsApp;
use crate::domain::activity::NewActivity;
use crate::domain::evidence::Decision;
pub use calendar_feeds::CalendarFeedsGrpc;
pub use cmi5::{Cmi5FetchGrpc, Cmi5Grpc};
use convert::{
    MANUAL_PATHS, activity, certification, learner_filter, manual_fields, manual_record, progress,
    transcript_csv, transcript_entries, transcript_request,
};
pub use sessions::SessionsGrpc;
pub use verification::VerificationGrpc;
pub use xapi::XapiGrpc;
pub use xapi_clients::LrsClientsGrpc;
pub use xapi_forwarding::LrsForwardingGrpc;

pub struct RecordsGrpc {
    app: RecordsApp,
}

impl RecordsGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

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
        let paths = lms_platform::field_mask::update_paths(
            req.update_mask.as_ref(),
            &record,
            &MANUAL_PATHS,
        )?;
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
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
            Some(pb::compliance_report_request::Scope::Team(team)) => {
                v.max_text("team.manager", &team.manager, 200);
                Some(crate::domain::report::Scope::Team {
                    manager: team.manager,
                    whole_subtree: team.whole_subtree,
                })
            }
        };
        v.finish()?;
        let mut lines = self
            .app
            .compliance_report(&who, req.pathway_id.into(), scope)
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
                    enrolment_id: line.enrolment.id.into(),
                    state: state as i32,
                    percent: line.percent,
                    due_time: line.enrolment.due_at.map(timestamp),
                    complete_time: line.completed_at.map(timestamp),
                    certification_expire_time: line.certification_expires_at.map(timestamp),
                    certification_status: line.certification_status.map_or(
                        pb::CertificationStatus::Unspecified,
                        convert::certification_state,
                    ) as i32,
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
    type ExportComplianceReportStream = Self::ExportTranscriptStream;

    async fn export_compliance_report(
        &self,
        request: Request<pb::ComplianceReportRequest>,
    ) -> Result<Response<Self::ExportComplianceReportStream>, Status> {
        use tokio_stream::StreamExt;
        let mut items = self.stream_compliance_report(request).await?.into_inner();
        Ok(Response::new(async_stream(move |send| async move {
            // Rows go out in chunks of up to 500, the first with the header.
            let mut header = true;
            let mut batch = Vec::new();
            while let Some(item) = items.next().await {
                let row = match item.map(|item| item.item) {
                    Ok(Some(pb::compliance_report_item::Item::Row(row))) => row,
                    Ok(_) => break,
                    Err(status) => {
                        let _ = send.send(Err(status)).await;
                        return;
                    }
                };
                batch.push(csv_export::compliance_record(&row));
                if batch.len() == 500 {
                    let chunk = csv_export::chunk(header, &std::mem::take(&mut batch));
                    header = false;
                    if send.send(chunk).await.is_err() {
                        return;
                    }
                }
            }
            if header || !batch.is_empty() {
                let _ = send.send(csv_export::chunk(header, &batch)).await;
            }
        })))
    }

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
                .position(|e| convert::transcript_entry_id(e) == after)
                .map_or(all.len(), |i| i + 1),
            None => 0,
        };
        let page: Vec<pb::TranscriptEntry> = all.into_iter().skip(start).take(limit + 1).collect();
        let more = page.len() > limit;
        let entries: Vec<pb::TranscriptEntry> = page.into_iter().take(limit).collect();
        let next_page_token = match (more, entries.last()) {
            (true, Some(last)) => lms_platform::pagination::encode(
                vec![convert::transcript_entry_id(last).to_string()],
                &filters,
            ),
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
        let enrolment_id = EnrolmentId::parse("enrolment_id", &req.enrolment_id)?;
        Ok(Response::new(progress(
            self.app.get_progress(&who, enrolment_id).await?,
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

    async fn check_step(
        &self,
        request: Request<pb::CheckStepRequest>,
    ) -> Result<Response<pb::StepProgress>, Status> {
        let who = principal(&request)?;
        let step = steps::check_step(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(step))
    }

    async fn submit_evidence(
        &self,
        request: Request<pb::SubmitEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let who = principal(&request)?;
        let evidence = steps::submit_evidence(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(evidence))
    }

    async fn list_evidence(
        &self,
        request: Request<pb::ListEvidenceRequest>,
    ) -> Result<Response<pb::ListEvidenceResponse>, Status> {
        let who = principal(&request)?;
        let page = steps::list_evidence(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(page))
    }

    async fn approve_evidence(
        &self,
        request: Request<pb::DecideEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let evidence = steps::decide_evidence(&self.app, &who, req, Decision::Approve).await?;
        Ok(Response::new(evidence))
    }

    async fn reject_evidence(
        &self,
        request: Request<pb::DecideEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let evidence = steps::decide_evidence(&self.app, &who, req, Decision::Reject).await?;
        Ok(Response::new(evidence))
    }

    async fn record_activity(
        &self,
        request: Request<pb::RecordActivityRequest>,
    ) -> Result<Response<pb::Progress>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let enrolment_id = v.typed_id("enrolment_id", &req.enrolment_id);
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
        let enrolment_id = enrolment_id.unwrap_or_else(|| EnrolmentId::from(req.enrolment_id));
        let view = self
            .app
            .record_activity(
                &who,
                NewActivity {
                    enrolment_id,
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
        let pathway_id = v.typed_id("pathway_id", &req.pathway_id);
        if req.version < 1 {
            v.add("version", "must be a published version (1 or more)");
        }
        v.required_text("reason", &req.reason, 500);
        if req.enrolment_ids.len() > 1000 {
            v.add("enrolment_ids", "at most 1000");
        }
        let enrolment_ids: Vec<EnrolmentId> = req
            .enrolment_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| v.typed_id(&format!("enrolment_ids[{i}]"), id))
            .collect();
        v.finish()?;
        let pathway_id = pathway_id.unwrap_or_else(|| PathwayId::from(req.pathway_id));
        let moved = self
            .app
            .move_to_version(&who, pathway_id, req.version, enrolment_ids, req.reason)
            .await?;
        Ok(Response::new(pb::MoveToVersionResponse {
            enrolment_ids: moved.enrolment_ids.into_iter().map(String::from).collect(),
            completed: moved.completed as i32,
        }))
    }

    async fn list_activities(
        &self,
        request: Request<pb::ListActivitiesRequest>,
    ) -> Result<Response<pb::ListActivitiesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let enrolment_id = EnrolmentId::parse("enrolment_id", &req.enrolment_id)?;
        let page = self
            .app
            .list_activities(&who, enrolment_id, req.page_size, req.page_token)
            .await?;
        Ok(Response::new(pb::ListActivitiesResponse {
            activities: page.items.into_iter().map(activity).collect(),
            next_page_token: page.next_page_token,
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
