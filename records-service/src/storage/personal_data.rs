//! Where records-service keeps a person's identity: the learner record — enrolments, activities,
//! evidence, manual records, certifications, bookings and attendance stay, under the pseudonym —
//! and the staff who acted on it; a calendar feed; the xAPI statements and documents about
//! them (`xapi_personal`) (`lms.privacy.v1`, `docs/security.md`
//! "Personal data").

use lms_platform::privacy::{OtherPersonalData, PersonalTables};

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
        ("xapi_clients", "created_by"),
        ("xapi_forwarding", "updated_by"),
    ],
    cleared: &[],
    other: Some(OtherPersonalData {
        export: super::xapi_personal::export,
        erase: super::xapi_personal::erase,
    }),
};
