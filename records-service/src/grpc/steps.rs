//! Handlers of the step authority (CheckStep) and the evidence review flow.

use lms_platform::Principal;
use lms_platform::ids::{EnrolmentId, PathwayId};
use lms_platform::resource::timestamp;
use lms_platform::validate::{Violations, parse_id};
use lms_proto::records_v1 as pb;
use tonic::Status;

use super::convert::{learner_filter, step_progress};
use crate::app::{RecordsApp, StepQuestion};
use crate::domain::evidence::{Decision, Evidence, EvidenceStatus, EvidenceSubmission};

pub async fn check_step(
    app: &RecordsApp,
    who: &Principal,
    req: pb::CheckStepRequest,
) -> Result<pb::StepProgress, Status> {
    let mut v = Violations::new();
    let enrolment_id: Option<EnrolmentId> = v.typed_id("enrolment_id", &req.enrolment_id);
    let pathway_id: Option<PathwayId> = v.typed_id("pathway_id", &req.pathway_id);
    if !req.step_id.is_empty() {
        v.id("step_id", &req.step_id);
    }
    if !req.assessment_id.is_empty() {
        v.id("assessment_id", &req.assessment_id);
    }
    v.required_text("learner", &req.learner, 128);
    v.in_range(
        "pathway_version",
        req.pathway_version.into(),
        1,
        i32::MAX.into(),
    );
    v.finish()?;
    // Both are well formed once finish() passed.
    let enrolment_id = enrolment_id.unwrap_or_else(|| EnrolmentId::from(req.enrolment_id.as_str()));
    let pathway_id = pathway_id.unwrap_or_else(|| PathwayId::from(req.pathway_id.as_str()));
    let step = app
        .check_step(
            who,
            StepQuestion {
                enrolment_id,
                step_id: req.step_id,
                assessment_id: req.assessment_id,
                learner: req.learner,
                pathway_id,
                pathway_version: req.pathway_version,
            },
        )
        .await?;
    Ok(step_progress(step))
}

pub async fn submit_evidence(
    app: &RecordsApp,
    who: &Principal,
    req: pb::SubmitEvidenceRequest,
) -> Result<pb::Evidence, Status> {
    let mut v = Violations::new();
    let enrolment_id: Option<EnrolmentId> = v.typed_id("enrolment_id", &req.enrolment_id);
    v.id("step_id", &req.step_id);
    v.max_text("description", &req.description, 2000);
    if !req.url.is_empty() {
        v.url("url", &req.url, 2000);
    }
    v.max_text("file_reference", &req.file_reference, 500);
    if [&req.description, &req.url, &req.file_reference]
        .iter()
        .all(|t| t.trim().is_empty())
    {
        v.add(
            "description",
            "give a description, a url or a file_reference (at least one)",
        );
    }
    v.finish()?;
    let enrolment_id = enrolment_id.unwrap_or_else(|| EnrolmentId::from(req.enrolment_id.as_str()));
    let evidence = app
        .submit_evidence(
            who,
            EvidenceSubmission {
                enrolment_id,
                step_id: req.step_id,
                description: req.description.trim().to_string(),
                url: req.url,
                file_reference: req.file_reference.trim().to_string(),
            },
        )
        .await?;
    Ok(evidence_message(evidence))
}

pub async fn decide_evidence(
    app: &RecordsApp,
    who: &Principal,
    req: pb::DecideEvidenceRequest,
    decision: Decision,
) -> Result<pb::Evidence, Status> {
    let mut v = Violations::new();
    v.id("id", &req.id);
    match decision {
        Decision::Reject => v.required_text("reason", &req.reason, 500),
        Decision::Approve => v.max_text("reason", &req.reason, 500),
    }
    v.finish()?;
    let evidence = app
        .decide_evidence(who, req.id, decision, req.reason.trim().to_string())
        .await?;
    Ok(evidence_message(evidence))
}

pub async fn list_evidence(
    app: &RecordsApp,
    who: &Principal,
    req: pb::ListEvidenceRequest,
) -> Result<pb::ListEvidenceResponse, Status> {
    let learner = learner_filter(req.learner)?;
    let status = match pb::EvidenceStatus::try_from(req.status) {
        Ok(pb::EvidenceStatus::Unspecified) => None,
        Ok(pb::EvidenceStatus::EvidencePending) => Some(EvidenceStatus::Pending),
        Ok(pb::EvidenceStatus::EvidenceApproved) => Some(EvidenceStatus::Approved),
        Ok(pb::EvidenceStatus::EvidenceRejected) => Some(EvidenceStatus::Rejected),
        Err(_) => {
            let mut v = Violations::new();
            v.add("status", "an EvidenceStatus value");
            v.finish()?;
            None
        }
    };
    let pathway_id = if req.pathway_id.is_empty() {
        None
    } else {
        parse_id("pathway_id", &req.pathway_id)?;
        Some(PathwayId::from(req.pathway_id))
    };
    let page = app
        .list_evidence(
            who,
            status,
            pathway_id,
            learner,
            req.page_size,
            req.page_token,
        )
        .await?;
    Ok(pb::ListEvidenceResponse {
        evidence: page.items.into_iter().map(evidence_message).collect(),
        next_page_token: page.next_page_token,
    })
}

fn evidence_message(e: Evidence) -> pb::Evidence {
    pb::Evidence {
        id: e.id,
        enrolment_id: e.enrolment_id.into(),
        step_id: e.step_id,
        step_title: e.step_title,
        learner: e.learner,
        pathway_id: e.pathway_id.into(),
        description: e.description,
        url: e.url,
        file_reference: e.file_reference,
        status: match e.status {
            EvidenceStatus::Pending => pb::EvidenceStatus::EvidencePending,
            EvidenceStatus::Approved => pb::EvidenceStatus::EvidenceApproved,
            EvidenceStatus::Rejected => pb::EvidenceStatus::EvidenceRejected,
        } as i32,
        submit_time: Some(timestamp(e.submitted_at)),
        reviewer: e.decided_by,
        decide_time: e.decided_at.map(timestamp),
        decision_reason: e.decision_reason,
    }
}
