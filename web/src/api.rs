//! The portal's only way into the suite: HTTP requests to the gateway's public API, carrying
//! the signed-in person's token. They are handed to the gateway's router in process, so they
//! pass the same edge (authentication, rate limits, timeouts) as any remote client's, and
//! answer exactly what `/openapi.json` describes.

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The largest answer the portal reads whole (a transcript CSV of a long career fits).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// An API call that did not succeed, as the gateway's JSON error body says it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// `(field, description)` pairs from a `BadRequest` detail.
    pub violations: Vec<(String, String)>,
}

impl ApiError {
    fn from_body(status: StatusCode, body: &[u8]) -> Self {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut violations = Vec::new();
        for detail in json["details"].as_array().into_iter().flatten() {
            for v in detail["fieldViolations"].as_array().into_iter().flatten() {
                violations.push((
                    v["field"].as_str().unwrap_or_default().to_string(),
                    v["description"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        Self {
            status,
            message: json["message"]
                .as_str()
                .unwrap_or("the suite did not answer as expected")
                .to_string(),
            violations,
        }
    }

    /// The token is no longer accepted: the person must sign in again.
    pub fn is_unauthenticated(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED
    }
}

impl Api {
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    pub async fn get(&self, token: Option<&str>, path: &str) -> Result<Value, ApiError> {
        let (_, body) = self.call(Method::GET, token, path, None).await?;
        Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Result<Value, ApiError> {
        let (_, answer) = self
            .call(Method::POST, Some(token), path, Some(body))
            .await?;
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }

    /// A download (CSV, calendar) passed on as it came: its headers and bytes.
    pub async fn download(&self, token: &str, path: &str) -> Result<(HeaderMap, Bytes), ApiError> {
        self.call(Method::GET, Some(token), path, None).await
    }

    async fn call(
        &self,
        method: Method,
        token: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(HeaderMap, Bytes), ApiError> {
        let mut request = http::Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(json).unwrap_or_default())
            }
            None => Body::empty(),
        };
        let request = request.body(body).map_err(|e| ApiError {
            status: StatusCode::BAD_REQUEST,
            message: format!("bad request: {e}"),
            violations: Vec::new(),
        })?;
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, MAX_ANSWER_BYTES)
            .await
            .unwrap_or_default();
        if parts.status.is_success() {
            Ok((parts.headers, bytes))
        } else {
            Err(ApiError::from_body(parts.status, &bytes))
        }
    }
}

/// `text` when it can stand as one path segment of an API address as it is (ids and codes
/// are letters, digits, `-` and `_`); anything else names nothing.
pub fn segment(text: &str) -> Option<&str> {
    let plain = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then_some(text)
}
