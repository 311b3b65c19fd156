//! The one error vocabulary of the suite and its mapping to gRPC statuses.
//!
//! Domain and storage code return [`AppError`]; the gRPC layer turns it into a [`tonic::Status`]
//! in one place. Internal causes are logged, never shown to the caller.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub type AppResult<T> = Result<T, AppError>;

/// A field at fault in a request (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    InvalidArgument {
        message: String,
        violations: Vec<FieldViolation>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// A stale etag or a lost race: the caller should re-read and retry.
    #[error("{0}")]
    Aborted(String),
    /// The etag the caller sent is not the resource's current one (ABORTED; HTTP 412 when
    /// it came as `If-Match`).
    #[error("{0}")]
    StaleEtag(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    ResourceExhausted(String),
    /// A dependency (the database, a peer) is unavailable for now; retrying may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// The call's deadline passed before a dependency answered.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The caller went away before the work finished.
    #[error("{0}")]
    Cancelled(String),
    /// A value outside the range the operation accepts (a page past the end).
    #[error("{0}")]
    OutOfRange(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// A single field at fault.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        let violation = FieldViolation {
            field: field.into(),
            description: description.into(),
        };
        AppError::InvalidArgument {
            message: format!("invalid {}: {}", violation.field, violation.description),
            violations: vec![violation],
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(cause.into())
    }

    pub fn code(&self) -> Code {
        match self {
            AppError::InvalidArgument { .. } => Code::InvalidArgument,
            AppError::NotFound(_) => Code::NotFound,
            AppError::AlreadyExists(_) => Code::AlreadyExists,
            AppError::FailedPrecondition(_) => Code::FailedPrecondition,
            AppError::Aborted(_) | AppError::StaleEtag(_) => Code::Aborted,
            AppError::PermissionDenied(_) => Code::PermissionDenied,
            AppError::Unauthenticated(_) => Code::Unauthenticated,
            AppError::ResourceExhausted(_) => Code::ResourceExhausted,
            AppError::Unavailable(_) => Code::Unavailable,
            AppError::DeadlineExceeded(_) => Code::DeadlineExceeded,
            AppError::Cancelled(_) => Code::Cancelled,
            AppError::OutOfRange(_) => Code::OutOfRange,
            AppError::Internal(_) => Code::Internal,
        }
    }
}

/// The `google.rpc.ErrorInfo` domain of every error the suite reports.
pub const ERROR_DOMAIN: &str = "lms";

impl AppError {
    /// The machine-readable reason (`google.rpc.ErrorInfo.reason`): the code's name, or a
    /// finer one where a client acts differently on it.
    pub fn reason(&self) -> &'static str {
        match self {
            AppError::StaleEtag(_) => "ETAG_MISMATCH",
            AppError::Aborted(_) => "CONCURRENT_CHANGE",
            other => code_name(other.code()),
        }
    }

    /// How long to wait before retrying, where retrying the same call can succeed.
    pub fn retry_delay(&self) -> Option<std::time::Duration> {
        match self {
            AppError::Unavailable(_) => Some(std::time::Duration::from_secs(1)),
            AppError::Aborted(_) => Some(std::time::Duration::ZERO),
            _ => None,
        }
    }
}

impl From<AppError> for Status {
    fn from(error: AppError) -> Self {
        let mut details = ErrorDetails::new();
        details.set_error_info(
            error.reason(),
            ERROR_DOMAIN,
            std::collections::HashMap::new(),
        );
        if let Some(delay) = error.retry_delay() {
            details.set_retry_info(Some(delay));
        }
        match error {
            AppError::InvalidArgument {
                message,
                violations,
            } => {
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            AppError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                Status::with_error_details(Code::Internal, "internal error", details)
            }
            AppError::Unavailable(message) => {
                tracing::warn!(%message, "dependency unavailable");
                Status::with_error_details(Code::Unavailable, message, details)
            }
            other => Status::with_error_details(other.code(), other.to_string(), details),
        }
    }
}

/// The name of a gRPC code as `google.rpc.Code` spells it: `INVALID_ARGUMENT`, `NOT_FOUND`, ...
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The field violations a status carries (`google.rpc.BadRequest` in its details).
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl AppError {
    /// A database error, with a unique-key violation told as `conflict()` says (the name of
    /// what already exists), and any other error mapped as usual.
    pub fn on_conflict(error: diesel::result::Error, conflict: impl FnOnce() -> AppError) -> Self {
        match AppError::from(error) {
            AppError::AlreadyExists(_) => conflict(),
            other => other,
        }
    }

    /// The outcome of a conditional update (`... WHERE revision = <what the caller read>`):
    /// ABORTED when no row changed, because another writer saved the `what` first.
    pub fn unless_updated(changed: usize, what: &str) -> Result<(), AppError> {
        if changed == 0 {
            Err(AppError::Aborted(format!(
                "the {what} changed concurrently; re-read and retry"
            )))
        } else {
            Ok(())
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            Error::NotFound => AppError::NotFound("not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::AlreadyExists("already exists".into())
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                AppError::Aborted("the change raced with another; retry it".into())
            }
            // PostgreSQL broke a cycle of lock waits by failing this transaction (40P01, which
            // diesel reports only by its message); run again, it succeeds.
            Error::DatabaseError(_, info) if info.message().contains("deadlock detected") => {
                AppError::Aborted("the change raced with another; retry it".into())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                AppError::Unavailable("database connection lost; retry".into())
            }
            // SQLite reports lock contention that outlived busy_timeout this way.
            Error::DatabaseError(_, info) if info.message().contains("database is locked") => {
                AppError::Unavailable("database busy; retry".into())
            }
            _ => AppError::Internal(error.into()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(%error, "no database connection available");
        AppError::Unavailable("database unavailable; retry".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_field_violations() {
        let status: Status = AppError::invalid_field("category.name", "must not be empty").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("bad request details");
        assert_eq!(bad_request.field_violations.len(), 1);
        assert_eq!(bad_request.field_violations[0].field, "category.name");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status: Status = AppError::internal(anyhow::anyhow!("SELECT * FROM secrets")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("SELECT"));
    }

    #[test]
    fn unique_violation_is_already_exists() {
        struct Info;
        impl diesel::result::DatabaseErrorInformation for Info {
            fn message(&self) -> &str {
                "duplicate key"
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                None
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let error = diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            Box::new(Info),
        );
        assert_eq!(AppError::from(error).code(), Code::AlreadyExists);
    }
}
