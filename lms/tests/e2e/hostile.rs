//! Hostile input at the edges: oversized and deeply nested messages, over gRPC (raw bytes, as
//! an attacker would send them) and over HTTP through the gateway. Each is refused with a
//! precise status, and the suite goes on serving.

use crate::support::Lms;
use bytes::{Buf, BufMut};
use lms_platform::Role;
use lms_test_support::TestBackend;
use serde_json::json;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Sends bytes as they are, and reads the answer as bytes.
#[derive(Clone, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

async fn raw_call(lms: &Lms, rpc: &str, body: Vec<u8>) -> Result<Vec<u8>, tonic::Status> {
    let token = lms.token("acme", Role::Admin);
    let mut request = tonic::Request::new(body);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut grpc = tonic::client::Grpc::new(lms.channels["pathway-service"].clone())
        .max_encoding_message_size(64 * 1024 * 1024);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::try_from(format!("/{rpc}")).unwrap();
    grpc.unary(request, path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

/// A protobuf key: field number and wire type.
fn key(field: u32, wire_type: u32) -> Vec<u8> {
    varint(u64::from(field << 3 | wire_type))
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// `CreateCategoryRequest { category: Category { name } }`, encoded by hand.
fn create_category(name: &[u8]) -> Vec<u8> {
    let mut category = key(3, 2); // Category.name
    category.extend(varint(name.len() as u64));
    category.extend_from_slice(name);
    let mut request = key(2, 2); // CreateCategoryRequest.category
    request.extend(varint(category.len() as u64));
    request.extend(category);
    request
}

const CREATE_CATEGORY: &str = "lms.pathway.v1.PathwayService/CreateCategory";

async fn still_serving(lms: &Lms) {
    let name = format!("Still here {}", uuid::Uuid::new_v4());
    let created = raw_call(lms, CREATE_CATEGORY, create_category(name.as_bytes())).await;
    assert!(created.is_ok(), "the service stopped serving: {created:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_deeply_nested_grpc_messages_are_refused() {
    let lms = Lms::start(TestBackend::Sqlite).await.unwrap();

    // Over the 4 MiB message limit: refused before it is decoded (tonic says OUT_OF_RANGE).
    let huge = create_category(&vec![b'x'; 5 * 1024 * 1024]);
    let status = raw_call(&lms, CREATE_CATEGORY, huge).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    still_serving(&lms).await;

    // Under the limit but far over the field's: a field violation.
    let long = create_category(&vec![b'x'; 1024 * 1024]);
    let status = raw_call(&lms, CREATE_CATEGORY, long).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("category.name"), "{status:?}");

    // 100 000 nested groups in an unknown field: the decoder's recursion limit refuses it as
    // a malformed request, without exhausting the stack.
    let mut nested = Vec::new();
    for _ in 0..100_000 {
        nested.extend(key(99, 3)); // start group
    }
    for _ in 0..100_000 {
        nested.extend(key(99, 4)); // end group
    }
    let status = raw_call(&lms, CREATE_CATEGORY, nested).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    still_serving(&lms).await;

    // Not protobuf at all.
    let status = raw_call(&lms, CREATE_CATEGORY, vec![0xff; 64])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    still_serving(&lms).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_and_oversized_json_is_refused_at_the_gateway() {
    let lms = Lms::start(TestBackend::Sqlite).await.unwrap();
    let admin = lms.token("acme", Role::Admin);
    let post = |body: String| {
        lms.http
            .post(format!("{}/v1/categories", lms.gateway))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // 100 000 levels of arrays, then of objects.
    let arrays = format!(
        "{{\"name\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    for body in [arrays, objects] {
        let response = post(body).await.unwrap();
        assert_eq!(response.status(), 400);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["status"], "INVALID_ARGUMENT", "{error}");
    }

    // Larger than the gateway's body limit (1 MiB by default). (Far larger bodies are cut
    // off while still arriving: the 413 comes before the body is read.)
    let response = post(json!({"name": "x".repeat(1024 * 1024)}).to_string())
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    // A field's own limit, within the body limit.
    let response = post(json!({"name": "x".repeat(10_000)}).to_string())
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        error["details"][0]["fieldViolations"][0]["field"], "category.name",
        "{error}"
    );

    // Still serving.
    let response = post(json!({"name": "Fine"}).to_string()).await.unwrap();
    assert_eq!(response.status(), 200);
}
