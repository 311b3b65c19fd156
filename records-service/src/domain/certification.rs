//! Certifications: when one expires, and what state it is in on a given day.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};

use super::pathway::CertificationPolicy;

/// One cycle of a learner's certification in a pathway.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
    /// Days after expiry it stays EXPIRING (its holder compliant).
    pub grace_days: i32,
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
            (self.window_days, self.grace_days),
            self.revoked_at.is_some(),
            now,
        )
    }

    /// When its grace period ends (None: it never expires).
    pub fn grace_ends_at(&self) -> Option<NaiveDateTime> {
        self.expires_at
            .map(|at| at + Duration::days(self.grace_days.into()))
    }

    /// Whether it makes its holder compliant on `now`: active, in its window or grace.
    pub fn is_valid(&self, now: NaiveDateTime) -> bool {
        matches!(self.status(now), Status::Active | Status::Expiring)
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

/// When a certification completed at `completed_at` expires. Completion-anchored: completion +
/// validity, or — when it renews a previous cycle inside that cycle's recertification window —
/// the previous expiry + validity, so recertifying early loses nothing. Calendar-anchored: the
/// end of the first anchor day (e.g. 31 March, UTC) more than the window after completion, so
/// no certification is issued already inside its window, and renewing inside the window moves
/// the expiry one year on from the previous one. None: it never expires.
pub fn expiry(
    policy: CertificationPolicy,
    completed_at: NaiveDateTime,
    previous: Option<PreviousCycle>,
) -> Option<NaiveDateTime> {
    if let Some((month, day)) = policy.expiry_date {
        let earliest = completed_at + Duration::days(policy.window_days.into());
        return (earliest.year()..=earliest.year() + 1)
            .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
            .filter_map(|date| date.succ_opt()?.and_hms_opt(0, 0, 0))
            .find(|end_of_day| *end_of_day > earliest);
    }
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

/// A certification's state on `now`: EXPIRING from its window's opening until its grace
/// period after expiry ends.
pub fn status(
    expires_at: Option<NaiveDateTime>,
    (window_days, grace_days): (i32, i32),
    revoked: bool,
    now: NaiveDateTime,
) -> Status {
    match expires_at {
        _ if revoked => Status::Revoked,
        None => Status::Active,
        Some(at) if now >= at + Duration::days(grace_days.into()) => Status::Expired,
        Some(at) if now >= at => Status::Expiring,
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

/// Compliance from the progress status of the learner's current enrolment and the
/// certification its completion earned, if any. A learner who holds a valid certification
/// (active, in its window or grace) is compliant whatever cycle is open: see [`held`].
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

/// The certification that makes its holder compliant on `now`, of those they hold in a
/// pathway: the valid one that lasts longest.
pub fn held(certifications: &[Certification], now: NaiveDateTime) -> Option<&Certification> {
    certifications
        .iter()
        .filter(|c| c.is_valid(now))
        .max_by_key(|c| c.expires_at.unwrap_or(NaiveDateTime::MAX))
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
        expiry_date: None,
        grace_days: 0,
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
            expiry_date: None,
            grace_days: 0,
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
        assert_eq!(status(expires, (30, 0), false, day(10)), Status::Active);
        assert_eq!(status(expires, (30, 0), false, day(340)), Status::Expiring);
        assert_eq!(status(expires, (30, 0), false, day(365)), Status::Expired);
        assert_eq!(status(expires, (30, 0), true, day(10)), Status::Revoked);
        assert_eq!(status(None, (0, 0), false, day(9999)), Status::Active);
        // A grace period keeps it EXPIRING after expiry, then it expires.
        assert_eq!(status(expires, (30, 14), false, day(370)), Status::Expiring);
        assert_eq!(status(expires, (30, 14), false, day(379)), Status::Expired);
        let code = new_verification_code();
        assert_eq!(code.len(), 16);
        assert!(!code.contains('0') && !code.contains('O') && !code.contains('1'));
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    }

    #[test]
    fn calendar_anchored_certifications_expire_at_the_end_of_the_anchor_day() {
        let every_31_march = CertificationPolicy {
            validity_days: 0,
            window_days: 30,
            expiry_date: Some((3, 31)),
            grace_days: 0,
        };
        let end_of_31_march = |year| date(year, 4, 1);
        // Long before the anchor: the coming 31 March.
        let first = expiry(every_31_march, date(2026, 2, 10), None);
        assert_eq!(first, Some(end_of_31_march(2026)));
        // After it: the next year's.
        assert_eq!(
            expiry(every_31_march, date(2026, 6, 1), None),
            Some(end_of_31_march(2027))
        );
        // Inside the window before the anchor: never issued already expiring — the next
        // year's, which is one year on from the previous expiry when renewing.
        let renewed = expiry(
            every_31_march,
            date(2026, 3, 20),
            Some(PreviousCycle {
                expires_at: first,
                window_days: 30,
            }),
        );
        assert_eq!(renewed, Some(end_of_31_march(2027)));
        // The end of 28 February is 29 February's midnight in a leap year.
        let end_of_february = CertificationPolicy {
            expiry_date: Some((2, 28)),
            window_days: 0,
            ..every_31_march
        };
        assert_eq!(
            expiry(end_of_february, date(2027, 12, 1), None),
            Some(date(2028, 2, 29))
        );
    }

    #[test]
    fn a_valid_certificate_is_held_whatever_cycle_is_open() {
        let cert = |cycle: i32, expires: i64, revoked: bool| Certification {
            id: format!("c{cycle}"),
            tenant_id: TenantId::try_from("t".to_string()).unwrap(),
            learner: "ada".into(),
            pathway_id: "p".into(),
            pathway_title: "P".into(),
            pathway_version: 1,
            enrolment_id: format!("e{cycle}").into(),
            cycle,
            completed_at: day(0),
            issued_at: day(0),
            expires_at: Some(day(expires)),
            window_days: 30,
            grace_days: 7,
            verification_code: String::new(),
            revoked_at: revoked.then(|| day(1)),
            revoke_reason: String::new(),
            revoked_by: String::new(),
            expiring_announced_at: None,
        };
        let both = [cert(1, 365, false), cert(2, 730, true)];
        // Inside cycle 1's window: still held (cycle 2 was revoked).
        assert_eq!(held(&both, day(350)).map(|c| c.cycle), Some(1));
        // In its grace period: still held; after it: not.
        assert_eq!(held(&both, day(370)).map(|c| c.cycle), Some(1));
        assert!(held(&both, day(373)).is_none());
    }
}
