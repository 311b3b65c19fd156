//! Attachments (xAPI Data 2.4.11, Communication 1.5.2): the raw data sent as parts of a
//! `multipart/mixed` request is matched to the statements' attachments by SHA-2 and checked
//! against it; a signature attachment must hold a JWS of the statement it is attached to.

use aws_lc_rs::signature::{self, RsaParameters, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lms_platform::error::FieldViolation;
use serde_json::{Map, Value};
use x509_cert::Certificate;
use x509_cert::der::{Decode, oid::ObjectIdentifier};

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

/// The most bytes of a part held in memory; a larger one is spooled, and a signature (a JWS,
/// which is read whole) may be no larger.
pub const MAX_HELD_BYTES: usize = 64 * 1024;

/// One part, as the client sent it: whether its bytes hash to its SHA-2, and the bytes
/// themselves when held (up to [`MAX_HELD_BYTES`]).
pub struct Part<'a> {
    pub sha2: &'a str,
    pub hash_matches: bool,
    pub content: Option<&'a [u8]>,
}

/// A part's SHA-2, computed as its bytes arrive: SHA-224, -256, -384 or -512, by the length
/// of the hash it declares.
pub struct PartHasher {
    declared: String,
    context: Option<aws_lc_rs::digest::Context>,
}

impl PartHasher {
    pub fn new(declared: &str) -> Self {
        use aws_lc_rs::digest::{Context, SHA224, SHA256, SHA384, SHA512};
        let algorithm = match declared.len() {
            56 => Some(&SHA224),
            64 => Some(&SHA256),
            96 => Some(&SHA384),
            128 => Some(&SHA512),
            _ => None,
        };
        Self {
            declared: declared.to_string(),
            context: algorithm.map(Context::new),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(context) = &mut self.context {
            context.update(bytes);
        }
    }

    /// Whether the bytes hashed to the declared SHA-2.
    pub fn matches(self) -> bool {
        self.context.is_some_and(|context| {
            crate::domain::digests::hex(context.finish().as_ref())
                .eq_ignore_ascii_case(&self.declared)
        })
    }
}

/// The part's content hashes to its declared SHA-2 (SHA-224, -256, -384 or -512, by length).
pub fn digest_matches(sha2: &str, content: &[u8]) -> bool {
    let mut hasher = PartHasher::new(sha2);
    hasher.update(content);
    hasher.matches()
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
        if !part.hash_matches {
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
                    match part.content {
                        Some(jws) => {
                            if let Err(why) = verify_signature(jws, statement) {
                                fail(field, &why);
                            }
                        }
                        None => fail(field, "a signature's JWS must be at most 64 KiB"),
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
/// compares statements, attachments left out); when its header carries an X.509 certificate
/// (`x5c`), the signature verifies with that certificate's key.
///
/// The certificate is not checked for trust (its chain, dates or issuer): xAPI asks an LRS only
/// to validate the signature with it, and a statement's authority, not its signer, is who the
/// store vouches for.
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
    let algorithm: &'static RsaParameters = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => &signature::RSA_PKCS1_2048_8192_SHA256,
        Some("RS384") => &signature::RSA_PKCS1_2048_8192_SHA384,
        Some("RS512") => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return Err("the JWS must be signed with RS256, RS384 or RS512".into()),
    };
    let signature_bytes = decode(signature, "signature")?;
    if signature_bytes.is_empty() {
        return Err("the JWS has no signature".into());
    }
    if let Some(chain) = header.get("x5c") {
        // What was signed: the header and payload as sent, with the dot between (RFC 7515 5.2).
        let signing_input = text.trim().rsplit_once('.').map_or("", |(input, _)| input);
        UnparsedPublicKey::new(algorithm, certified_key(chain)?)
            .verify(signing_input.as_bytes(), &signature_bytes)
            .map_err(|_| "the JWS signature does not verify with the certificate in its x5c")?;
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

/// rsaEncryption (RFC 8017): the only key type RS256/384/512 verify with.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The RSA public key (PKCS#1, DER) of the first certificate of a JWS `x5c` header (RFC 7515
/// 4.1.6: an array of base64 — not base64url — DER certificates, the signer's first).
fn certified_key(chain: &Value) -> Result<Vec<u8>, String> {
    let first = chain
        .as_array()
        .and_then(|chain| chain.first())
        .and_then(Value::as_str)
        .ok_or("the JWS header's x5c must be an array of base64 certificates")?;
    let der = STANDARD
        .decode(first)
        .map_err(|_| "the JWS header's x5c certificate is not base64")?;
    let certificate = Certificate::from_der(&der)
        .map_err(|_| "the JWS header's x5c certificate is not an X.509 certificate")?;
    let key = certificate.tbs_certificate.subject_public_key_info;
    if key.algorithm.oid != RSA_ENCRYPTION {
        return Err("the JWS header's x5c certificate does not hold an RSA key".into());
    }
    Ok(key.subject_public_key.raw_bytes().to_vec())
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

    const SIGNER_KEY: &[u8] =
        include_bytes!("../../../../tests/fixtures/xapi-signing/signer-key.pk8");
    const SIGNER_CERT: &[u8] =
        include_bytes!("../../../../tests/fixtures/xapi-signing/signer-cert.der");
    const OTHER_CERT: &[u8] =
        include_bytes!("../../../../tests/fixtures/xapi-signing/other-cert.der");

    /// A JWS of `payload` signed (RS256) by the signer's key, with `header` as its header.
    fn signed_by_signer(header: &Value, payload: &Value) -> Vec<u8> {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let key = RsaKeyPair::from_pkcs8(SIGNER_KEY).expect("the test key");
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .expect("signed");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)).into_bytes()
    }

    #[test]
    fn a_signature_verifies_with_the_certificate_in_its_header() {
        let statement = json!({"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://example.com/v"},
                               "object": {"id": "http://example.com/o"}});
        let mut attached = statement.as_object().unwrap().clone();
        attached.insert("attachments".into(), json!([{"usageType": SIGNATURE}]));
        let with = |alg: &str, x5c: Value| json!({"alg": alg, "x5c": x5c});
        let cert = |der: &[u8]| json!([STANDARD.encode(der)]);

        let good = signed_by_signer(&with("RS256", cert(SIGNER_CERT)), &statement);
        assert_eq!(verify_signature(&good, &attached), Ok(()));
        // Sent with a trailing newline, as a part's body may be.
        let mut good_with_newline = good.clone();
        good_with_newline.push(b'\n');
        assert_eq!(verify_signature(&good_with_newline, &attached), Ok(()));

        let refused = |jws: &[u8]| verify_signature(jws, &attached).unwrap_err();
        assert!(
            refused(&signed_by_signer(
                &with("RS256", cert(OTHER_CERT)),
                &statement
            ))
            .contains("does not verify")
        );
        // Signed with SHA-256 but claiming SHA-384.
        assert!(
            refused(&signed_by_signer(
                &with("RS384", cert(SIGNER_CERT)),
                &statement
            ))
            .contains("does not verify")
        );
        let mut forged = good.clone();
        let last = forged.len() - 10;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(refused(&forged).contains("does not verify"));
        assert!(
            refused(&signed_by_signer(&with("RS256", json!("MII")), &statement)).contains("array")
        );
        assert!(
            refused(&signed_by_signer(
                &with("RS256", json!(["not base64!"])),
                &statement
            ))
            .contains("not base64")
        );
        assert!(
            refused(&signed_by_signer(
                &with("RS256", cert(b"not DER")),
                &statement
            ))
            .contains("not an X.509 certificate")
        );
    }
}
