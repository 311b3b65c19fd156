//! What enrolment-service asks pathway-service: is this pathway published, and which version
//! is the latest? Asked over gRPC with this service's own identity, acting for the caller's
//! tenant.

use std::time::Duration;

use lms_platform::auth::ServiceCredentials;
use lms_platform::{AppError, AppResult};
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// How long one question to pathway-service may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PathwayCatalog {
    client: PathwayServiceClient<Channel>,
    credentials: ServiceCredentials,
}

impl PathwayCatalog {
    /// A catalog that connects to `url` (e.g. `http://127.0.0.1:50051`) when first asked.
    pub fn new(url: &str, credentials: ServiceCredentials) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|_| anyhow::anyhow!("{url:?} is not a URL like http://host:port"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            client: PathwayServiceClient::new(endpoint.connect_lazy()),
            credentials,
        })
    }

    /// The latest published version of a pathway that can take enrolments: NOT_FOUND when
    /// unknown, FAILED_PRECONDITION when a draft or archived, UNAVAILABLE when pathway-service
    /// cannot answer.
    pub async fn published_version(&self, tenant: &str, pathway_id: &str) -> AppResult<i32> {
        let mut request = tonic::Request::new(pb::GetPathwayRequest {
            id: pathway_id.to_string(),
        });
        request.set_timeout(CALL_TIMEOUT);
        self.credentials.authorize(&mut request, tenant)?;
        let pathway = match self.client.clone().get_pathway(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::NotFound => {
                return Err(AppError::not_found(format!("pathway {pathway_id}")));
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), message = status.message(), "pathway-service call failed");
                return Err(AppError::Unavailable(
                    "pathway-service cannot be reached; retry".into(),
                ));
            }
        };
        match pb::PathwayStatus::try_from(pathway.status) {
            Ok(pb::PathwayStatus::Published) if pathway.latest_version > 0 => {
                Ok(pathway.latest_version)
            }
            Ok(pb::PathwayStatus::Archived) => Err(AppError::FailedPrecondition(format!(
                "pathway {pathway_id} is archived and takes no new enrolments"
            ))),
            _ => Err(AppError::FailedPrecondition(format!(
                "pathway {pathway_id} is a draft; publish it before enrolling anyone"
            ))),
        }
    }
}
