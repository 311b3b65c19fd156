//! A cmi5 launch's fetch URL (cmi5 8.2): `POST /cmi5/fetch/{token}` answers, once, with the
//! launch's LRS credential as `{"auth-token": …}`. Public — the token is the credential — and
//! served by hand because cmi5 fixes its answers: always 200 with JSON, errors as
//! `{"error-code": "1" | "2" | "3", "error-text": …}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use lms_platform::client::Peer;
use lms_proto::records_v1::FetchAuthTokenRequest;
use lms_proto::records_v1::cmi5_fetch_service_client::Cmi5FetchServiceClient;
use serde_json::json;

pub fn router(records: Peer) -> Router {
    Router::new()
        .route("/cmi5/fetch/{token}", axum::routing::post(fetch))
        .with_state(records)
}

async fn fetch(State(records): State<Peer>, Path(token): Path<String>) -> Response {
    let mut client = Cmi5FetchServiceClient::new(records.channel());
    let answer = match client
        .fetch_auth_token(FetchAuthTokenRequest { token })
        .await
    {
        Ok(response) => json!({"auth-token": response.into_inner().auth_token}),
        Err(status) => {
            let code = match status.code() {
                // Used already, or the session has ended.
                tonic::Code::FailedPrecondition => "1",
                // Not a launch's token.
                tonic::Code::NotFound | tonic::Code::InvalidArgument => "2",
                _ => "3",
            };
            let text = match code {
                "3" => "the LMS could not answer; try again",
                _ => status.message(),
            };
            json!({"error-code": code, "error-text": text})
        }
    };
    (
        StatusCode::OK,
        [
            (http::header::CONTENT_TYPE, "application/json"),
            // The credential must not be kept by any cache on the way.
            (http::header::CACHE_CONTROL, "no-store"),
        ],
        answer.to_string(),
    )
        .into_response()
}
