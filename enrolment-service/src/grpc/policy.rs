//! Who may call each RPC: one line per RPC, applied before any handler runs (see
//! `lms_platform::auth::Authorize`). What a caller then sees is the use case's business: a
//! learner reads their own enrolments only.

use lms_platform::Role::{self, Admin, Instructor, Learner, Service};
use lms_platform::access::Permission::Administer;
use lms_platform::access::ScopedPolicy;
use lms_platform::auth::Policy;

const ADMINS: &[Role] = &[Admin];
/// The directory and its groups: administrators, and the other services (records-service
/// scopes its reports with them).
const DIRECTORY_READERS: &[Role] = &[Admin, Service];
/// Learners taking pathways themselves.
const LEARNERS: &[Role] = &[Learner, Instructor];
const ANY_ROLE: &[Role] = &[Admin, Service, Instructor, Learner];
const SERVICES: &[Role] = &[Service];

/// The RPCs an admin binding on an audience, department or class opens to its holder: for
/// the people of that group only (the use case decides on the person).
pub const SCOPED: ScopedPolicy = &[
    ("EnrolPerson", Administer),
    ("WithdrawEnrolment", Administer),
    ("ExtendDueDate", Administer),
];

/// `lms.enrolment.v1.RoleBindingService`: tenant admins manage bindings; services read a
/// principal's and ask about group membership (the decision point).
pub const ROLE_BINDINGS_POLICY: Policy = &[
    ("CreateRoleBinding", ADMINS),
    ("GetRoleBinding", ADMINS),
    ("ListRoleBindings", DIRECTORY_READERS),
    ("DeleteRoleBinding", ADMINS),
    ("CheckScopeMembership", SERVICES),
];

pub const POLICY: Policy = &[
    ("CreatePerson", ADMINS),
    ("GetPerson", ANY_ROLE),
    ("ListPeople", DIRECTORY_READERS),
    ("UpdatePerson", ADMINS),
    ("UpsertPeople", ADMINS),
    ("CreateAudience", ADMINS),
    ("GetAudience", DIRECTORY_READERS),
    ("ListAudiences", DIRECTORY_READERS),
    ("UpdateAudience", ADMINS),
    ("DeleteAudience", ADMINS),
    ("PreviewAudienceRule", ADMINS),
    ("AddAudienceMembers", ADMINS),
    ("RemoveAudienceMembers", ADMINS),
    ("ListAudienceMembers", DIRECTORY_READERS),
    ("CreateClass", ADMINS),
    ("GetClass", DIRECTORY_READERS),
    ("ListClasses", DIRECTORY_READERS),
    ("UpdateClass", ADMINS),
    ("DeleteClass", ADMINS),
    ("AddClassMembers", ADMINS),
    ("RemoveClassMembers", ADMINS),
    ("ListClassMembers", DIRECTORY_READERS),
    ("CreateAssignment", ADMINS),
    ("GetAssignment", DIRECTORY_READERS),
    ("ListAssignments", DIRECTORY_READERS),
    ("UpdateAssignment", ADMINS),
    ("PreviewAssignmentUpdate", ADMINS),
    ("DeleteAssignment", ADMINS),
    ("EnrolPerson", ADMINS),
    ("SelfEnrol", LEARNERS),
    ("GetEnrolment", ANY_ROLE),
    ("ListEnrolments", ANY_ROLE),
    ("WithdrawEnrolment", ADMINS),
    ("ExtendDueDate", ADMINS),
    ("ListJoinablePathways", ANY_ROLE),
    ("CheckAccess", ANY_ROLE),
    // Anyone may list their own team (being someone's manager needs no role); admins and
    // services anyone's (the use case checks whose).
    ("ListTeam", ANY_ROLE),
    ("CheckManages", SERVICES),
];

/// `lms.events.v1.EventConsumer`: records-service delivering its events.
pub const EVENTS_POLICY: Policy = &[("DeliverEvents", SERVICES)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_has_exactly_one_policy_line() {
        lms_platform::auth::check_policy(POLICY, "lms.enrolment.v1.EnrolmentService").unwrap();
        lms_platform::auth::check_policy(EVENTS_POLICY, "lms.events.v1.EventConsumer").unwrap();
        lms_platform::auth::check_policy(
            ROLE_BINDINGS_POLICY,
            "lms.enrolment.v1.RoleBindingService",
        )
        .unwrap();
    }
}
