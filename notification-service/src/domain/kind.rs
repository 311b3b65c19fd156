//! What a notification is about.

use lms_platform::text_enum;

text_enum!(
    /// The kinds of notification.
    Kind {
        Assigned = "assigned",
        DueSoon = "due_soon",
        Overdue = "overdue",
        Escalation = "escalation",
        Completed = "completed",
        CertificationIssued = "certification_issued",
        CertificationExpiring = "certification_expiring",
        WebhookDisabled = "webhook_disabled",
        EssayGraded = "essay_graded",
        CertificationExpired = "certification_expired",
        SessionBooked = "session_booked",
        SessionWaitlisted = "session_waitlisted",
        SessionChanged = "session_changed",
        SessionCancelled = "session_cancelled",
        BookingCancelled = "booking_cancelled",
        SessionReminder = "session_reminder",
    }
);

impl Kind {
    /// Whether a person may mute it. Assignments, reminders, escalations, certification
    /// expiry and a session's moves and cancellations are how mandatory training gets done:
    /// they cannot be muted. Confirmations of what the person did themselves can.
    pub fn mutable(self) -> bool {
        matches!(
            self,
            Kind::Completed
                | Kind::CertificationIssued
                | Kind::EssayGraded
                | Kind::SessionBooked
                | Kind::SessionWaitlisted
                | Kind::BookingCancelled
        )
    }

    /// Reminders stop when their enrolment is completed or withdrawn, even when already
    /// decided.
    pub fn is_reminder(self) -> bool {
        matches!(self, Kind::DueSoon | Kind::Overdue | Kind::Escalation)
    }

    /// The variables its templates may use (every kind also has the common ones).
    pub fn variables(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            Kind::Assigned => &["due_date", "mandatory"],
            Kind::DueSoon => &["due_date", "days_left", "mandatory"],
            Kind::Overdue => &["due_date", "days_overdue", "mandatory"],
            Kind::Escalation => &["due_date", "days_overdue", "manager_name"],
            Kind::Completed => &["completed_date"],
            Kind::CertificationIssued => &["expire_date"],
            Kind::CertificationExpiring => &["expire_date"],
            Kind::WebhookDisabled => &["webhook_url", "disabled_reason"],
            Kind::EssayGraded => &["score", "max_score", "passed", "grade_date"],
            Kind::CertificationExpired => &["expire_date"],
            Kind::SessionBooked => &[
                "session_title",
                "session_start",
                "session_end",
                "time_zone",
                "location",
                "meeting_url",
                "promoted",
            ],
            Kind::SessionWaitlisted | Kind::SessionChanged | Kind::SessionReminder => {
                SESSION_VARIABLES
            }
            Kind::SessionCancelled | Kind::BookingCancelled => &[
                "session_title",
                "session_start",
                "session_end",
                "time_zone",
                "location",
                "meeting_url",
                "reason",
            ],
        };
        let mut all = COMMON.to_vec();
        all.extend_from_slice(own);
        all
    }
}

/// What every template about a training session may say of it: the step's title, the start
/// and end in the session's own time zone, where, and the meeting link (with `promoted` for a
/// seat from the waitlist, `reason` for a cancellation).
const SESSION_VARIABLES: &[&str] = &[
    "session_title",
    "session_start",
    "session_end",
    "time_zone",
    "location",
    "meeting_url",
];

/// Variables every template has.
const COMMON: &[&str] = &["learner_name", "pathway_title", "link", "portal_url"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_optional_kinds_may_be_muted() {
        let mutable: Vec<_> = Kind::ALL.iter().filter(|k| k.mutable()).collect();
        assert_eq!(
            mutable,
            [
                &Kind::Completed,
                &Kind::CertificationIssued,
                &Kind::EssayGraded,
                &Kind::SessionBooked,
                &Kind::SessionWaitlisted,
                &Kind::BookingCancelled
            ]
        );
    }

    #[test]
    fn every_kind_names_its_learner_and_pathway() {
        for kind in Kind::ALL {
            assert!(kind.variables().contains(&"learner_name"));
            assert!(kind.variables().contains(&"pathway_title"));
        }
    }
}
