//! Wire conversion: requests validated into use-case inputs, results into messages.

use lms_platform::resource::timestamp;
use lms_platform::validate::Violations;
use lms_proto::records_v1 as pb;
use tonic::Status;

use crate::app::{ProgressView, TranscriptEntry, TranscriptFilter};
use crate::domain::activity::Activity;
use crate::domain::certification::{Certification, Status as CertificationState};
use crate::domain::enrolment::EnrolmentStatus;
use crate::domain::manual::{ManualFields, ManualRecord};
use crate::domain::progress::{self, StepState};

/// The optional `learner` of a list request (empty: the caller, for learners).
pub fn learner_filter(learner: String) -> Result<Option<String>, Status> {
    let mut v = Violations::new();
    v.max_text("learner", &learner, 128);
    v.finish()?;
    Ok((!learner.is_empty()).then_some(learner))
}

pub fn progress(v: ProgressView) -> pb::Progress {
    let next_step_ids = v.progress.next_step_ids();
    pb::Progress {
        enrolment_id: v.enrolment.id.into(),
        learner: v.enrolment.learner,
        pathway_id: v.enrolment.pathway_id.into(),
        pathway_version: v.enrolment.pathway_version,
        pathway_title: v.pathway.title.clone(),
        status: match v.progress.status {
            progress::Status::NotStarted => pb::ProgressStatus::NotStarted,
            progress::Status::InProgress => pb::ProgressStatus::InProgress,
            progress::Status::Completed => pb::ProgressStatus::Completed,
            progress::Status::Overdue => pb::ProgressStatus::Overdue,
        } as i32,
        percent: v.progress.percent,
        due_time: v.enrolment.due_at.map(timestamp),
        complete_time: v.progress.completed_at.map(timestamp),
        steps: v.progress.steps.into_iter().map(step_progress).collect(),
        next_step_ids,
        active: v.enrolment.status == EnrolmentStatus::Active,
        requirement: v.enrolment.requirement,
    }
}

pub fn step_progress(s: progress::StepProgress) -> pb::StepProgress {
    pb::StepProgress {
        step_id: s.step.id,
        title: s.step.title,
        kind: s.step.kind.name().into(),
        required: s.step.required,
        state: match s.state {
            StepState::Locked => pb::StepState::StepLocked,
            StepState::Available => pb::StepState::StepAvailable,
            StepState::Completed => pb::StepState::StepDone,
            StepState::Blocked => pb::StepState::StepBlocked,
            StepState::Waiting => pb::StepState::StepWaiting,
        } as i32,
        unlocked_by: s.unlocked_by,
        complete_time: s.completed_at.map(timestamp),
        score_percent: s.score_percent,
        reason: s.reason.as_ref().map_or(pb::StepReason::Unspecified, |r| {
            pb::StepReason::from_str_name(r.code()).unwrap_or(pb::StepReason::Unspecified)
        }) as i32,
        reason_text: s.reason.map(|r| r.text()).unwrap_or_default(),
    }
}

pub fn activity(a: Activity) -> pb::Activity {
    pb::Activity {
        id: a.id,
        enrolment_id: a.enrolment_id.into(),
        step_id: a.step_id,
        kind: pb::ActivityKind::from_str_name(a.kind.as_str()).unwrap_or_default() as i32,
        source: pb::ActivitySource::from_str_name(a.source.as_str()).unwrap_or_default() as i32,
        actor: a.actor,
        score: a.score,
        max_score: a.max_score,
        evidence_url: a.evidence_url,
        note: a.note,
        record_time: Some(timestamp(a.recorded_at)),
    }
}

pub fn certification_status(c: &Certification) -> pb::CertificationStatus {
    certification_state(c.status(lms_platform::resource::now()))
}

pub fn certification_state(state: CertificationState) -> pb::CertificationStatus {
    match state {
        CertificationState::Active => pb::CertificationStatus::CertActive,
        CertificationState::Expiring => pb::CertificationStatus::CertExpiring,
        CertificationState::Expired => pb::CertificationStatus::CertExpired,
        CertificationState::Revoked => pb::CertificationStatus::CertRevoked,
    }
}

pub fn certification(c: Certification) -> pb::Certification {
    let status = certification_status(&c);
    let grace_end_time = c.grace_ends_at().map(timestamp);
    pb::Certification {
        status: status as i32,
        id: c.id,
        learner: c.learner,
        pathway_id: c.pathway_id.into(),
        pathway_title: c.pathway_title,
        pathway_version: c.pathway_version,
        enrolment_id: c.enrolment_id.into(),
        cycle: c.cycle,
        complete_time: Some(timestamp(c.completed_at)),
        issue_time: Some(timestamp(c.issued_at)),
        expire_time: c.expires_at.map(timestamp),
        grace_end_time,
        verification_code: c.verification_code,
        revoke_time: c.revoked_at.map(timestamp),
        revoke_reason: c.revoke_reason,
    }
}

/// The learner and filter of a transcript request, validated.
pub fn transcript_request(
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
    match e {
        TranscriptEntry::Enrolment {
            progress: view,
            best_score_percent,
            certification,
        } => {
            let requirement = view.enrolment.requirement.clone();
            let enrolment_status = view.enrolment.status.as_str().to_string();
            let assign_time = Some(timestamp(view.enrolment.assigned_at));
            let p = progress(*view);
            pb::TranscriptEntry {
                source: pb::TranscriptSource::TranscriptEnrolment as i32,
                title: p.pathway_title.clone(),
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
                best_score_percent,
                certification_id: certification
                    .as_ref()
                    .map(|c| c.id.clone())
                    .unwrap_or_default(),
                certification_expire_time: certification.and_then(|c| c.expires_at).map(timestamp),
                ..Default::default()
            }
        }
        TranscriptEntry::Manual(record) => pb::TranscriptEntry {
            source: pb::TranscriptSource::TranscriptManualRecord as i32,
            title: record.title,
            manual_record_id: record.id,
            provider: record.provider,
            hours: record.hours,
            evidence_url: record.evidence_url,
            status: pb::ProgressStatus::Completed as i32,
            percent: 100.0,
            complete_time: Some(timestamp(record.completed_at)),
            ..Default::default()
        },
    }
}

/// The id a transcript page continues after: the enrolment's or the manual record's.
pub fn transcript_entry_id(e: &pb::TranscriptEntry) -> &str {
    if e.enrolment_id.is_empty() {
        &e.manual_record_id
    } else {
        &e.enrolment_id
    }
}

pub fn transcript_entries(entries: Vec<TranscriptEntry>) -> Vec<pb::TranscriptEntry> {
    entries.into_iter().map(transcript_entry).collect()
}

fn iso(t: &Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The transcript as CSV text.
pub fn transcript_csv(entries: &[pb::TranscriptEntry]) -> Result<Vec<u8>, Status> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let failed = |_| Status::internal("internal error");
    out.write_record([
        "source",
        "title",
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
        "provider",
        "hours",
        "evidence_url",
    ])
    .map_err(failed)?;
    for e in entries {
        let status = pb::ProgressStatus::try_from(e.status)
            .unwrap_or_default()
            .as_str_name();
        let manual = e.source == pb::TranscriptSource::TranscriptManualRecord as i32;
        let source = if manual { "manual_record" } else { "enrolment" };
        let version = if manual {
            String::new()
        } else {
            e.pathway_version.to_string()
        };
        let hours = if manual {
            format!("{:.2}", e.hours)
        } else {
            String::new()
        };
        out.write_record([
            source,
            e.title.as_str(),
            &version,
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
            &e.provider,
            &hours,
            &e.evidence_url,
        ])
        .map_err(failed)?;
    }
    out.into_inner()
        .map_err(|_| Status::internal("internal error"))
}

pub fn manual_record(r: ManualRecord) -> pb::ManualRecord {
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
pub fn manual_fields(
    v: &mut Violations,
    record: &pb::ManualRecord,
    paths: &[&str],
) -> ManualFields {
    let mut fields = ManualFields::default();
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

pub const MANUAL_PATHS: [&str; 5] = [
    "title",
    "provider",
    "complete_time",
    "hours",
    "evidence_url",
];
