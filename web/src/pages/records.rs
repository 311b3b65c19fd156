//! The learner record: training history with its CSV download, certifications and a
//! printable certificate with its verification link.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Uri};

use crate::Portal;
use crate::api::segment;

pub async fn transcript(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let shown = ("entries", "entries");
    portal
        .api_page(
            &headers,
            &uri,
            "/v1/portal/transcript",
            "transcript.html",
            shown,
        )
        .await
}

/// The API's own CSV download, passed on with its file name.
pub async fn transcript_csv(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    match portal
        .api
        .download(visitor.token(), "/v1/transcript:export")
        .await
    {
        Ok((answer_headers, body)) => {
            let mut response = body.into_response();
            for name in [
                http::header::CONTENT_TYPE,
                http::header::CONTENT_DISPOSITION,
            ] {
                if let Some(value) = answer_headers.get(&name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
                .headers_mut()
                .entry(http::header::CONTENT_TYPE)
                .or_insert(HeaderValue::from_static("text/csv; charset=utf-8"));
            response
        }
        Err(error) => portal.api_failure(&visitor, &uri, error),
    }
}

pub async fn certificates(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let shown = ("certifications", "certifications");
    portal
        .api_page(
            &headers,
            &uri,
            "/v1/portal/certifications",
            "certificates.html",
            shown,
        )
        .await
}

/// One certificate, laid out to print, with the address anyone can check it at.
pub async fn certificate(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(certification_id): Path<String>,
) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let Some(id) = segment(&certification_id) else {
        return portal.not_found(&visitor);
    };
    match portal
        .api
        .get(Some(visitor.token()), &format!("/v1/certifications/{id}"))
        .await
    {
        Ok(certification) => portal.page(
            &visitor,
            "certificate.html",
            serde_json::json!({
                "certification": certification,
                "holder": visitor.session.as_ref().map(|s| s.name.clone()),
                "verify_url": format!(
                    "{}/verify?code={}",
                    portal.public_url,
                    certification["verificationCode"].as_str().unwrap_or_default()
                ),
            }),
        ),
        Err(error) => portal.api_failure(&visitor, &uri, error),
    }
}
