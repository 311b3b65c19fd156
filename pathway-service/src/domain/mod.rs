//! The rules of categories and pathways, free of gRPC and of storage so they can be tested alone.

pub mod category;
pub mod pathway;

use chrono::NaiveDateTime;
use lms_platform::AppError;
use serde::{Deserialize, Serialize};

/// Text limits, stated in the proto comments too.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_URL_CHARS: usize = 2048;

/// Who created and last changed a resource, and when (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

/// The current UTC time at microsecond precision (what both databases store), so a value read
/// back equals the value written.
pub fn now() -> NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    now.with_nanosecond_truncated()
}

trait TruncateNanos {
    fn with_nanosecond_truncated(self) -> Self;
}

impl TruncateNanos for NaiveDateTime {
    fn with_nanosecond_truncated(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1_000 * 1_000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

/// Etags are the resource's revision number, quoted as HTTP does.
pub fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

/// Fails with `ABORTED` when the caller sent an etag that is not the current one.
pub fn check_etag(sent: &str, revision: i64) -> Result<(), AppError> {
    if sent.is_empty() || sent == etag(revision) {
        Ok(())
    } else {
        Err(AppError::Aborted(format!(
            "etag {sent} is stale (current {}): re-read and retry",
            etag(revision)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_etag_skips_the_check() {
        assert!(check_etag("", 7).is_ok());
        assert!(check_etag("\"7\"", 7).is_ok());
        assert!(matches!(check_etag("\"6\"", 7), Err(AppError::Aborted(_))));
    }
}
