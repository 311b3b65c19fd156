//! Statements with their attachments' raw data (xAPI Communication 1.5.2): a `multipart/mixed`
//! request is read part by part (multer) — first the statements as `application/json`, then
//! each attachment with its `X-Experience-API-Hash` and `Content-Transfer-Encoding: binary` —
//! and a GET with `attachments=true` is answered the same way. Whether each part's content
//! hashes to its hash, and belongs to a statement, is records-service's to check.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use lms_proto::xapi_v1 as pb;

use crate::error::ApiError;

const HASH: &str = "x-experience-api-hash";

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::http(StatusCode::BAD_REQUEST, "MULTIPART", message)
}

/// The statements' JSON and the attachments' parts of a `multipart/mixed` body.
pub(super) async fn read(
    content_type: &str,
    body: Bytes,
) -> Result<(String, Vec<pb::AttachmentPart>), ApiError> {
    let boundary = boundary(content_type)
        .ok_or_else(|| bad("multipart/mixed needs its boundary parameter"))?;
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let malformed = |error: multer::Error| bad(format!("the multipart body is malformed: {error}"));
    let first = multipart
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
    let statements = first.text().await.map_err(malformed)?;
    let mut parts = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let index = parts.len() + 1;
        let header = |name: &str| {
            field
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .map(str::to_string)
        };
        let sha2 = header(HASH)
            .ok_or_else(|| bad(format!("part {index} has no X-Experience-API-Hash header")))?;
        match header("content-transfer-encoding") {
            Some(encoding) if encoding.eq_ignore_ascii_case("binary") => {}
            _ => {
                return Err(bad(format!(
                    "part {index} must say Content-Transfer-Encoding: binary"
                )));
            }
        }
        let content_type =
            header("content-type").unwrap_or_else(|| "application/octet-stream".into());
        let content = field.bytes().await.map_err(malformed)?;
        parts.push(pb::AttachmentPart {
            sha2,
            content_type,
            content: content.to_vec(),
        });
    }
    Ok((statements, parts))
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

/// A `multipart/mixed` answer: the JSON first, then each attachment's raw data.
pub(super) fn answer(json: String, parts: Vec<pb::AttachmentPart>) -> Response {
    let boundary = format!("xapi-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(json.as_bytes());
    for part in parts {
        body.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {}\r\n\r\n",
                part.content_type, part.sha2
            )
            .as_bytes(),
        );
        body.extend_from_slice(&part.content);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let content_type = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}"))
        .unwrap_or(HeaderValue::from_static("multipart/mixed"));
    ([(http::header::CONTENT_TYPE, content_type)], body).into_response()
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
