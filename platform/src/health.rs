//! `grpc.health.v1` beyond start and stop: a component is NOT_SERVING while it cannot reach
//! its database (load balancers and probes stop sending it calls it would fail), SERVING again
//! when it can; and open `Watch` streams end at shutdown instead of holding the server for its
//! whole grace period.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::Frame;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::Service;

use crate::db::Db;

/// How often the database is asked, and how long an answer may take.
const EVERY: Duration = Duration::from_secs(2);
const PATIENCE: Duration = Duration::from_secs(3);

/// Keeps `services`' health in step with the database until `shutdown`.
pub async fn follow_database(
    db: Db,
    health: HealthReporter,
    services: Vec<String>,
    shutdown: CancellationToken,
) {
    let mut serving = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
        let reachable = matches!(tokio::time::timeout(PATIENCE, db.ping()).await, Ok(Ok(())));
        if reachable == serving || shutdown.is_cancelled() {
            continue;
        }
        serving = reachable;
        let status = if serving {
            tracing::info!("database reachable again; serving");
            ServingStatus::Serving
        } else {
            tracing::warn!("database unreachable; health is NOT_SERVING until it is back");
            ServingStatus::NotServing
        };
        health.set_service_status("", status).await;
        for name in &services {
            health.set_service_status(name, status).await;
        }
    }
}

/// Wraps the health service: at shutdown every response body still streaming (a `Watch`)
/// ends with status UNAVAILABLE, so the client reconnects elsewhere and the server can stop.
#[derive(Clone)]
pub struct EndStreamsOnShutdown<S> {
    inner: S,
    shutdown: CancellationToken,
}

impl<S> EndStreamsOnShutdown<S> {
    pub fn new(inner: S, shutdown: CancellationToken) -> Self {
        Self { inner, shutdown }
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for EndStreamsOnShutdown<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, RB> Service<http::Request<B>> for EndStreamsOnShutdown<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    RB: http_body::Body<Data = bytes::Bytes> + Send + 'static,
{
    type Response = http::Response<EndOnShutdown<RB>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let shutdown = self.shutdown.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(response.map(|body| EndOnShutdown {
                body,
                // A moment after shutdown starts, so the NOT_SERVING it reports reaches the
                // watcher before its stream ends.
                shutdown: Box::pin(async move {
                    shutdown.cancelled_owned().await;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }),
                ended: false,
            }))
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that, once shutdown starts, sends gRPC trailers (UNAVAILABLE) and ends.
    pub struct EndOnShutdown<B> {
        #[pin]
        body: B,
        shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
        ended: bool,
    }
}

impl<B> http_body::Body for EndOnShutdown<B>
where
    B: http_body::Body<Data = bytes::Bytes>,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.shutdown.as_mut().poll(cx).is_ready() {
            *this.ended = true;
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("14"));
            trailers.insert(
                "grpc-message",
                http::HeaderValue::from_static("server%20shutting%20down"),
            );
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.body.is_end_stream()
    }
}
