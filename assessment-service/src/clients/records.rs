//! What assessment-service asks records-service, the authority on a learner's path: may this
//! learner act on this assessment's step now, and if not, why. Asked with this service's own
//! identity, acting for the caller's tenant.

use lms_platform::client::Peer;
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult};
use lms_proto::records_v1 as pb;
use pb::records_service_client::RecordsServiceClient;

use super::enrolment::Admission;
use crate::domain::assessment::Assessment;

#[derive(Clone)]
pub struct StepAuthority {
    records: Peer,
}

impl StepAuthority {
    pub fn new(records: Peer) -> Self {
        Self { records }
    }

    /// Ok when the learner may start an attempt on the assessment's step now (it is
    /// available, or already done and may be retaken); FAILED_PRECONDITION with the reason
    /// progress shows otherwise. A step blocked because its attempts are used is left to this
    /// service's own count, which knows a raised limit first. An assessment no step of the
    /// learner's version links to is practice: it gates nothing, and its results complete
    /// nothing.
    pub async fn require_open(
        &self,
        tenant: &TenantId,
        admission: &Admission,
        assessment: &Assessment,
    ) -> AppResult<()> {
        let request = pb::CheckStepRequest {
            enrolment_id: admission.enrolment_id.clone(),
            step_id: assessment.step_id.clone(),
            assessment_id: assessment.id.clone(),
            learner: admission.learner.clone(),
            pathway_id: assessment.pathway_id.to_string(),
            pathway_version: admission.pathway_version,
        };
        let answer = self
            .records
            .read(tenant, request, |channel, request| async move {
                RecordsServiceClient::new(channel).check_step(request).await
            })
            .await;
        let step = match answer {
            Ok(step) => step,
            Err(AppError::NotFound(_)) if assessment.step_id.is_empty() => return Ok(()),
            Err(error) => return Err(error),
        };
        let state = pb::StepState::try_from(step.state).unwrap_or(pb::StepState::Unspecified);
        let reason = pb::StepReason::try_from(step.reason).unwrap_or(pb::StepReason::Unspecified);
        match (state, reason) {
            (pb::StepState::StepAvailable | pb::StepState::StepDone, _) => Ok(()),
            (pb::StepState::StepBlocked, pb::StepReason::AttemptsUsed) => Ok(()),
            _ => Err(AppError::FailedPrecondition(format!(
                "“{}” cannot be taken now: {}",
                step.title, step.reason_text
            ))),
        }
    }
}
