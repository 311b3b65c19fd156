//! What assessment-service asks pathway-service: does an assessment's pathway exist, and is
//! its step the one that links the assessment; and, for an assessment created with its step,
//! adding that step. Asked with this service's own identity, acting for the caller's tenant.

use lms_platform::client::Peer;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::{AppError, AppResult};
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;

use crate::domain::assessment::NewAssessmentStep;

#[derive(Clone)]
pub struct Pathways {
    pathways: Peer,
}

impl Pathways {
    pub fn new(pathways: Peer) -> Self {
        Self { pathways }
    }

    /// NOT_FOUND unless the pathway exists; with a `step_id`, NOT_FOUND unless the pathway's
    /// draft has that step, FAILED_PRECONDITION unless it is an ASSESSMENT step linking
    /// `assessment_id`.
    pub async fn require(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
        step_id: &str,
        assessment_id: &str,
    ) -> AppResult<()> {
        let request = pb::GetPathwayRequest {
            id: pathway_id.to_string(),
        };
        let pathway = self
            .pathways
            .read(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_pathway(request)
                    .await
            })
            .await?;
        if step_id.is_empty() {
            return Ok(());
        }
        let step = pathway
            .steps
            .iter()
            .find(|s| s.id == step_id)
            .ok_or_else(|| {
                AppError::not_found(format!("step {step_id} in pathway {pathway_id}"))
            })?;
        match &step.kind {
            Some(pb::step::Kind::Assessment(a)) if a.assessment_id == assessment_id => Ok(()),
            Some(pb::step::Kind::Assessment(a)) => Err(AppError::FailedPrecondition(format!(
                "step {step_id} links another assessment ({})",
                a.assessment_id
            ))),
            _ => Err(AppError::FailedPrecondition(format!(
                "step {step_id} is not an assessment step"
            ))),
        }
    }

    /// Adds `step` to the pathway's draft as an ASSESSMENT step linking `assessment_id`; the
    /// new step's id. pathway-service checks that the assessment exists and is the pathway's.
    pub async fn add_step(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
        assessment_id: &str,
        step: NewAssessmentStep,
    ) -> AppResult<String> {
        let request = pb::AddStepRequest {
            pathway_id: pathway_id.to_string(),
            step: Some(pb::Step {
                title: step.title,
                description: step.description,
                required: step.required,
                prerequisite_step_ids: step.prerequisite_step_ids,
                estimated_minutes: step.estimated_minutes,
                kind: Some(pb::step::Kind::Assessment(pb::AssessmentStep {
                    assessment_id: assessment_id.to_string(),
                })),
                ..Default::default()
            }),
            position: step.position,
            etag: String::new(),
        };
        let pathway = self
            .pathways
            .send(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel).add_step(request).await
            })
            .await?;
        pathway
            .steps
            .iter()
            .find(|s| {
                matches!(&s.kind, Some(pb::step::Kind::Assessment(a)) if a.assessment_id == assessment_id)
            })
            .map(|s| s.id.clone())
            .ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("the added step is not in the pathway"))
            })
    }
}
