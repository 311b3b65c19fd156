//! `lms.xapi.v1.LrsForwardingService`: where an admin's tenant forwards its statements.

use lms_platform::auth::principal;
use lms_platform::resource::timestamp;
use lms_platform::validate::Violations;
use lms_proto::xapi_v1 as pb;
use pb::lrs_forwarding_service_server::LrsForwardingService;
use tonic::{Request, Response, Status};

use crate::app::RecordsApp;
use crate::app::xapi_forwarding::{Forwarding, ForwardingUpdate};

pub struct LrsForwardingGrpc {
    app: RecordsApp,
}

impl LrsForwardingGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

fn forwarding(f: Forwarding) -> pb::LrsForwarding {
    pb::LrsForwarding {
        endpoint: f.endpoint,
        username: f.username,
        password: String::new(),
        enabled: f.enabled,
        update_time: f.updated_at.map(timestamp),
        updated_by: f.updated_by,
    }
}

/// The setting, checked: an endpoint (ending in `/`) when enabled, Basic credentials that fit.
fn update(given: pb::LrsForwarding) -> Result<ForwardingUpdate, Status> {
    let mut v = Violations::new();
    let mut endpoint = given.endpoint.trim().to_string();
    if !endpoint.is_empty() || given.enabled {
        v.url("forwarding.endpoint", &endpoint, 2048);
        if url::Url::parse(&endpoint).is_err() {
            v.add("forwarding.endpoint", "must be an absolute http(s) URL");
        }
        if !endpoint.ends_with('/') {
            endpoint.push('/');
        }
    }
    v.max_text("forwarding.username", &given.username, 500);
    if given.username.contains(':') {
        v.add("forwarding.username", "must not contain ':' (HTTP Basic)");
    }
    v.max_text("forwarding.password", &given.password, 500);
    v.finish()?;
    Ok(ForwardingUpdate {
        endpoint,
        username: given.username.trim().to_string(),
        password: (!given.password.is_empty()).then_some(given.password),
        enabled: given.enabled,
    })
}

#[tonic::async_trait]
impl LrsForwardingService for LrsForwardingGrpc {
    async fn get_lrs_forwarding(
        &self,
        request: Request<pb::GetLrsForwardingRequest>,
    ) -> Result<Response<pb::LrsForwarding>, Status> {
        let who = principal(&request)?;
        let found = self.app.get_lrs_forwarding(&who).await?;
        Ok(Response::new(forwarding(found)))
    }

    async fn update_lrs_forwarding(
        &self,
        request: Request<pb::UpdateLrsForwardingRequest>,
    ) -> Result<Response<pb::LrsForwarding>, Status> {
        let who = principal(&request)?;
        let given = request.into_inner().forwarding.unwrap_or_default();
        let changed = self.app.update_lrs_forwarding(&who, update(given)?).await?;
        Ok(Response::new(forwarding(changed)))
    }
}
