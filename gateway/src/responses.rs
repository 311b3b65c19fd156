//! How a service's answer becomes an HTTP response: a unary JSON body (with its `ETag`), a
//! server stream as newline-delimited JSON, or a file export (CSV, iCalendar) as a download.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode};
use prost_reflect::DynamicMessage;

use crate::error::ApiError;
use crate::preconditions::{self, Conditions};
use crate::routes::Route;
use crate::transcode::to_json;

/// A unary answer: the JSON with its `ETag` (the message's `etag` field, read from the message
/// rather than by parsing the JSON again), or 304 when the read's `If-None-Match` holds.
pub fn unary(conditions: &Conditions, message: &DynamicMessage, json: Vec<u8>) -> Response {
    let etag = message
        .get_field_by_name("etag")
        .and_then(|value| value.as_str().map(str::to_string));
    let (status, etag) = preconditions::on_success(conditions, etag.as_deref());
    let body = if status == StatusCode::NOT_MODIFIED {
        Vec::new()
    } else {
        json
    };
    let mut response = (
        status,
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(http::header::ETAG, etag);
    }
    response
}

/// A server stream as newline-delimited JSON: one message per line; a failure after the first
/// message ends the stream with a line `{"error": {...}}`.
pub fn ndjson(stream: tonic::Streaming<DynamicMessage>) -> Response {
    let lines = stream.map(|item| {
        let mut line = match item {
            Ok(message) => to_json(&message).unwrap_or_else(|error| {
                serde_json::to_vec(&serde_json::json!({"error": error.json()})).unwrap_or_default()
            }),
            Err(status) => serde_json::to_vec(
                &serde_json::json!({"error": ApiError::from_status(&status).json()}),
            )
            .unwrap_or_default(),
        };
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    (
        StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        )],
        Body::from_stream(lines),
    )
        .into_response()
}

/// A file export: the chunk message a method streams, and how it downloads over HTTP.
pub struct Download {
    /// The full name of the streamed message (`bytes data = 1`).
    pub message: &'static str,
    pub content_type: &'static str,
    pub extension: &'static str,
    /// The OpenAPI description of the 200 answer.
    pub description: &'static str,
}

/// The exports: CSV reports and iCalendar files.
pub const DOWNLOADS: [Download; 3] = [
    Download {
        message: "lms.records.v1.CsvChunk",
        content_type: "text/csv; charset=utf-8",
        extension: "csv",
        description: "A CSV download (a header row, then one row per entry).",
    },
    Download {
        message: "lms.audit.v1.CsvChunk",
        content_type: "text/csv; charset=utf-8",
        extension: "csv",
        description: "A CSV download (a header row, then one row per entry).",
    },
    Download {
        message: "lms.records.v1.CalendarChunk",
        content_type: "text/calendar; charset=utf-8",
        extension: "ics",
        description: "An iCalendar (RFC 5545) file that calendar clients import.",
    },
];

/// The download a method's output is, if it is one.
pub fn download_of(route: &Route) -> Option<&'static Download> {
    let name = route.method.output().full_name().to_string();
    DOWNLOADS.iter().find(|d| d.message == name)
}

/// A stream of chunks as one attachment named after the method (`ExportComplianceReport` →
/// `compliance-report.csv`, `ExportCalendar` → `calendar.ics`). A failure after the first
/// chunk can only cut the download short; one before it is a JSON error like any other.
pub fn download(
    route: &Route,
    kind: &Download,
    stream: tonic::Streaming<DynamicMessage>,
) -> Response {
    let name = route.method.name().trim_start_matches("Export");
    let mut file = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            file.push('-');
        }
        file.push(c.to_ascii_lowercase());
    }
    let chunks = stream.map(|item| {
        let message = item.map_err(|status| std::io::Error::other(status.message().to_string()))?;
        let data = message
            .get_field_by_name("data")
            .and_then(|value| value.as_bytes().cloned())
            .unwrap_or_default();
        Ok::<_, std::io::Error>(data)
    });
    (
        StatusCode::OK,
        [
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(kind.content_type),
            ),
            (
                http::header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!(
                    "attachment; filename=\"{file}.{}\"",
                    kind.extension
                ))
                .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}
