//! The document resources (`/xapi/activities/state`, `/xapi/activities/profile`,
//! `/xapi/agents/profile`: GET, PUT, POST, DELETE with ETags), the Activities resource
//! (`/xapi/activities`) and the Agents resource (`/xapi/agents`).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use lms_proto::xapi_v1 as pb;

use super::params::Params;
use super::{Lrs, Negotiated, forwarded, json_text, negotiated, set_last_modified};
use crate::error::ApiError;

/// One document resource: its kind and the names of its parameters.
struct Resource {
    kind: pb::DocumentKind,
    /// `stateId` or `profileId`.
    id: &'static str,
    /// The parameters saying where its documents live.
    place: &'static [&'static str],
}

const STATE: Resource = Resource {
    kind: pb::DocumentKind::State,
    id: "stateId",
    place: &["activityId", "agent", "registration"],
};
const ACTIVITY_PROFILE: Resource = Resource {
    kind: pb::DocumentKind::ActivityProfile,
    id: "profileId",
    place: &["activityId"],
};
const AGENT_PROFILE: Resource = Resource {
    kind: pb::DocumentKind::AgentProfile,
    id: "profileId",
    place: &["agent"],
};

type Parts = (
    State<Lrs>,
    Option<axum::Extension<Negotiated>>,
    Method,
    Uri,
    HeaderMap,
    Bytes,
);

pub(super) async fn state(
    lrs: State<Lrs>,
    version: Option<axum::Extension<Negotiated>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    document(&STATE, (lrs, version, method, uri, headers, body)).await
}

pub(super) async fn activity_profile(
    lrs: State<Lrs>,
    version: Option<axum::Extension<Negotiated>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    document(
        &ACTIVITY_PROFILE,
        (lrs, version, method, uri, headers, body),
    )
    .await
}

pub(super) async fn agent_profile(
    lrs: State<Lrs>,
    version: Option<axum::Extension<Negotiated>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    document(&AGENT_PROFILE, (lrs, version, method, uri, headers, body)).await
}

/// A document error as xAPI wants it: a failed precondition is 412 (the service says
/// ETAG_MISMATCH), a PUT without one over an existing document 409.
fn refusal(status: &tonic::Status) -> Response {
    let mut error = ApiError::from_status(status);
    if error.reason == "ETAG_MISMATCH" {
        error.http = Some(StatusCode::PRECONDITION_FAILED);
    }
    error.into_response()
}

fn header(headers: &HeaderMap, name: http::header::HeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn document(resource: &Resource, parts: Parts) -> Response {
    let (State(lrs), version, method, uri, headers, body) = parts;
    let version = negotiated(version.as_deref()).wire();
    let mut allowed: Vec<&str> = resource.place.to_vec();
    allowed.push(resource.id);
    if method == Method::GET || method == Method::HEAD {
        allowed.push("since");
    }
    let params = match Params::read(uri.query(), &allowed) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let key = pb::DocumentKey {
        kind: resource.kind as i32,
        activity_id: params.text("activityId").unwrap_or_default(),
        agent: params.text("agent").unwrap_or_default(),
        registration: params.text("registration").unwrap_or_default(),
        document_id: params.text(resource.id).unwrap_or_default(),
    };
    let (if_match, if_none_match) = (
        header(&headers, http::header::IF_MATCH),
        header(&headers, http::header::IF_NONE_MATCH),
    );
    let mut client = lrs.client();
    match method {
        Method::PUT | Method::POST => {
            let message = pb::WriteDocumentRequest {
                key: Some(key),
                content: body.to_vec(),
                content_type: header(&headers, http::header::CONTENT_TYPE),
                merge: method == Method::POST,
                if_match,
                if_none_match,
                version,
            };
            match client.write_document(forwarded(&headers, message)).await {
                Ok(written) => {
                    let mut response = StatusCode::NO_CONTENT.into_response();
                    set_etag(&mut response, &written.into_inner().etag);
                    response
                }
                Err(status) => refusal(&status),
            }
        }
        Method::DELETE => {
            let message = pb::DeleteDocumentsRequest {
                key: Some(key),
                if_match,
                if_none_match,
                version,
            };
            match client.delete_documents(forwarded(&headers, message)).await {
                Ok(_) => StatusCode::NO_CONTENT.into_response(),
                Err(status) => refusal(&status),
            }
        }
        Method::GET | Method::HEAD if params.text(resource.id).is_some() => {
            if params.text("since").is_some() {
                return ApiError::invalid("since", format!("is not given with {}", resource.id))
                    .into_response();
            }
            let message = pb::GetDocumentRequest { key: Some(key) };
            match client.get_document(forwarded(&headers, message)).await {
                Ok(found) => {
                    let found = found.into_inner();
                    let content_type = HeaderValue::from_str(&found.content_type)
                        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
                    let mut response =
                        ([(http::header::CONTENT_TYPE, content_type)], found.content)
                            .into_response();
                    set_etag(&mut response, &found.etag);
                    if let Some(at) = &found.update_time {
                        set_last_modified(&mut response, at);
                    }
                    response
                }
                Err(status) => refusal(&status),
            }
        }
        Method::GET | Method::HEAD => {
            let message = pb::ListDocumentIdsRequest {
                key: Some(key),
                since: params.text("since").unwrap_or_default(),
            };
            match client.list_document_ids(forwarded(&headers, message)).await {
                Ok(found) => {
                    let found = found.into_inner();
                    let mut response =
                        json_text(serde_json::Value::from(found.document_ids).to_string());
                    if let Some(at) = &found.update_time {
                        set_last_modified(&mut response, at);
                    }
                    response
                }
                Err(status) => refusal(&status),
            }
        }
        _ => ApiError::http(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "documents take GET, PUT, POST and DELETE",
        )
        .into_response(),
    }
}

fn set_etag(response: &mut Response, etag: &str) {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        response.headers_mut().insert(http::header::ETAG, value);
    }
}

/// GET /xapi/activities?activityId=: the activity with its gathered definition.
pub(super) async fn activity(State(lrs): State<Lrs>, uri: Uri, headers: HeaderMap) -> Response {
    let params = match Params::read(uri.query(), &["activityId"]) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let Some(activity_id) = params.text("activityId") else {
        return ApiError::invalid("activityId", "is required").into_response();
    };
    let message = pb::GetActivityRequest { activity_id };
    match lrs
        .client()
        .get_activity(forwarded(&headers, message))
        .await
    {
        Ok(found) => json_text(found.into_inner().activity),
        Err(status) => refusal(&status),
    }
}

/// GET /xapi/agents?agent=: the agent's Person object.
pub(super) async fn person(State(lrs): State<Lrs>, uri: Uri, headers: HeaderMap) -> Response {
    let params = match Params::read(uri.query(), &["agent"]) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let Some(agent) = params.text("agent") else {
        return ApiError::invalid("agent", "is required").into_response();
    };
    let message = pb::GetPersonRequest { agent };
    match lrs.client().get_person(forwarded(&headers, message)).await {
        Ok(found) => json_text(found.into_inner().person),
        Err(status) => refusal(&status),
    }
}
