//! xAPI's own HTTP interface at `/xapi/` (xAPI 1.0.3 and 2.0.0 Communication): the
//! Statement Resource and About, over records-service's `lms.xapi.v1.LearningRecordStoreService`.
//! xAPI is an HTTP protocol of its own (its headers, parameters and statuses), so it is
//! served here by hand rather than transcoded; the statements' rules are the service's.
//!
//! Every `/xapi/` response carries `X-Experience-API-Version`: the version negotiated from the
//! request's header (1.0.x is answered as 1.0.3, 2.0.x as 2.0.0). Every Statement Resource
//! response carries `X-Experience-API-Consistent-Through`.

pub mod alternate;
mod attachments;
mod documents;
pub(crate) mod params;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use lms_platform::client::Peer;
use lms_proto::xapi_v1 as pb;
use pb::learning_record_store_service_client::LearningRecordStoreServiceClient;
use serde_json::{Value, json};
use tonic::metadata::MetadataMap;

use crate::error::ApiError;
use params::Params;

/// Where the interface is mounted; `more` links are absolute paths under it.
pub const BASE: &str = "/xapi";

pub static VERSION: HeaderName = HeaderName::from_static("x-experience-api-version");
pub static CONSISTENT_THROUGH: HeaderName =
    HeaderName::from_static("x-experience-api-consistent-through");

/// The versions served, for About.
const VERSIONS: [&str; 2] = ["1.0.3", "2.0.0"];

/// The version a request negotiated (an extension the handlers read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negotiated {
    V1,
    V2,
}

impl Negotiated {
    /// `1.0`, `1.0.x`, `2.0`, `2.0.x` (x digits); None for anything else.
    fn parse(text: &str) -> Option<Negotiated> {
        let (line, patch) = match text.splitn(3, '.').collect::<Vec<_>>()[..] {
            [major, minor] => ((major, minor), None),
            [major, minor, patch] => ((major, minor), Some(patch)),
            _ => return None,
        };
        if patch.is_some_and(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
            return None;
        }
        match line {
            ("1", "0") => Some(Negotiated::V1),
            ("2", "0") => Some(Negotiated::V2),
            _ => None,
        }
    }

    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Negotiated::V1 => VERSIONS[0],
            Negotiated::V2 => VERSIONS[1],
        })
    }

    pub(super) fn wire(self) -> i32 {
        match self {
            Negotiated::V1 => pb::XapiVersion::OneZero as i32,
            Negotiated::V2 => pb::XapiVersion::TwoZero as i32,
        }
    }
}

/// The outermost layer for `/xapi/` paths: negotiates the version (a request without a
/// supported one is refused with 400, About excepted) and names it on every response, the
/// edge's own refusals (401, 429, 413) included.
pub async fn negotiate_version(mut request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with(&format!("{BASE}/")) {
        return next.run(request).await;
    }
    let about = request.uri().path() == format!("{BASE}/about");
    let asked = request
        .headers()
        .get(&VERSION)
        .map(|value| value.to_str().ok().and_then(Negotiated::parse));
    let negotiated = match asked {
        Some(Some(version)) => version,
        _ if about || request.method() == http::Method::OPTIONS => Negotiated::V2,
        None => {
            return with_version(
                xapi_error(
                    StatusCode::BAD_REQUEST,
                    "X-Experience-API-Version is required",
                ),
                Negotiated::V2,
            );
        }
        Some(None) => {
            return with_version(
                xapi_error(
                    StatusCode::BAD_REQUEST,
                    "X-Experience-API-Version must be 1.0, 1.0.x, 2.0 or 2.0.x",
                ),
                Negotiated::V2,
            );
        }
    };
    request.extensions_mut().insert(negotiated);
    with_version(next.run(request).await, negotiated)
}

fn with_version(mut response: Response, version: Negotiated) -> Response {
    response
        .headers_mut()
        .insert(VERSION.clone(), version.header());
    response
}

fn xapi_error(status: StatusCode, message: &str) -> Response {
    ApiError::http(status, "XAPI_VERSION", message).into_response()
}

/// Whether `request` stores statements with their attachments (`multipart/mixed`), whose
/// parts are streamed through.
pub fn is_streamed_upload(request: &Request) -> bool {
    let storing = matches!(*request.method(), http::Method::PUT | http::Method::POST);
    let multipart = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/mixed")
        });
    storing && multipart && request.uri().path() == format!("{BASE}/statements")
}

/// The statement resource's state: records-service, and the latest consistency promise it
/// made (what an error response repeats).
#[derive(Clone)]
pub struct Lrs {
    records: Peer,
    consistent_through: Arc<AtomicI64>,
    /// The most a JSON body (or a multipart body's statements) may be.
    max_body_bytes: usize,
}

/// `/xapi/statements`, the document resources, Activities, Agents and About; bodies up to
/// `max_body_bytes` (413 beyond), save attachments' parts, which are streamed through.
pub fn router(records: Peer, max_body_bytes: usize) -> Router {
    let lrs = Lrs {
        records,
        consistent_through: Arc::new(AtomicI64::new(0)),
        max_body_bytes,
    };
    Router::new()
        .route(
            "/xapi/statements",
            axum::routing::get(get_statements)
                .put(put_statement)
                .post(post_statements),
        )
        .route("/xapi/about", axum::routing::get(about))
        .route(
            "/xapi/activities/state",
            axum::routing::any(documents::state),
        )
        .route(
            "/xapi/activities/profile",
            axum::routing::any(documents::activity_profile),
        )
        .route(
            "/xapi/agents/profile",
            axum::routing::any(documents::agent_profile),
        )
        .route("/xapi/activities", axum::routing::get(documents::activity))
        .route("/xapi/agents", axum::routing::get(documents::person))
        .layer(axum::extract::DefaultBodyLimit::max(max_body_bytes))
        .with_state(lrs)
}

async fn about() -> Response {
    json_text(json!({"version": VERSIONS}).to_string())
}

impl Lrs {
    pub(super) fn client(&self) -> LearningRecordStoreServiceClient<tonic::transport::Channel> {
        LearningRecordStoreServiceClient::new(self.records.channel())
    }

    /// Adds the consistency header: the service's promise, or on an error the latest one made.
    fn respond(
        &self,
        mut response: Response,
        promise: Option<&prost_types::Timestamp>,
    ) -> Response {
        let micros = match promise {
            Some(at) => {
                let micros = at.seconds * 1_000_000 + i64::from(at.nanos / 1_000);
                self.consistent_through.fetch_max(micros, Ordering::Relaxed);
                micros
            }
            None => self.consistent_through.load(Ordering::Relaxed),
        };
        let at = DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default();
        if let Ok(value) = HeaderValue::from_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true)) {
            response
                .headers_mut()
                .insert(CONSISTENT_THROUGH.clone(), value);
        }
        response
    }

    fn refuse(&self, error: ApiError) -> Response {
        self.respond(error.into_response(), None)
    }
}

/// A gRPC request carrying the caller's own credentials and request id.
pub(super) fn forwarded<M>(headers: &HeaderMap, message: M) -> tonic::Request<M> {
    let incoming = MetadataMap::from_headers(headers.clone());
    let mut request = tonic::Request::new(message);
    for name in ["authorization", "x-request-id", "traceparent", "tracestate"] {
        if let Some(value) = incoming.get(name) {
            request.metadata_mut().insert(name, value.clone());
        }
    }
    request
}

/// Stores a PUT's or POST's statements: `application/json` (attachments by `fileUrl` only),
/// up to `max_body_bytes`, in one call; `multipart/mixed`, its parts streamed through.
async fn store_body(
    lrs: &Lrs,
    headers: &HeaderMap,
    body: Body,
    request: pb::StoreStatementsRequest,
) -> Result<pb::StoreStatementsResponse, ApiError> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("multipart/mixed") {
        return attachments::store(
            lrs,
            headers,
            content_type,
            body,
            request,
            lrs.max_body_bytes,
        )
        .await;
    }
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::http(
            StatusCode::BAD_REQUEST,
            "CONTENT_TYPE",
            "statements are sent as application/json or multipart/mixed",
        ));
    }
    let body = axum::body::to_bytes(body, lrs.max_body_bytes)
        .await
        .map_err(|_| {
            ApiError::http(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the body is over {} bytes", lrs.max_body_bytes),
            )
        })?;
    let message = pb::StoreStatementsRequest {
        statements: String::from_utf8_lossy(&body).into_owned(),
        ..request
    };
    lrs.client()
        .store_statements(forwarded(headers, message))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| ApiError::from_status(&status))
}

pub(super) fn negotiated(request_extensions: Option<&Negotiated>) -> Negotiated {
    request_extensions.copied().unwrap_or(Negotiated::V2)
}

/// PUT /xapi/statements?statementId=: one statement under the given id; 204.
async fn put_statement(
    State(lrs): State<Lrs>,
    version: Option<axum::Extension<Negotiated>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = match Params::read(uri.query(), &["statementId"]) {
        Ok(params) => params,
        Err(error) => return lrs.refuse(error),
    };
    let Some(id) = params.text("statementId") else {
        return lrs.refuse(ApiError::invalid(
            "statementId",
            "is required to PUT a statement",
        ));
    };
    store(&lrs, version, &headers, body, id, |_| {
        StatusCode::NO_CONTENT.into_response()
    })
    .await
}

/// POST /xapi/statements: one statement or an array; 200 with their ids.
async fn post_statements(
    State(lrs): State<Lrs>,
    version: Option<axum::Extension<Negotiated>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if uri.query().is_some_and(|q| !q.is_empty()) {
        return lrs.refuse(ApiError::http(
            StatusCode::BAD_REQUEST,
            "PARAMETERS",
            "POST /statements takes no parameters",
        ));
    }
    store(&lrs, version, &headers, body, String::new(), |ids| {
        json_text(Value::from(ids).to_string())
    })
    .await
}

/// Stores a PUT's or a POST's statements (`statement_id`: PUT's), answering with `answer` of
/// the stored ids.
async fn store(
    lrs: &Lrs,
    version: Option<axum::Extension<Negotiated>>,
    headers: &HeaderMap,
    body: Body,
    statement_id: String,
    answer: impl FnOnce(Vec<String>) -> Response,
) -> Response {
    let request = pb::StoreStatementsRequest {
        statements: String::new(),
        statement_id,
        version: negotiated(version.as_deref()).wire(),
        attachments: Vec::new(),
    };
    match store_body(lrs, headers, body, request).await {
        Ok(stored) => lrs.respond(answer(stored.ids), stored.consistent_through.as_ref()),
        Err(error) => lrs.refuse(error),
    }
}

const QUERY_PARAMETERS: [&str; 15] = [
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
    "more",
];

/// GET (and HEAD) /xapi/statements: one statement, or a StatementResult page.
async fn get_statements(State(lrs): State<Lrs>, uri: Uri, headers: HeaderMap) -> Response {
    let params = match Params::read(uri.query(), &QUERY_PARAMETERS) {
        Ok(params) => params,
        Err(error) => return lrs.refuse(error),
    };
    let format = match params.text("format").as_deref() {
        None | Some("exact") => pb::StatementFormat::Exact,
        Some("ids") => pb::StatementFormat::Ids,
        Some("canonical") => pb::StatementFormat::Canonical,
        Some(_) => {
            return lrs.refuse(ApiError::invalid(
                "format",
                "must be ids, exact or canonical",
            ));
        }
    };
    let with_attachments = match params.flag("attachments") {
        Ok(flag) => flag,
        Err(error) => return lrs.refuse(error),
    };
    let languages = languages(&headers);
    let single = match (params.text("statementId"), params.text("voidedStatementId")) {
        (Some(_), Some(_)) => {
            return lrs.refuse(ApiError::invalid(
                "voidedStatementId",
                "give statementId or voidedStatementId, not both",
            ));
        }
        (Some(id), None) => Some(pb::get_statement_request::Lookup::StatementId(id)),
        (None, Some(id)) => Some(pb::get_statement_request::Lookup::VoidedStatementId(id)),
        (None, None) => None,
    };
    if let Some(lookup) = single {
        let other = params.names().find(|name| {
            !["statementId", "voidedStatementId", "format", "attachments"].contains(name)
        });
        if let Some(other) = other {
            return lrs.refuse(ApiError::invalid(
                other.to_string(),
                "cannot be given with statementId or voidedStatementId",
            ));
        }
        let message = pb::GetStatementRequest {
            lookup: Some(lookup),
            format: format as i32,
            languages,
            attachments: with_attachments,
        };
        if with_attachments {
            return attachments::statement(&lrs, &headers, message).await;
        }
        return match lrs
            .client()
            .get_statement(forwarded(&headers, message))
            .await
        {
            Ok(found) => {
                let found = found.into_inner();
                let mut response = json_text(found.statement);
                if let Some(stored) = &found.stored {
                    set_last_modified(&mut response, stored);
                }
                lrs.respond(response, found.consistent_through.as_ref())
            }
            Err(status) => lrs.refuse(ApiError::from_status(&status)),
        };
    }
    let message = match query_message(&params, format, languages) {
        Ok(message) => pb::QueryStatementsRequest {
            attachments: with_attachments,
            ..message
        },
        Err(error) => return lrs.refuse(error),
    };
    if with_attachments {
        return attachments::page(&lrs, &headers, message).await;
    }
    match lrs
        .client()
        .query_statements(forwarded(&headers, message))
        .await
    {
        Ok(page) => {
            let page = page.into_inner();
            match page_json(&page) {
                Ok(result) => lrs.respond(json_text(result), page.consistent_through.as_ref()),
                Err(error) => lrs.refuse(error),
            }
        }
        Err(status) => lrs.refuse(ApiError::from_status(&status)),
    }
}

/// A StatementResult: the page's statements and the `more` link to the rest.
pub(super) fn page_json(page: &pb::QueryStatementsResponse) -> Result<String, ApiError> {
    let statements: Value = serde_json::from_str(&page.statements).map_err(|error| {
        tracing::error!(%error, "records-service answered statements that are not JSON");
        ApiError::new(tonic::Code::Internal, "internal error")
    })?;
    let more = if page.next_page_token.is_empty() {
        String::new()
    } else {
        format!("{BASE}/statements?more={}", page.next_page_token)
    };
    Ok(json!({"statements": statements, "more": more}).to_string())
}

fn query_message(
    params: &Params,
    format: pb::StatementFormat,
    languages: Vec<String>,
) -> Result<pb::QueryStatementsRequest, ApiError> {
    if let Some(more) = params.text("more") {
        // `more` stands for the whole query: nothing else goes with it.
        if let Some(other) = params.names().find(|name| *name != "more") {
            return Err(ApiError::invalid(
                other.to_string(),
                "cannot be given with more",
            ));
        }
        return Ok(pb::QueryStatementsRequest {
            page_token: more,
            languages,
            ..Default::default()
        });
    }
    Ok(pb::QueryStatementsRequest {
        agent: params.text("agent").unwrap_or_default(),
        verb: params.text("verb").unwrap_or_default(),
        activity: params.text("activity").unwrap_or_default(),
        registration: params.text("registration").unwrap_or_default(),
        related_activities: params.flag("related_activities")?,
        related_agents: params.flag("related_agents")?,
        since: params.text("since").unwrap_or_default(),
        until: params.text("until").unwrap_or_default(),
        limit: params.count("limit")?,
        format: format as i32,
        ascending: params.flag("ascending")?,
        page_token: String::new(),
        languages,
        attachments: false,
    })
}

/// Accept-Language's tags, most preferred first.
fn languages(headers: &HeaderMap) -> Vec<String> {
    headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(accept_language::parse)
        .unwrap_or_default()
}

pub(super) fn json_text(text: String) -> Response {
    (
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}

pub(super) fn set_last_modified(response: &mut Response, stored: &prost_types::Timestamp) {
    let Some(at) = DateTime::<Utc>::from_timestamp(stored.seconds, 0) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()) {
        response
            .headers_mut()
            .insert(http::header::LAST_MODIFIED, value);
    }
}
