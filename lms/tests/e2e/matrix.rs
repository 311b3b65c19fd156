//! Who may call what, and what another tenant sees — for every RPC of every service, against a
//! real `lms up` (embedded SQLite, and each component on its own PostgreSQL database).
//!
//! - The authorization matrix: one table, [`AUTHORIZATION`], says which roles may call each RPC.
//!   The test calls every RPC as each of learner, instructor, admin, service and nobody, checks
//!   that the table names every RPC the services serve, and writes the same table into
//!   docs/security.md (`LMS_WRITE_DOCS=1` regenerates it; otherwise a stale doc fails).
//! - The tenant isolation matrix: tenant A gets one of everything; a principal of tenant B then
//!   calls every RPC that takes an id with A's ids. Each answer must be exactly the answer for an
//!   id that never existed (so nothing reveals that A's object exists), and `NOT_FOUND` where
//!   the id names the object of the call. A's admin then makes the same calls, to prove the ids
//!   were real, and finds A's data unchanged.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::{Lms, Rpcs};
use lms_platform::Role;
use lms_test_support::TestBackend;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use serde_json::{Value, json};
use tonic::{Code, Status};

// --- the authorization table --------------------------------------------------------------

/// Who may call an RPC.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Anyone, without a token (public certificate verification).
    Public,
    /// Callers holding at least one of these roles.
    Roles(&'static [Role]),
}

const ADMIN: Access = Access::Roles(&[Role::Admin]);
const ADMIN_SERVICE: Access = Access::Roles(&[Role::Admin, Role::Service]);
const STAFF: Access = Access::Roles(&[Role::Admin, Role::Instructor]);
const STAFF_SERVICE: Access = Access::Roles(&[Role::Admin, Role::Instructor, Role::Service]);
const TAKERS: Access = Access::Roles(&[Role::Learner, Role::Instructor]);
const EVERYONE: Access = Access::Roles(&[Role::Admin, Role::Instructor, Role::Learner]);
const EVERYONE_SERVICE: Access =
    Access::Roles(&[Role::Admin, Role::Instructor, Role::Learner, Role::Service]);
const LEARNER: Access = Access::Roles(&[Role::Learner]);
const INSTRUCTOR: Access = Access::Roles(&[Role::Instructor]);
/// Who books seats on training sessions (admins on a learner's behalf).
const BOOKERS: Access = Access::Roles(&[Role::Admin, Role::Learner]);
const SERVICE: Access = Access::Roles(&[Role::Service]);

/// Every RPC and who may call it: the one table this test, and the matrix in docs/security.md,
/// come from. Finer rules (a learner sees only their own records) are the services' and are
/// tested with each service.
/// A cmi5 course package (a ZIP file of `cmi5.xml` with one AU, `au.html`, and that page),
/// base64 as proto3 JSON carries bytes: small enough to come whole in the first message of
/// `ContentPackageService.ImportCmi5Package`.
pub(crate) const CMI5_PACKAGE: &str = "UEsDBBQAAAAIAAAAfF1e9f2zrwAAAGEBAAAIAAAAY21pNS54bWx9kFsKwjAQRbdSuoAOIv5IGpAuwA9xASEZ24G8SCa1y1epVAvVzzucOXcYoUNJGS+ciuaSsJqc9bmtB+aYjwD3PZkmpB4mFQliCjeymEE7OsC4g2693UzZ1FLMzorMx6ManJSLFkE/ASa2KIVVvs+cyPeyE/CVBLwJmFVSqPJDp0pduTDi2bd1F14jRrNZcbpudxjMOlFkCv4/vwJLslKVZmBnBbyCeJ6yHLx8RD4AUEsDBBQAAAAIAAAAfF1NAbktDgAAABEAAAAHAAAAYXUuaHRtbLMpySzJSbVzDLXRh7AAUEsBAhQDFAAAAAgAAAB8XV71/bOvAAAAYQEAAAgAAAAAAAAAAAAAAIABAAAAAGNtaTUueG1sUEsBAhQDFAAAAAgAAAB8XU0BuS0OAAAAEQAAAAcAAAAAAAAAAAAAAIAB1QAAAGF1Lmh0bWxQSwUGAAAAAAIAAgBrAAAACAEAAAAA";

const AUTHORIZATION: &[(&str, Access)] = &[
    ("lms.pathway.v1.PathwayService/CreateCategory", ADMIN),
    (
        "lms.pathway.v1.PathwayService/GetCategory",
        EVERYONE_SERVICE,
    ),
    (
        "lms.pathway.v1.PathwayService/ListCategories",
        EVERYONE_SERVICE,
    ),
    (
        "lms.pathway.v1.PathwayService/GetCategoryTree",
        EVERYONE_SERVICE,
    ),
    ("lms.pathway.v1.PathwayService/UpdateCategory", ADMIN),
    ("lms.pathway.v1.PathwayService/MoveCategory", ADMIN),
    ("lms.pathway.v1.PathwayService/DeleteCategory", ADMIN),
    ("lms.pathway.v1.PathwayService/CreatePathway", ADMIN),
    ("lms.pathway.v1.PathwayService/GetPathway", EVERYONE_SERVICE),
    (
        "lms.pathway.v1.PathwayService/ListPathways",
        EVERYONE_SERVICE,
    ),
    ("lms.pathway.v1.PathwayService/UpdatePathway", ADMIN),
    ("lms.pathway.v1.PathwayService/ArchivePathway", ADMIN),
    ("lms.pathway.v1.PathwayService/AddStep", ADMIN_SERVICE),
    (
        "lms.pathway.v1.PathwayService/ImportCmi5Course",
        ADMIN_SERVICE,
    ),
    (
        "lms.pathway.v1.ContentPackageService/ImportCmi5Package",
        ADMIN,
    ),
    (
        "lms.pathway.v1.ContentFileService/ReadContentFile",
        Access::Public,
    ),
    ("lms.pathway.v1.PathwayService/UpdateStep", ADMIN),
    ("lms.pathway.v1.PathwayService/ReorderSteps", ADMIN),
    ("lms.pathway.v1.PathwayService/RemoveStep", ADMIN),
    ("lms.pathway.v1.PathwayService/PublishPathway", ADMIN),
    (
        "lms.pathway.v1.PathwayService/GetPathwayVersion",
        EVERYONE_SERVICE,
    ),
    (
        "lms.pathway.v1.PathwayService/ListPathwayVersions",
        EVERYONE_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/CreatePerson", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/GetPerson",
        EVERYONE_SERVICE,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListPeople",
        ADMIN_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/UpdatePerson", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/UpsertPeople", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/CreateAudience", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/GetAudience",
        ADMIN_SERVICE,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAudiences",
        ADMIN_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/UpdateAudience", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/DeleteAudience", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/PreviewAudienceRule",
        ADMIN,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/AddAudienceMembers",
        ADMIN,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/RemoveAudienceMembers",
        ADMIN,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAudienceMembers",
        ADMIN_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/CreateClass", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/GetClass", ADMIN_SERVICE),
    (
        "lms.enrolment.v1.EnrolmentService/ListClasses",
        ADMIN_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/UpdateClass", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/DeleteClass", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/AddClassMembers", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/RemoveClassMembers",
        ADMIN,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListClassMembers",
        ADMIN_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/CreateAssignment", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/GetAssignment",
        ADMIN_SERVICE,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAssignments",
        ADMIN_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/UpdateAssignment", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/PreviewAssignmentUpdate",
        ADMIN,
    ),
    ("lms.enrolment.v1.EnrolmentService/DeleteAssignment", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/EnrolPerson", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/SelfEnrol", TAKERS),
    (
        "lms.enrolment.v1.EnrolmentService/GetEnrolment",
        EVERYONE_SERVICE,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListEnrolments",
        EVERYONE_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/WithdrawEnrolment", ADMIN),
    ("lms.enrolment.v1.EnrolmentService/ExtendDueDate", ADMIN),
    (
        "lms.enrolment.v1.EnrolmentService/CheckAccess",
        EVERYONE_SERVICE,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListJoinablePathways",
        EVERYONE_SERVICE,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListTeam",
        EVERYONE_SERVICE,
    ),
    ("lms.enrolment.v1.EnrolmentService/CheckManages", SERVICE),
    (
        "lms.enrolment.v1.RoleBindingService/CreateRoleBinding",
        ADMIN,
    ),
    ("lms.enrolment.v1.RoleBindingService/GetRoleBinding", ADMIN),
    (
        "lms.enrolment.v1.RoleBindingService/ListRoleBindings",
        ADMIN_SERVICE,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/DeleteRoleBinding",
        ADMIN,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/CheckScopeMembership",
        SERVICE,
    ),
    (
        "lms.assessment.v1.AssessmentService/CreateQuestionBank",
        STAFF,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetQuestionBank",
        STAFF_SERVICE,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListQuestionBanks",
        STAFF_SERVICE,
    ),
    ("lms.assessment.v1.AssessmentService/CreateQuestion", STAFF),
    (
        "lms.assessment.v1.AssessmentService/GetQuestion",
        STAFF_SERVICE,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListQuestions",
        STAFF_SERVICE,
    ),
    ("lms.assessment.v1.AssessmentService/UpdateQuestion", STAFF),
    ("lms.assessment.v1.AssessmentService/RegradeQuestion", STAFF),
    ("lms.assessment.v1.AssessmentService/ImportGift", STAFF),
    ("lms.assessment.v1.AssessmentService/ExportGift", STAFF),
    (
        "lms.assessment.v1.AssessmentService/CreateAssessment",
        STAFF,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetAssessment",
        EVERYONE_SERVICE,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListAssessments",
        EVERYONE_SERVICE,
    ),
    (
        "lms.assessment.v1.AssessmentService/UpdateAssessment",
        STAFF,
    ),
    ("lms.assessment.v1.AssessmentService/StartAttempt", LEARNER),
    (
        "lms.assessment.v1.AssessmentService/GetAttempt",
        EVERYONE_SERVICE,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListAttempts",
        EVERYONE_SERVICE,
    ),
    ("lms.assessment.v1.AssessmentService/SaveAnswers", LEARNER),
    ("lms.assessment.v1.AssessmentService/SubmitAttempt", LEARNER),
    (
        "lms.assessment.v1.AssessmentService/ListPendingGrades",
        STAFF,
    ),
    ("lms.assessment.v1.AssessmentService/GradeAnswer", STAFF),
    (
        "lms.records.v1.RecordsService/GetProgress",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.RecordsService/ListProgress",
        EVERYONE_SERVICE,
    ),
    ("lms.records.v1.RecordsService/RecordActivity", EVERYONE),
    ("lms.records.v1.RecordsService/CheckStep", SERVICE),
    ("lms.records.v1.RecordsService/SubmitEvidence", LEARNER),
    ("lms.records.v1.Cmi5Service/LaunchAssignableUnit", LEARNER),
    (
        "lms.records.v1.Cmi5FetchService/FetchAuthToken",
        Access::Public,
    ),
    (
        "lms.records.v1.RecordsService/ListEvidence",
        EVERYONE_SERVICE,
    ),
    ("lms.records.v1.RecordsService/ApproveEvidence", STAFF),
    ("lms.records.v1.RecordsService/RejectEvidence", STAFF),
    ("lms.records.v1.RecordsService/MoveToVersion", ADMIN),
    (
        "lms.records.v1.RecordsService/ListActivities",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.RecordsService/ListTranscript",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.RecordsService/ExportTranscript",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.RecordsService/StreamComplianceReport",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.RecordsService/ExportComplianceReport",
        EVERYONE_SERVICE,
    ),
    ("lms.records.v1.RecordsService/CreateManualRecord", ADMIN),
    ("lms.records.v1.RecordsService/UpdateManualRecord", ADMIN),
    ("lms.records.v1.RecordsService/DeleteManualRecord", ADMIN),
    (
        "lms.records.v1.RecordsService/ListManualRecords",
        EVERYONE_SERVICE,
    ),
    ("lms.records.v1.RecordsService/ListManualRecordAudit", ADMIN),
    (
        "lms.records.v1.RecordsService/ListCertifications",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.RecordsService/GetCertification",
        EVERYONE_SERVICE,
    ),
    ("lms.records.v1.RecordsService/RevokeCertification", ADMIN),
    (
        "lms.records.v1.CertificateVerification/VerifyCertificate",
        Access::Public,
    ),
    ("lms.events.v1.EventConsumer/DeliverEvents", SERVICE),
    ("lms.events.v1.DeadLetters/ListDeadLetters", ADMIN),
    ("lms.events.v1.DeadLetters/ReplayDeadLetters", ADMIN),
    ("lms.audit.v1.AuditService/ListAuditEntries", ADMIN),
    ("lms.audit.v1.AuditService/ExportAuditEntries", ADMIN),
    (
        "lms.privacy.v1.PersonalDataService/ExportPersonalData",
        ADMIN,
    ),
    (
        "lms.privacy.v1.PersonalDataService/ErasePersonalData",
        ADMIN,
    ),
    (
        "lms.notification.v1.NotificationService/ListNotifications",
        EVERYONE,
    ),
    (
        "lms.notification.v1.NotificationService/GetUnreadCount",
        EVERYONE,
    ),
    (
        "lms.notification.v1.NotificationService/MarkNotificationsRead",
        EVERYONE,
    ),
    (
        "lms.notification.v1.NotificationService/GetNotificationPreferences",
        EVERYONE,
    ),
    (
        "lms.notification.v1.NotificationService/UpdateNotificationPreferences",
        EVERYONE,
    ),
    (
        "lms.notification.v1.NotificationService/ListTemplates",
        ADMIN,
    ),
    ("lms.notification.v1.NotificationService/SetTemplate", ADMIN),
    (
        "lms.notification.v1.NotificationService/DeleteTemplate",
        ADMIN,
    ),
    (
        "lms.notification.v1.NotificationService/PreviewTemplate",
        ADMIN,
    ),
    ("lms.notification.v1.WebhookService/CreateWebhook", ADMIN),
    ("lms.notification.v1.WebhookService/GetWebhook", ADMIN),
    ("lms.notification.v1.WebhookService/ListWebhooks", ADMIN),
    ("lms.notification.v1.WebhookService/UpdateWebhook", ADMIN),
    ("lms.notification.v1.WebhookService/DeleteWebhook", ADMIN),
    (
        "lms.notification.v1.WebhookService/RotateWebhookSecret",
        ADMIN,
    ),
    (
        "lms.notification.v1.WebhookService/ListWebhookDeliveries",
        ADMIN,
    ),
    (
        "lms.notification.v1.WebhookService/RedeliverWebhookDelivery",
        ADMIN,
    ),
    ("lms.records.v1.TrainingSessionService/CreateSession", STAFF),
    (
        "lms.records.v1.TrainingSessionService/GetSession",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.TrainingSessionService/ListSessions",
        EVERYONE_SERVICE,
    ),
    ("lms.records.v1.TrainingSessionService/UpdateSession", STAFF),
    ("lms.records.v1.TrainingSessionService/CancelSession", STAFF),
    ("lms.records.v1.TrainingSessionService/BookSession", BOOKERS),
    (
        "lms.records.v1.TrainingSessionService/CancelBooking",
        BOOKERS,
    ),
    (
        "lms.records.v1.TrainingSessionService/ListBookings",
        EVERYONE_SERVICE,
    ),
    (
        "lms.records.v1.TrainingSessionService/MarkAttendance",
        STAFF,
    ),
    (
        "lms.records.v1.TrainingSessionService/ListAttendance",
        STAFF,
    ),
    (
        "lms.records.v1.TrainingSessionService/ExportCalendar",
        EVERYONE,
    ),
    (
        "lms.records.v1.TrainingSessionService/CreateCalendarFeed",
        EVERYONE,
    ),
    (
        "lms.records.v1.TrainingSessionService/DeleteCalendarFeed",
        EVERYONE,
    ),
    (
        "lms.records.v1.CalendarFeedService/ExportCalendarFeed",
        Access::Public,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/StoreStatements",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetStatement",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/QueryStatements",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/StoreStatementsStream",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetStatementStream",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/QueryStatementsStream",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/WriteDocument",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetDocument",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/ListDocumentIds",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/DeleteDocuments",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetActivity",
        ADMIN_SERVICE,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetPerson",
        ADMIN_SERVICE,
    ),
    ("lms.xapi.v1.LrsClientService/CreateLrsClient", ADMIN),
    ("lms.xapi.v1.LrsClientService/ListLrsClients", ADMIN),
    ("lms.xapi.v1.LrsClientService/DeleteLrsClient", ADMIN),
    ("lms.xapi.v1.LrsForwardingService/GetLrsForwarding", ADMIN),
    (
        "lms.xapi.v1.LrsForwardingService/UpdateLrsForwarding",
        ADMIN,
    ),
    ("lms.portal.v1.PortalService/GetMyLearning", LEARNER),
    ("lms.portal.v1.PortalService/GetMyPathway", LEARNER),
    ("lms.portal.v1.PortalService/GetMyTranscript", LEARNER),
    ("lms.portal.v1.PortalService/GetMyCertifications", LEARNER),
    ("lms.portal.v1.PortalService/GetMyCatalogue", LEARNER),
    ("lms.portal.v1.PortalService/GetMySessions", LEARNER),
    ("lms.portal.v1.PortalService/GetMyTeaching", INSTRUCTOR),
    ("lms.portal.v1.PortalService/GetMyTeam", LEARNER),
];

/// The principals every RPC is tried with.
const CALLERS: [Option<Role>; 5] = [
    None,
    Some(Role::Learner),
    Some(Role::Instructor),
    Some(Role::Admin),
    Some(Role::Service),
];

fn admits(access: Access, caller: Option<Role>) -> bool {
    match (access, caller) {
        (Access::Public, _) => true,
        (Access::Roles(_), None) => false,
        (Access::Roles(roles), Some(role)) => roles.contains(&role),
    }
}

// --- a running suite ----------------------------------------------------------------------

fn portal_path(rpc: &str) -> &'static str {
    match rpc.rsplit('/').next().unwrap() {
        "GetMyLearning" => "/v1/portal/learning",
        "GetMyPathway" => "/v1/portal/pathways/00000000-0000-0000-0000-000000000000",
        "GetMyTranscript" => "/v1/portal/transcript",
        "GetMyCertifications" => "/v1/portal/certifications",
        "GetMyCatalogue" => "/v1/portal/catalogue",
        "GetMySessions" => "/v1/portal/sessions",
        "GetMyTeaching" => "/v1/portal/teaching",
        "GetMyTeam" => "/v1/portal/team",
        other => panic!("no portal path for {other}"),
    }
}

// --- the authorization matrix -------------------------------------------------------------

/// Every RPC the services serve, by full name.
fn served_rpcs(pool: &DescriptorPool) -> BTreeSet<String> {
    pool.services()
        .filter(|s| s.full_name().starts_with("lms."))
        .flat_map(|s| {
            s.methods()
                .map(|m| format!("{}/{}", s.full_name(), m.name()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn caller_name(caller: Option<Role>) -> &'static str {
    caller.map_or("none", Role::as_str)
}

/// The table as Markdown, for docs/security.md.
fn authorization_markdown() -> String {
    let mut out = String::from(
        "| RPC | none | learner | instructor | admin | service |\n|---|:-:|:-:|:-:|:-:|:-:|\n",
    );
    for (rpc, access) in AUTHORIZATION {
        let (service, method) = rpc.split_once('/').unwrap();
        let short = service.rsplit('.').next().unwrap();
        out.push_str(&format!("| `{short}.{method}` |"));
        for caller in CALLERS {
            out.push_str(if admits(*access, caller) {
                " ✓ |"
            } else {
                " · |"
            });
        }
        out.push('\n');
    }
    out
}

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md");
const DOC_START: &str = "<!-- authorization-matrix -->\n";
const DOC_END: &str = "<!-- /authorization-matrix -->";

#[test]
fn the_security_guide_shows_the_authorization_table() {
    let doc = std::fs::read_to_string(DOC).expect("docs/security.md");
    let start = doc.find(DOC_START).expect("the matrix markers") + DOC_START.len();
    let end = doc.find(DOC_END).expect("the matrix end marker");
    let table = authorization_markdown();
    if std::env::var("LMS_WRITE_DOCS").is_ok() {
        let updated = format!("{}{table}{}", &doc[..start], &doc[end..]);
        std::fs::write(DOC, updated).unwrap();
        return;
    }
    assert_eq!(
        &doc[start..end],
        table,
        "docs/security.md is stale: run LMS_WRITE_DOCS=1 cargo test -p lms --test e2e matrix"
    );
}

async fn every_rpc_admits_exactly_the_roles_the_table_names(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let listed: BTreeSet<String> = AUTHORIZATION
        .iter()
        .map(|(rpc, _)| rpc.to_string())
        .collect();
    assert_eq!(listed.len(), AUTHORIZATION.len(), "an RPC is listed twice");
    assert_eq!(
        listed,
        served_rpcs(&lms.pool),
        "the table must name every RPC the services serve, and only those"
    );

    let mut wrong = Vec::new();
    let mut calls = 0;
    for (rpc, access) in AUTHORIZATION {
        let service = rpc.split('/').next().unwrap();
        for caller in CALLERS {
            let token = caller.map(|role| lms.token("acme", role));
            let mut codes = Vec::new();
            if service == "lms.portal.v1.PortalService" {
                codes.push(lms.portal(portal_path(rpc), token.as_deref()).await.0);
            } else {
                for component in Rpcs::components_of(service) {
                    let answer = lms.call(component, rpc, json!({}), token.as_deref()).await;
                    codes.push(answer.err().map_or(Code::Ok, |s| s.code()));
                }
            }
            for code in codes {
                calls += 1;
                let expected_denial = match caller {
                    None => Code::Unauthenticated,
                    Some(_) => Code::PermissionDenied,
                };
                let admitted = !matches!(code, Code::Unauthenticated | Code::PermissionDenied);
                if admitted != admits(*access, caller) || (!admitted && code != expected_denial) {
                    wrong.push(format!(
                        "{rpc} as {}: {code:?} (table: {})",
                        caller_name(caller),
                        if admits(*access, caller) {
                            "admitted"
                        } else {
                            "denied"
                        }
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls disagree with the table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

// --- the tenant isolation matrix ----------------------------------------------------------

/// The ids of tenant A's objects, by placeholder name.
pub(crate) type Ids = BTreeMap<&'static str, String>;

/// Whose token tenant B calls with.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller {
    Admin,
    Learner,
    Service,
}

impl Caller {
    pub(crate) fn role(self) -> Role {
        match self {
            Caller::Admin => Role::Admin,
            Caller::Learner => Role::Learner,
            Caller::Service => Role::Service,
        }
    }
}

/// What tenant B must get.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Expect {
    /// The id names the object of the call: `NOT_FOUND`, as for an id that never existed.
    NotFound,
    /// The id only narrows a list, a report or a question (an optional filter, or a pathway
    /// records-service knows only through its enrolments): exactly the answer for an id that
    /// never existed — an empty list or report, or "no access".
    AsUnknown,
}

/// Every RPC that takes an id, with a request naming tenant A's objects. Calls that change or
/// remove an object come after those that read it, because A's admin repeats the calls in
/// this order to prove the ids were real.
pub(crate) const ISOLATION: &[(&str, Caller, Expect, &str)] = &[
    // pathway-service
    (
        "lms.pathway.v1.PathwayService/GetCategory",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{category}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/ListCategories",
        Caller::Admin,
        Expect::NotFound,
        r#"{"parentId":"{category}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/GetCategoryTree",
        Caller::Admin,
        Expect::NotFound,
        r#"{"rootId":"{category}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/CreateCategory",
        Caller::Admin,
        Expect::NotFound,
        r#"{"parentId":"{category}","category":{"name":"Inside"}}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/UpdateCategory",
        Caller::Admin,
        Expect::NotFound,
        r#"{"category":{"id":"{category}","name":"Renamed"},"updateMask":"name"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/MoveCategory",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{other_category}","newParentId":"{category}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/CreatePathway",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathway":{"title":"Inside","categoryId":"{category}","outcome":"TRAINING"}}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/GetPathway",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{pathway}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/GetPathway",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{pathway}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/ListPathways",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"categoryId":"{category}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/UpdatePathway",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathway":{"id":"{pathway}","title":"Renamed"},"updateMask":"title"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/ReorderSteps",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","stepIds":["{assessment_step}","{step}","{external_step}","{training_step}"]}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/AddStep",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","step":{"title":"More","content":{"url":"https://learn.example.com/more","mediaType":"VIDEO"}}}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/ImportCmi5Course",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","courseStructure":"<courseStructure xmlns=\"https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd\"><course id=\"https://a.example/c\"><title><langstring>C</langstring></title></course><au id=\"https://a.example/au\" moveOn=\"Completed\"><title><langstring>AU</langstring></title><description><langstring>AU</langstring></description><url>https://a.example/au.html</url></au></courseStructure>"}"#,
    ),
    (
        "lms.pathway.v1.ContentPackageService/ImportCmi5Package",
        Caller::Admin,
        Expect::NotFound,
        r#"{"header":{"pathwayId":"{pathway}"},"chunk":"{cmi5_package}","end":true}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/UpdateStep",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","step":{"id":"{step}","title":"Renamed"},"updateMask":"title"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/GetPathwayVersion",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","version":1}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/ListPathwayVersions",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    // enrolment-service
    (
        "lms.enrolment.v1.EnrolmentService/GetPerson",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{person}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListPeople",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"externalId":"learner@a"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/UpdatePerson",
        Caller::Admin,
        Expect::NotFound,
        r#"{"person":{"id":"{person}","displayName":"Renamed"},"updateMask":"displayName"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/GetAudience",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{audience}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/UpdateAudience",
        Caller::Admin,
        Expect::NotFound,
        r#"{"audience":{"id":"{audience}","name":"Renamed"},"updateMask":"name"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/PreviewAudienceRule",
        Caller::Admin,
        Expect::NotFound,
        r#"{"rule":"department = \"Warehouse\"","audienceId":"{audience}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/AddAudienceMembers",
        Caller::Admin,
        Expect::NotFound,
        r#"{"audienceId":"{static_audience}","personIds":["{other_person}"]}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAudienceMembers",
        Caller::Admin,
        Expect::NotFound,
        r#"{"audienceId":"{audience}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/GetClass",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{class}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/UpdateClass",
        Caller::Admin,
        Expect::NotFound,
        r#"{"class":{"id":"{class}","name":"Renamed"},"updateMask":"name"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/AddClassMembers",
        Caller::Admin,
        Expect::NotFound,
        r#"{"classId":"{class}","personIds":["{other_person}"],"role":"STUDENT"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListClassMembers",
        Caller::Admin,
        Expect::NotFound,
        r#"{"classId":"{class}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/GetAssignment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{assignment}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAssignments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAssignments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"audienceId":"{audience}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListAssignments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"classId":"{class}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/PreviewAssignmentUpdate",
        Caller::Admin,
        Expect::NotFound,
        r#"{"assignment":{"id":"{assignment}","duePolicy":{"daysAfterAssignment":60}},"updateMask":"duePolicy","applyToExisting":true,"reason":"More time"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/UpdateAssignment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"assignment":{"id":"{assignment}","duePolicy":{"daysAfterAssignment":60}},"updateMask":"duePolicy"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"assignment":{"pathwayId":"{pathway}","classId":"{class}","requirement":"MANDATORY","duePolicy":{"daysAfterAssignment":30}}}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/EnrolPerson",
        Caller::Admin,
        Expect::NotFound,
        r#"{"personId":"{other_person}","pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/SelfEnrol",
        Caller::Learner,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/GetEnrolment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{enrolment}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/GetEnrolment",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{enrolment}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListEnrolments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListEnrolments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"personId":"{person}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ExtendDueDate",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{enrolment}","dueTime":"2031-01-01T00:00:00Z","reason":"Leave"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/CheckAccess",
        Caller::Service,
        Expect::AsUnknown,
        r#"{"learner":"learner@a","pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/ListTeam",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"manager":"learner@a","wholeSubtree":true}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/CheckManages",
        Caller::Service,
        Expect::AsUnknown,
        r#"{"manager":"learner@a","people":["bob@a"]}"#,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/GetRoleBinding",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{role_binding}"}"#,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/ListRoleBindings",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"principal":"bob@a"}"#,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/CheckScopeMembership",
        Caller::Service,
        Expect::AsUnknown,
        r#"{"person":"learner@a","scopes":[{"audience":"{audience}"},{"department":"Warehouse"}]}"#,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/CreateRoleBinding",
        Caller::Admin,
        Expect::NotFound,
        r#"{"roleBinding":{"principal":"bob@a","role":"SCOPED_ROLE_GRADER","scope":{"audience":"{audience}"}}}"#,
    ),
    // assessment-service
    (
        "lms.assessment.v1.AssessmentService/GetQuestionBank",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{bank}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListQuestions",
        Caller::Admin,
        Expect::NotFound,
        r#"{"bankId":"{bank}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/CreateQuestion",
        Caller::Admin,
        Expect::NotFound,
        r#"{"bankId":"{bank}","question":{"text":"Inside?","trueFalse":{"answer":true}}}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetQuestion",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{question}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/UpdateQuestion",
        Caller::Admin,
        Expect::NotFound,
        r#"{"question":{"id":"{question}","text":"Changed?","trueFalse":{"answer":true}}}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/RegradeQuestion",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{question}","dryRun":true}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/ImportGift",
        Caller::Admin,
        Expect::NotFound,
        r#"{"bankId":"{bank}","gift":"Loads travel low. {T}","dryRun":true}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/ExportGift",
        Caller::Admin,
        Expect::NotFound,
        r#"{"bankId":"{bank}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/CreateAssessment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"assessment":{"title":"Inside","pathwayId":"{pathway}","fixed":{"questionIds":["{question}"]},"passMarkPercent":50}}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetAssessment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{assessment}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetAssessment",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{assessment}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListAssessments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/UpdateAssessment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"assessment":{"id":"{assessment}","title":"Renamed"},"updateMask":"title"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/StartAttempt",
        Caller::Learner,
        Expect::NotFound,
        r#"{"assessmentId":"{assessment}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetAttempt",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{attempt}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/GetAttempt",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{attempt}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListAttempts",
        Caller::Admin,
        Expect::NotFound,
        r#"{"assessmentId":"{assessment}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/SaveAnswers",
        Caller::Learner,
        Expect::NotFound,
        r#"{"attemptId":"{attempt}","answers":[]}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/SubmitAttempt",
        Caller::Learner,
        Expect::NotFound,
        r#"{"attemptId":"{attempt}","answers":[]}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/ListPendingGrades",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"assessmentId":"{assessment}"}"#,
    ),
    (
        "lms.assessment.v1.AssessmentService/GradeAnswer",
        Caller::Admin,
        Expect::NotFound,
        r#"{"attemptId":"{attempt}","questionId":"{question}","points":1}"#,
    ),
    // records-service
    (
        "lms.records.v1.RecordsService/GetProgress",
        Caller::Admin,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/GetProgress",
        Caller::Learner,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/ListActivities",
        Caller::Admin,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/RecordActivity",
        Caller::Admin,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}","stepId":"{step}","kind":"STEP_COMPLETED"}"#,
    ),
    (
        "lms.records.v1.RecordsService/RecordActivity",
        Caller::Learner,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}","stepId":"{step}","kind":"STEP_COMPLETED"}"#,
    ),
    (
        "lms.records.v1.RecordsService/StreamComplianceReport",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/ExportComplianceReport",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/CheckStep",
        Caller::Service,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}","stepId":"{assessment_step}","learner":"learner@a","pathwayId":"{pathway}","pathwayVersion":1}"#,
    ),
    (
        "lms.records.v1.RecordsService/ListEvidence",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}"}"#,
    ),
    (
        "lms.records.v1.Cmi5Service/LaunchAssignableUnit",
        Caller::Learner,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}","stepId":"{step}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/SubmitEvidence",
        Caller::Learner,
        Expect::NotFound,
        r#"{"enrolmentId":"{enrolment}","stepId":"{external_step}","description":"Signed"}"#,
    ),
    (
        "lms.records.v1.RecordsService/ApproveEvidence",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{evidence}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/RejectEvidence",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{evidence}","reason":"Unsigned"}"#,
    ),
    (
        "lms.records.v1.RecordsService/ListManualRecordAudit",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{manual_record}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/UpdateManualRecord",
        Caller::Admin,
        Expect::NotFound,
        r#"{"record":{"id":"{manual_record}","title":"Renamed"},"updateMask":"title","reason":"Typo"}"#,
    ),
    (
        "lms.records.v1.RecordsService/GetCertification",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{certification}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/GetCertification",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{certification}"}"#,
    ),
    (
        "lms.records.v1.RecordsService/MoveToVersion",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","version":1,"reason":"Move"}"#,
    ),
    // records-service: training sessions.
    (
        "lms.records.v1.TrainingSessionService/GetSession",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{session}"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/GetSession",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{session}"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/ListSessions",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"pathwayId":"{pathway}","stepId":"{training_step}","includePast":true}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/ListBookings",
        Caller::Admin,
        Expect::NotFound,
        r#"{"sessionId":"{session}"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/ListAttendance",
        Caller::Admin,
        Expect::NotFound,
        r#"{"sessionId":"{session}"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/ExportCalendar",
        Caller::Learner,
        Expect::NotFound,
        r#"{"bookingId":"{booking}"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/CreateSession",
        Caller::Admin,
        Expect::NotFound,
        r#"{"session":{"pathwayId":"{pathway}","stepId":"{training_step}","startTime":"2030-02-01T09:00:00Z","endTime":"2030-02-01T12:00:00Z","timeZone":"Europe/London","location":"Yard","capacity":4}}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/BookSession",
        Caller::Learner,
        Expect::NotFound,
        r#"{"sessionId":"{session}","enrolmentId":"{enrolment}"}"#,
    ),
    // Changes and removals last.
    (
        "lms.records.v1.TrainingSessionService/UpdateSession",
        Caller::Admin,
        Expect::NotFound,
        r#"{"session":{"id":"{session}","capacity":9},"updateMask":"capacity"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/MarkAttendance",
        Caller::Admin,
        Expect::NotFound,
        r#"{"sessionId":"{session}","wholeRoster":"ATTENDED"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/CancelBooking",
        Caller::Learner,
        Expect::NotFound,
        r#"{"id":"{booking}"}"#,
    ),
    (
        "lms.records.v1.TrainingSessionService/CancelSession",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{session}","reason":"Yard closed"}"#,
    ),
    (
        "lms.records.v1.RecordsService/RevokeCertification",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{certification}","reason":"Fraud"}"#,
    ),
    (
        "lms.records.v1.RecordsService/DeleteManualRecord",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{manual_record}","reason":"Duplicate"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/RemoveAudienceMembers",
        Caller::Admin,
        Expect::NotFound,
        r#"{"audienceId":"{static_audience}","personIds":["{other_person}"]}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/RemoveClassMembers",
        Caller::Admin,
        Expect::NotFound,
        r#"{"classId":"{class}","personIds":["{other_person}"]}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/WithdrawEnrolment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{enrolment}","reason":"Left"}"#,
    ),
    (
        "lms.notification.v1.WebhookService/GetWebhook",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{webhook}"}"#,
    ),
    (
        "lms.notification.v1.WebhookService/ListWebhookDeliveries",
        Caller::Admin,
        Expect::NotFound,
        r#"{"webhookId":"{webhook}"}"#,
    ),
    (
        "lms.notification.v1.WebhookService/UpdateWebhook",
        Caller::Admin,
        Expect::NotFound,
        r#"{"webhook":{"id":"{webhook}","description":"Renamed"},"updateMask":"description"}"#,
    ),
    (
        "lms.notification.v1.WebhookService/RotateWebhookSecret",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{webhook}"}"#,
    ),
    (
        "lms.notification.v1.WebhookService/DeleteWebhook",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{webhook}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/DeleteAssignment",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{assignment}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/DeleteClass",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{class}"}"#,
    ),
    (
        "lms.enrolment.v1.RoleBindingService/DeleteRoleBinding",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{role_binding}"}"#,
    ),
    (
        "lms.enrolment.v1.EnrolmentService/DeleteAudience",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{static_audience}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/RemoveStep",
        Caller::Admin,
        Expect::NotFound,
        r#"{"pathwayId":"{pathway}","stepId":"{step}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/PublishPathway",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{pathway}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/ArchivePathway",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{pathway}"}"#,
    ),
    (
        "lms.pathway.v1.PathwayService/DeleteCategory",
        Caller::Admin,
        Expect::NotFound,
        r#"{"id":"{other_category}"}"#,
    ),
    // records-service's Learning Record Store
    (
        "lms.xapi.v1.LearningRecordStoreService/GetStatement",
        Caller::Admin,
        Expect::NotFound,
        r#"{"statementId":"{statement}"}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/QueryStatements",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"registration":"{registration}"}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetStatementStream",
        Caller::Admin,
        Expect::NotFound,
        r#"{"request":{"statementId":"{statement}","attachments":true}}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/QueryStatementsStream",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"request":{"registration":"{registration}","attachments":true}}"#,
    ),
    // The agent is JSON in a string; its leading space keeps `fill`'s check for unfilled
    // placeholders (`"{`) from taking it for one.
    (
        "lms.xapi.v1.LearningRecordStoreService/GetDocument",
        Caller::Admin,
        Expect::NotFound,
        r#"{"key":{"kind":"DOCUMENT_KIND_STATE","activityId":"{xapi_activity}","agent":" {\"mbox\":\"mailto:ada@a.example\"}","documentId":"{state_id}"}}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/ListDocumentIds",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"key":{"kind":"DOCUMENT_KIND_STATE","activityId":"{xapi_activity}","agent":" {\"mbox\":\"mailto:ada@a.example\"}"}}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/GetActivity",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"activityId":"{xapi_activity}"}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/WriteDocument",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"key":{"kind":"DOCUMENT_KIND_STATE","activityId":"{xapi_activity}","agent":" {\"mbox\":\"mailto:ada@a.example\"}","documentId":"{state_id}"},"content":"Yg==","contentType":"text/plain","version":"XAPI_VERSION_TWO_ZERO"}"#,
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/DeleteDocuments",
        Caller::Admin,
        Expect::AsUnknown,
        r#"{"key":{"kind":"DOCUMENT_KIND_STATE","activityId":"{xapi_activity}","agent":" {\"mbox\":\"mailto:ada@a.example\"}","documentId":"{state_id}"},"version":"XAPI_VERSION_TWO_ZERO"}"#,
    ),
    (
        "lms.xapi.v1.LrsClientService/DeleteLrsClient",
        Caller::Admin,
        Expect::NotFound,
        r#"{"key":"{lrs_client}"}"#,
    ),
];

/// RPCs whose request has an id field but that need no row above, and why.
const NOT_ID_LOOKUPS: &[(&str, &str)] = &[
    (
        "lms.xapi.v1.LearningRecordStoreService/StoreStatements",
        "statement_id names the statement being stored in the caller's own tenant: another \
         tenant's id is simply a new statement there (lms/tests/e2e/xapi.rs, tenants_are_apart)",
    ),
    (
        "lms.xapi.v1.LearningRecordStoreService/StoreStatementsStream",
        "as StoreStatements: the statement_id of its first message names a statement of the \
         caller's own tenant",
    ),
    (
        "lms.records.v1.CertificateVerification/VerifyCertificate",
        "public by design: anyone holding a verification code may check it",
    ),
    (
        "lms.records.v1.RecordsService/CreateManualRecord",
        "the id is the new record's own (output only)",
    ),
    (
        "lms.enrolment.v1.EnrolmentService/CreatePerson",
        "the id is the new person's own (output only)",
    ),
    (
        "lms.enrolment.v1.EnrolmentService/UpsertPeople",
        "people are matched by external id within the caller's tenant",
    ),
    (
        "lms.enrolment.v1.EnrolmentService/CreateAudience",
        "the id is the new audience's own (output only)",
    ),
    (
        "lms.enrolment.v1.EnrolmentService/CreateClass",
        "the id is the new class's own (output only)",
    ),
    (
        "lms.assessment.v1.AssessmentService/CreateQuestionBank",
        "the id is the new bank's own (output only)",
    ),
    (
        "lms.events.v1.EventConsumer/DeliverEvents",
        "service identities only; each event names its own tenant",
    ),
    (
        "lms.notification.v1.NotificationService/MarkNotificationsRead",
        "the caller's own inbox only: notification-service/tests/notify.rs proves another \
         person's and another tenant's notification ids are NOT_FOUND",
    ),
    (
        "lms.events.v1.DeadLetters/ReplayDeadLetters",
        "a dead letter needs a rejected event: platform/tests/outbox.rs proves another tenant's \
         admin neither sees nor replays one",
    ),
    (
        "lms.portal.v1.PortalService/GetMyPathway",
        "through the gateway: checked by its own assertion below",
    ),
    (
        "lms.notification.v1.WebhookService/CreateWebhook",
        "the id is the new webhook's own (output only)",
    ),
    (
        "lms.notification.v1.WebhookService/RedeliverWebhookDelivery",
        "a delivery needs an event sent to a webhook: notification-service/tests/webhooks.rs \
         proves another tenant's admin neither lists nor redelivers one (NOT_FOUND)",
    ),
];

/// Does the request message of `method` carry an id (a field `id`, `*_id` or `*_ids`, at the top
/// or one message down)?
fn takes_an_id(method: &MethodDescriptor) -> bool {
    fn is_id(name: &str) -> bool {
        name == "id" || name.ends_with("_id") || name.ends_with("_ids")
    }
    method.input().fields().any(|field| {
        is_id(field.name())
            || field.kind().as_message().is_some_and(|m| {
                m.full_name().starts_with("lms.") && m.fields().any(|f| is_id(f.name()))
            })
    })
}

pub(crate) fn fill(template: &str, ids: &Ids) -> Value {
    let mut text = template.replace("{cmi5_package}", CMI5_PACKAGE);
    for (name, id) in ids {
        text = text.replace(&format!("{{{name}}}"), id);
    }
    assert!(!text.contains("\"{"), "unfilled placeholder in {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Tenant A's admin builds one of everything; its ids by placeholder name.
pub(crate) async fn seed_tenant_a(lms: &Lms) -> Ids {
    let admin = lms.token("a", Role::Admin);
    let learner = lms.token("a", Role::Learner);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let mut ids = Ids::new();

    let category = lms
        .ok(
            "lms.pathway.v1.PathwayService/CreateCategory",
            json!({"category": {"name": "Safety"}}),
            &admin,
        )
        .await;
    ids.insert("category", id(&category));
    let other_category = lms
        .ok(
            "lms.pathway.v1.PathwayService/CreateCategory",
            json!({"category": {"name": "Empty"}}),
            &admin,
        )
        .await;
    ids.insert("other_category", id(&other_category));
    let pathway = lms
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            json!({"pathway": {
                "title": "Forklift licence", "categoryId": ids["category"], "outcome": "CERTIFICATION",
                "certification": {"validityDays": 365, "recertificationWindowDays": 30},
            }}),
            &admin,
        )
        .await;
    ids.insert("pathway", id(&pathway));
    let bank = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestionBank",
            json!({"bank": {"name": "Forklift"}}),
            &admin,
        )
        .await;
    ids.insert("bank", id(&bank));
    let question = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestion",
            json!({"bankId": ids["bank"], "question": {"text": "Loads travel low.", "trueFalse": {"answer": true}}}),
            &admin,
        )
        .await;
    ids.insert("question", id(&question));
    let assessment = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateAssessment",
            json!({"assessment": {
                "title": "Forklift test", "pathwayId": ids["pathway"],
                "fixed": {"questionIds": [ids["question"]]}, "passMarkPercent": 100, "maxAttempts": 5,
            }}),
            &admin,
        )
        .await;
    ids.insert("assessment", id(&assessment));
    lms.ok(
        "lms.pathway.v1.PathwayService/AddStep",
        json!({"pathwayId": ids["pathway"], "step": {"title": "Watch", "required": true,
               "content": {"url": "https://learn.example.com/forklift", "mediaType": "VIDEO"}}}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.pathway.v1.PathwayService/AddStep",
        json!({"pathwayId": ids["pathway"], "step": {"title": "Test", "required": true,
               "assessment": {"assessmentId": ids["assessment"]}}}),
        &admin,
    )
    .await;
    let with_steps = lms
        .ok(
            "lms.pathway.v1.PathwayService/AddStep",
            json!({"pathwayId": ids["pathway"], "step": {"title": "Medical", "required": false,
                   "external": {"instructions": "Upload your certificate."}}}),
            &admin,
        )
        .await;
    ids.insert(
        "step",
        with_steps["steps"][0]["id"].as_str().unwrap().to_string(),
    );
    ids.insert(
        "assessment_step",
        with_steps["steps"][1]["id"].as_str().unwrap().to_string(),
    );
    ids.insert(
        "external_step",
        with_steps["steps"][2]["id"].as_str().unwrap().to_string(),
    );
    let with_training = lms
        .ok(
            "lms.pathway.v1.PathwayService/AddStep",
            json!({"pathwayId": ids["pathway"], "step": {"title": "Practical", "required": false,
                   "trainingSession": {"startTime": "2030-01-01T09:00:00Z", "endTime": "2030-01-01T12:00:00Z",
                                       "location": "Yard", "capacity": 8}}}),
            &admin,
        )
        .await;
    ids.insert(
        "training_step",
        with_training["steps"][3]["id"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    lms.ok(
        "lms.pathway.v1.PathwayService/PublishPathway",
        json!({"id": ids["pathway"]}),
        &admin,
    )
    .await;

    let person = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreatePerson",
            json!({"person": {"externalId": "learner@a", "displayName": "Ada", "email": "ada@a.example", "department": "Warehouse"}}),
            &admin,
        )
        .await;
    ids.insert("person", id(&person));
    let other_person = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreatePerson",
            json!({"person": {"externalId": "bob@a", "displayName": "Bob", "email": "bob@a.example", "department": "Office", "managerExternalId": "learner@a"}}),
            &admin,
        )
        .await;
    ids.insert("other_person", id(&other_person));
    let audience = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAudience",
            json!({"audience": {"name": "Warehouse", "kind": "DYNAMIC", "rule": "department = \"Warehouse\""}}),
            &admin,
        )
        .await;
    ids.insert("audience", id(&audience));
    let static_audience = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAudience",
            json!({"audience": {"name": "Hand-picked", "kind": "STATIC"}}),
            &admin,
        )
        .await;
    ids.insert("static_audience", id(&static_audience));
    let class = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateClass",
            json!({"class": {"code": "FORK-101", "name": "Forklift 101", "term": "2026-autumn", "startDate": "2026-09-01", "endDate": "2026-12-20"}}),
            &admin,
        )
        .await;
    ids.insert("class", id(&class));
    let assignment = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateAssignment",
            json!({"assignment": {"pathwayId": ids["pathway"], "audienceId": ids["audience"], "requirement": "MANDATORY",
                   "duePolicy": {"daysAfterAssignment": 30}}}),
            &admin,
        )
        .await;
    ids.insert("assignment", id(&assignment));
    let enrolments = lms
        .eventually(
            "lms.enrolment.v1.EnrolmentService/ListEnrolments",
            json!({"pathwayId": ids["pathway"]}),
            &admin,
            |v| v["enrolments"].as_array().is_some_and(|a| !a.is_empty()),
        )
        .await;
    ids.insert("enrolment", id(&enrolments["enrolments"][0]));

    // The learner completes the pathway: a certification.
    lms.eventually(
        "lms.records.v1.RecordsService/RecordActivity",
        json!({"enrolmentId": ids["enrolment"], "stepId": ids["step"], "kind": "STEP_COMPLETED"}),
        &learner,
        |_| true,
    )
    .await;
    let attempt = lms
        .ok(
            "lms.assessment.v1.AssessmentService/StartAttempt",
            json!({"assessmentId": ids["assessment"]}),
            &learner,
        )
        .await;
    ids.insert("attempt", id(&attempt));
    lms.ok(
        "lms.assessment.v1.AssessmentService/SubmitAttempt",
        json!({"attemptId": ids["attempt"], "answers": [{"questionId": ids["question"], "answer": {"trueFalse": true}}]}),
        &learner,
    )
    .await;
    let certifications = lms
        .eventually(
            "lms.records.v1.RecordsService/ListCertifications",
            json!({"learner": "learner@a"}),
            &admin,
            |v| {
                v["certifications"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            },
        )
        .await;
    ids.insert("certification", id(&certifications["certifications"][0]));
    // The learner's first activity reaches enrolment-service through records-service's outbox;
    // the snapshot below must be of settled data, so wait for it.
    lms.eventually(
        "lms.enrolment.v1.EnrolmentService/GetEnrolment",
        json!({"id": ids["enrolment"]}),
        &admin,
        |v| v["startTime"].is_string(),
    )
    .await;
    let evidence = lms
        .ok(
            "lms.records.v1.RecordsService/SubmitEvidence",
            json!({"enrolmentId": ids["enrolment"], "stepId": ids["external_step"],
                   "url": "https://files.a.example/medical.pdf"}),
            &learner,
        )
        .await;
    ids.insert("evidence", id(&evidence));
    let manual = lms
        .ok(
            "lms.records.v1.RecordsService/CreateManualRecord",
            json!({"record": {"learner": "learner@a", "title": "First aid", "provider": "Red Cross",
                   "completeTime": "2026-01-01T00:00:00Z", "hours": 8}, "reason": "Paper certificate"}),
            &admin,
        )
        .await;
    ids.insert("manual_record", id(&manual));
    let session = lms
        .ok(
            "lms.records.v1.TrainingSessionService/CreateSession",
            json!({"session": {"pathwayId": ids["pathway"], "stepId": ids["training_step"],
                   "startTime": "2030-01-01T09:00:00Z", "endTime": "2030-01-01T12:00:00Z",
                   "timeZone": "Europe/London", "location": "Yard", "capacity": 8,
                   "instructors": ["instructor@a"]}}),
            &admin,
        )
        .await;
    ids.insert("session", id(&session));
    let booking = lms
        .ok(
            "lms.records.v1.TrainingSessionService/BookSession",
            json!({"sessionId": ids["session"], "enrolmentId": ids["enrolment"]}),
            &learner,
        )
        .await;
    ids.insert("booking", id(&booking));
    let binding = lms
        .ok(
            "lms.enrolment.v1.RoleBindingService/CreateRoleBinding",
            json!({"roleBinding": {"principal": "bob@a", "role": "SCOPED_ROLE_REPORTING_VIEWER",
                   "scope": {"department": "Warehouse"}}}),
            &admin,
        )
        .await;
    ids.insert("role_binding", id(&binding));
    let webhook = lms
        .ok(
            "lms.notification.v1.WebhookService/CreateWebhook",
            json!({"webhook": {"url": "https://hooks.a.example/lms", "eventTypes": ["*"]}}),
            &admin,
        )
        .await;
    ids.insert("webhook", id(&webhook["webhook"]));
    let registration = uuid::Uuid::new_v4().to_string();
    let statement = json!({
        "actor": {"mbox": "mailto:ada@a.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://a.example/activities/forklift"},
        "context": {"registration": registration},
    });
    let stored = lms
        .ok(
            "lms.xapi.v1.LearningRecordStoreService/StoreStatements",
            json!({"statements": statement.to_string(), "version": "XAPI_VERSION_TWO_ZERO"}),
            &admin,
        )
        .await;
    ids.insert("statement", stored["ids"][0].as_str().unwrap().to_string());
    ids.insert("registration", registration);
    let client = lms
        .ok(
            "lms.xapi.v1.LrsClientService/CreateLrsClient",
            json!({"name": "Simulations", "canWrite": true}),
            &admin,
        )
        .await;
    ids.insert(
        "lrs_client",
        client["client"]["key"].as_str().unwrap().to_string(),
    );
    lms.ok(
        "lms.xapi.v1.LearningRecordStoreService/WriteDocument",
        json!({"key": {"kind": "DOCUMENT_KIND_STATE", "activityId": "https://a.example/activities/forklift",
                       "agent": r#"{"mbox":"mailto:ada@a.example"}"#, "documentId": "bookmark"},
               "content": "YQ==", "contentType": "text/plain", "version": "XAPI_VERSION_TWO_ZERO"}),
        &admin,
    )
    .await;
    ids.insert(
        "xapi_activity",
        "https://a.example/activities/forklift".to_string(),
    );
    ids.insert("state_id", "bookmark".to_string());
    ids
}

/// The answer's code and text, with the ids it echoes put back as placeholders, so answers
/// for different ids compare.
fn comparable(answer: &Result<Value, Status>, ids: &Ids) -> (Code, String) {
    let (code, mut text) = match answer {
        Ok(value) => {
            // The LRS's consistency promise is the clock's reading, not anything stored: left
            // out wherever it is (a streamed answer carries it in its first message).
            let mut value = value.clone();
            without_consistency(&mut value);
            (Code::Ok, value.to_string())
        }
        Err(status) => (status.code(), status.message().to_string()),
    };
    for (name, id) in ids {
        text = text.replace(id.as_str(), &format!("{{{name}}}"));
    }
    (code, text)
}

fn without_consistency(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("consistentThrough");
            map.values_mut().for_each(without_consistency);
        }
        Value::Array(items) => items.iter_mut().for_each(without_consistency),
        _ => {}
    }
}

async fn another_tenant_learns_nothing_from_ids(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    // Every RPC that takes an id has a row, or a reason it needs none.
    let covered: BTreeSet<&str> = ISOLATION
        .iter()
        .map(|(rpc, ..)| *rpc)
        .chain(NOT_ID_LOOKUPS.iter().map(|(rpc, _)| *rpc))
        .collect();
    let uncovered: Vec<String> = served_rpcs(&lms.pool)
        .into_iter()
        .filter(|rpc| takes_an_id(&lms.method(rpc)) && !covered.contains(rpc.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "RPCs taking an id without an isolation row: {uncovered:?}"
    );

    let ids = seed_tenant_a(&lms).await;
    let before = snapshot(&lms, &ids).await;
    let mut wrong = Vec::new();
    for (rpc, caller, expect, template) in ISOLATION {
        let token = lms.token("b", caller.role());
        let request = fill(template, &ids);
        let answer = lms.rpc(rpc, request.clone(), Some(&token)).await;
        // The same request with every id replaced by one that never existed anywhere.
        let mut unknown = ids.clone();
        for value in unknown.values_mut() {
            *value = uuid_like(value);
        }
        let answer_unknown = lms.rpc(rpc, fill(template, &unknown), Some(&token)).await;
        let seen = comparable(&answer, &ids);
        let seen_unknown = comparable(&answer_unknown, &unknown);
        if seen != seen_unknown {
            wrong.push(format!(
                "{rpc} as {caller:?} of B: A's ids answer {seen:?}, unknown ids answer {seen_unknown:?}"
            ));
        } else if *expect == Expect::NotFound && seen.0 != Code::NotFound {
            wrong.push(format!("{rpc} as {caller:?} of B: {seen:?}, not NOT_FOUND"));
        }
    }
    // The portal, through the gateway.
    let (code, _) = lms
        .portal(
            &format!("/v1/portal/pathways/{}", ids["pathway"]),
            Some(&lms.token("b", Role::Learner)),
        )
        .await;
    if code != Code::NotFound {
        wrong.push(format!("portal GetMyPathway as a learner of B: {code:?}"));
    }
    assert!(
        wrong.is_empty(),
        "tenant B learnt something:\n{}",
        wrong.join("\n")
    );

    // Nothing of A's changed.
    assert_eq!(
        snapshot(&lms, &ids).await,
        before,
        "tenant B changed tenant A's data"
    );

    // The ids were real: A's own admin (or learner) finds each object.
    let mut not_real = Vec::new();
    for (rpc, caller, _, template) in ISOLATION {
        let token = lms.token("a", caller.role());
        let answer = lms.rpc(rpc, fill(template, &ids), Some(&token)).await;
        if let Err(status) = &answer
            && matches!(
                status.code(),
                Code::NotFound
                    | Code::InvalidArgument
                    | Code::PermissionDenied
                    | Code::Unauthenticated
                    | Code::Internal
            )
        {
            not_real.push(format!(
                "{rpc} as {caller:?} of A: {:?} {}",
                status.code(),
                status.message()
            ));
        }
    }
    assert!(
        not_real.is_empty(),
        "the rows did not name real objects:\n{}",
        not_real.join("\n")
    );
}

/// Request ids belong to their caller: a learner replaying their own request id with another
/// learner's enrolment learns nothing of it, and two learners who pick the same request id are
/// both recorded.
async fn request_ids_do_not_cross_learners(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let ids = seed_tenant_a(&lms).await;
    let admin = lms.token("a", Role::Admin);
    let ada = lms.token("a", Role::Learner);
    let bob = lms.auth.token("a", "bob@a", &[Role::Learner]);
    let bobs = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/EnrolPerson",
            json!({"personId": ids["other_person"], "pathwayId": ids["pathway"]}),
            &admin,
        )
        .await;
    let bobs = bobs["id"].as_str().unwrap().to_string();
    let record = |enrolment: &str| json!({"enrolmentId": enrolment, "stepId": ids["step"], "kind": "STEP_STARTED", "requestId": "5f0c1a52-8a55-4c43-9d0e-6f1b2f3a4b5c"});
    // Ada uses the request id first, on her own enrolment.
    let adas = lms
        .ok(
            "lms.records.v1.RecordsService/RecordActivity",
            record(&ids["enrolment"]),
            &ada,
        )
        .await;
    assert_eq!(adas["enrolmentId"], ids["enrolment"].as_str());
    // Bob picks the same request id for his: it is his, and recorded.
    let first = lms
        .eventually(
            "lms.records.v1.RecordsService/RecordActivity",
            record(&bobs),
            &bob,
            |_| true,
        )
        .await;
    assert_eq!(first["enrolmentId"], bobs.as_str());
    let activities = lms
        .ok(
            "lms.records.v1.RecordsService/ListActivities",
            json!({"enrolmentId": bobs}),
            &admin,
        )
        .await;
    let kinds: Vec<&str> = activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["STEP_STARTED"], "bob's activity was not recorded");
    // Ada replays her request id with Bob's enrolment: refused, and nothing of his shown.
    let replay = lms
        .rpc(
            "lms.records.v1.RecordsService/RecordActivity",
            record(&bobs),
            Some(&ada),
        )
        .await
        .expect_err("a replay with another enrolment is refused");
    assert_eq!(replay.code(), Code::InvalidArgument, "{replay:?}");
    assert!(!replay.message().contains("bob@a"));
}

/// A different id of the same shape.
fn uuid_like(id: &str) -> String {
    if uuid::Uuid::parse_str(id).is_ok() {
        uuid::Uuid::new_v4().to_string()
    } else {
        format!("{id}x")
    }
}

/// What tenant A's admin reads of its objects.
async fn snapshot(lms: &Lms, ids: &Ids) -> Vec<Value> {
    let admin = lms.token("a", Role::Admin);
    let reads = [
        (
            "lms.pathway.v1.PathwayService/GetCategory",
            json!({"id": ids["category"]}),
        ),
        (
            "lms.pathway.v1.PathwayService/GetPathway",
            json!({"id": ids["pathway"]}),
        ),
        (
            "lms.enrolment.v1.EnrolmentService/GetPerson",
            json!({"id": ids["person"]}),
        ),
        (
            "lms.enrolment.v1.EnrolmentService/GetAudience",
            json!({"id": ids["static_audience"]}),
        ),
        (
            "lms.enrolment.v1.EnrolmentService/GetClass",
            json!({"id": ids["class"]}),
        ),
        (
            "lms.enrolment.v1.EnrolmentService/GetAssignment",
            json!({"id": ids["assignment"]}),
        ),
        (
            "lms.enrolment.v1.EnrolmentService/GetEnrolment",
            json!({"id": ids["enrolment"]}),
        ),
        (
            "lms.notification.v1.WebhookService/GetWebhook",
            json!({"id": ids["webhook"]}),
        ),
        (
            "lms.records.v1.TrainingSessionService/GetSession",
            json!({"id": ids["session"]}),
        ),
        (
            "lms.assessment.v1.AssessmentService/GetQuestion",
            json!({"id": ids["question"]}),
        ),
        (
            "lms.assessment.v1.AssessmentService/GetAssessment",
            json!({"id": ids["assessment"]}),
        ),
        (
            "lms.assessment.v1.AssessmentService/GetAttempt",
            json!({"id": ids["attempt"]}),
        ),
        (
            "lms.records.v1.RecordsService/GetProgress",
            json!({"enrolmentId": ids["enrolment"]}),
        ),
        (
            "lms.records.v1.RecordsService/GetCertification",
            json!({"id": ids["certification"]}),
        ),
        (
            "lms.records.v1.RecordsService/ListManualRecordAudit",
            json!({"id": ids["manual_record"]}),
        ),
    ];
    let mut out = Vec::new();
    for (rpc, request) in reads {
        out.push(lms.ok(rpc, request, &admin).await);
    }
    out
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_rpc_admits_exactly_the_roles_the_table_names() {
        super::every_rpc_admits_exactly_the_roles_the_table_names(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_tenant_learns_nothing_from_ids() {
        super::another_tenant_learns_nothing_from_ids(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_ids_do_not_cross_learners() {
        super::request_ids_do_not_cross_learners(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_rpc_admits_exactly_the_roles_the_table_names() {
        super::every_rpc_admits_exactly_the_roles_the_table_names(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_tenant_learns_nothing_from_ids() {
        super::another_tenant_learns_nothing_from_ids(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn request_ids_do_not_cross_learners() {
        super::request_ids_do_not_cross_learners(TestBackend::Postgres).await;
    }
}
