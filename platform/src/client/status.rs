//! What a peer's status means to the caller of the call being served.
//!
//! A code that describes the request (INVALID_ARGUMENT with its field violations, NOT_FOUND,
//! FAILED_PRECONDITION, ...) reaches the original caller unchanged: their request was wrong,
//! and retrying will not help. A code that describes the peer (UNAVAILABLE, DEADLINE_EXCEEDED)
//! stays retryable. What the caller cannot act on becomes INTERNAL with the cause logged:
//! the peer failing internally, or refusing this component's own service identity (a
//! deployment problem, not the caller's token).

use crate::error::{AppError, field_violations};
use tonic::{Code, Status};

/// `status`, answered by `peer`, as an error of this component. `forwarded`: the call carried
/// the caller's own token, so authentication failures are the caller's.
pub fn from_status(peer: &str, status: Status, forwarded: bool) -> AppError {
    let message = status.message().to_string();
    match status.code() {
        Code::InvalidArgument => AppError::InvalidArgument {
            violations: field_violations(&status),
            message,
        },
        Code::NotFound => AppError::NotFound(message),
        Code::AlreadyExists => AppError::AlreadyExists(message),
        Code::FailedPrecondition => AppError::FailedPrecondition(message),
        Code::Aborted => AppError::Aborted(message),
        Code::OutOfRange => AppError::OutOfRange(message),
        Code::ResourceExhausted => AppError::ResourceExhausted(message),
        Code::Cancelled => AppError::Cancelled(message),
        Code::DeadlineExceeded => {
            AppError::DeadlineExceeded(format!("{peer} did not answer before the deadline"))
        }
        Code::Unavailable => {
            tracing::warn!(peer, %message, "peer unavailable");
            AppError::Unavailable(format!("{peer} cannot be reached; retry"))
        }
        Code::PermissionDenied if forwarded => AppError::PermissionDenied(message),
        Code::Unauthenticated if forwarded => AppError::Unauthenticated(message),
        Code::PermissionDenied | Code::Unauthenticated => AppError::internal(anyhow::anyhow!(
            "{peer} refused this component's service identity ({:?}: {message})",
            status.code()
        )),
        Code::Ok | Code::Unknown | Code::Internal | Code::Unimplemented | Code::DataLoss => {
            AppError::internal(anyhow::anyhow!(
                "{peer} failed ({:?}: {message})",
                status.code()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::{ErrorDetails, StatusExt};

    #[test]
    fn invalid_argument_keeps_its_field_violations() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("learner", "must not be empty");
        let status = Status::with_error_details(Code::InvalidArgument, "invalid learner", details);
        match from_status("enrolment-service", status, false) {
            AppError::InvalidArgument {
                message,
                violations,
            } => {
                assert_eq!(message, "invalid learner");
                assert_eq!(violations[0].field, "learner");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_about_the_request_keep_their_meaning() {
        for code in [
            Code::NotFound,
            Code::AlreadyExists,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::ResourceExhausted,
            Code::Cancelled,
            Code::DeadlineExceeded,
            Code::Unavailable,
        ] {
            let error = from_status("p", Status::new(code, "why"), false);
            assert_eq!(error.code(), code);
        }
    }

    #[test]
    fn a_refused_service_identity_is_internal_but_a_refused_caller_is_theirs() {
        for code in [Code::Unauthenticated, Code::PermissionDenied] {
            assert_eq!(
                from_status("p", Status::new(code, "no"), false).code(),
                Code::Internal
            );
            assert_eq!(from_status("p", Status::new(code, "no"), true).code(), code);
        }
    }

    #[test]
    fn internal_failures_hide_the_peers_message() {
        let error = from_status("p", Status::internal("SELECT secret FROM t"), false);
        assert_eq!(error.code(), Code::Internal);
        assert!(!error.to_string().contains("SELECT"));
    }
}
