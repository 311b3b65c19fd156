//! Where each service's calls go: a gRPC channel to the service, or the gateway's own portal
//! service in process.

use std::collections::HashMap;

use lms_proto::portal_v1::portal_service_server::PortalServiceServer;
use tonic::body::Body;
use tonic::transport::Channel;
use tower::{BoxError, ServiceExt};

use lms_proto::audit_v1::audit_service_server::AuditServiceServer;

use crate::audit_trail::MergedAuditTrail;
use crate::portal::Portal;

#[derive(Clone)]
pub enum Upstream {
    Channel(Channel),
    Portal(PortalServiceServer<Portal>),
    Audit(AuditServiceServer<MergedAuditTrail>),
}

impl Upstream {
    /// Sends one raw gRPC request (gRPC-Web passthrough).
    pub async fn send(
        self,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, BoxError> {
        match self {
            Upstream::Channel(channel) => channel.oneshot(request).await.map_err(BoxError::from),
            Upstream::Portal(portal) => match portal.oneshot(request).await {
                Ok(response) => Ok(response),
                Err(never) => match never {},
            },
            Upstream::Audit(audit) => match audit.oneshot(request).await {
                Ok(response) => Ok(response),
                Err(never) => match never {},
            },
        }
    }
}

/// Service full name → where its calls go.
#[derive(Clone, Default)]
pub struct Upstreams(HashMap<String, Upstream>);

impl Upstreams {
    pub fn insert(&mut self, service: &str, upstream: Upstream) {
        self.0.insert(service.to_string(), upstream);
    }

    pub fn get(&self, service: &str) -> Option<Upstream> {
        self.0.get(service).cloned()
    }
}
