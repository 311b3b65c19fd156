//! Pathway titles from pathway-service, kept for a few minutes (a title rarely changes, and a
//! 100,000-person assignment asks for the same one 100,000 times).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lms_platform::client::Peer;
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult};
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;

/// How long a title is reused.
const KEEP: Duration = Duration::from_secs(300);
/// The most titles kept (the cache starts over beyond it).
const MAX_KEPT: usize = 10_000;

/// Titles by (tenant, pathway), with when each was fetched.
type Titles = HashMap<(String, String), (String, Instant)>;

#[derive(Clone)]
pub struct Pathways {
    pathways: Peer,
    titles: Arc<Mutex<Titles>>,
}

impl Pathways {
    pub fn new(pathways: Peer) -> Self {
        Self {
            pathways,
            titles: Default::default(),
        }
    }

    /// The pathway's title ("" when the pathway no longer exists).
    pub async fn title(&self, tenant: &TenantId, pathway_id: &str) -> AppResult<String> {
        let key = (tenant.to_string(), pathway_id.to_string());
        if let Some((title, at)) = self.titles.lock().expect("titles").get(&key)
            && at.elapsed() < KEEP
        {
            return Ok(title.clone());
        }
        let request = pb::GetPathwayRequest {
            id: pathway_id.to_string(),
        };
        let title = match self
            .pathways
            .read(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_pathway(request)
                    .await
            })
            .await
        {
            Ok(pathway) => pathway.title,
            Err(AppError::NotFound(_)) => String::new(),
            Err(error) => return Err(error),
        };
        let mut titles = self.titles.lock().expect("titles");
        if titles.len() >= MAX_KEPT {
            titles.clear();
        }
        titles.insert(key, (title.clone(), Instant::now()));
        Ok(title)
    }
}
