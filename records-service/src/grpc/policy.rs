//! Who may call each RPC: one line per RPC, applied before any handler runs (see
//! `lms_platform::auth::Authorize`). What a caller then sees is the use case's business: a
//! learner reads their own record only. Certificate verification is public and has none.

use lms_platform::Role::{self, Admin, Instructor, Learner, Service};
use lms_platform::auth::Policy;

const ADMINS: &[Role] = &[Admin];
/// People recording learning (never a service: its effects arrive as events).
const PEOPLE: &[Role] = &[Admin, Instructor, Learner];
const ANY_ROLE: &[Role] = &[Admin, Instructor, Learner, Service];
const SERVICES: &[Role] = &[Service];
const LEARNERS: &[Role] = &[Learner];
/// Who decides on a learner's evidence.
const REVIEWERS: &[Role] = &[Admin, Instructor];

pub const POLICY: Policy = &[
    ("CreateManualRecord", ADMINS),
    ("UpdateManualRecord", ADMINS),
    ("DeleteManualRecord", ADMINS),
    ("ListManualRecords", ANY_ROLE),
    ("ListManualRecordAudit", ADMINS),
    // Managers (people with reports, whatever their role) report on their own team.
    ("StreamComplianceReport", ANY_ROLE),
    ("ExportComplianceReport", ANY_ROLE),
    ("ListTranscript", ANY_ROLE),
    ("ExportTranscript", ANY_ROLE),
    ("ListCertifications", ANY_ROLE),
    ("GetCertification", ANY_ROLE),
    ("RevokeCertification", ADMINS),
    ("GetProgress", ANY_ROLE),
    ("ListProgress", ANY_ROLE),
    ("RecordActivity", PEOPLE),
    ("CheckStep", SERVICES),
    ("SubmitEvidence", LEARNERS),
    ("ListEvidence", ANY_ROLE),
    ("ApproveEvidence", REVIEWERS),
    ("RejectEvidence", REVIEWERS),
    ("MoveToVersion", ADMINS),
    ("ListActivities", ANY_ROLE),
];

/// `lms.records.v1.Cmi5Service`: learners launch their own content.
pub const CMI5_POLICY: Policy = &[("LaunchAssignableUnit", LEARNERS)];

/// Who schedules sessions and marks attendance (instructors: the sessions they teach).
const TEACHERS: &[Role] = &[Admin, Instructor];
/// Who books seats (admins on a learner's behalf).
const BOOKERS: &[Role] = &[Admin, Learner];

/// `lms.records.v1.TrainingSessionService`.
pub const SESSIONS_POLICY: Policy = &[
    ("CreateSession", TEACHERS),
    ("GetSession", ANY_ROLE),
    ("ListSessions", ANY_ROLE),
    ("UpdateSession", TEACHERS),
    ("CancelSession", TEACHERS),
    ("BookSession", BOOKERS),
    ("CancelBooking", BOOKERS),
    ("ListBookings", ANY_ROLE),
    ("MarkAttendance", TEACHERS),
    ("ListAttendance", TEACHERS),
    ("ExportCalendar", PEOPLE),
    ("CreateCalendarFeed", PEOPLE),
    ("DeleteCalendarFeed", PEOPLE),
];

/// Who stores and reads a tenant's xAPI statements: its admins and its services.
const LRS_CLIENTS: &[Role] = &[Admin, Service];

/// `lms.xapi.v1.LearningRecordStoreService`.
pub const XAPI_POLICY: Policy = &[
    ("StoreStatements", LRS_CLIENTS),
    ("GetStatement", LRS_CLIENTS),
    ("QueryStatements", LRS_CLIENTS),
    ("WriteDocument", LRS_CLIENTS),
    ("GetDocument", LRS_CLIENTS),
    ("ListDocumentIds", LRS_CLIENTS),
    ("DeleteDocuments", LRS_CLIENTS),
    ("GetActivity", LRS_CLIENTS),
    ("GetPerson", LRS_CLIENTS),
    ("StoreStatementsStream", LRS_CLIENTS),
    ("GetStatementStream", LRS_CLIENTS),
    ("QueryStatementsStream", LRS_CLIENTS),
];

/// `lms.xapi.v1.LrsClientService`: who hands out LRS credentials.
pub const XAPI_CLIENTS_POLICY: Policy = &[
    ("CreateLrsClient", ADMINS),
    ("ListLrsClients", ADMINS),
    ("DeleteLrsClient", ADMINS),
];

/// `lms.xapi.v1.LrsForwardingService`: where the tenant's statements are forwarded.
pub const XAPI_FORWARDING_POLICY: Policy = &[
    ("GetLrsForwarding", ADMINS),
    ("UpdateLrsForwarding", ADMINS),
];

/// `lms.events.v1.EventConsumer`: enrolment- and assessment-service delivering their events.
pub const EVENTS_POLICY: Policy = &[("DeliverEvents", SERVICES)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_has_exactly_one_policy_line() {
        lms_platform::auth::check_policy(POLICY, "lms.records.v1.RecordsService").unwrap();
        lms_platform::auth::check_policy(EVENTS_POLICY, "lms.events.v1.EventConsumer").unwrap();
        lms_platform::auth::check_policy(SESSIONS_POLICY, "lms.records.v1.TrainingSessionService")
            .unwrap();
        lms_platform::auth::check_policy(XAPI_POLICY, "lms.xapi.v1.LearningRecordStoreService")
            .unwrap();
        lms_platform::auth::check_policy(XAPI_CLIENTS_POLICY, "lms.xapi.v1.LrsClientService")
            .unwrap();
        lms_platform::auth::check_policy(
            XAPI_FORWARDING_POLICY,
            "lms.xapi.v1.LrsForwardingService",
        )
        .unwrap();
        lms_platform::auth::check_policy(CMI5_POLICY, "lms.records.v1.Cmi5Service").unwrap();
    }
}
