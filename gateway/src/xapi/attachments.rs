//! Statements with their attachments' raw data (xAPI Communication 1.5.2), streamed both
//! ways so that no attachment is held whole in memory:
//! - a `multipart/mixed` PUT or POST is read part by part (multer) — first the statements as
//!   `application/json`, then each attachment with its `X-Experience-API-Hash` and
//!   `Content-Transfer-Encoding: binary` — and passed on as it arrives to records-service's
//!   `StoreStatementsStream`;
//! - a GET with `attachments=true` is answered the same way from `GetStatementStream` /
//!   `QueryStatementsStream`, each part written as its bytes arrive.
//!
//! Whether each part's content hashes to its hash, and belongs to a statement, is
//! records-service's to check, once the last part is in.

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use lms_proto::xapi_v1 as pb;
use pb::statements_stream_response::Item as Answer;
use pb::store_statements_stream_request::Item;
use tokio_stream::wrappers::ReceiverStream;

use super::{Lrs, forwarded, set_last_modified};
use crate::error::ApiError;

const HASH: &str = "x-experience-api-hash";

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::http(StatusCode::BAD_REQUEST, "MULTIPART", message)
}

fn malformed(error: multer::Error) -> ApiError {
    bad(format!("the multipart body is malformed: {error}"))
}

/// Why passing the parts on stopped.
enum Stopped {
    /// The body broke the rules: the call is cancelled, nothing is stored.
    Refused(ApiError),
    /// records-service stopped taking them: its answer says why.
    Answered,
}

/// Stores a `multipart/mixed` PUT's or POST's statements: `request` is the store request
/// without the statements, which come from the first part. The statements' part may be at
/// most `max_json_bytes`.
pub(super) async fn store(
    lrs: &Lrs,
    headers: &HeaderMap,
    content_type: &str,
    body: Body,
    mut request: pb::StoreStatementsRequest,
    max_json_bytes: usize,
) -> Result<pb::StoreStatementsResponse, ApiError> {
    let boundary = boundary(content_type)
        .ok_or_else(|| bad("multipart/mixed needs its boundary parameter"))?;
    let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut first = multipart
        .next_field()
        .await
        .map_err(malformed)?
        .ok_or_else(|| bad("the multipart body has no part"))?;
    let is_json = first
        .content_type()
        .is_some_and(|media| media.essence_str() == "application/json");
    if !is_json {
        return Err(bad(
            "the first part must be the statements, as application/json",
        ));
    }
    let mut statements = Vec::new();
    while let Some(chunk) = first.chunk().await.map_err(malformed)? {
        statements.extend_from_slice(&chunk);
        if statements.len() > max_json_bytes {
            return Err(ApiError::http(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("the statements' part is over {max_json_bytes} bytes"),
            ));
        }
    }
    drop(first);
    request.statements = String::from_utf8_lossy(&statements).into_owned();
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let opening = pb::StoreStatementsStreamRequest {
        item: Some(Item::Request(request)),
    };
    sender
        .send(opening)
        .await
        .map_err(|_| bad("the store stopped taking the request"))?;
    let mut client = lrs.client();
    let call = client.store_statements_stream(forwarded(headers, ReceiverStream::new(receiver)));
    let pump = pass_parts(multipart, sender);
    tokio::pin!(call, pump);
    tokio::select! {
        // records-service answered before the last part: an error (a refused credential, too
        // many bytes), which is the answer.
        answer = &mut call => return answer.map(tonic::Response::into_inner).map_err(|s| ApiError::from_status(&s)),
        pumped = &mut pump => {
            if let Err(Stopped::Refused(error)) = pumped {
                // The stream ends without `end`, and the call is dropped: nothing is stored.
                return Err(error);
            }
        }
    }
    call.await
        .map(tonic::Response::into_inner)
        .map_err(|status| ApiError::from_status(&status))
}

/// Sends each attachment's part: a message naming it, then its bytes as they arrive, and
/// `end` once the body has ended well (only then may the store proceed).
async fn pass_parts(
    mut multipart: multer::Multipart<'static>,
    sender: tokio::sync::mpsc::Sender<pb::StoreStatementsStreamRequest>,
) -> Result<(), Stopped> {
    let send = |item| {
        let sender = sender.clone();
        async move {
            sender
                .send(pb::StoreStatementsStreamRequest { item: Some(item) })
                .await
                .map_err(|_| Stopped::Answered)
        }
    };
    let refused = |error| Stopped::Refused(error);
    let mut index = 0;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| refused(malformed(e)))?
    {
        index += 1;
        let header = |name: &str| {
            field
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_string)
        };
        let sha2 = header(HASH).ok_or_else(|| {
            refused(bad(format!(
                "part {index} has no X-Experience-API-Hash header"
            )))
        })?;
        match header("content-transfer-encoding") {
            Some(encoding) if encoding.eq_ignore_ascii_case("binary") => {}
            _ => {
                return Err(refused(bad(format!(
                    "part {index} must say Content-Transfer-Encoding: binary"
                ))));
            }
        }
        let content_type =
            header("content-type").unwrap_or_else(|| "application/octet-stream".into());
        send(Item::Part(pb::AttachmentPart {
            sha2,
            content_type,
            content: Vec::new(),
            size: 0,
        }))
        .await?;
        while let Some(chunk) = field.chunk().await.map_err(|e| refused(malformed(e)))? {
            send(Item::Data(chunk.to_vec())).await?;
        }
    }
    // Only a body read to its end says so: a stream that ends without it (this one dropped
    // on a refusal) stores nothing, however far it got.
    send(Item::End(true)).await
}

/// The `boundary` parameter, quoted or not. Read here rather than by a media-type parser:
/// RFC 2046 lets a boundary hold `'()+_,-./:=?` (xAPI's own example does), which general
/// media-type grammars refuse unquoted and some refuse quoted.
fn boundary(content_type: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let valid =
            (1..=70).contains(&value.len()) && value.chars().all(allowed) && !value.ends_with(' ');
        valid.then(|| value.to_string())
    })
}

/// GET ?statementId= (or voidedStatementId) with `attachments=true`.
pub(super) async fn statement(
    lrs: &Lrs,
    headers: &HeaderMap,
    message: pb::GetStatementRequest,
) -> Response {
    let request = pb::GetStatementStreamRequest {
        request: Some(message),
    };
    let mut answers = match lrs
        .client()
        .get_statement_stream(forwarded(headers, request))
        .await
    {
        Ok(answers) => answers.into_inner(),
        Err(status) => return lrs.refuse(ApiError::from_status(&status)),
    };
    let found = match first(&mut answers).await {
        Ok(Answer::Statement(found)) => found,
        Ok(_) => return lrs.refuse(unexpected()),
        Err(error) => return lrs.refuse(error),
    };
    let mut response = answer(found.statement, answers);
    if let Some(stored) = &found.stored {
        set_last_modified(&mut response, stored);
    }
    lrs.respond(response, found.consistent_through.as_ref())
}

/// A query's page with `attachments=true`.
pub(super) async fn page(
    lrs: &Lrs,
    headers: &HeaderMap,
    message: pb::QueryStatementsRequest,
) -> Response {
    let request = pb::QueryStatementsStreamRequest {
        request: Some(message),
    };
    let mut answers = match lrs
        .client()
        .query_statements_stream(forwarded(headers, request))
        .await
    {
        Ok(answers) => answers.into_inner(),
        Err(status) => return lrs.refuse(ApiError::from_status(&status)),
    };
    let page = match first(&mut answers).await {
        Ok(Answer::Page(page)) => page,
        Ok(_) => return lrs.refuse(unexpected()),
        Err(error) => return lrs.refuse(error),
    };
    let json = match super::page_json(&page) {
        Ok(json) => json,
        Err(error) => return lrs.refuse(error),
    };
    lrs.respond(answer(json, answers), page.consistent_through.as_ref())
}

fn unexpected() -> ApiError {
    tracing::error!("records-service's streamed answer did not start with the statements");
    ApiError::new(tonic::Code::Internal, "internal error")
}

async fn first(
    answers: &mut tonic::Streaming<pb::StatementsStreamResponse>,
) -> Result<Answer, ApiError> {
    match answers.message().await {
        Ok(Some(pb::StatementsStreamResponse { item: Some(item) })) => Ok(item),
        Ok(_) => Err(unexpected()),
        Err(status) => Err(ApiError::from_status(&status)),
    }
}

/// A `multipart/mixed` answer: the JSON first, then each attachment's raw data as it comes.
fn answer(json: String, rest: tonic::Streaming<pb::StatementsStreamResponse>) -> Response {
    let boundary = format!("xapi-{}", uuid::Uuid::new_v4().simple());
    let head = format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{json}");
    let tail = format!("\r\n--{boundary}--\r\n");
    let content_type = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}"))
        .unwrap_or(HeaderValue::from_static("multipart/mixed"));
    let parts = rest.map(move |message| match message {
        Ok(pb::StatementsStreamResponse {
            item: Some(Answer::Part(part)),
        }) => Ok(Bytes::from(format!(
            "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {}\r\n\r\n",
            part.content_type, part.sha2
        ))),
        Ok(pb::StatementsStreamResponse {
            item: Some(Answer::Data(data)),
        }) => Ok(Bytes::from(data)),
        Ok(_) => Ok(Bytes::new()),
        // Cut short: the client sees a body without its closing boundary.
        Err(status) => Err(std::io::Error::other(status.message().to_string())),
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(head)) })
        .chain(parts)
        .chain(futures::stream::once(async move { Ok(Bytes::from(tail)) }));
    (
        [(http::header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn boundaries_as_rfc_2046_allows_them() {
        let quoted = "multipart/mixed; boundary=\"abcABC0123'()+_,-./:=?\"";
        assert_eq!(
            super::boundary(quoted).as_deref(),
            Some("abcABC0123'()+_,-./:=?")
        );
        assert_eq!(
            super::boundary("multipart/mixed;boundary=xyz").as_deref(),
            Some("xyz")
        );
        assert_eq!(super::boundary("multipart/mixed"), None);
        assert_eq!(super::boundary("multipart/mixed; boundary=\"\""), None);
        assert_eq!(super::boundary("multipart/mixed; boundary=a{b}"), None);
    }
}
