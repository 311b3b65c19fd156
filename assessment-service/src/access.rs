//! What assessment-service asks enrolment-service: may this learner take this pathway now?
//! Asked over gRPC with this service's own identity, acting for the caller's tenant.

use std::time::Duration;

use lms_platform::auth::ServiceCredentials;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_client::EnrolmentServiceClient;
use tonic::transport::{Channel, Endpoint};

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct EnrolmentAccess {
    client: EnrolmentServiceClient<Channel>,
    credentials: ServiceCredentials,
}

impl EnrolmentAccess {
    /// Connects to enrolment-service at `url` when first asked.
    pub fn new(url: &str, credentials: ServiceCredentials) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|_| anyhow::anyhow!("{url:?} is not a URL like http://host:port"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            client: EnrolmentServiceClient::new(endpoint.connect_lazy()),
            credentials,
        })
    }

    /// Ok when the learner may take the pathway; PERMISSION_DENIED with enrolment-service's
    /// reason otherwise; UNAVAILABLE when it cannot answer.
    pub async fn require(&self, tenant: &str, learner: &str, pathway_id: &str) -> AppResult<()> {
        let mut request = tonic::Request::new(pb::CheckAccessRequest {
            learner: learner.to_string(),
            pathway_id: pathway_id.to_string(),
        });
        request.set_timeout(CALL_TIMEOUT);
        self.credentials.authorize(&mut request, tenant)?;
        let decision = self
            .client
            .clone()
            .check_access(request)
            .await
            .map_err(|status| {
                tracing::warn!(code = ?status.code(), message = status.message(), "enrolment-service call failed");
                AppError::Unavailable("enrolment-service cannot be reached; retry".into())
            })?
            .into_inner();
        if decision.allowed {
            Ok(())
        } else {
            Err(AppError::PermissionDenied(format!(
                "you may not take this assessment: {}",
                decision.message
            )))
        }
    }
}
