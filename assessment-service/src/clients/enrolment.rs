//! What assessment-service asks enrolment-service: may this learner take this pathway now?
//! Asked with this service's own identity, acting for the caller's tenant.

use lms_platform::client::Peer;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_client::EnrolmentServiceClient;

/// The enrolment a learner takes a pathway on, as enrolment-service knows it.
#[derive(Debug, Clone)]
pub struct Admission {
    pub enrolment_id: String,
    pub learner: String,
    pub pathway_version: i32,
}

#[derive(Clone)]
pub struct EnrolmentAccess {
    enrolments: Peer,
}

impl EnrolmentAccess {
    pub fn new(enrolments: Peer) -> Self {
        Self { enrolments }
    }

    /// The learner's enrolment when they may take the pathway; PERMISSION_DENIED with
    /// enrolment-service's reason otherwise; enrolment-service's own error when it refused the
    /// question.
    pub async fn require(
        &self,
        tenant: &TenantId,
        learner: &str,
        pathway_id: &PathwayId,
    ) -> AppResult<Admission> {
        let request = pb::CheckAccessRequest {
            learner: learner.to_string(),
            pathway_id: pathway_id.to_string(),
        };
        let decision = self
            .enrolments
            .read(tenant, request, |channel, request| async move {
                EnrolmentServiceClient::new(channel)
                    .check_access(request)
                    .await
            })
            .await?;
        if decision.allowed {
            let enrolment = decision.enrolment.unwrap_or_default();
            Ok(Admission {
                enrolment_id: enrolment.id,
                learner: learner.to_string(),
                pathway_version: enrolment.pathway_version,
            })
        } else {
            Err(AppError::PermissionDenied(format!(
                "you may not take this assessment: {}",
                decision.message
            )))
        }
    }
}
