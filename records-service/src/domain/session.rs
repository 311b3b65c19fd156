//! Instructor-led sessions of training steps: when and where, seats and the waitlist, the
//! deadlines that close booking and cancelling, and the attendance log.

use chrono::{Duration, NaiveDateTime};
use lms_platform::ids::PathwayId;
use lms_platform::resource::Audit;
use lms_platform::text_enum;
use lms_platform::validate::Violations;

text_enum!(SessionState {
    Scheduled = "SCHEDULED",
    Cancelled = "CANCELLED",
});

text_enum!(BookingState {
    Booked = "BOOKED",
    Waitlisted = "WAITLISTED",
    Cancelled = "CANCELLED",
});

text_enum!(AttendanceStatus {
    /// Completes the training step.
    Attended = "ATTENDED",
    PartiallyAttended = "PARTIALLY_ATTENDED",
    /// Excused: the learner said they would not come.
    Absent = "ABSENT",
    /// Neither came nor said so.
    NoShow = "NO_SHOW",
});

/// The longest a session may run.
pub const MAX_LENGTH_DAYS: i64 = 14;
pub const MAX_CAPACITY: i32 = 10_000;
pub const MAX_INSTRUCTORS: usize = 20;

/// When and where a session takes place, and the deadlines derived from it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Schedule {
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    /// IANA name; how times are shown to the people attending.
    pub time_zone: String,
    pub location: String,
    pub meeting_url: String,
    pub capacity: i32,
    pub instructors: Vec<String>,
    /// None: at the start.
    pub booking_deadline: Option<NaiveDateTime>,
    pub cancellation_deadline: Option<NaiveDateTime>,
}

impl Schedule {
    /// The rules between fields (each field's own format is checked where it arrives).
    pub fn check(&self, v: &mut Violations) {
        if self.end_at <= self.start_at {
            v.add("session.end_time", "must be after start_time");
        } else if self.end_at - self.start_at > Duration::days(MAX_LENGTH_DAYS) {
            v.add(
                "session.end_time",
                format!("must be at most {MAX_LENGTH_DAYS} days after start_time"),
            );
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            v.add(
                "session.time_zone",
                "must be an IANA time zone name such as Europe/London",
            );
        }
        if self.location.trim().is_empty() && self.meeting_url.trim().is_empty() {
            v.add(
                "session.location",
                "a location or a meeting_url is required",
            );
        }
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            v.add(
                "session.capacity",
                format!("must be between 1 and {MAX_CAPACITY}"),
            );
        }
        if self.instructors.len() > MAX_INSTRUCTORS {
            v.add(
                "session.instructors",
                format!("at most {MAX_INSTRUCTORS} instructors"),
            );
        }
        if self.booking_deadline.is_some_and(|d| d > self.start_at) {
            v.add("session.booking_deadline", "must not be after start_time");
        }
        if self
            .cancellation_deadline
            .is_some_and(|d| d > self.start_at)
        {
            v.add(
                "session.cancellation_deadline",
                "must not be after start_time",
            );
        }
    }

    pub fn booking_closes(&self) -> NaiveDateTime {
        self.booking_deadline.unwrap_or(self.start_at)
    }

    pub fn cancelling_closes(&self) -> NaiveDateTime {
        self.cancellation_deadline.unwrap_or(self.start_at)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Session {
    pub id: String,
    pub pathway_id: PathwayId,
    pub step_id: String,
    pub pathway_title: String,
    pub step_title: String,
    pub schedule: Schedule,
    pub state: SessionState,
    pub cancel_reason: String,
    pub booked_count: i32,
    pub waitlist_count: i32,
    pub revision: i64,
    pub audit: Audit,
}

impl Session {
    pub fn teaches(&self, subject: &str) -> bool {
        self.schedule.instructors.iter().any(|i| i == subject)
    }

    pub fn has_free_seat(&self) -> bool {
        self.booked_count < self.schedule.capacity
    }

    /// FAILED_PRECONDITION text when the session takes no more bookings at `now`.
    pub fn closed_for_booking(&self, now: NaiveDateTime) -> Option<String> {
        if self.state == SessionState::Cancelled {
            return Some("the session is cancelled".into());
        }
        let closes = self.schedule.booking_closes();
        (now >= closes)
            .then(|| format!("booking closed at {} UTC", closes.format("%Y-%m-%d %H:%M")))
    }

    /// Whether a learner may still cancel their own booking at `now`.
    pub fn learner_may_cancel(&self, now: NaiveDateTime) -> bool {
        now < self.schedule.cancelling_closes()
    }

    /// Whether the session has changed in a way its booked learners must hear of.
    pub fn moved(&self, before: &Schedule) -> bool {
        let after = &self.schedule;
        after.start_at != before.start_at
            || after.end_at != before.end_at
            || after.location != before.location
            || after.meeting_url != before.meeting_url
            || after.time_zone != before.time_zone
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Booking {
    pub id: String,
    pub session_id: String,
    pub step_id: String,
    pub enrolment_id: String,
    pub learner: String,
    pub state: BookingState,
    pub booked_by: String,
    pub booked_at: NaiveDateTime,
    pub override_reason: String,
    pub cancelled_at: Option<NaiveDateTime>,
    pub cancel_reason: String,
    /// The latest attendance mark.
    pub attendance: Option<AttendanceStatus>,
    /// 1-based, while waitlisted (computed when read).
    pub waitlist_position: i32,
}

impl Booking {
    pub fn is_live(&self) -> bool {
        matches!(self.state, BookingState::Booked | BookingState::Waitlisted)
    }
}

/// One entry of the attendance log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttendanceEntry {
    pub id: String,
    pub session_id: String,
    pub booking_id: String,
    pub learner: String,
    pub status: AttendanceStatus,
    pub reason: String,
    pub marked_by: String,
    pub marked_at: NaiveDateTime,
    /// The entry this one corrects; empty for a first mark.
    pub corrects: String,
}

/// What the step's progress becomes after a mark: completed only by ATTENDED.
pub fn completes_step(status: AttendanceStatus) -> bool {
    status == AttendanceStatus::Attended
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2027, 3, 1)
            .unwrap()
            .and_hms_opt(hour, 0, 0)
            .unwrap()
    }

    fn schedule() -> Schedule {
        Schedule {
            start_at: at(9),
            end_at: at(12),
            time_zone: "Europe/London".into(),
            location: "Room 1".into(),
            meeting_url: String::new(),
            capacity: 10,
            instructors: vec![],
            booking_deadline: None,
            cancellation_deadline: None,
        }
    }

    fn problems(s: &Schedule) -> Vec<String> {
        let mut v = Violations::new();
        s.check(&mut v);
        v.into_violations().into_iter().map(|v| v.field).collect()
    }

    #[test]
    fn a_plain_session_is_valid() {
        assert!(problems(&schedule()).is_empty());
    }

    #[test]
    fn ending_before_starting_names_the_end() {
        let s = Schedule {
            end_at: at(8),
            ..schedule()
        };
        assert_eq!(problems(&s), ["session.end_time"]);
    }

    #[test]
    fn deadlines_after_the_start_and_unknown_zones_are_refused() {
        let s = Schedule {
            time_zone: "Mars/Olympus".into(),
            booking_deadline: Some(at(10)),
            cancellation_deadline: Some(at(10)),
            location: String::new(),
            capacity: 0,
            ..schedule()
        };
        assert_eq!(
            problems(&s),
            [
                "session.time_zone",
                "session.location",
                "session.capacity",
                "session.booking_deadline",
                "session.cancellation_deadline"
            ]
        );
    }

    #[test]
    fn booking_closes_at_the_deadline_or_the_start() {
        let mut session = Session {
            id: "s".into(),
            pathway_id: "p".into(),
            step_id: "st".into(),
            pathway_title: String::new(),
            step_title: String::new(),
            schedule: schedule(),
            state: SessionState::Scheduled,
            cancel_reason: String::new(),
            booked_count: 0,
            waitlist_count: 0,
            revision: 1,
            audit: Audit {
                created_at: at(1),
                created_by: "a".into(),
                updated_at: at(1),
                updated_by: "a".into(),
            },
        };
        assert!(session.closed_for_booking(at(8)).is_none());
        assert!(session.closed_for_booking(at(9)).is_some());
        session.schedule.booking_deadline = Some(at(7));
        assert!(session.closed_for_booking(at(8)).is_some());
        session.state = SessionState::Cancelled;
        assert_eq!(
            session.closed_for_booking(at(1)).as_deref(),
            Some("the session is cancelled")
        );
    }
}
