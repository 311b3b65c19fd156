//! cmi5 course packages at the gateway, both ways streamed so that no package or file is held
//! whole in memory:
//! - `POST /v1/pathways/{id}:importCmi5Package`: the ZIP file as the body (`application/zip`),
//!   `language` and `etag` as query parameters, passed on part by part to pathway-service's
//!   `ContentPackageService.ImportCmi5Package`; the answer is its JSON.
//! - `GET /content/{key}/{path}`: a package's file, public (the key is the credential: a
//!   learner's browser follows the launch URL without a token), from
//!   `ContentFileService.ReadContentFile`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};
use lms_platform::client::Peer;
use lms_proto::pathway_v1 as pb;
use pb::content_file_service_client::ContentFileServiceClient;
use pb::content_package_service_client::ContentPackageServiceClient;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};

use crate::error::ApiError;
use crate::xapi::params::Params;

const IMPORT_VERB: &str = ":importCmi5Package";

/// `GET /content/{key}/{*path}`.
pub fn router(pathway: Peer) -> Router {
    Router::new()
        .route("/content/{key}/{*path}", axum::routing::get(read))
        .with_state(pathway)
}

/// The pathway id of a `POST /v1/pathways/{id}:importCmi5Package`, else None.
pub fn import_target<'a>(method: &http::Method, path: &'a str) -> Option<&'a str> {
    if method != http::Method::POST {
        return None;
    }
    let id = path
        .strip_prefix("/v1/pathways/")?
        .strip_suffix(IMPORT_VERB)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// Whether `path` is an import, whose body may take longer to arrive than a request is
/// otherwise given.
pub fn is_import(path: &str) -> bool {
    import_target(&http::Method::POST, path).is_some()
}

/// Passes the ZIP file in the body on to pathway-service as it arrives. A refusal may come
/// before the body is read to its end: it then closes the connection, so that the client
/// does not send its next request after the rest of this body.
pub async fn import(
    pathway: &Peer,
    pool: &DescriptorPool,
    pathway_id: &str,
    parts: http::request::Parts,
    body: Body,
) -> Response {
    let mut response = pass_on(pathway, pool, pathway_id, parts, body).await;
    if !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn pass_on(
    pathway: &Peer,
    pool: &DescriptorPool,
    pathway_id: &str,
    parts: http::request::Parts,
    body: Body,
) -> Response {
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let zip = matches!(
        media.as_deref(),
        Some("application/zip" | "application/x-zip-compressed" | "application/octet-stream")
    );
    if !zip {
        return ApiError::http(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be the package's ZIP file, as application/zip",
        )
        .into_response();
    }
    let params = match Params::read(parts.uri.query(), &["language", "etag"]) {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    // The etag as the gateway's other writes take it: `etag`, or `If-Match` (then 412 when
    // stale, as theirs).
    let if_match = match crate::preconditions::if_match(&parts.headers) {
        Ok(if_match) => if_match,
        Err(error) => return error.into_response(),
    };
    let etag = match (params.text("etag"), if_match.clone()) {
        (Some(given), Some(required)) if given != required => {
            return ApiError::invalid("If-Match", "differs from etag; give one of them")
                .into_response();
        }
        (given, required) => given.or(required).unwrap_or_default(),
    };
    let conditions = crate::preconditions::Conditions {
        if_match: if_match.is_some(),
        ..Default::default()
    };
    let header = pb::ImportCmi5PackageRequest {
        header: Some(pb::Cmi5PackageHeader {
            pathway_id: pathway_id.to_string(),
            language: params.text("language").unwrap_or_default(),
            etag,
        }),
        ..Default::default()
    };
    // The body's bytes as they arrive, then `end` once it has ended well. A body cut short
    // stops the stream without `end`, and pathway-service then imports nothing.
    let chunks = body
        .into_data_stream()
        .map(Some)
        .chain(futures::stream::once(async { None }))
        .scan((), |_, read| {
            std::future::ready(match read {
                Some(Ok(bytes)) => Some(pb::ImportCmi5PackageRequest {
                    chunk: bytes.to_vec(),
                    ..Default::default()
                }),
                Some(Err(_)) => None,
                None => Some(pb::ImportCmi5PackageRequest {
                    end: true,
                    ..Default::default()
                }),
            })
        });
    let messages = futures::stream::once(async { header }).chain(chunks);
    let request = crate::xapi::forwarded(&parts.headers, messages);
    let mut client = ContentPackageServiceClient::new(pathway.channel());
    match client.import_cmi5_package(request).await {
        Ok(answer) => json(pool, &answer.into_inner()),
        Err(status) => crate::preconditions::on_error(&conditions, ApiError::from_status(&status))
            .into_response(),
    }
}

/// The answer as the gateway writes every message: proto3 JSON.
fn json(pool: &DescriptorPool, answer: &pb::ImportCmi5PackageResponse) -> Response {
    let Some(descriptor) = pool.get_message_by_name("lms.pathway.v1.ImportCmi5PackageResponse")
    else {
        return ApiError::new(tonic::Code::Internal, "the answer's type is not known")
            .into_response();
    };
    let written = DynamicMessage::decode(descriptor, answer.encode_to_vec().as_slice())
        .map_err(|_| ApiError::new(tonic::Code::Internal, "the answer could not be read"))
        .and_then(|message| crate::transcode::to_json(&message));
    match written {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => error.into_response(),
    }
}

/// One `bytes=` range of a `Range` header as `ReadContentFileRequest`'s (offset, length);
/// None when there is none, or more than one (the whole file is then answered, as RFC 9110
/// 14.2 allows).
fn requested_range(headers: &http::HeaderMap) -> Option<(i64, i64)> {
    let spec = headers
        .get(header::RANGE)?
        .to_str()
        .ok()?
        .trim()
        .strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    // Digits only (no sign), and small enough that nothing below overflows: a number past
    // i64 is no file's size, so it is read as the largest one.
    let number = |text: &str| {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<i64>().unwrap_or(i64::MAX))
    };
    match spec.split_once('-')? {
        ("", suffix) => number(suffix).filter(|n| *n > 0).map(|n| (-n, 0)),
        (first, "") => Some((number(first)?, 0)),
        (first, last) => {
            let (first, last) = (number(first)?, number(last)?);
            (last >= first).then_some((first, (last - first).saturating_add(1)))
        }
    }
}

/// A package's file, streamed as pathway-service reads it; with a `Range` of one span, that
/// span (206), so that a browser can seek in a video.
async fn read(
    State(pathway): State<Peer>,
    Path((access_key, path)): Path<(String, String)>,
    headers: http::HeaderMap,
) -> Response {
    let mut client = ContentFileServiceClient::new(pathway.channel());
    let range = requested_range(&headers);
    let (offset, length) = range.unwrap_or((0, 0));
    let request = pb::ReadContentFileRequest {
        access_key,
        path,
        offset,
        length,
    };
    let mut chunks = match client.read_content_file(request).await {
        Ok(answer) => answer.into_inner(),
        Err(status) if status.code() == tonic::Code::OutOfRange => {
            return ApiError::http(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "RANGE_NOT_SATISFIABLE",
                status.message(),
            )
            .into_response();
        }
        Err(status) => return ApiError::from_status(&status).into_response(),
    };
    let first = match chunks.message().await {
        Ok(Some(first)) => first,
        Ok(None) => return ApiError::new(tonic::Code::NotFound, "no such file").into_response(),
        Err(status) => return ApiError::from_status(&status).into_response(),
    };
    let content_type = HeaderValue::from_str(&first.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let (size, start) = (first.size, first.offset);
    let end = match length {
        0 => size,
        length => start.saturating_add(length).min(size),
    };
    let partial = range.is_some() && size > 0;
    let rest = chunks.map(|read| {
        read.map(|chunk| Bytes::from(chunk.data))
            .map_err(|status| std::io::Error::other(status.message().to_string()))
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(first.data)) }).chain(rest);
    let mut response = (
        if partial {
            StatusCode::PARTIAL_CONTENT
        } else {
            StatusCode::OK
        },
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_LENGTH, HeaderValue::from(end - start)),
            (header::ACCEPT_RANGES, HeaderValue::from_static("bytes")),
            // A package never changes under its key.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // The key is in the address: links out of the content must not carry it along.
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response();
    if partial
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{}/{size}", end - 1))
    {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_one_span_are_read() {
        let range = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
            requested_range(&headers)
        };
        assert_eq!(range("bytes=0-99"), Some((0, 100)));
        assert_eq!(range("bytes=100-"), Some((100, 0)));
        assert_eq!(range("bytes=-500"), Some((-500, 0)));
        assert_eq!(range("bytes=5-4"), None);
        assert_eq!(range("bytes=0-1,5-6"), None);
        assert_eq!(range("bytes=-0"), None);
        assert_eq!(range("items=0-1"), None);
        assert_eq!(range("bytes=a-b"), None);
        assert_eq!(range("bytes=+1-2"), None);
        assert_eq!(range("bytes=0-9223372036854775807"), Some((0, i64::MAX)));
        assert_eq!(range("bytes=18446744073709551615-"), Some((i64::MAX, 0)));
        assert_eq!(requested_range(&http::HeaderMap::new()), None);
    }

    #[test]
    fn imports_are_told_by_their_verb() {
        let post = http::Method::POST;
        assert_eq!(
            import_target(&post, "/v1/pathways/p1:importCmi5Package"),
            Some("p1")
        );
        assert_eq!(
            import_target(&post, "/v1/pathways/:importCmi5Package"),
            None
        );
        assert_eq!(
            import_target(&post, "/v1/pathways/a/b:importCmi5Package"),
            None
        );
        assert_eq!(import_target(&post, "/v1/pathways/p1:publish"), None);
        assert_eq!(
            import_target(&http::Method::GET, "/v1/pathways/p1:importCmi5Package"),
            None
        );
    }
}
