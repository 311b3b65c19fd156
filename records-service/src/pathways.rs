//! Published pathway versions, fetched from pathway-service once and cached for good (they are
//! immutable). Asked only while applying enrolment events, never on a learner's request.

use std::time::Duration;

use lms_platform::auth::ServiceCredentials;
use lms_platform::{AppError, AppResult};
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::domain::pathway::PathwaySnapshot;

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PathwayVersions {
    client: PathwayServiceClient<Channel>,
    credentials: ServiceCredentials,
}

impl PathwayVersions {
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

    pub async fn fetch(
        &self,
        tenant: &str,
        pathway_id: &str,
        version: i32,
    ) -> AppResult<PathwaySnapshot> {
        let mut request = tonic::Request::new(pb::GetPathwayVersionRequest {
            pathway_id: pathway_id.to_string(),
            version,
        });
        request.set_timeout(CALL_TIMEOUT);
        self.credentials.authorize(&mut request, tenant)?;
        let published = self
            .client
            .clone()
            .get_pathway_version(request)
            .await
            .map_err(|status| {
                if status.code() == tonic::Code::NotFound {
                    return AppError::not_found(format!(
                        "published version {version} of pathway {pathway_id}"
                    ));
                }
                tracing::warn!(code = ?status.code(), message = status.message(), "pathway-service call failed");
                AppError::Unavailable("pathway-service cannot be reached; retry".into())
            })?
            .into_inner();
        PathwaySnapshot::from_version(&published).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("pathway version without steps' kinds"))
        })
    }
}
