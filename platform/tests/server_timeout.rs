//! A call that outlives the server's own request timeout (no deadline from the caller) is
//! answered DEADLINE_EXCEEDED, as gRPC says, not CANCELLED "Timeout expired" as tonic's timer
//! would answer it.

use std::time::Duration;

use lms_platform::server::RpcObservabilityLayer;
use tower::{Layer, Service, ServiceExt};

#[tokio::test]
async fn the_servers_request_timeout_answers_deadline_exceeded() {
    let stuck = tower::service_fn(|_request: http::Request<()>| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, std::convert::Infallible>(http::Response::new(()))
    });
    let mut service = RpcObservabilityLayer {
        request_timeout: Duration::from_millis(200),
    }
    .layer(stuck);
    let request = http::Request::post("/lms.pathway.v1.PathwayService/GetPathway")
        .body(())
        .unwrap();
    let started = std::time::Instant::now();
    let response = service.ready().await.unwrap().call(request).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(response.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
}
