//! Where records-service keeps a person's identity: the learner record — enrolments, activities,
//! evidence, manual records, certifications, bookings and attendance stay, under the pseudonym —
//! and the staff who acted on it; a calendar feed (`lms.privacy.v1`, `docs/security.md`
//! "Personal data").

use lms_platform::privacy::PersonalTables;

pub const TABLES: PersonalTables = PersonalTables {
    service: "records-service",
    identity: &[
        ("enrolments", "learner"),
        ("activities", "actor"),
        ("certifications", "learner"),
        ("certifications", "revoked_by"),
        ("manual_records", "learner"),
        ("manual_records", "created_by"),
        ("manual_record_changes", "actor"),
        ("evidence", "learner"),
        ("evidence", "decided_by"),
        ("training_sessions", "created_by"),
        ("training_sessions", "updated_by"),
        ("session_instructors", "instructor"),
        ("session_bookings", "learner"),
        ("session_bookings", "booked_by"),
        ("attendance_marks", "learner"),
        ("attendance_marks", "marked_by"),
        ("calendar_feeds", "subject"),
    ],
    cleared: &[],
};
