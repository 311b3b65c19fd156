//! xAPI 1.0.3's alternate request syntax (Communication 1.3), for clients that can only POST a
//! form (old browsers' cross-origin requests): `POST /xapi/...?method=PUT` with an
//! `application/x-www-form-urlencoded` body whose `content` field is the request body, whose
//! header fields (Authorization, X-Experience-API-Version, Content-Type, If-Match,
//! If-None-Match) are the headers, and whose other fields are the query parameters. The request
//! is rewritten into the one it stands for before anything else reads it; xAPI 2.0.0 removed
//! the syntax, so a rewritten request naming 2.0 is refused.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::{BASE, VERSION};
use crate::error::ApiError;

/// Form fields that are headers.
const HEADER_FIELDS: [&str; 5] = [
    "authorization",
    "x-experience-api-version",
    "content-type",
    "if-match",
    "if-none-match",
];

fn refuse(message: &str) -> Response {
    let mut response =
        ApiError::http(StatusCode::BAD_REQUEST, "ALTERNATE_SYNTAX", message).into_response();
    response
        .headers_mut()
        .insert(VERSION.clone(), HeaderValue::from_static("1.0.3"));
    response
}

/// The outermost layer for `/xapi/`: a `?method=` POST becomes the request it stands for.
pub async fn rewrite(
    State(max_body_bytes): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let is_alternate = request.uri().path().starts_with(&format!("{BASE}/"))
        && request.uri().query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "method")
        });
    if !is_alternate {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let [(name, method)] = &query[..] else {
        return refuse("the alternate request syntax takes no query parameter but method");
    };
    let method = match (name.as_str(), method.as_str()) {
        ("method", "GET" | "PUT" | "POST" | "DELETE") => Method::from_bytes(method.as_bytes()),
        _ => return refuse("method must be GET, PUT, POST or DELETE"),
    };
    let Ok(method) = method else {
        return refuse("method must be GET, PUT, POST or DELETE");
    };
    let form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if parts.method != Method::POST || !form {
        return refuse(
            "the alternate request syntax is a POST of an application/x-www-form-urlencoded form",
        );
    }
    let Ok(body) = axum::body::to_bytes(body, max_body_bytes).await else {
        return ApiError::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the form is too large",
        )
        .into_response();
    };
    match rebuilt(parts, method, &body) {
        Ok(request) => next.run(request).await,
        Err(why) => refuse(why),
    }
}

/// The request a form stands for, or why it stands for none (synchronous: the form's
/// serializer is not `Send`).
fn rebuilt(
    parts: http::request::Parts,
    method: Method,
    body: &[u8],
) -> Result<Request, &'static str> {
    let mut content = Vec::new();
    let mut headers = http::HeaderMap::new();
    let mut params = form_urlencoded::Serializer::new(String::new());
    for (field, value) in form_urlencoded::parse(body) {
        let lower = field.to_ascii_lowercase();
        if lower == "content" {
            content = value.as_bytes().to_vec();
        } else if HEADER_FIELDS.contains(&lower.as_str()) {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(lower.as_bytes()),
                HeaderValue::from_str(&value),
            ) else {
                return Err("a header field of the form is not a valid header");
            };
            headers.insert(name, value);
        } else {
            params.append_pair(&field, &value);
        }
    }
    let names_two = headers
        .get(&VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("2."));
    if names_two {
        return Err("xAPI 2.0.0 has no alternate request syntax");
    }
    let query = params.finish();
    let path_and_query = if query.is_empty() {
        parts.uri.path().to_string()
    } else {
        format!("{}?{query}", parts.uri.path())
    };
    let mut rebuilt = Request::new(Body::from(content));
    *rebuilt.method_mut() = method;
    *rebuilt.uri_mut() = match path_and_query.parse() {
        Ok(uri) => uri,
        Err(_) => return Err("the form's parameters do not make a valid request"),
    };
    *rebuilt.headers_mut() = headers;
    // What the edge keeps from the transport: the request id and trace context.
    for name in ["x-request-id", "traceparent", "tracestate"] {
        if let Some(value) = parts.headers.get(name) {
            rebuilt.headers_mut().insert(name, value.clone());
        }
    }
    *rebuilt.extensions_mut() = parts.extensions;
    Ok(rebuilt)
}
