//! Where notification-service keeps a person's identity: their notifications (whose text and
//! email address are cleared on erasure: they were written with the person's name), their
//! preferences, reminders, and the webhooks and templates an administrator made
//! (`lms.privacy.v1`, `docs/security.md` "Personal data").

use lms_platform::privacy::PersonalTables;

pub const TABLES: PersonalTables = PersonalTables {
    service: "notification-service",
    identity: &[
        ("notifications", "learner"),
        ("notifications", "recipient"),
        ("tracked_enrolments", "learner"),
        ("session_reminders", "learner"),
        ("notification_preferences", "person"),
        ("notification_templates", "updated_by"),
        ("webhooks", "created_by"),
    ],
    cleared: &[
        (
            "notifications",
            "learner",
            "subject = '', body = '', facts = '{}'",
        ),
        ("notifications", "recipient", "email_to = ''"),
    ],
    other: None,
};
