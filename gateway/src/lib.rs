//! The gateway: how portal frontends reach the suite. REST/JSON transcoded from the services'
//! `google.api.http` annotations (generic over the descriptor set: no handler per endpoint),
//! the OpenAPI document generated from the same descriptors at `/openapi.json`, gRPC-Web
//! passed through to the services, and the portal's own service (`lms.portal.v1`), behind the
//! edge layers in [`edge`].

pub mod audit_trail;
pub mod cmi5;
pub mod edge;
pub mod error;
pub mod openapi;
mod openapi_text;
pub mod packages;
pub mod personal_data;
pub mod portal;
mod preconditions;
mod responses;
pub mod routes;
pub mod transcode;
mod update_mask;
pub mod upstream;
pub mod xapi;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};
use lms_platform::auth::TokenVerifier;
use lms_platform::client::Peer;
use lms_platform::config::seconds;
use prost_reflect::DescriptorPool;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::routes::{Found, Route};
use crate::upstream::{Upstream, Upstreams};

/// The component's name: in logs, traces and messages.
pub const NAME: &str = "gateway";

/// The services the gateway exposes (the event-delivery API between services is not one).
pub const EXPOSED_SERVICES: &[&str] = &[
    "lms.pathway.v1.PathwayService",
    "lms.enrolment.v1.EnrolmentService",
    "lms.assessment.v1.AssessmentService",
    "lms.records.v1.RecordsService",
    "lms.records.v1.CertificateVerification",
    "lms.portal.v1.PortalService",
    "lms.notification.v1.NotificationService",
    "lms.notification.v1.WebhookService",
    "lms.records.v1.TrainingSessionService",
    "lms.records.v1.CalendarFeedService",
    "lms.audit.v1.AuditService",
    "lms.privacy.v1.PersonalDataService",
    "lms.enrolment.v1.RoleBindingService",
    "lms.xapi.v1.LrsClientService",
    "lms.records.v1.Cmi5Service",
    "lms.xapi.v1.LrsForwardingService",
];

/// `[gateway]`: this component's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[gateway]
listen = "127.0.0.1:8080"
cors_origins = []
requests_per_second = 50
burst = 100
max_body_bytes = 1048576
request_timeout_seconds = 30
max_in_flight = 1024
"#;

/// `[gateway]`: the HTTP edge for portal frontends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The HTTP listen address (REST/JSON, /openapi.json, gRPC-Web).
    pub listen: SocketAddr,
    /// Browser origins allowed by CORS, exactly as the browser sends them
    /// (https://portal.example.com); empty: none.
    pub cors_origins: Vec<String>,
    /// Sustained requests per second per principal (tenant + subject), and the burst above it.
    pub requests_per_second: u32,
    pub burst: u32,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Whole-request time limit (and the services' deadline).
    #[serde(rename = "request_timeout_seconds", deserialize_with = "seconds")]
    pub request_timeout: Duration,
    /// Requests in flight before new ones are shed with 503.
    pub max_in_flight: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cors_origins: Vec::new(),
            requests_per_second: 50,
            burst: 100,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_in_flight: 1024,
        }
    }
}

/// The services behind the gateway, called with each caller's own token.
#[derive(Clone)]
pub struct Peers {
    pub pathway: Peer,
    pub enrolment: Peer,
    pub assessment: Peer,
    pub records: Peer,
    /// The inbox; None when notification-service is not deployed (its routes then answer
    /// UNIMPLEMENTED).
    pub notification: Option<Peer>,
}

impl Peers {
    /// Every service, the directory (enrolment-service) first.
    fn every_service(&self) -> Vec<Peer> {
        let mut services = vec![
            self.enrolment.clone(),
            self.pathway.clone(),
            self.assessment.clone(),
            self.records.clone(),
        ];
        services.extend(self.notification.clone());
        services
    }
}

struct Gateway {
    routes: Vec<Route>,
    /// Course packages are imported by hand (their ZIP body streamed): see [`packages`].
    pathway: Peer,
    pool: DescriptorPool,
    upstreams: Upstreams,
    openapi: Vec<u8>,
    max_body_bytes: usize,
}

/// The whole HTTP application.
pub fn router(
    verifier: TokenVerifier,
    settings: &Settings,
    peers: &Peers,
) -> anyhow::Result<Router> {
    let pool = DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET)?;
    let routes = routes::routes(&pool, EXPOSED_SERVICES)?;
    let openapi = serde_json::to_vec_pretty(&openapi::document(&routes))?;
    let mut upstreams = Upstreams::default();
    upstreams.insert(
        EXPOSED_SERVICES[0],
        Upstream::Channel(peers.pathway.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[1],
        Upstream::Channel(peers.enrolment.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[2],
        Upstream::Channel(peers.assessment.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[3],
        Upstream::Channel(peers.records.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[4],
        Upstream::Channel(peers.records.channel()),
    );
    for service in &EXPOSED_SERVICES[8..=9] {
        upstreams.insert(service, Upstream::Channel(peers.records.channel()));
    }
    let portal =
        lms_proto::portal_v1::portal_service_server::PortalServiceServer::new(portal::Portal::new(
            peers.records.clone(),
            peers.pathway.clone(),
            peers.enrolment.clone(),
            peers.notification.clone(),
        ));
    upstreams.insert(EXPOSED_SERVICES[5], Upstream::in_process(portal));
    if let Some(notification) = &peers.notification {
        // The inbox and webhooks: both served by notification-service.
        for service in &EXPOSED_SERVICES[6..=7] {
            upstreams.insert(service, Upstream::Channel(notification.channel()));
        }
    }
    // The audit trail and a person's data: every service's, merged here.
    let services = peers.every_service();
    let audit = lms_proto::audit_v1::audit_service_server::AuditServiceServer::new(
        audit_trail::MergedAuditTrail::new(services.clone()),
    );
    upstreams.insert(EXPOSED_SERVICES[10], Upstream::in_process(audit));
    let (directory, others) = (services[0].clone(), services[1..].to_vec());
    let personal_data =
        lms_proto::privacy_v1::personal_data_service_server::PersonalDataServiceServer::new(
            personal_data::MergedPersonalData::new(directory, others),
        );
    upstreams.insert(EXPOSED_SERVICES[11], Upstream::in_process(personal_data));
    upstreams.insert(
        EXPOSED_SERVICES[12],
        Upstream::Channel(peers.enrolment.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[13],
        Upstream::Channel(peers.records.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[14],
        Upstream::Channel(peers.records.channel()),
    );
    upstreams.insert(
        EXPOSED_SERVICES[15],
        Upstream::Channel(peers.records.channel()),
    );
    let gateway = Arc::new(Gateway {
        routes,
        pathway: peers.pathway.clone(),
        pool: pool.clone(),
        upstreams,
        openapi,
        max_body_bytes: settings.max_body_bytes,
    });
    let edge = Arc::new(edge::Edge::new(verifier, settings));
    let max_body_bytes = settings.max_body_bytes;
    let cors = cors(&settings.cors_origins)?;
    let app = Router::new()
        .route("/openapi.json", axum::routing::get(openapi_document))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .fallback(dispatch)
        .with_state(gateway)
        .merge(xapi::router(peers.records.clone(), settings.max_body_bytes))
        .merge(cmi5::router(peers.records.clone()))
        .merge(packages::router(peers.pathway.clone()))
        .layer(axum::middleware::from_fn_with_state(
            edge.clone(),
            edge::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            edge,
            edge::shed_and_time,
        ))
        .layer(cors)
        .layer(axum::middleware::from_fn(edge::request_id))
        .layer(axum::middleware::from_fn(xapi::negotiate_version));
    // xAPI's alternate request syntax changes a request's method, so it is rewritten before
    // the router picks a route (a router's own layers run after that choice).
    Ok(Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn_with_state(
            max_body_bytes,
            xapi::alternate::rewrite,
        )))
}

fn cors(origins: &[String]) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).map_err(|_| anyhow::anyhow!("bad CORS origin {o:?}")))
        .collect::<anyhow::Result<_>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            http::HeaderName::from_static("x-request-id"),
            http::HeaderName::from_static("x-grpc-web"),
            http::HeaderName::from_static("x-user-agent"),
            http::HeaderName::from_static("grpc-timeout"),
            http::HeaderName::from_static("traceparent"),
            xapi::VERSION.clone(),
            http::header::IF_MATCH,
            http::header::IF_NONE_MATCH,
        ])
        .expose_headers([
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("x-request-id"),
            http::header::RETRY_AFTER,
            xapi::VERSION.clone(),
            xapi::CONSISTENT_THROUGH.clone(),
            http::header::LAST_MODIFIED,
            http::header::ETAG,
        ])
        .max_age(Duration::from_secs(600)))
}

async fn openapi_document(State(gateway): State<Arc<Gateway>>) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        gateway.openapi.clone(),
    )
        .into_response()
}

/// Every other request: gRPC-Web to the service, or REST/JSON transcoded.
async fn dispatch(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let grpc_web = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc-web"));
    if grpc_web {
        return grpc_web_call(&gateway, request).await;
    }
    let (parts, body) = request.into_parts();
    if let Some(pathway_id) = packages::import_target(&parts.method, parts.uri.path()) {
        let pathway_id = pathway_id.to_string();
        return packages::import(&gateway.pathway, &gateway.pool, &pathway_id, parts, body).await;
    }
    let uri_length = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri_length > MAX_URI_BYTES {
        return ApiError::http(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            format!("the path and query are over {MAX_URI_BYTES} bytes"),
        )
        .into_response();
    }
    let (route, bound) = match routes::find(&gateway.routes, &parts.method, parts.uri.path()) {
        // Owned, so nothing borrowed from the table is held across the call.
        Found::Route(route, bound) => (route.clone(), bound),
        Found::MethodNotAllowed(allowed) => {
            let mut response = ApiError::http(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "this path does not take that method",
            )
            .into_response();
            let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                response.headers_mut().insert(http::header::ALLOW, value);
            }
            return response;
        }
        Found::NotFound => {
            return ApiError::new(Code::NotFound, format!("no route {}", parts.uri.path()))
                .with_reason("ROUTE_NOT_FOUND")
                .into_response();
        }
    };
    if route.body.takes_body() {
        let json = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.starts_with("application/json"));
        if !json {
            return ApiError::http(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "the body must be application/json",
            )
            .into_response();
        }
    }
    let body = match axum::body::to_bytes(body, gateway.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => return body_too_large(gateway.max_body_bytes),
    };
    let mut message = match transcode::request_message(&route, bound, parts.uri.query(), &body) {
        Ok(message) => message,
        Err(error) => return error.into_response(),
    };
    let conditions = match preconditions::apply(&route, &mut message, &parts.headers) {
        Ok(conditions) => conditions,
        Err(error) => return error.into_response(),
    };
    let Some(upstream) = gateway.upstreams.get(route.service()) else {
        return ApiError::new(Code::Unimplemented, "no such service").into_response();
    };
    let deadline = parts.extensions.get::<edge::Deadline>().map(|d| d.0);
    let template = edge::MatchedRoute(route.template.text.clone());
    let mut response = transcode::call(
        upstream,
        route,
        message,
        parts.headers,
        deadline,
        conditions,
    )
    .await;
    response.extensions_mut().insert(template);
    response
}

impl routes::BodyRule {
    fn takes_body(&self) -> bool {
        !matches!(self, routes::BodyRule::None)
    }
}

/// gRPC-Web passed through to the service named by the path (`/pkg.Service/Method`).
fn grpc_web_call(
    gateway: &Gateway,
    request: Request,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> {
    let upstream = grpc_web_upstream(gateway, &request);
    let max_body_bytes = gateway.max_body_bytes;
    Box::pin(async move {
        let upstream = match upstream {
            Ok(upstream) => upstream,
            Err(error) => return error.into_response(),
        };
        // gRPC-Web carries one request message (browsers cannot stream requests), so it is
        // read whole, under the same limit as a JSON body.
        let (mut parts, body) = request.into_parts();
        let body = match axum::body::to_bytes(body, max_body_bytes).await {
            Ok(body) => body,
            Err(_) => return body_too_large(max_body_bytes),
        };
        // In text mode the body is base64, so the message the service gets is shorter than
        // what arrived. tonic-web passes the body's exact size on as the size of what it
        // decodes, the HTTP/2 client declares that length, and the service refuses the stream
        // (PROTOCOL_ERROR). Given as a stream, the body has no exact size to pass on.
        parts.headers.remove(http::header::CONTENT_LENGTH);
        let body = Body::from_stream(futures::stream::once(async move {
            Ok::<_, std::convert::Infallible>(body)
        }));
        let route = edge::MatchedRoute(format!(
            "/{}/*",
            parts
                .uri
                .path()
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
        ));
        let mut response = grpc_web_forward(upstream, Request::from_parts(parts, body)).await;
        response.extensions_mut().insert(route);
        response
    })
}

fn body_too_large(max_body_bytes: usize) -> Response {
    ApiError::http(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the body is over {max_body_bytes} bytes"),
    )
    .into_response()
}

/// The longest path and query string the gateway reads (longer: 414).
const MAX_URI_BYTES: usize = 8 * 1024;

fn grpc_web_upstream(gateway: &Gateway, request: &Request) -> Result<Upstream, ApiError> {
    let service = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    gateway
        .upstreams
        .get(&service)
        .ok_or_else(|| ApiError::new(Code::Unimplemented, format!("no service {service}")))
}

async fn grpc_web_forward(upstream: Upstream, request: Request) -> Response {
    let passthrough = tower::service_fn(move |request: http::Request<tonic::body::Body>| {
        upstream.clone().send(request)
    });
    let service = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebLayer::new())
        .service(passthrough);
    match service.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(error) => {
            tracing::warn!(error = ?error, "gRPC-Web call failed");
            ApiError::new(Code::Unavailable, "the service cannot be reached; retry").into_response()
        }
    }
}

/// Serves an already built [`router`] until `shutdown`, letting in-flight requests finish.
pub async fn serve_app(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "gateway listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
