//! Evidence for external steps: a learner submits it, an instructor or admin approves it (the
//! step completes) or rejects it with a reason (the learner may submit again).

use lms_platform::ids::PathwayId;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::learner_statements::record_activity;
use super::progress::{follow_up, refusal};
use super::{RecordsApp, lock_enrolment, view, visible_enrolment};
use crate::domain::activity::{Activity, ActivityKind, ActivitySource};
use crate::domain::enrolment::EnrolmentStatus;
use crate::domain::evidence::{Decision, Evidence, EvidenceStatus, EvidenceSubmission};
use crate::domain::pathway::StepKind;
use crate::domain::progress::StepState;
use crate::storage::enrolments;
use crate::storage::evidence::{self as rows, EvidenceQuery};

impl RecordsApp {
    pub async fn submit_evidence(
        &self,
        who: &Principal,
        submission: EvidenceSubmission,
    ) -> AppResult<Evidence> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                lock_enrolment(conn, &tenant, &submission.enrolment_id)?;
                let enrolment = visible_enrolment(conn, &who, &submission.enrolment_id)?;
                if enrolment.learner != who.subject {
                    return Err(AppError::PermissionDenied(
                        "learners submit evidence for their own enrolments only".into(),
                    ));
                }
                let before = view(conn, &tenant, enrolment.clone())?;
                let Some(step) = before.progress.step(&submission.step_id) else {
                    return Err(AppError::invalid_field(
                        "step_id",
                        format!(
                            "is not a step of pathway {} version {}",
                            before.pathway.pathway_id, before.pathway.version
                        ),
                    ));
                };
                if step.step.kind != StepKind::External {
                    return Err(AppError::FailedPrecondition(format!(
                        "“{}” is a {} step; evidence is submitted for external steps only",
                        step.step.title,
                        step.step.kind.name().replace('_', " ")
                    )));
                }
                match step.state {
                    StepState::Available => {}
                    StepState::Completed => {
                        return Err(AppError::FailedPrecondition(format!(
                            "“{}” is already completed",
                            step.step.title
                        )));
                    }
                    _ => return Err(refusal(step)),
                }
                let at = now();
                let evidence = Evidence {
                    id: new_id(),
                    enrolment_id: enrolment.id.clone(),
                    step_id: step.step.id.clone(),
                    step_title: step.step.title.clone(),
                    learner: enrolment.learner.clone(),
                    pathway_id: enrolment.pathway_id.clone(),
                    description: submission.description,
                    url: submission.url,
                    file_reference: submission.file_reference,
                    status: EvidenceStatus::Pending,
                    submitted_at: at,
                    decided_by: String::new(),
                    decided_at: None,
                    decision_reason: String::new(),
                };
                rows::insert(conn, &tenant, &evidence)?;
                // The learner's own doing: it starts the enrolment like any first activity.
                record_activity(
                    conn,
                    &tenant,
                    &enrolment,
                    &Activity {
                        evidence_url: evidence.url.clone(),
                        note: format!("evidence {} submitted", evidence.id),
                        ..Activity::new(
                            enrolment.id.clone(),
                            evidence.step_id.clone(),
                            ActivityKind::StepStarted,
                            ActivitySource::Learner,
                            who.subject.clone(),
                            at,
                        )
                    },
                )?;
                follow_up(conn, &tenant, &enrolment, !before.any_activity, at)?;
                let resource = format!("evidence/{}", evidence.id);
                audit::record(conn, &who, audit::Change::created(resource, &evidence)?)?;
                Ok(evidence)
            })
            .await
    }

    /// Approves or rejects pending evidence. An approval completes the step (and, like any
    /// completion, may complete the enrolment and certify).
    pub async fn decide_evidence(
        &self,
        who: &Principal,
        id: String,
        decision: Decision,
        reason: String,
    ) -> AppResult<Evidence> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.clone();
                let pending = rows::get(conn, &tenant, &id)?;
                lock_enrolment(conn, &tenant, &pending.enrolment_id)?;
                // Read again under the enrolment's lock: another reviewer may have decided.
                let mut evidence = rows::get(conn, &tenant, &id)?;
                let undecided = evidence.clone();
                if evidence.status != EvidenceStatus::Pending {
                    return Err(AppError::FailedPrecondition(format!(
                        "evidence {id} is already {} by {}",
                        evidence.status.as_str().to_lowercase(),
                        evidence.decided_by
                    )));
                }
                let enrolment = enrolments::get(conn, &tenant, &evidence.enrolment_id)?;
                let at = now();
                evidence.status = match decision {
                    Decision::Approve => EvidenceStatus::Approved,
                    Decision::Reject => EvidenceStatus::Rejected,
                };
                evidence.decided_by = who.subject.clone();
                evidence.decided_at = Some(at);
                evidence.decision_reason = reason;
                if decision == Decision::Approve {
                    if enrolment.status != EnrolmentStatus::Active {
                        return Err(AppError::FailedPrecondition(format!(
                            "the enrolment is {}; evidence on it cannot be approved",
                            enrolment.status.as_str().to_lowercase()
                        )));
                    }
                    let before = view(conn, &tenant, enrolment.clone())?;
                    record_activity(
                        conn,
                        &tenant,
                        &enrolment,
                        &Activity {
                            evidence_url: evidence.url.clone(),
                            note: format!("evidence {} approved", evidence.id),
                            ..Activity::new(
                                enrolment.id.clone(),
                                evidence.step_id.clone(),
                                ActivityKind::StepCompleted,
                                ActivitySource::AdminEntry,
                                who.subject.clone(),
                                at,
                            )
                        },
                    )?;
                    rows::decide(conn, &tenant, &evidence)?;
                    follow_up(conn, &tenant, &enrolment, !before.any_activity, at)?;
                } else {
                    rows::decide(conn, &tenant, &evidence)?;
                }
                let resource = format!("evidence/{id}");
                let change = audit::Change::updated(resource, &undecided, &evidence)?;
                audit::record(conn, &who, change)?;
                Ok(evidence)
            })
            .await
    }

    /// Evidence oldest first: any learner's for staff, their own for learners.
    pub async fn list_evidence(
        &self,
        who: &Principal,
        status: Option<EvidenceStatus>,
        pathway_id: Option<PathwayId>,
        learner: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<Evidence>> {
        let learner = match learner {
            Some(l) => Some(self.readable_learner(who, Some(l))?),
            None if super::is_staff(who) => None,
            None => Some(who.subject.clone()),
        };
        let limit = pagination::page_size(page_size)?;
        let filters = format!(
            "status={};pathway={};learner={}",
            status.map(|s| s.as_str()).unwrap_or_default(),
            pathway_id.as_deref().unwrap_or_default(),
            learner.as_deref().unwrap_or_default()
        );
        let after = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| {
                rows::list(
                    conn,
                    &tenant,
                    EvidenceQuery {
                        status,
                        pathway_id,
                        learner,
                        after,
                        limit: limit + 1,
                    },
                )
            })
            .await?;
        Ok(paginate(items, limit, &filters, |e: &Evidence| {
            vec![e.id.clone()]
        }))
    }
}
