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
