//! Attachments as multipart/mixed parts, and signed statements.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Client, V1, statement, uuid};
use crate::support::Lms;

/// SHA-256 in hex.
fn sha256(content: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A part's headers and content.
type RawPart<'a> = (&'a [(&'a str, &'a str)], &'a [u8]);

/// A multipart/mixed statement request: the statements, then each (headers, content) part.
fn multipart(statements: &Value, parts: &[RawPart]) -> (String, Vec<u8>) {
    let boundary = "abcABC0123'()+_,-./:=?";
    let mut body =
        format!("--{boundary}\r\nContent-Type: application/json\r\n\r\n{statements}").into_bytes();
    for (headers, content) in parts {
        body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        for (name, value) in *headers {
            body.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/mixed; boundary=\"{boundary}\""), body)
}

async fn send_raw(
    lms: &Lms,
    admin: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = lms
        .http
        .post(format!("{}/xapi/statements", lms.gateway))
        .bearer_auth(admin)
        .header("X-Experience-API-Version", V1)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Attachments as multipart/mixed parts and signed statements (C 1.5.2, D 2.6).
pub(super) async fn attachments(lms: &Lms, admin: &str) {
    let content = b"hello there";
    let hash = sha256(content);
    let registration = uuid();
    let with_attachment = |sha2: &str, file_url: bool| {
        let mut s = statement("ann", "did", "attachments");
        s["context"] = json!({"registration": registration});
        let mut attachment = json!({"usageType": "http://example.com/usage/notes", "display": {"en": "notes"},
                                    "contentType": "text/plain", "length": content.len(), "sha2": sha2});
        if file_url {
            attachment["fileUrl"] = json!("http://example.com/notes.txt");
        }
        s["attachments"] = json!([attachment]);
        s
    };
    let binary = [
        ("Content-Type", "text/plain"),
        ("Content-Transfer-Encoding", "binary"),
        ("X-Experience-API-Hash", hash.as_str()),
    ];
    let (content_type, body) = multipart(&with_attachment(&hash, false), &[(&binary, content)]);
    let (status, ids) = send_raw(lms, admin, &content_type, body).await;
    assert_eq!(status, 200, "{ids}");
    let id = ids[0].as_str().unwrap().to_string();
    // GET with attachments=true: multipart/mixed, the statement first, then the raw data.
    let got = lms
        .http
        .get(format!(
            "{}/xapi/statements?statementId={id}&attachments=true",
            lms.gateway
        ))
        .bearer_auth(admin)
        .header("X-Experience-API-Version", V1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert!(
        got.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/mixed; boundary=")
    );
    let text = got.text().await.unwrap();
    assert!(
        text.contains(&format!("X-Experience-API-Hash: {hash}")),
        "{text}"
    );
    assert!(text.contains("hello there") && text.contains(&id), "{text}");
    let page = lms
        .http
        .get(format!(
            "{}/xapi/statements?registration={registration}&attachments=true",
            lms.gateway
        ))
        .bearer_auth(admin)
        .header("X-Experience-API-Version", V1)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("hello there").count(), 1, "{page}");
    // What is refused, each with nothing stored: a part whose content is not its hash, a
    // part no attachment names, an attachment with neither fileUrl nor part, a part without
    // its hash header or binary encoding, a first part that is not JSON, no boundary.
    let other = sha256(b"something else");
    let wrong = [
        ("Content-Transfer-Encoding", "binary"),
        ("X-Experience-API-Hash", other.as_str()),
    ];
    let no_hash = [("Content-Transfer-Encoding", "binary")];
    let no_binary = [("X-Experience-API-Hash", hash.as_str())];
    let cases: Vec<(&str, (String, Vec<u8>))> = vec![
        (
            "content not its hash",
            multipart(&with_attachment(&other, false), &[(&wrong, content)]),
        ),
        (
            "a part no attachment names",
            multipart(
                &with_attachment(&hash, true),
                &[(&wrong, b"something else")],
            ),
        ),
        (
            "no part, no fileUrl",
            multipart(&with_attachment(&hash, false), &[]),
        ),
        (
            "no hash header",
            multipart(&with_attachment(&hash, false), &[(&no_hash, content)]),
        ),
        (
            "not binary",
            multipart(&with_attachment(&hash, false), &[(&no_binary, content)]),
        ),
        (
            "no boundary",
            (
                "multipart/mixed".to_string(),
                multipart(&with_attachment(&hash, false), &[(&binary, content)]).1,
            ),
        ),
        ("first part not JSON", {
            let (content_type, body) =
                multipart(&with_attachment(&hash, false), &[(&binary, content)]);
            (
                content_type,
                String::from_utf8(body)
                    .unwrap()
                    .replacen("application/json", "text/plain", 1)
                    .into_bytes(),
            )
        }),
    ];
    for (case, (content_type, body)) in cases {
        let (status, answer) = send_raw(lms, admin, &content_type, body).await;
        assert_eq!(status, 400, "{case}: {answer}");
    }
    let json = Client {
        lms,
        token: Some(admin.into()),
        version: Some(V1),
    };
    assert_eq!(
        json.post(&with_attachment(&hash, false)).await.status,
        400,
        "JSON without the data"
    );
    assert_eq!(
        json.post(&with_attachment(&hash, true)).await.status,
        200,
        "by fileUrl"
    );
    assert_eq!(
        json.all(&format!("registration={registration}"))
            .await
            .len(),
        2
    );

    // Signed statements: a JWS (RS256/384/512) whose payload is the statement.
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jws = |alg: &str, payload: &Value| {
        format!(
            "{}.{}.{}",
            b64(json!({"alg": alg}).to_string().as_bytes()),
            b64(payload.to_string().as_bytes()),
            b64(b"signature")
        )
    };
    let unsigned = statement("ann", "signed", "attachments");
    let signed_with = |signature: &str| {
        let mut s = unsigned.clone();
        s["attachments"] = json!([{"usageType": "http://adlnet.gov/expapi/attachments/signature",
            "display": {"en": "signature"}, "contentType": "application/octet-stream",
            "length": signature.len(), "sha2": sha256(signature.as_bytes())}]);
        s
    };
    let send_signed = |signature: String| async move {
        let hash = sha256(signature.as_bytes());
        let headers = [
            ("Content-Type", "application/octet-stream"),
            ("Content-Transfer-Encoding", "binary"),
            ("X-Experience-API-Hash", hash.as_str()),
        ];
        let (content_type, body) = multipart(
            &signed_with(&signature),
            &[(&headers, signature.as_bytes())],
        );
        send_raw(lms, admin, &content_type, body).await.0
    };
    assert_eq!(send_signed(jws("RS256", &unsigned)).await, 200);
    assert_eq!(send_signed(jws("HS256", &unsigned)).await, 400);
    assert_eq!(
        send_signed(jws("RS256", &statement("bob", "signed", "attachments"))).await,
        400
    );
    assert_eq!(send_signed("not a jws".to_string()).await, 400);

    // With a certificate in its header (x5c), the signature must verify with that key.
    let x5c_signed = |certificate: &[u8]| {
        use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
        let header = json!({"alg": "RS256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(certificate)]});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(unsigned.to_string().as_bytes())
        );
        let key = RsaKeyPair::from_pkcs8(SIGNER_KEY).expect("the test key");
        let mut signature = vec![0; key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        key.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature)
            .expect("signed");
        format!("{input}.{}", b64(&signature))
    };
    assert_eq!(send_signed(x5c_signed(SIGNER_CERT)).await, 200);
    assert_eq!(send_signed(x5c_signed(OTHER_CERT)).await, 400);
    assert_eq!(send_signed(x5c_signed(b"not a certificate")).await, 400);
}

/// Attachments larger than a request body may be (`gateway.max_body_bytes`, 1 MiB here) go
/// through whole, both ways, since they are streamed; past `records.max_attachment_bytes`
/// (set to 8 MiB by the caller) they are refused; and a body that breaks after a good part
/// stores nothing, though everything its statement needs had arrived.
pub(super) async fn streamed(lms: &Lms, admin: &str) {
    // Three parts of 256 KiB and more, and not compressible.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let film: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let hash = sha256(&film);
    let id = uuid();
    let with_film = |id: &str, sha2: &str, length: usize| {
        let mut s = statement("ann", "filmed", "attachments");
        s["id"] = json!(id);
        s["attachments"] = json!([{"usageType": "http://example.com/usage/film", "display": {"en": "film"},
                                   "contentType": "video/mp4", "length": length, "sha2": sha2}]);
        s
    };
    let binary = [
        ("Content-Type", "video/mp4"),
        ("Content-Transfer-Encoding", "binary"),
        ("X-Experience-API-Hash", hash.as_str()),
    ];
    let (content_type, body) = multipart(&with_film(&id, &hash, film.len()), &[(&binary, &film)]);
    let (status, ids) = send_raw(lms, admin, &content_type, body).await;
    assert_eq!(status, 200, "{ids}");
    let got = lms
        .http
        .get(format!(
            "{}/xapi/statements?statementId={id}&attachments=true",
            lms.gateway
        ))
        .bearer_auth(admin)
        .header("X-Experience-API-Version", V1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let boundary = got.headers()["content-type"]
        .to_str()
        .unwrap()
        .split("boundary=")
        .nth(1)
        .unwrap()
        .to_string();
    let answer = got.bytes().await.unwrap();
    let head = format!("X-Experience-API-Hash: {hash}\r\n\r\n");
    let start = answer
        .windows(head.len())
        .position(|w| w == head.as_bytes())
        .expect("the film's part")
        + head.len();
    let end = answer.len() - format!("\r\n--{boundary}--\r\n").len();
    assert!(
        answer[start..end] == film[..],
        "the film came back changed ({} bytes)",
        end - start
    );

    // Past the store's limit: refused, nothing kept.
    let big = vec![7u8; 9 * 1024 * 1024];
    let big_hash = sha256(&big);
    let big_id = uuid();
    let big_part = [
        ("Content-Transfer-Encoding", "binary"),
        ("X-Experience-API-Hash", big_hash.as_str()),
    ];
    let (content_type, body) = multipart(
        &with_film(&big_id, &big_hash, big.len()),
        &[(&big_part, &big)],
    );
    let (status, refused) = send_raw(lms, admin, &content_type, body).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("larger than"), "{refused}");

    // The film's part arrives whole, then a broken part: nothing is stored.
    let cut_id = uuid();
    let no_hash = [("Content-Transfer-Encoding", "binary")];
    let (content_type, body) = multipart(
        &with_film(&cut_id, &hash, film.len()),
        &[(&binary, &film), (&no_hash, b"tail")],
    );
    let (status, refused) = send_raw(lms, admin, &content_type, body).await;
    assert_eq!(status, 400, "{refused}");
    // Over gRPC: a stream that stops without `end` (a sender cut short) stores nothing,
    // though its statement's part came whole.
    use lms_proto::xapi_v1 as pb;
    use pb::store_statements_stream_request::Item;
    let grpc_id = uuid();
    let item = |item| pb::StoreStatementsStreamRequest { item: Some(item) };
    let messages = vec![
        item(Item::Request(pb::StoreStatementsRequest {
            statements: with_film(&grpc_id, &hash, film.len()).to_string(),
            version: pb::XapiVersion::OneZero as i32,
            ..Default::default()
        })),
        item(Item::Part(pb::AttachmentPart {
            sha2: hash.clone(),
            content_type: "video/mp4".into(),
            ..Default::default()
        })),
        item(Item::Data(film.clone())),
    ];
    let mut client =
        pb::learning_record_store_service_client::LearningRecordStoreServiceClient::new(
            lms.channels["records-service"].clone(),
        )
        .max_encoding_message_size(8 << 20);
    let mut request = tonic::Request::new(futures::stream::iter(messages));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {admin}").parse().unwrap());
    let status = client.store_statements_stream(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("without its end"), "{status:?}");
    for missing in [&big_id, &cut_id, &grpc_id] {
        let status = lms
            .http
            .get(format!(
                "{}/xapi/statements?statementId={missing}",
                lms.gateway
            ))
            .bearer_auth(admin)
            .header("X-Experience-API-Version", V1)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{missing} was stored");
    }
}

/// Test-only keys (tests/fixtures/xapi-signing/README.md).
const SIGNER_KEY: &[u8] = include_bytes!("../../../../tests/fixtures/xapi-signing/signer-key.pk8");
const SIGNER_CERT: &[u8] =
    include_bytes!("../../../../tests/fixtures/xapi-signing/signer-cert.der");
const OTHER_CERT: &[u8] = include_bytes!("../../../../tests/fixtures/xapi-signing/other-cert.der");
