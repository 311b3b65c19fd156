//! Certificate verification by code, for anyone: no sign-in. It calls the public
//! verification endpoint without a token, exactly as any other site could.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;

use crate::Portal;

#[derive(Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    code: String,
}

pub async fn verify(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<VerifyQuery>,
) -> Response {
    let visitor = portal.visitor(&headers);
    let code = query.code.trim().to_string();
    if code.is_empty() {
        return portal.page(&visitor, "verify.html", serde_json::json!({}));
    }
    let plain = code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !plain {
        return portal.page_with_status(
            &visitor,
            StatusCode::NOT_FOUND,
            "verify.html",
            serde_json::json!({ "code": code, "unknown": true }),
        );
    }
    match portal.api.get(None, &format!("/v1/verify/{code}")).await {
        Ok(certificate) => portal.page(
            &visitor,
            "verify.html",
            serde_json::json!({ "code": code, "certificate": certificate }),
        ),
        Err(error) if error.status == StatusCode::NOT_FOUND => portal.page_with_status(
            &visitor,
            StatusCode::NOT_FOUND,
            "verify.html",
            serde_json::json!({ "code": code, "unknown": true }),
        ),
        Err(error) => portal.api_failure(&visitor, &uri, error),
    }
}
