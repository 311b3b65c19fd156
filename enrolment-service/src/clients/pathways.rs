//! What enrolment-service asks pathway-service: is this pathway published, and which version
//! is the latest? Asked with this service's own identity, acting for the caller's tenant.

use lms_platform::AppResult;
use lms_platform::client::Peer;
use lms_platform::ids::{PathwayId, TenantId};
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;

use crate::domain::enrolment::PathwayAvailability;

#[derive(Clone)]
pub struct PathwayCatalog {
    pathways: Peer,
}

impl PathwayCatalog {
    pub fn new(pathways: Peer) -> Self {
        Self { pathways }
    }

    /// Whether a pathway can take enrolments now, and at which version: NOT_FOUND when
    /// unknown, UNAVAILABLE when pathway-service cannot answer.
    pub async fn availability(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
    ) -> AppResult<PathwayAvailability> {
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
        Ok(match pb::PathwayStatus::try_from(pathway.status) {
            Ok(pb::PathwayStatus::Published) if pathway.latest_version > 0 => {
                PathwayAvailability::Published {
                    version: pathway.latest_version,
                }
            }
            Ok(pb::PathwayStatus::Archived) => PathwayAvailability::Archived,
            _ => PathwayAvailability::Draft,
        })
    }

    /// NOT_FOUND unless the tenant has this category (a role binding's scope must exist).
    pub async fn require_category(&self, tenant: &TenantId, id: &str) -> AppResult<()> {
        let request = pb::GetCategoryRequest { id: id.to_string() };
        self.pathways
            .read(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_category(request)
                    .await
            })
            .await?;
        Ok(())
    }
}
