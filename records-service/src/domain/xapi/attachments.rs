//! Attachments (xAPI Data 2.4.11, Communication 1.5.2): the raw data sent as parts of a
//! `multipart/mixed` request is matched to the statements' attachments by SHA-2 and checked
//! against it; a signature attachment must hold a JWS of the statement it is attached to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lms_platform::error::FieldViolation;
use serde_json::{Map, Value};

/// The usage type of a statement's signature (Data 2.6).
pub const SIGNATURE: &str = "http://adlnet.gov/expapi/attachments/signature";

/// What a statement says of one of its attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentMeta {
    pub sha2: String,
    /// The raw data is elsewhere (then no part is needed).
    pub has_file_url: bool,
    pub is_signature: bool,
    pub content_type: String,
}

/// An attachment's raw data and its media type, named by its SHA-2.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentData {
    pub sha2: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// One part's raw data, as the client sent it.
pub struct Part<'a> {
    pub sha2: &'a str,
    pub content: &'a [u8],
}

/// The part's content hashes to its declared SHA-2 (SHA-224, -256, -384 or -512, by length).
pub fn digest_matches(sha2: &str, content: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA224, SHA256, SHA384, SHA512};
    let algorithm = match sha2.len() {
        56 => &SHA224,
        64 => &SHA256,
        96 => &SHA384,
        128 => &SHA512,
        _ => return false,
    };
    let found = crate::domain::digests::hex_digest(algorithm, content);
    found.eq_ignore_ascii_case(sha2)
}

/// Matches parts to attachments: each part's content hashes to its SHA-2 and belongs to an
/// attachment; each attachment without a `fileUrl`, and each signature, has its part; each
/// signature is a JWS of its statement.
pub fn check_parts(
    statements: &[(String, &Map<String, Value>, &[AttachmentMeta])],
    parts: &[Part],
) -> Result<(), Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut fail = |field: String, description: &str| {
        violations.push(FieldViolation {
            field,
            description: description.to_string(),
        })
    };
    for (index, part) in parts.iter().enumerate() {
        let field = format!("attachments[{index}]");
        if !digest_matches(part.sha2, part.content) {
            fail(
                field,
                "its content does not hash to its X-Experience-API-Hash",
            );
        } else if !statements
            .iter()
            .any(|(_, _, metas)| metas.iter().any(|m| m.sha2.eq_ignore_ascii_case(part.sha2)))
        {
            fail(field, "matches no attachment of the statements (by SHA-2)");
        }
    }
    for (path, statement, metas) in statements {
        for (index, meta) in metas.iter().enumerate() {
            let field = format!("{path}.attachments[{index}]");
            let part = parts
                .iter()
                .find(|p| p.sha2.eq_ignore_ascii_case(&meta.sha2));
            match part {
                None if meta.is_signature => {
                    fail(field, "a signature's JWS must be sent as a part")
                }
                None if !meta.has_file_url => {
                    fail(field, "has no fileUrl, and no part carries its data")
                }
                Some(part) if meta.is_signature => {
                    if meta.content_type != "application/octet-stream" {
                        fail(
                            field.clone(),
                            "a signature's contentType must be application/octet-stream",
                        );
                    }
                    if let Err(why) = verify_signature(part.content, statement) {
                        fail(field, &why);
                    }
                }
                _ => {}
            }
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// A signature (Data 2.6): a JWS in compact form, signed with RS256, RS384 or RS512, whose
/// payload is the statement as it was before the signature was attached (compared as xAPI
/// compares statements, attachments left out).
///
/// Not checked: the signature itself against an `x5c` certificate in its header (xAPI asks
/// this only to catch mistakes; it proves no identity).
pub fn verify_signature(jws: &[u8], statement: &Map<String, Value>) -> Result<(), String> {
    let text = std::str::from_utf8(jws).map_err(|_| "the signature is not a JWS (not text)")?;
    let pieces: Vec<&str> = text.trim().split('.').collect();
    let [header, payload, signature] = pieces[..] else {
        return Err("the signature is not a JWS in compact form (header.payload.signature)".into());
    };
    let decode = |piece: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(piece)
            .map_err(|_| format!("the JWS {what} is not base64url"))
    };
    let header: Value = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|_| "the JWS header is not JSON".to_string())?;
    match header.get("alg").and_then(Value::as_str) {
        Some("RS256" | "RS384" | "RS512") => {}
        _ => return Err("the JWS must be signed with RS256, RS384 or RS512".into()),
    }
    if decode(signature, "signature")?.is_empty() {
        return Err("the JWS has no signature".into());
    }
    let Value::Object(signed) = serde_json::from_slice::<Value>(&decode(payload, "payload")?)
        .map_err(|_| "the JWS payload is not a JSON statement".to_string())?
    else {
        return Err("the JWS payload is not a JSON statement".into());
    };
    let without_attachments = |map: &Map<String, Value>| {
        let mut map = map.clone();
        map.remove("attachments");
        // The id is compared when both carry one; the store may have given it.
        map.remove("id");
        map
    };
    if super::fingerprint(&without_attachments(&signed))
        != super::fingerprint(&without_attachments(statement))
    {
        return Err("the JWS payload is not the statement it is attached to".into());
    }
    if let (Some(signed_id), Some(id)) = (signed.get("id"), statement.get("id"))
        && signed_id.as_str().map(str::to_ascii_lowercase)
            != id.as_str().map(str::to_ascii_lowercase)
    {
        return Err("the JWS payload names another statement id".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jws(alg: &str, payload: &Value) -> Vec<u8> {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg}).to_string());
        let body = URL_SAFE_NO_PAD.encode(payload.to_string());
        format!("{header}.{body}.{}", URL_SAFE_NO_PAD.encode(b"signature")).into_bytes()
    }

    #[test]
    fn digests_by_length() {
        let sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert!(digest_matches(sha256, b"abc"));
        assert!(digest_matches(&sha256.to_uppercase(), b"abc"));
        assert!(!digest_matches(sha256, b"abd"));
        assert!(!digest_matches("abc", b"abc"));
    }

    #[test]
    fn signatures() {
        let statement = json!({"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://example.com/v"},
                               "object": {"id": "http://example.com/o"}});
        let mut attached = statement.as_object().unwrap().clone();
        attached.insert("attachments".into(), json!([{"usageType": SIGNATURE}]));
        assert_eq!(
            verify_signature(&jws("RS256", &statement), &attached),
            Ok(())
        );
        assert!(verify_signature(&jws("HS256", &statement), &attached).is_err());
        assert!(verify_signature(&jws("none", &statement), &attached).is_err());
        let mut other = statement.clone();
        other["verb"]["id"] = json!("http://example.com/other");
        assert!(verify_signature(&jws("RS256", &other), &attached).is_err());
        assert!(verify_signature(b"not a jws", &attached).is_err());
    }
}
