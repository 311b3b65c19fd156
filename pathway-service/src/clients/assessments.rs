//! What pathway-service asks assessment-service before an ASSESSMENT step links an assessment:
//! does it exist, and is it this pathway's? Asked with this service's own identity, acting for
//! the caller's tenant.

use lms_platform::client::Peer;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::{AppError, AppResult};
use lms_proto::assessment_v1 as pb;
use pb::assessment_service_client::AssessmentServiceClient;

#[derive(Clone)]
pub struct Assessments {
    /// None: this deployment runs no assessment-service.
    assessments: Option<Peer>,
}

impl Assessments {
    pub fn new(assessments: Option<Peer>) -> Self {
        Self { assessments }
    }

    /// Ok when `assessment_id` is an assessment of `pathway_id`; NOT_FOUND when there is no
    /// such assessment in the tenant; FAILED_PRECONDITION when it belongs to another pathway.
    pub async fn require_of_pathway(
        &self,
        tenant: &TenantId,
        assessment_id: &str,
        pathway_id: &PathwayId,
    ) -> AppResult<()> {
        let Some(assessments) = &self.assessments else {
            return Err(AppError::FailedPrecondition(
                "assessment steps need assessment-service, which this deployment does not run"
                    .into(),
            ));
        };
        let request = pb::GetAssessmentRequest {
            id: assessment_id.to_string(),
        };
        let assessment = assessments
            .read(tenant, request, |channel, request| async move {
                AssessmentServiceClient::new(channel)
                    .get_assessment(request)
                    .await
            })
            .await
            .map_err(|error| match error {
                AppError::NotFound(_) => AppError::not_found(format!("assessment {assessment_id}")),
                other => other,
            })?;
        if assessment.pathway_id != pathway_id.as_ref() {
            return Err(AppError::FailedPrecondition(format!(
                "assessment {assessment_id} belongs to another pathway ({})",
                assessment.pathway_id
            )));
        }
        Ok(())
    }
}
