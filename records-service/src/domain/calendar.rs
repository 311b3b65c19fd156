//! Training sessions as an iCalendar (RFC 5545) file that calendar clients import. Times are
//! written in UTC (always valid without VTIMEZONE blocks); the session's own time zone is named
//! in the description. One session is one event whose UID and SEQUENCE stay stable, so
//! importing an updated file moves the event instead of adding a second one.

use chrono::{NaiveDateTime, TimeZone};
use icalendar::{Calendar, Component, EventLike, EventStatus};

use super::session::{Session, SessionState};

pub fn calendar(name: &str, sessions: &[Session]) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//LMS suite//Training sessions//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        .name(name);
    for session in sessions {
        calendar.push(event(session));
    }
    calendar.done().to_string()
}

fn event(session: &Session) -> icalendar::Event {
    let schedule = &session.schedule;
    let mut description = vec![format!(
        "{} — {}",
        session.pathway_title, session.step_title
    )];
    description.push(format!("Time zone: {}", schedule.time_zone));
    if !schedule.meeting_url.is_empty() {
        description.push(format!("Join: {}", schedule.meeting_url));
    }
    if session.state == SessionState::Cancelled {
        description.push(format!("Cancelled: {}", session.cancel_reason));
    }
    let mut event = icalendar::Event::new();
    event
        .uid(&format!("{}@sessions.lms", session.id))
        .sequence(u32::try_from(session.revision.saturating_sub(1)).unwrap_or(0))
        .timestamp(utc(session.audit.updated_at))
        .summary(&session.step_title)
        .description(&description.join("\n"))
        .starts(utc(schedule.start_at))
        .ends(utc(schedule.end_at))
        .status(if session.state == SessionState::Cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        });
    let place = if schedule.location.is_empty() {
        &schedule.meeting_url
    } else {
        &schedule.location
    };
    event.location(place);
    if !schedule.meeting_url.is_empty() {
        event.url(&schedule.meeting_url);
    }
    event.done()
}

fn utc(at: NaiveDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.from_utc_datetime(&at)
}

/// A new feed secret: 32 random bytes, base64url without padding (43 characters).
pub fn new_feed_secret() -> String {
    use base64::Engine;
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a feed secret: its SHA-256, in hex.
pub fn feed_secret_hash(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_secrets_are_long_random_and_stored_hashed() {
        let (a, b) = (new_feed_secret(), new_feed_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let hash = feed_secret_hash(&a);
        assert_eq!(hash.len(), 64);
        assert_ne!(hash, feed_secret_hash(&b));
        // SHA-256 of "abc" (FIPS 180-2's example).
        assert_eq!(
            feed_secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
