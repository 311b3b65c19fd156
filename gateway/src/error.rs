//! Errors at the edge: every failure is an HTTP status (the standard gRPC → HTTP mapping, or
//! 412/413/414/415 where HTTP has its own) with a JSON body shaped as `google.rpc.Status` is by
//! transcoders: `{"code": 3, "status": "INVALID_ARGUMENT", "message", "details": [...],
//! "requestId"}`, the details being `BadRequest` (field violations), `ErrorInfo` (a reason
//! a client can branch on), `RetryInfo` (where retrying helps) and `RequestInfo`.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

pub use lms_platform::error::FieldViolation;
use lms_platform::error::{ERROR_DOMAIN, code_name as platform_code_name};

tokio::task_local! {
    /// The request id of the request being answered, for the error bodies made while
    /// answering it (set by `edge::request_id`).
    pub static REQUEST_ID: String;
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub violations: Vec<FieldViolation>,
    /// `google.rpc.ErrorInfo.reason`; the code's name when not finer.
    pub reason: String,
    /// Seconds, for 429 and 503 (`Retry-After` and `RetryInfo`).
    pub retry_after: Option<Duration>,
    /// An HTTP status of its own (412, 413, 414, 415) instead of the code's.
    pub http: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            violations: Vec::new(),
            reason: platform_code_name(code).to_string(),
            // Whatever is unavailable now may well be back in a second.
            retry_after: (code == Code::Unavailable).then_some(Duration::from_secs(1)),
            http: None,
        }
    }

    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let description = description.into();
        let field = field.into();
        let mut error = Self::new(Code::InvalidArgument, format!("{field}: {description}"));
        error.violations = vec![FieldViolation { field, description }];
        error
    }

    /// A refusal HTTP names itself (413, 414, 415, 412), with its own reason.
    pub fn http(status: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        let code = if status == StatusCode::PRECONDITION_FAILED {
            Code::FailedPrecondition
        } else {
            Code::InvalidArgument
        };
        let mut error = Self::new(code, message);
        error.http = Some(status);
        error.reason = reason.to_string();
        error
    }

    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = reason.to_string();
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(Duration::from_secs(seconds.max(1)));
        self
    }

    /// A gRPC status from a service, with its field violations, reason and retry advice.
    pub fn from_status(status: &tonic::Status) -> Self {
        let violations = lms_platform::error::field_violations(status);
        let message = match status.code() {
            // A transport failure says nothing useful to a portal user.
            Code::Unknown | Code::Internal if status.message().contains("transport") => {
                "a service failed; retry".to_string()
            }
            _ => status.message().to_string(),
        };
        let details = status.get_error_details();
        let mut error = Self::new(status.code(), message);
        error.violations = violations;
        if let Some(info) = details.error_info() {
            error.reason = info.reason.clone();
        }
        error.retry_after = details.retry_info().and_then(|retry| retry.retry_delay);
        if error.retry_after.is_none() && status.code() == Code::Unavailable {
            error.retry_after = Some(Duration::from_secs(1));
        }
        error
    }

    pub fn http_status(&self) -> StatusCode {
        self.http.unwrap_or_else(|| http_status(self.code))
    }

    pub fn code_name(&self) -> &'static str {
        code_name(self.code)
    }

    /// The JSON body (also one line of a failed stream).
    pub fn json(&self) -> Value {
        let request_id = REQUEST_ID.try_with(Clone::clone).ok();
        let mut details = Vec::new();
        if !self.violations.is_empty() {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": self.violations,
            }));
        }
        details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": self.reason,
            "domain": ERROR_DOMAIN,
        }));
        if let Some(delay) = self.retry_after {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{}s", delay.as_secs()),
            }));
        }
        if let Some(id) = &request_id {
            details.push(json!({
                "@type": "type.googleapis.com/google.rpc.RequestInfo",
                "requestId": id,
            }));
        }
        let mut body = json!({
            "code": self.code as i32,
            "status": self.code_name(),
            "message": self.message,
            "details": details,
        });
        if let Some(id) = request_id {
            body["requestId"] = Value::String(id);
        }
        body
    }
}

/// The standard mapping (google.rpc.Code → HTTP).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub fn code_name(code: Code) -> &'static str {
    platform_code_name(code)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.json()).unwrap_or_default();
        let mut response = (
            self.http_status(),
            [(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(delay) = self.retry_after {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                HeaderValue::from(delay.as_secs().max(1)),
            );
        }
        if self.code == Code::Unauthenticated {
            response.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_codes_map_to_http_statuses() {
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::Aborted), StatusCode::CONFLICT);
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn field_violations_travel_from_the_status_into_the_body() {
        use tonic_types::{ErrorDetails, StatusExt};
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            ErrorDetails::with_bad_request_violation("title", "is required"),
        );
        let error = ApiError::from_status(&status);
        assert_eq!(
            error.json(),
            serde_json::json!({
                "code": 3,
                "status": "INVALID_ARGUMENT",
                "message": "bad",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.BadRequest",
                     "fieldViolations": [{"field": "title", "description": "is required"}]},
                    {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                     "reason": "INVALID_ARGUMENT", "domain": "lms"}
                ]
            })
        );
    }

    #[tokio::test]
    async fn the_body_carries_the_reason_retry_advice_and_request_id() {
        let error = ApiError::from_status(&lms_platform::AppError::Unavailable("db".into()).into());
        let body = REQUEST_ID
            .scope("req-1".to_string(), async move { error.json() })
            .await;
        assert_eq!(body["code"], 14);
        assert_eq!(body["requestId"], "req-1");
        let types: Vec<&str> = body["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["@type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "type.googleapis.com/google.rpc.ErrorInfo",
                "type.googleapis.com/google.rpc.RetryInfo",
                "type.googleapis.com/google.rpc.RequestInfo"
            ]
        );
        assert_eq!(body["details"][1]["retryDelay"], "1s");
    }
}
