//! Where each service's calls go: a gRPC channel to the service, or a service the gateway
//! serves itself, in process (the portal, and the suite's merged audit trail and personal
//! data).

use std::collections::HashMap;
use std::convert::Infallible;

use tonic::body::Body;
use tonic::transport::Channel;
use tower::util::BoxCloneSyncService;
use tower::{BoxError, Service, ServiceExt};

/// A gRPC service served in process.
pub type InProcess = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

#[derive(Clone)]
pub enum Upstream {
    Channel(Channel),
    InProcess(InProcess),
}

impl Upstream {
    /// A generated tonic server, served in process.
    pub fn in_process<S>(server: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        Upstream::InProcess(BoxCloneSyncService::new(server))
    }

    /// Sends one raw gRPC request (gRPC-Web passthrough).
    pub async fn send(
        self,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, BoxError> {
        match self {
            Upstream::Channel(channel) => channel.oneshot(request).await.map_err(BoxError::from),
            Upstream::InProcess(server) => match server.oneshot(request).await {
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
