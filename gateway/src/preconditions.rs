//! HTTP conditional requests over the resources' etags (RFC 9110 §13): every read of a
//! resource answers its `ETag`; `If-None-Match` on a read answers 304 when nothing changed;
//! `If-Match` on a write is the etag the write requires (the same check as the body's `etag`),
//! answered 412 when stale.

use http::{HeaderMap, HeaderValue, StatusCode};
use prost_reflect::{DynamicMessage, Kind, ReflectMessage, Value as ProtoValue};

use crate::error::ApiError;
use crate::routes::{BodyRule, Route};

/// What the request asked to be checked.
#[derive(Clone, Debug, Default)]
pub struct Conditions {
    /// `If-Match` was given (and put into the request's etag).
    pub if_match: bool,
    /// `If-None-Match` of a read.
    pub if_none_match: Option<String>,
}

fn header(headers: &HeaderMap, name: http::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Reads the conditional headers and puts `If-Match` into `message`'s etag: the etag field of
/// the resource the body carries, or the request's own `etag`.
pub fn apply(
    route: &Route,
    message: &mut DynamicMessage,
    headers: &HeaderMap,
) -> Result<Conditions, ApiError> {
    let read = route.http_method == http::Method::GET;
    let mut conditions = Conditions {
        if_none_match: header(headers, http::header::IF_NONE_MATCH).filter(|_| read),
        ..Default::default()
    };
    if read {
        return Ok(conditions);
    }
    let Some(if_match) = if_match(headers)? else {
        return Ok(conditions);
    };
    let target = etag_holder(route, message)
        .ok_or_else(|| ApiError::invalid("If-Match", "this operation does not take an etag"))?;
    let (holder, field) = target;
    let holder = match holder {
        None => message,
        Some(name) => match message.get_field_by_name_mut(&name) {
            Some(ProtoValue::Message(inner)) => inner,
            _ => {
                return Err(ApiError::invalid(
                    "If-Match",
                    "this operation does not take an etag",
                ));
            }
        },
    };
    let current = holder
        .get_field_by_name(&field)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if !current.is_empty() && current != if_match {
        return Err(ApiError::invalid(
            "If-Match",
            "differs from the etag in the body; give one of them",
        ));
    }
    holder.set_field_by_name(&field, ProtoValue::String(if_match));
    conditions.if_match = true;
    Ok(conditions)
}

/// The etag a write's `If-Match` requires: None without one, or with `*` (which asks only that
/// the resource exists, as every write checks anyway); refused unless one strong etag.
pub fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(if_match) = header(headers, http::header::IF_MATCH).filter(|v| v != "*") else {
        return Ok(None);
    };
    if if_match.contains(',') || if_match.starts_with("W/") {
        return Err(ApiError::invalid(
            "If-Match",
            "must be one strong etag, as a read's ETag gives it",
        ));
    }
    Ok(Some(if_match))
}

/// Where a write's etag goes: the body's resource (`pathway.etag`) or the request (`etag`).
fn etag_holder(route: &Route, message: &DynamicMessage) -> Option<(Option<String>, String)> {
    let input = message.descriptor();
    if let BodyRule::Field(field) = &route.body
        && let Kind::Message(resource) = field.kind()
        && resource.get_field_by_name("etag").is_some()
    {
        return Some((Some(field.name().to_string()), "etag".to_string()));
    }
    if input.get_field_by_name("etag").is_some() {
        return Some((None, "etag".to_string()));
    }
    // body "*" with the resource inside it (`record`, bound by the path's `{record.id}`).
    input.fields().find_map(|field| match field.kind() {
        Kind::Message(resource)
            if resource.get_field_by_name("etag").is_some()
                && route
                    .template
                    .text
                    .contains(&format!("{{{}.", field.name())) =>
        {
            Some((Some(field.name().to_string()), "etag".to_string()))
        }
        _ => None,
    })
}

/// The response to a successful unary call: `ETag` from the answer's etag, and 304 when the
/// read's `If-None-Match` names it.
pub fn on_success(
    conditions: &Conditions,
    etag: Option<&str>,
) -> (StatusCode, Option<HeaderValue>) {
    let etag = etag.filter(|etag| !etag.is_empty());
    let Some(etag) = etag else {
        return (StatusCode::OK, None);
    };
    let value = HeaderValue::from_str(etag).ok();
    let unchanged = conditions.if_none_match.as_deref().is_some_and(|given| {
        given == "*"
            || given
                .split(',')
                .any(|one| one.trim().trim_start_matches("W/") == etag)
    });
    let status = if unchanged {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    (status, value)
}

/// A stale `If-Match` is 412 Precondition Failed, not the 409 a stale body etag gets.
pub fn on_error(conditions: &Conditions, mut error: ApiError) -> ApiError {
    if conditions.if_match && error.reason == "ETAG_MISMATCH" {
        error.http = Some(StatusCode::PRECONDITION_FAILED);
    }
    error
}
