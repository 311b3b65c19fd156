//! cmi5 course packages (cmi5 14) end to end through the gateway, as an administrator and a
//! learner's browser see them: a ZIP file uploaded as the body of
//! `POST /v1/pathways/{id}:importCmi5Package` becomes the pathway's steps, its files are
//! served at the AUs' launch URLs without a token, packages that are not what cmi5 asks for
//! are refused whole, and a second import keeps the first's files — on `lms up` over SQLite
//! and over PostgreSQL.

use std::io::Write;

use lms_platform::Role;
use lms_test_support::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Lms, call};

const NS: &str = "https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd";
const AU_LOCAL: &str = "https://vendor.example.com/courses/boilers/inspection";
const AU_REMOTE: &str = "https://vendor.example.com/courses/boilers/quiz";
/// The most a package may be here (set below): the big file below fits, the too-big one not.
const MAX_PACKAGE_BYTES: usize = 2 << 20;

fn course_structure(mastery: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<courseStructure xmlns="{NS}">
  <course id="https://vendor.example.com/courses/boilers">
    <title><langstring lang="en-US">Boilers</langstring></title>
    <description><langstring lang="en-US">Pressure vessels</langstring></description>
  </course>
  <au id="{AU_LOCAL}" masteryScore="{mastery}">
    <title><langstring lang="en-US">Inspection</langstring></title>
    <description><langstring lang="en-US">What to look at</langstring></description>
    <url>au/index.html?chapter=1</url>
  </au>
  <au id="{AU_REMOTE}">
    <title><langstring lang="en-US">Quiz</langstring></title>
    <description><langstring lang="en-US">Hosted by the vendor</langstring></description>
    <url>https://vendor.example.com/boilers/quiz.html</url>
  </au>
</courseStructure>"#
    )
}

/// A ZIP file of `files`, deflated; with `zip64`, every entry carries Zip64 sizes.
fn zip_of(files: &[(&str, &[u8])], zip64: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(zip64);
    for (path, content) in files {
        writer.start_file(*path, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A ZIP file of `count` empty files (stored: its directory is most of it).
fn many_files(count: usize) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for index in 0..count {
        writer.start_file(format!("{index}"), options).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// Bytes that do not compress (so a ZIP of them is as large as they are).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

const ZIP: &str = "application/zip";
const PAGE: &[u8] = b"<!doctype html><title>Inspection</title><img src=\"media/gauge.png\">";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a picture";

/// `POST /v1/pathways/{path}` (the pathway id, `:importCmi5Package` and the query) with `zip`
/// as a body of type `media`.
async fn import(
    lms: &Lms,
    token: &str,
    path: &str,
    zip: Vec<u8>,
    media: &str,
) -> (StatusCode, Value) {
    let response = lms
        .http
        .post(format!("{}/v1/pathways/{path}", lms.gateway))
        .bearer_auth(token)
        .header("Content-Type", media)
        .body(zip)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A file as a learner's browser fetches it: no token.
async fn fetch(url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

async fn content_packages(backend: TestBackend) {
    let max = MAX_PACKAGE_BYTES.to_string();
    let Some(lms) = Lms::start_with(backend, &[("LMS__PATHWAY__MAX_PACKAGE_BYTES", &max)]).await
    else {
        return;
    };
    let admin = lms.token("acme", Role::Admin);
    let (status, created) = call(
        &lms,
        Method::POST,
        "/v1/pathways",
        &admin,
        Some(json!({"title": "Boiler safety", "outcome": "COMPLIANCE"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let pathway = created["id"].as_str().unwrap().to_string();
    let target = format!("{pathway}:importCmi5Package?language=en-US");

    // Three parts of 256 KiB and some: the file is kept and served part by part.
    let big = noise(700 * 1024);
    let structure = course_structure("0.8");
    let package = |structure: &str, zip64: bool| {
        zip_of(
            &[
                ("cmi5.xml", structure.as_bytes()),
                ("au/index.html", PAGE),
                ("au/media/gauge.png", PNG),
                ("au/media/film.bin", &big),
            ],
            zip64,
        )
    };

    // Refused whole, each with the reason, and the pathway left as it was.
    let refusals: Vec<(Vec<u8>, &str, u16, &str)> = vec![
        (
            b"PK not a zip at all".to_vec(),
            ZIP,
            400,
            "is not a ZIP file",
        ),
        (
            zip_of(&[("au/index.html", PAGE)], false),
            ZIP,
            400,
            "has no cmi5.xml at its root",
        ),
        (
            zip_of(&[("course/cmi5.xml", structure.as_bytes())], false),
            ZIP,
            400,
            "has no cmi5.xml at its root",
        ),
        (
            zip_of(
                &[("cmi5.xml", structure.as_bytes()), ("../evil.html", PAGE)],
                false,
            ),
            ZIP,
            400,
            "'..'",
        ),
        (
            zip_of(
                &[
                    ("cmi5.xml", structure.as_bytes()),
                    ("a.bin", &noise(MAX_PACKAGE_BYTES + 1)),
                ],
                false,
            ),
            ZIP,
            400,
            "is larger than the 2097152 bytes allowed",
        ),
        (
            many_files(10_001),
            ZIP,
            400,
            "declares 10001 entries; at most 10000",
        ),
        (
            package(&course_structure("1.5"), false),
            ZIP,
            400,
            "course_structure.au[0].mastery_score",
        ),
        (package(&structure, false), "text/plain", 415, ZIP),
    ];
    for (zip, media, status, why) in refusals {
        let (got, refused) = import(&lms, &admin, &target, zip, media).await;
        assert_eq!(got.as_u16(), status, "{why}: {refused}");
        assert!(refused.to_string().contains(why), "{why}: {refused}");
    }
    let (_, unchanged) = call(
        &lms,
        Method::GET,
        &format!("/v1/pathways/{pathway}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(
        unchanged["steps"].as_array().map_or(0, Vec::len),
        0,
        "{unchanged}"
    );

    // A learner may not import; another tenant's admin finds no such pathway.
    let learner = lms.token("acme", Role::Learner);
    let (status, _) = import(&lms, &learner, &target, package(&structure, false), ZIP).await;
    assert_eq!(status, 403);
    let other = lms.token("globex", Role::Admin);
    let (status, _) = import(&lms, &other, &target, package(&structure, false), ZIP).await;
    assert_eq!(status, 404);

    // Imported: one step per AU, the local AU's launch URL inside the package.
    let (status, imported) = import(&lms, &admin, &target, package(&structure, false), ZIP).await;
    assert_eq!(status, 200, "{imported}");
    let kept = &imported["package"];
    let base = kept["baseUrl"].as_str().unwrap().to_string();
    assert!(
        base.starts_with(&format!("{}/content/", lms.gateway)) && base.ends_with('/'),
        "{base}"
    );
    assert_eq!(kept["fileCount"], 4);
    let total = structure.len() + PAGE.len() + PNG.len() + big.len();
    assert_eq!(kept["totalBytes"], json!(total.to_string()));
    assert_eq!(kept["importedBy"], "admin@acme");
    let steps = imported["pathway"]["steps"].as_array().unwrap().clone();
    assert_eq!(steps.len(), 2, "{imported}");
    let url = |step: &Value| step["content"]["url"].as_str().unwrap().to_string();
    assert_eq!(url(&steps[0]), format!("{base}au/index.html?chapter=1"));
    assert_eq!(steps[0]["content"]["cmi5"]["activityId"], AU_LOCAL);
    assert_eq!(
        url(&steps[1]),
        "https://vendor.example.com/boilers/quiz.html"
    );

    // The browser follows the launch URL and the page's relative links, without a token.
    let (status, headers, page) = fetch(&url(&steps[0])).await;
    assert_eq!(status, 200);
    assert_eq!(page, PAGE);
    assert_eq!(headers["content-type"], "text/html");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let (status, headers, png) = fetch(&format!("{base}au/media/gauge.png")).await;
    assert_eq!((status.as_u16(), png.as_slice()), (200, PNG));
    assert_eq!(headers["content-type"], "image/png");
    let (status, headers, film) = fetch(&format!("{base}au/media/film.bin")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], big.len().to_string().as_str());
    assert!(
        film == big,
        "the film came back changed ({} bytes)",
        film.len()
    );
    assert_eq!(headers["accept-ranges"], "bytes");
    // A browser seeking in a video asks for a range: across two stored parts, from the end,
    // and past the end.
    let film_url = format!("{base}au/media/film.bin");
    let ranged = |range: &'static str| {
        let film_url = film_url.clone();
        async move {
            let response = reqwest::Client::new()
                .get(&film_url)
                .header("Range", range)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let content_range = response
                .headers()
                .get("content-range")
                .map(|v| v.to_str().unwrap().to_string());
            (
                status,
                content_range,
                response.bytes().await.unwrap().to_vec(),
            )
        }
    };
    let (status, content_range, part) = ranged("bytes=262100-262199").await;
    assert_eq!(status, 206);
    assert_eq!(
        content_range.as_deref(),
        Some(format!("bytes 262100-262199/{}", big.len()).as_str())
    );
    assert!(part == big[262100..262200], "the range came back changed");
    let (status, _, tail) = ranged("bytes=-10").await;
    assert_eq!(
        (status.as_u16(), tail.as_slice()),
        (206, &big[big.len() - 10..])
    );
    let (status, _, _) = ranged("bytes=99999999-").await;
    assert_eq!(status, 416);
    for missing in [
        format!("{base}au/missing.html"),
        format!("{base}au%2F..%2Fcmi5.xml"),
        format!("{}/content/{}/au/index.html", lms.gateway, "0".repeat(32)),
        format!("{}/content/short/au/index.html", lms.gateway),
    ] {
        let (status, _, body) = fetch(&missing).await;
        assert_eq!(status, 404, "{missing}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], "NOT_FOUND", "{missing}: {body}");
    }

    // Imported again, as Zip64: the same steps, now at the new package; the first package's
    // files are still served (learners on a published version launch them).
    let etag = imported["pathway"]["etag"].as_str().unwrap().to_string();
    let at_etag = format!("{pathway}:importCmi5Package?etag={etag}");
    let (status, again) = import(&lms, &admin, &at_etag, package(&structure, true), ZIP).await;
    assert_eq!(status, 200, "{again}");
    let new_base = again["package"]["baseUrl"].as_str().unwrap();
    assert_ne!(new_base, base);
    let steps_again = again["pathway"]["steps"].as_array().unwrap();
    assert_eq!(steps_again.len(), 2);
    assert_eq!(steps_again[0]["id"], steps[0]["id"]);
    assert_eq!(
        url(&steps_again[0]),
        format!("{new_base}au/index.html?chapter=1")
    );
    assert_eq!(fetch(&url(&steps_again[0])).await.2, PAGE);
    assert_eq!(fetch(&url(&steps[0])).await.2, PAGE);

    // A stale etag changes nothing and keeps nothing: 409 as a query parameter, 412 as
    // If-Match (as the gateway's other writes answer them).
    let (status, _) = import(&lms, &admin, &at_etag, package(&structure, false), ZIP).await;
    assert_eq!(status, 409);
    let response = lms
        .http
        .post(format!(
            "{}/v1/pathways/{pathway}:importCmi5Package",
            lms.gateway
        ))
        .bearer_auth(&admin)
        .header("Content-Type", ZIP)
        .header("If-Match", etag.as_str())
        .body(package(&structure, false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 412);
    // Both, differing: which one was meant is not guessed (400), as the other writes answer.
    let response = lms
        .http
        .post(format!(
            "{}/v1/pathways/{pathway}:importCmi5Package?etag=other",
            lms.gateway
        ))
        .bearer_auth(&admin)
        .header("Content-Type", ZIP)
        .header("If-Match", etag.as_str())
        .body(package(&structure, false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer = response.text().await.unwrap();
    assert!(answer.contains("If-Match"), "{answer}");
}

/// Over gRPC, the first message must be the header.
async fn header_comes_first(backend: TestBackend) {
    use lms_proto::pathway_v1 as pb;
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let mut client = pb::content_package_service_client::ContentPackageServiceClient::new(
        lms.channels["pathway-service"].clone(),
    );
    let chunk = pb::ImportCmi5PackageRequest {
        chunk: b"PK".to_vec(),
        ..Default::default()
    };
    let mut request = tonic::Request::new(futures::stream::iter(vec![chunk]));
    let token = lms.token("acme", Role::Admin);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let status = client.import_cmi5_package(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("header"), "{status:?}");

    // A whole package, but the stream stops without `end` (a sender cut short): nothing is
    // imported.
    let (_, created) = call(
        &lms,
        Method::POST,
        "/v1/pathways",
        &token,
        Some(json!({"title": "Cut short", "outcome": "TRAINING"})),
    )
    .await;
    let pathway = created["id"].as_str().unwrap().to_string();
    let structure = course_structure("0.8");
    let whole = pb::ImportCmi5PackageRequest {
        header: Some(pb::Cmi5PackageHeader {
            pathway_id: pathway.clone(),
            ..Default::default()
        }),
        chunk: zip_of(
            &[("cmi5.xml", structure.as_bytes()), ("au/index.html", PAGE)],
            false,
        ),
        end: false,
    };
    let mut request = tonic::Request::new(futures::stream::iter(vec![whole.clone()]));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let status = client.import_cmi5_package(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("without its end"), "{status:?}");
    let (_, unchanged) = call(
        &lms,
        Method::GET,
        &format!("/v1/pathways/{pathway}"),
        &token,
        None,
    )
    .await;
    assert!(
        unchanged["steps"].as_array().is_none_or(Vec::is_empty),
        "{unchanged}"
    );
    // With `end`, the same message imports it.
    let mut request =
        tonic::Request::new(futures::stream::iter(vec![pb::ImportCmi5PackageRequest {
            end: true,
            ..whole
        }]));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let imported = client
        .import_cmi5_package(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(imported.pathway.unwrap().steps.len(), 2);
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn content_packages() {
        super::content_packages(TestBackend::Sqlite).await;
    }

    #[tokio::test]
    async fn header_comes_first() {
        super::header_comes_first(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn content_packages() {
        super::content_packages(TestBackend::Postgres).await;
    }
}
