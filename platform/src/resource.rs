//! What every resource shares: audit fields, revisions as etags, and their wire forms.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

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

/// The UTC moment of a wire timestamp; None when it is out of range (negative nanos included).
pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<NaiveDateTime> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32).map(|at| at.naive_utc())
}

/// The revision an etag stands for (as written by [`etag`]).
pub fn revision_of_etag(etag: &str) -> Option<i64> {
    etag.trim_matches('"').parse().ok()
}

/// Fails with `ABORTED` when the caller sent an etag that is not the current one.
pub fn check_etag(sent: &str, revision: i64) -> Result<(), AppError> {
    if sent.is_empty() || sent == etag(revision) {
        Ok(())
    } else {
        Err(AppError::StaleEtag(format!(
            "etag {sent} is stale (current {}): re-read and retry",
            etag(revision)
        )))
    }
}

/// A stored UTC time as a protobuf timestamp.
pub fn timestamp(at: NaiveDateTime) -> prost_types::Timestamp {
    let utc = at.and_utc();
    prost_types::Timestamp {
        seconds: utc.timestamp(),
        nanos: utc.timestamp_subsec_nanos() as i32,
    }
}

impl Audit {
    /// Created and updated now by `actor`.
    pub fn new(actor: &str) -> Self {
        let at = now();
        Audit {
            created_at: at,
            created_by: actor.to_string(),
            updated_at: at,
            updated_by: actor.to_string(),
        }
    }

    /// Marks a change by `actor` now.
    pub fn touch(&mut self, actor: &str) {
        self.updated_at = now();
        self.updated_by = actor.to_string();
    }

    pub fn to_proto(&self) -> lms_proto::common_v1::Audit {
        lms_proto::common_v1::Audit {
            create_time: Some(timestamp(self.created_at)),
            created_by: self.created_by.clone(),
            update_time: Some(timestamp(self.updated_at)),
            updated_by: self.updated_by.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_etag_skips_the_check() {
        assert!(check_etag("", 7).is_ok());
        assert!(check_etag("\"7\"", 7).is_ok());
        assert!(matches!(
            check_etag("\"6\"", 7),
            Err(AppError::StaleEtag(_))
        ));
    }

    #[test]
    fn times_keep_microseconds_only() {
        use chrono::Timelike;
        assert_eq!(now().nanosecond() % 1_000, 0);
    }
}
