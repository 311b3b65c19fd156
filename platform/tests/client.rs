//! `lms_platform::client` against real gRPC servers on loopback: what a peer answers reaches
//! the caller with its meaning kept, the served call's deadline travels on, reads (and only
//! reads) are retried, and calls spread over every address a name resolves to.
//!
//! The peer here is the suite's smallest real service contract, `lms.events.v1.EventConsumer`,
//! served by tonic with a behaviour each test chooses.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lms_platform::AppError;
use lms_platform::client::{ClientConfig, Peer};
use lms_platform::config::Address;
use lms_proto::events_v1 as pb;
use lms_test_support::{HostsEntry, TestAuth};
use pb::event_consumer_client::EventConsumerClient;
use pb::event_consumer_server::{EventConsumer, EventConsumerServer};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// What the test server does with each call.
#[derive(Clone)]
enum Behaviour {
    Answer,
    Fail(Code),
    Hang,
}

/// A real EventConsumer that records each call's `grpc-timeout` and answers as told (a
/// queue of behaviours, then `Answer`).
#[derive(Clone, Default)]
struct TestPeer {
    behaviours: Arc<Mutex<VecDeque<Behaviour>>>,
    timeouts: Arc<Mutex<Vec<Option<String>>>>,
}

impl TestPeer {
    fn then(self, behaviour: Behaviour) -> Self {
        self.behaviours.lock().unwrap().push_back(behaviour);
        self
    }

    fn calls(&self) -> usize {
        self.timeouts.lock().unwrap().len()
    }

    /// The deadline each call arrived with, as a duration.
    fn deadlines(&self) -> Vec<Duration> {
        self.timeouts
            .lock()
            .unwrap()
            .iter()
            .map(|t| {
                t.as_deref()
                    .and_then(lms_platform::deadline::parse_grpc_timeout)
                    .expect("every call carries a grpc-timeout")
            })
            .collect()
    }
}

#[tonic::async_trait]
impl EventConsumer for TestPeer {
    async fn deliver_events(
        &self,
        request: Request<pb::DeliverEventsRequest>,
    ) -> Result<Response<pb::DeliverEventsResponse>, Status> {
        let timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        self.timeouts.lock().unwrap().push(timeout);
        let behaviour = self
            .behaviours
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Behaviour::Answer);
        match behaviour {
            Behaviour::Answer => Ok(Response::new(pb::DeliverEventsResponse::default())),
            Behaviour::Fail(Code::InvalidArgument) => {
                let mut details = ErrorDetails::new();
                details.add_bad_request_violation("events", "must not be empty");
                Err(Status::with_error_details(
                    Code::InvalidArgument,
                    "invalid events: must not be empty",
                    details,
                ))
            }
            Behaviour::Fail(code) => Err(Status::new(code, "as told")),
            Behaviour::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(Response::new(pb::DeliverEventsResponse::default()))
            }
        }
    }
}

/// Serves `peer` on `address` (port 0: any) in the background.
async fn serve(peer: TestPeer, address: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    let bound = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(EventConsumerServer::new(peer))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    bound
}

fn config(timeout: Duration) -> ClientConfig {
    ClientConfig {
        timeout,
        resolve_interval: Duration::from_millis(200),
        ..ClientConfig::default()
    }
}

fn peer_at(address: &str, config: &ClientConfig) -> Peer {
    let credentials = TestAuth::default().service_credentials("client-test");
    Peer::new(
        "the peer",
        &Address::parse(address).unwrap(),
        credentials,
        config,
    )
    .unwrap()
}

fn acme() -> lms_platform::ids::TenantId {
    lms_platform::ids::TenantId::parse("acme").unwrap()
}

async fn read(peer: &Peer) -> Result<pb::DeliverEventsResponse, AppError> {
    peer.read(
        &acme(),
        pb::DeliverEventsRequest::default(),
        |channel, request| async move {
            EventConsumerClient::new(channel)
                .deliver_events(request)
                .await
        },
    )
    .await
}

async fn send(peer: &Peer) -> Result<pb::DeliverEventsResponse, AppError> {
    peer.send(
        &acme(),
        pb::DeliverEventsRequest::default(),
        |channel, request| async move {
            EventConsumerClient::new(channel)
                .deliver_events(request)
                .await
        },
    )
    .await
}

#[tokio::test]
async fn a_peers_invalid_argument_reaches_the_caller_with_its_field_violations() {
    let server = TestPeer::default().then(Behaviour::Fail(Code::InvalidArgument));
    let address = serve(server.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let peer = peer_at(
        &format!("http://{address}"),
        &config(Duration::from_secs(5)),
    );
    match read(&peer).await.unwrap_err() {
        AppError::InvalidArgument {
            message,
            violations,
        } => {
            assert_eq!(message, "invalid events: must not be empty");
            assert_eq!(violations[0].field, "events");
        }
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
    assert_eq!(server.calls(), 1, "a caller's mistake is not retried");
}

#[tokio::test]
async fn the_callers_shorter_deadline_is_passed_on_and_honoured() {
    let server = TestPeer::default().then(Behaviour::Hang);
    let address = serve(server.clone(), "127.0.0.1:0".parse().unwrap()).await;
    // The client would allow 10 s; the call being served has 300 ms left.
    let peer = peer_at(
        &format!("http://{address}"),
        &config(Duration::from_secs(10)),
    );
    let started = Instant::now();
    let deadline = started + Duration::from_millis(300);
    let error = lms_platform::deadline::scope(deadline, read(&peer))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "gave up at the caller's deadline, not the client's timeout: {:?}",
        started.elapsed()
    );
    let sent = server.deadlines();
    assert_eq!(sent.len(), 1);
    assert!(sent[0] <= Duration::from_millis(300), "{sent:?}");
}

#[tokio::test]
async fn the_client_timeout_caps_a_longer_deadline() {
    let server = TestPeer::default().then(Behaviour::Hang);
    let address = serve(server.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let peer = peer_at(
        &format!("http://{address}"),
        &config(Duration::from_millis(200)),
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let error = lms_platform::deadline::scope(deadline, read(&peer))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(server.deadlines()[0] <= Duration::from_millis(200));
}

#[tokio::test]
async fn reads_are_retried_when_the_peer_is_unavailable_and_writes_are_not() {
    let server = TestPeer::default()
        .then(Behaviour::Fail(Code::Unavailable))
        .then(Behaviour::Fail(Code::Unavailable));
    let address = serve(server.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let peer = peer_at(
        &format!("http://{address}"),
        &config(Duration::from_secs(5)),
    );
    read(&peer).await.expect("the third try is answered");
    assert_eq!(server.calls(), 3);

    let server = TestPeer::default().then(Behaviour::Fail(Code::Unavailable));
    let address = serve(server.clone(), "127.0.0.1:0".parse().unwrap()).await;
    let peer = peer_at(
        &format!("http://{address}"),
        &config(Duration::from_secs(5)),
    );
    let error = send(&peer).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(server.calls(), 1, "a write is sent once");
}

#[tokio::test]
async fn a_peer_that_is_not_running_is_unavailable() {
    let peer = peer_at("http://127.0.0.1:9", &config(Duration::from_secs(5)));
    let error = read(&peer).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");
}

#[tokio::test]
async fn calls_spread_over_every_address_of_a_name_and_follow_it_as_it_changes() {
    // Two replicas on one port, one loopback address each.
    let (first, second) = (TestPeer::default(), TestPeer::default());
    let port = serve(first.clone(), "127.0.0.2:0".parse().unwrap())
        .await
        .port();
    serve(second.clone(), SocketAddr::from(([127, 0, 0, 3], port))).await;
    let Some(hosts) = HostsEntry::add(&["127.0.0.2"]) else {
        return;
    };
    let peer = peer_at(
        &format!("http://{}:{port}", hosts.name),
        &config(Duration::from_secs(5)),
    );
    for _ in 0..20 {
        read(&peer).await.unwrap();
    }
    assert_eq!(
        (first.calls(), second.calls()),
        (20, 0),
        "one address, one replica"
    );

    // A second replica joins the name: after the next resolution calls reach it too.
    assert!(hosts.set(&["127.0.0.2", "127.0.0.3"]));
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..60 {
        read(&peer).await.unwrap();
    }
    assert!(
        second.calls() >= 10 && first.calls() >= 30,
        "both replicas get calls: {} and {}",
        first.calls(),
        second.calls()
    );

    // The first one leaves: calls go to the second alone.
    assert!(hosts.set(&["127.0.0.3"]));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let before = first.calls();
    for _ in 0..20 {
        read(&peer).await.unwrap();
    }
    assert_eq!(
        first.calls(),
        before,
        "a removed address gets no more calls"
    );
}
