//! The edge layers every request passes, outermost first: request id → trace span → load
//! shedding (a bound on requests in flight; beyond it `503` at once, before collapse) → timeout
//! (`504`; the remaining time travels to the services as the gRPC deadline) → authentication
//! (the services' own token verification; `401`) and the edge role check (`403`) → per-principal
//! rate limit (`429` with `Retry-After`). CORS and the body size limit are applied around them.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderValue;
use lms_platform::auth::TokenVerifier;
use lms_platform::{Principal, Role};
use tonic::Code;
use tracing::Instrument;

use crate::error::ApiError;

/// The request's deadline, for the services.
#[derive(Clone, Copy)]
pub struct Deadline(pub Instant);

/// The request id (`x-request-id`), given or made here.
#[derive(Clone)]
pub struct RequestId(pub String);

/// The route template a response answered (`/v1/pathways/{id}`), set on the response by the
/// handler, for metric labels that stay bounded whatever paths clients make up.
#[derive(Clone)]
pub struct MatchedRoute(pub String);

pub struct Edge {
    pub verifier: TokenVerifier,
    pub limiter: DefaultKeyedRateLimiter<String>,
    /// Requests seen, to forget idle principals' limiter state now and then.
    checked: std::sync::atomic::AtomicU64,
    pub in_flight: Arc<tokio::sync::Semaphore>,
    pub timeout: Duration,
}

impl Edge {
    pub fn new(verifier: TokenVerifier, limits: &crate::Settings) -> Self {
        let per_second =
            NonZeroU32::new(limits.requests_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            verifier,
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            checked: std::sync::atomic::AtomicU64::new(0),
            in_flight: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight.max(1))),
            timeout: limits.request_timeout,
        }
    }
}

/// Paths anyone may call without a token: certificate verification by code, and calendar
/// feeds by their secret (calendar apps send no token).
fn is_public(path: &str) -> bool {
    path == "/openapi.json"
        || path == "/healthz"
        || path.starts_with("/v1/verify/")
        || path == "/lms.records.v1.CertificateVerification/VerifyCertificate"
        || path.starts_with("/v1/calendarFeeds/")
        || path == "/lms.records.v1.CalendarFeedService/ExportCalendarFeed"
        // xAPI About: which versions the store speaks, asked before any credentials.
        || path == "/xapi/about"
        // A cmi5 launch's fetch URL: its token is the credential (cmi5 8.2).
        || path.starts_with("/cmi5/fetch/")
        // A course package's files: its key, in the address, is the credential (a learner's
        // browser following a launch URL sends no token).
        || path.starts_with("/content/")
}

pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", value);
    }
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        request_id = %id,
    );
    {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&lms_platform::server::HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let mut response = crate::error::REQUEST_ID
        .scope(id.clone(), next.run(request).instrument(span.clone()))
        .await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    let route = match response.extensions().get::<MatchedRoute>() {
        Some(route) => route.0.clone(),
        None if path == "/openapi.json" || path == "/healthz" => path.clone(),
        None => "unknown".to_string(),
    };
    let elapsed = started.elapsed().as_secs_f64();
    lms_platform::telemetry::metrics()
        .http_duration_seconds
        .get_or_create(&lms_platform::telemetry::HttpLabels {
            http_request_method: method.as_str().to_string(),
            http_route: route.clone(),
            http_response_status_code: status,
        })
        .observe(elapsed);
    // One access line per request (silence with `lms::access=off` in the log level).
    span.in_scope(|| {
        tracing::info!(
            target: "lms::access",
            method = %method,
            path = %path,
            route = %route,
            status,
            duration_ms = elapsed * 1000.0,
            "http"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

pub async fn shed_and_time(
    State(edge): State<Arc<Edge>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = edge.in_flight.clone().try_acquire_owned() else {
        return ApiError::new(
            Code::Unavailable,
            "the gateway is at capacity; retry shortly",
        )
        .with_reason("AT_CAPACITY")
        .retry_after(1)
        .into_response();
    };
    // A course package's ZIP file, and statements with their attachments, may take longer to
    // arrive than any other request; they are streamed on as they come, so the time holds
    // nothing in memory.
    if crate::packages::is_import(request.uri().path()) || crate::xapi::is_streamed_upload(&request)
    {
        return next.run(request).await;
    }
    let deadline = Instant::now() + edge.timeout;
    request.extensions_mut().insert(Deadline(deadline));
    match tokio::time::timeout(edge.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(Code::DeadlineExceeded, "the request took too long")
            .with_reason("REQUEST_TIMEOUT")
            .into_response(),
    }
}

pub async fn authenticate(
    State(edge): State<Arc<Edge>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if request.method() == http::Method::OPTIONS || is_public(&path) {
        return next.run(request).await;
    }
    // An LRS client's Basic credentials (xAPI content sends no bearer token) are
    // records-service's to check, against its clients and their scopes; the edge limits
    // their rate by key like any principal's.
    if path.starts_with("/xapi/")
        && let Some(key) = lrs_client_key(request.headers())
    {
        if let Some(refusal) = limited(&edge, &format!("lrs-client/{key}")) {
            return refusal;
        }
        request.headers_mut().remove("x-lms-tenant");
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return ApiError::new(Code::Unauthenticated, "a bearer token is required")
            .with_reason("TOKEN_MISSING")
            .into_response();
    };
    let principal: Principal = match edge.verifier.verify(token) {
        Ok(principal) => principal,
        Err(_) => {
            return ApiError::new(Code::Unauthenticated, "the token is not valid")
                .with_reason("TOKEN_INVALID")
                .into_response();
        }
    };
    // Service identities are for calls between services, never through the public edge.
    if principal.has_role(Role::Service) {
        return ApiError::new(
            Code::PermissionDenied,
            "service identities cannot call through the gateway",
        )
        .with_reason("SERVICE_IDENTITY_AT_EDGE")
        .into_response();
    }
    let portal = path.starts_with("/v1/portal/") || path.starts_with("/lms.portal.v1.");
    // The teaching screen is an instructor's; every other portal screen a learner's.
    let teaching =
        path == "/v1/portal/teaching" || path == "/lms.portal.v1.PortalService/GetMyTeaching";
    if portal && teaching && !principal.has_role(Role::Instructor) {
        return ApiError::new(
            Code::PermissionDenied,
            "the teaching screen is for instructors",
        )
        .with_reason("PORTAL_FOR_INSTRUCTORS")
        .into_response();
    }
    if portal && !teaching && !principal.has_role(Role::Learner) {
        return ApiError::new(Code::PermissionDenied, "the portal is for learners")
            .with_reason("PORTAL_FOR_LEARNERS")
            .into_response();
    }
    let key = format!("{}/{}", principal.tenant_id, principal.subject);
    if let Some(refusal) = limited(&edge, &key) {
        return refusal;
    }
    // The services never take a tenant from the edge: drop any attempt to pass one.
    request.headers_mut().remove("x-lms-tenant");
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The refusal when `key` (a principal, an LRS client) is over its rate.
fn limited(edge: &Edge, key: &str) -> Option<Response> {
    // The limiter keeps a cell per principal; every 4 096 requests the cells of principals
    // back at full allowance are dropped, so memory follows the active principals only.
    if edge
        .checked
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .is_multiple_of(4_096)
    {
        edge.limiter.retain_recent();
    }
    let not_until = edge.limiter.check_key(&key.to_string()).err()?;
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    Some(
        ApiError::new(Code::ResourceExhausted, "too many requests; slow down")
            .with_reason("RATE_LIMITED")
            .retry_after(wait.as_secs() + 1)
            .into_response(),
    )
}

/// The key of `authorization: Basic base64(key:secret)`, when the header is one.
fn lrs_client_key(headers: &http::HeaderMap) -> Option<String> {
    use base64::Engine;
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or(value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(key, _)| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use tower::ServiceExt;

    /// A route that takes `millis` to answer, behind the shedding and timeout layer.
    async fn slow_app(limits: crate::Settings, millis: u64) -> Router {
        let verifier = TokenVerifier::from_config(&lms_platform::config::AuthConfig {
            hs256_secret: "a-test-secret-of-at-least-32-bytes!!".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let edge = Arc::new(Edge::new(verifier, &limits));
        Router::new()
            .route(
                "/slow",
                axum::routing::get(move || async move {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    "done"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(edge, shed_and_time))
    }

    fn get() -> http::Request<Body> {
        http::Request::get("/slow").body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn requests_beyond_the_in_flight_bound_are_shed_with_503() {
        let app = slow_app(
            crate::Settings {
                max_in_flight: 1,
                ..Default::default()
            },
            300,
        )
        .await;
        let first = tokio::spawn(app.clone().oneshot(get()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(second.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(second.headers()["retry-after"], "1");
        assert_eq!(first.await.unwrap().unwrap().status(), http::StatusCode::OK);
        let after = app.oneshot(get()).await.unwrap();
        assert_eq!(after.status(), http::StatusCode::OK, "capacity comes back");
    }

    #[tokio::test]
    async fn a_request_over_its_time_gets_504() {
        let app = slow_app(
            crate::Settings {
                request_timeout: Duration::from_millis(50),
                ..Default::default()
            },
            1_000,
        )
        .await;
        let response = app.oneshot(get()).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::GATEWAY_TIMEOUT);
    }
}
