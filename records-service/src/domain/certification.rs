//! Certifications: when one expires, and what state it is in on a given day.

use chrono::{Duration, NaiveDateTime};
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};

use super::pathway::CertificationPolicy;

/// One cycle of a learner's certification in a pathway.
#[derive(Debug, Clone, PartialEq)]
pub struct Certification {
    pub id: String,
    pub tenant_id: TenantId,
    pub learner: String,
    pub pathway_id: PathwayId,
    pub pathway_title: String,
    pub pathway_version: i32,
    pub enrolment_id: EnrolmentId,
    pub cycle: i32,
    pub completed_at: NaiveDateTime,
    pub issued_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub window_days: i32,
    pub verification_code: String,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: String,
    pub revoked_by: String,
    pub expiring_announced_at: Option<NaiveDateTime>,
}

impl Certification {
    /// Its state on `now`.
    pub fn status(&self, now: NaiveDateTime) -> Status {
        status(
            self.expires_at,
            self.window_days,
            self.revoked_at.is_some(),
            now,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Expiring,
    Expired,
    Revoked,
}

/// A previous cycle of the same learner and pathway, as far as expiry is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousCycle {
    pub expires_at: Option<NaiveDateTime>,
    pub window_days: i32,
}

/// When a certification completed at `completed_at` expires: completion + validity, or — when
/// it renews a previous cycle inside that cycle's recertification window — the previous expiry
/// + validity, so recertifying early loses nothing. None: it never expires.
pub fn expiry(
    policy: CertificationPolicy,
    completed_at: NaiveDateTime,
    previous: Option<PreviousCycle>,
) -> Option<NaiveDateTime> {
    if policy.validity_days <= 0 {
        return None;
    }
    let validity = Duration::days(policy.validity_days.into());
    match previous.and_then(|p| p.expires_at.map(|at| (at, p.window_days))) {
        Some((previous_expiry, window))
            if completed_at <= previous_expiry
                && completed_at >= previous_expiry - Duration::days(window.into()) =>
        {
            Some(previous_expiry + validity)
        }
        _ => Some(completed_at + validity),
    }
}

pub fn status(
    expires_at: Option<NaiveDateTime>,
    window_days: i32,
    revoked: bool,
    now: NaiveDateTime,
) -> Status {
    match expires_at {
        _ if revoked => Status::Revoked,
        None => Status::Active,
        Some(at) if now >= at => Status::Expired,
        Some(at) if now >= at - Duration::days(window_days.into()) => Status::Expiring,
        Some(_) => Status::Active,
    }
}

/// Where a learner stands on a pathway for compliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compliance {
    Compliant,
    InProgress,
    Overdue,
    /// Completed, but the certification it earned has expired (or was revoked).
    Expired,
    NotStarted,
}

/// Compliance from the progress status and the certification the completion earned, if any.
pub fn compliance(progress: super::progress::Status, certification: Option<Status>) -> Compliance {
    use super::progress::Status as P;
    match progress {
        P::Completed => match certification {
            Some(Status::Expired | Status::Revoked) => Compliance::Expired,
            _ => Compliance::Compliant,
        },
        P::Overdue => Compliance::Overdue,
        P::InProgress => Compliance::InProgress,
        P::NotStarted => Compliance::NotStarted,
    }
}

/// A verification code: 16 characters from an alphabet without look-alikes.
pub fn new_verification_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            + Duration::days(n)
    }

    const YEARLY: CertificationPolicy = CertificationPolicy {
        validity_days: 365,
        window_days: 30,
    };

    #[test]
    fn recertifying_inside_the_window_extends_from_the_previous_expiry() {
        let first = expiry(YEARLY, day(0), None);
        assert_eq!(first, Some(day(365)));
        let previous = PreviousCycle {
            expires_at: first,
            window_days: 30,
        };
        // 20 days before expiry: inside the window.
        assert_eq!(expiry(YEARLY, day(345), Some(previous)), Some(day(730)));
        // Before the window opens, or after expiry: from the day of completion.
        assert_eq!(expiry(YEARLY, day(300), Some(previous)), Some(day(665)));
        assert_eq!(expiry(YEARLY, day(400), Some(previous)), Some(day(765)));
        let forever = CertificationPolicy {
            validity_days: 0,
            window_days: 0,
        };
        assert_eq!(expiry(forever, day(0), None), None);
    }

    #[test]
    fn an_expired_certification_makes_a_completion_non_compliant() {
        use crate::domain::progress::Status as P;
        assert_eq!(compliance(P::Completed, None), Compliance::Compliant);
        assert_eq!(
            compliance(P::Completed, Some(Status::Expiring)),
            Compliance::Compliant
        );
        assert_eq!(
            compliance(P::Completed, Some(Status::Expired)),
            Compliance::Expired
        );
        assert_eq!(compliance(P::Overdue, None), Compliance::Overdue);
        assert_eq!(compliance(P::NotStarted, None), Compliance::NotStarted);
    }

    #[test]
    fn status_moves_from_active_to_expiring_to_expired() {
        let expires = Some(day(365));
        assert_eq!(status(expires, 30, false, day(10)), Status::Active);
        assert_eq!(status(expires, 30, false, day(340)), Status::Expiring);
        assert_eq!(status(expires, 30, false, day(365)), Status::Expired);
        assert_eq!(status(expires, 30, true, day(10)), Status::Revoked);
        assert_eq!(status(None, 0, false, day(9999)), Status::Active);
        let code = new_verification_code();
        assert_eq!(code.len(), 16);
        assert!(!code.contains('0') && !code.contains('O') && !code.contains('1'));
    }
}
