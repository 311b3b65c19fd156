//! Webhook rules: which destinations may be called, which event types may be subscribed to, how
//! deliveries are signed (Standard Webhooks) and when a failed one is tried again.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;

/// Where webhooks may point (the rules every administrator-chosen address is held to).
pub use lms_platform::egress::Destinations;

/// A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks libraries
/// read it.
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::rng().random();
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `webhook-signature` value for one secret: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the secret's key.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    use aws_lc_rs::hmac;
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the stored secret is not base64".to_string())?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

/// After the n-th failed attempt (1-based), how long until the next: the Standard Webhooks
/// schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about 27.5 hours),
/// each up to 25 % later at random so that a receiver coming back is not hit by every retry at
/// once (later, never earlier: the schedule always spans more than a day). None: that was the
/// last attempt.
pub fn retry_after(attempts_made: i32) -> Option<Duration> {
    const SCHEDULE: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
    let base = *SCHEDULE.get(usize::try_from(attempts_made - 1).ok()?)?;
    let jitter = rand::rng().random_range(1.0..1.25);
    Some(Duration::from_secs_f64(base as f64 * jitter))
}

/// The most attempts a delivery gets.
pub const MAX_ATTEMPTS: i32 = 8;

/// Reads the event types of a subscription: each a published type, or `*` alone. Err names the
/// index of the first wrong one.
pub fn check_event_types(types: &[String], published: &[String]) -> Result<(), (usize, String)> {
    if types.is_empty() {
        return Err((0, "name at least one event type, or *".into()));
    }
    if types.len() > 100 {
        return Err((100, "at most 100 event types".into()));
    }
    for (i, name) in types.iter().enumerate() {
        if name == "*" {
            if types.len() > 1 {
                return Err((i, "* means every type and stands alone".into()));
            }
        } else if !published.iter().any(|p| p == name) {
            return Err((
                i,
                format!("unknown event type; one of: {}", published.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Whether a subscription to `types` receives `event_type`.
pub fn subscribed(types: &[String], event_type: &str) -> bool {
    types.iter().any(|t| t == "*" || t == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's test vector.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signed = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(new_secret().starts_with("whsec_"));
        assert_ne!(new_secret(), new_secret());
    }

    #[test]
    fn retries_last_more_than_a_day_with_jitter() {
        let total: f64 = (1..MAX_ATTEMPTS)
            .map(|n| retry_after(n).unwrap().as_secs_f64())
            .sum();
        // 27.6 hours at least: more than the day the retries must span.
        assert!(total >= 99_305.0, "{total}");
        assert_eq!(retry_after(MAX_ATTEMPTS), None);
        let first: Vec<_> = (0..20).map(|_| retry_after(1).unwrap()).collect();
        assert!(
            first
                .iter()
                .all(|d| (5.0..=6.25).contains(&d.as_secs_f64()))
        );
        assert!(first.iter().any(|d| *d != first[0]), "jittered");
    }

    #[test]
    fn event_types_are_published_ones_or_a_lone_star() {
        let published = vec!["lms.a.v1.X".to_string(), "lms.a.v1.Y".to_string()];
        assert!(check_event_types(&["lms.a.v1.X".into()], &published).is_ok());
        assert!(check_event_types(&["*".into()], &published).is_ok());
        assert_eq!(check_event_types(&[], &published).unwrap_err().0, 0);
        assert_eq!(
            check_event_types(&["lms.a.v1.X".into(), "nope".into()], &published)
                .unwrap_err()
                .0,
            1
        );
        assert!(check_event_types(&["*".into(), "lms.a.v1.X".into()], &published).is_err());
        assert!(subscribed(&["*".into()], "lms.a.v1.Y"));
        assert!(!subscribed(&["lms.a.v1.X".into()], "lms.a.v1.Y"));
    }
}
