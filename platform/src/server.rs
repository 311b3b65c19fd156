//! Server bootstrap: any tonic service gets health, reflection, tracing, metrics, deadlines and
//! graceful shutdown the same way.
//!
//! Layer order (outermost first): observability (one span and one metric sample per call, with
//! the caller's `traceparent` as parent) → tonic's timeout (the caller's `grpc-timeout`, capped by
//! `server.request_timeout_seconds`) → routes. Authentication is an interceptor on each LMS
//! service, so health and reflection stay open to probes and tools.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use opentelemetry::propagation::Extractor;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::ServerConfig;
use crate::telemetry::{RpcLabels, RpcMethodLabels, go_code_name, metrics};

/// What every service is given to serve with: the token verifier, the server settings, and
/// the shutdown signal.
#[derive(Clone)]
pub struct Context {
    pub verifier: crate::auth::TokenVerifier,
    pub server: ServerConfig,
    pub shutdown: CancellationToken,
}

impl Context {
    /// `service` behind token verification and its role `policy` (one line per RPC): every
    /// LMS service but public ones.
    pub fn authorize<S>(
        &self,
        service: S,
        policy: crate::auth::Policy,
    ) -> crate::auth::Authorize<S> {
        crate::auth::Authorize::new(service, self.verifier.clone(), policy)
    }

    /// A producing service's outbox: starts delivering `db`'s events to `subscribers` until
    /// shutdown, and adds the dead-letter service (`lms.events.v1.DeadLetters`, behind its
    /// policy) to `routes`.
    pub fn with_outbox(
        &self,
        routes: tonic::service::Routes,
        db: &crate::db::Db,
        subscribers: Vec<crate::outbox::Subscriber>,
        name: &'static str,
    ) -> tonic::service::Routes {
        self.with_outbox_and(routes, db, subscribers, Vec::new(), name)
    }

    /// [`Context::with_outbox`] with destinations of the service's own beside its subscribers
    /// (records-service's other LRSs).
    pub fn with_outbox_and(
        &self,
        routes: tonic::service::Routes,
        db: &crate::db::Db,
        subscribers: Vec<crate::outbox::Subscriber>,
        sinks: Vec<std::sync::Arc<dyn crate::outbox::EventSink>>,
        name: &'static str,
    ) -> tonic::service::Routes {
        use crate::outbox::{DEAD_LETTERS_POLICY, DeadLettersGrpc, spawn_delivery};
        spawn_delivery(db.clone(), subscribers, sinks, name, self.shutdown.clone());
        routes.add_service(self.authorize(DeadLettersGrpc::server(db.clone()), DEAD_LETTERS_POLICY))
    }

    /// Adds `lms.events.v1.EventConsumer` for a service that consumes no other events: its
    /// decision point forgets a principal when enrolment-service says their bindings changed.
    pub fn with_bindings_listener(
        &self,
        routes: tonic::service::Routes,
        access: &crate::access::Access,
    ) -> tonic::service::Routes {
        use crate::inbox::EventConsumerGrpc;
        use lms_proto::events_v1::event_consumer_server::EventConsumerServer;
        const POLICY: crate::auth::Policy = &[("DeliverEvents", &[crate::Role::Service])];
        let listener = EventConsumerServer::new(EventConsumerGrpc::new(access.clone()));
        routes.add_service(self.authorize(listener, POLICY))
    }

    /// Adds the service's audit trail (`lms.audit.v1.AuditService` over `db`'s entries, behind
    /// its policy) to `routes`.
    pub fn with_audit_trail(
        &self,
        routes: tonic::service::Routes,
        db: &crate::db::Db,
    ) -> tonic::service::Routes {
        use crate::audit::{AuditTrailGrpc, POLICY};
        routes.add_service(self.authorize(AuditTrailGrpc::server(db.clone()), POLICY))
    }

    /// Adds the service's part of personal data (`lms.privacy.v1.PersonalDataService` over
    /// `tables` in `db`, behind its policy) to `routes`.
    pub fn with_personal_data(
        &self,
        routes: tonic::service::Routes,
        db: &crate::db::Db,
        tables: &'static crate::privacy::PersonalTables,
    ) -> tonic::service::Routes {
        use crate::privacy::{POLICY, PersonalDataGrpc};
        routes.add_service(self.authorize(PersonalDataGrpc::server(db.clone(), tables), POLICY))
    }

    /// Runs `task` every `every` until shutdown (never when `every` is zero): sweeps and
    /// schedulers. The first run is one period after the start.
    pub fn every<F, Fut>(&self, every: Duration, mut task: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        if every.is_zero() {
            return;
        }
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                task().await;
            }
        });
    }

    /// Serves `routes` plus health and reflection on `listener` until shutdown; health reports
    /// on `service_names`, NOT_SERVING while `db` cannot be reached.
    pub async fn serve(
        self,
        listener: TcpListener,
        routes: Routes,
        service_names: &[&str],
        db: &crate::db::Db,
    ) -> anyhow::Result<()> {
        serve(
            listener,
            routes,
            service_names,
            &self.server,
            self.shutdown,
            Some(db.clone()),
        )
        .await
    }
}

/// Cancelled on SIGTERM or Ctrl-C: the start of a graceful shutdown.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown signal received; draining");
        trigger.cancel();
    });
    token
}

/// Accepted connections with TCP_NODELAY: without it a small gRPC response waits for the
/// client's delayed ACK (about 40 ms per call under load, measured on CheckAccess), and with
/// keepalive so dead peers are noticed.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
}

/// Serves `routes` (the component's own services) plus `grpc.health.v1` and server reflection
/// (v1 and v1alpha) on `listener` until `shutdown` is cancelled, then stops accepting, reports
/// NOT_SERVING, and lets in-flight calls finish within `server.shutdown_grace_seconds`.
/// `service_names` are the fully qualified names health reports on; with `db`, they are
/// NOT_SERVING while the database cannot be reached, and SERVING again when it can.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    service_names: &[&str],
    config: &ServerConfig,
    shutdown: CancellationToken,
    db: Option<crate::db::Db>,
) -> anyhow::Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in service_names {
        health
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    if let Some(db) = db {
        tokio::spawn(crate::health::follow_database(
            db,
            health.clone(),
            service_names.iter().map(|s| s.to_string()).collect(),
            shutdown.clone(),
        ));
    }
    // An open Watch stream would otherwise hold the server until the grace period ends.
    let health_service = crate::health::EndStreamsOnShutdown::new(health_service, shutdown.clone());
    // Reflection lists what this port serves, not every service of the suite: a client that
    // trusts it must never be sent to a port that answers UNIMPLEMENTED.
    let reflection = || {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lms_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for name in service_names {
            builder = builder.with_service_name(*name);
        }
        builder
    };
    let reflection_v1 = reflection().build_v1().context("building reflection v1")?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    let names: Vec<String> = service_names.iter().map(|s| s.to_string()).collect();
    let stop_accepting = {
        let shutdown = shutdown.clone();
        let health = health.clone();
        async move {
            shutdown.cancelled().await;
            // Probes see NOT_SERVING at once, so load balancers stop sending new calls.
            health
                .set_service_status("", ServingStatus::NotServing)
                .await;
            for name in &names {
                health
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
        }
    };

    let server = tonic::transport::Server::builder()
        .timeout(config.request_timeout)
        .layer(RpcObservabilityLayer {
            request_timeout: config.request_timeout,
        })
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming(listener), stop_accepting);

    let grace = config.shutdown_grace;
    tokio::select! {
        result = server => result.context("gRPC server"),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "calls still running after the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// One span and one metric sample per gRPC call, and the call's deadline (the caller's
/// `grpc-timeout`, capped by `request_timeout`) for the calls it makes ([`crate::deadline`]).
#[derive(Clone, Copy, Debug)]
pub struct RpcObservabilityLayer {
    pub request_timeout: Duration,
}

impl<S> Layer<S> for RpcObservabilityLayer {
    type Service = RpcObservability<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcObservability {
            inner,
            request_timeout: self.request_timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RpcObservability<S> {
    inner: S,
    request_timeout: Duration,
}

/// tonic's own timer (the `grpc-timeout` a caller sent, and `Server::timeout`) answers
/// CANCELLED "Timeout expired" when a call runs out of time; gRPC says DEADLINE_EXCEEDED. This
/// layer ends the call that much earlier with the right code.
const ANSWER_BEFORE_THE_TRANSPORT: Duration = Duration::from_millis(20);

/// tonic answers a request that is not valid protobuf (bytes that are not a message, nesting
/// past the decoder's recursion limit) with INTERNAL; it is the caller's mistake, so the code
/// becomes INVALID_ARGUMENT and the message stays.
fn malformed_request_is_invalid_argument(headers: &mut http::HeaderMap) {
    let internal = headers
        .get("grpc-status")
        .is_some_and(|status| status.as_bytes() == b"13");
    let undecodable = headers.get("grpc-message").is_some_and(|message| {
        let message = message.as_bytes();
        message.starts_with(b"failed to decode Protobuf message")
            || message.starts_with(b"failed%20to%20decode%20Protobuf%20message")
    });
    if internal && undecodable {
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
}

/// The kind of call (`unary`, `server_stream`, ...) when `service`/`method` is an RPC of the
/// suite (any component), of health or of reflection: the only names metric labels may carry.
fn known_method(service: &str, method: &str) -> Option<&'static str> {
    use std::collections::HashMap;
    type Known = HashMap<(String, String), &'static str>;
    static KNOWN: std::sync::OnceLock<Known> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            use prost::Message;
            let mut known: Known = [
                ("grpc.health.v1.Health", "Check", "unary"),
                ("grpc.health.v1.Health", "Watch", "server_stream"),
                (
                    "grpc.reflection.v1.ServerReflection",
                    "ServerReflectionInfo",
                    "bidi_stream",
                ),
                (
                    "grpc.reflection.v1alpha.ServerReflection",
                    "ServerReflectionInfo",
                    "bidi_stream",
                ),
            ]
            .into_iter()
            .map(|(s, m, kind)| ((s.to_string(), m.to_string()), kind))
            .collect();
            if let Ok(set) = prost_types::FileDescriptorSet::decode(lms_proto::FILE_DESCRIPTOR_SET)
            {
                for file in set.file {
                    for service in &file.service {
                        let name = format!("{}.{}", file.package(), service.name());
                        for method in &service.method {
                            let kind = match (method.client_streaming(), method.server_streaming())
                            {
                                (false, false) => "unary",
                                (false, true) => "server_stream",
                                (true, false) => "client_stream",
                                (true, true) => "bidi_stream",
                            };
                            known.insert((name.clone(), method.name().to_string()), kind);
                        }
                    }
                }
            }
            known
        })
        .get(&(service.to_string(), method.to_string()))
        .copied()
}

/// Reads W3C trace context from HTTP headers (for `set_parent`).
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|key| key.as_str()).collect()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> Service<http::Request<B>> for RpcObservability<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        // Labels come from the suite's own methods only: any path a client makes up is one
        // `unknown` series, not one more per path.
        let labels = match known_method(service, method) {
            Some(grpc_type) => RpcMethodLabels {
                grpc_type,
                grpc_service: service.to_string(),
                grpc_method: method.to_string(),
            },
            None => RpcMethodLabels {
                grpc_type: "unary",
                grpc_service: "unknown".into(),
                grpc_method: "unknown".into(),
            },
        };
        metrics().rpc_started.get_or_create(&labels).inc();
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let span = tracing::info_span!(
            "grpc",
            otel.name = %path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %labels.grpc_service,
            rpc.method = %labels.grpc_method,
            rpc.grpc.status_code = tracing::field::Empty,
            enduser.id = tracing::field::Empty,
        );
        let _ = span.set_parent(parent);
        let started = Instant::now();
        let timeout = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(crate::deadline::parse_grpc_timeout)
            .map_or(self.request_timeout, |asked| {
                asked.min(self.request_timeout)
            });
        // A little before the transport's own timer, which would answer CANCELLED.
        let deadline = started + timeout.saturating_sub(ANSWER_BEFORE_THE_TRANSPORT);
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        Box::pin(
            async move {
                let within = tokio::time::timeout_at(
                    deadline.into(),
                    crate::deadline::scope(deadline, future),
                );
                let mut result = match within.await {
                    Ok(result) => result,
                    Err(_elapsed) => Ok(tonic::Status::deadline_exceeded(
                        "the call's deadline passed before it finished",
                    )
                    .into_http()),
                };
                if let Ok(response) = &mut result {
                    malformed_request_is_invalid_argument(response.headers_mut());
                }
                // Errors travel as a trailers-only response, so `grpc-status` is in the
                // headers; a successful unary call sends it in the trailers (OK).
                let code = match &result {
                    Ok(response) => response
                        .headers()
                        .get("grpc-status")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<i32>().ok())
                        .map(tonic::Code::from_i32)
                        .unwrap_or(tonic::Code::Ok),
                    Err(_) => tonic::Code::Unknown,
                };
                let elapsed = started.elapsed().as_secs_f64();
                tracing::Span::current().record("rpc.grpc.status_code", code as i32);
                let metrics = metrics();
                metrics
                    .rpc_duration_seconds
                    .get_or_create(&labels)
                    .observe(elapsed);
                // One access line per call (silence with `lms::access=off` in the log level).
                tracing::info!(
                    target: "lms::access",
                    service = %labels.grpc_service,
                    method = %labels.grpc_method,
                    code = go_code_name(code),
                    duration_ms = elapsed * 1000.0,
                    "rpc"
                );
                metrics
                    .rpc_handled
                    .get_or_create(&RpcLabels {
                        grpc_type: labels.grpc_type,
                        grpc_service: labels.grpc_service,
                        grpc_method: labels.grpc_method,
                        grpc_code: go_code_name(code),
                    })
                    .inc();
                result
            }
            .instrument(span),
        )
    }
}
