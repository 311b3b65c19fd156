//! Enrolments: a learner on a pathway version, and the access decision that rests on them.

use chrono::NaiveDateTime;
use lms_platform::AppError;
use lms_platform::ids::{EnrolmentId, PathwayId, PersonId};
use lms_platform::resource::Audit;

use super::assignment::Requirement;
use super::person::PersonStatus;

pub const MAX_REASON_CHARS: usize = 500;

/// Whether a pathway takes enrolments, as pathway-service reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathwayAvailability {
    Published { version: i32 },
    Draft,
    Archived,
}

impl PathwayAvailability {
    /// The version new enrolments go on: the latest published one. FAILED_PRECONDITION for a
    /// draft or an archived pathway.
    pub fn version_for_enrolment(self, pathway_id: &str) -> Result<i32, AppError> {
        match self {
            PathwayAvailability::Published { version } => Ok(version),
            PathwayAvailability::Archived => Err(AppError::FailedPrecondition(format!(
                "pathway {pathway_id} is archived and takes no new enrolments"
            ))),
            PathwayAvailability::Draft => Err(AppError::FailedPrecondition(format!(
                "pathway {pathway_id} is a draft; publish it before enrolling anyone"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Source {
    Assignment,
    SelfEnrolled,
    Admin,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Assignment => "ASSIGNMENT",
            Source::SelfEnrolled => "SELF",
            Source::Admin => "ADMIN",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ASSIGNMENT" => Some(Source::Assignment),
            "SELF" => Some(Source::SelfEnrolled),
            "ADMIN" => Some(Source::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    Active,
    Suspended,
    Withdrawn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Suspended => "SUSPENDED",
            Status::Withdrawn => "WITHDRAWN",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(Status::Active),
            "SUSPENDED" => Some(Status::Suspended),
            "WITHDRAWN" => Some(Status::Withdrawn),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Withdrawal {
    ByAdmin,
    AssignmentRemoved,
    LeftTarget,
    /// Closed because a recertification cycle replaced it.
    Recertification,
}

impl Withdrawal {
    pub fn as_str(self) -> &'static str {
        match self {
            Withdrawal::ByAdmin => "BY_ADMIN",
            Withdrawal::AssignmentRemoved => "ASSIGNMENT_REMOVED",
            Withdrawal::LeftTarget => "LEFT_TARGET",
            Withdrawal::Recertification => "RECERTIFICATION",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "BY_ADMIN" => Some(Withdrawal::ByAdmin),
            "ASSIGNMENT_REMOVED" => Some(Withdrawal::AssignmentRemoved),
            "LEFT_TARGET" => Some(Withdrawal::LeftTarget),
            "RECERTIFICATION" => Some(Withdrawal::Recertification),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DueChange {
    pub previous_due_at: Option<NaiveDateTime>,
    pub due_at: NaiveDateTime,
    pub reason: String,
    pub actor: String,
    pub changed_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Enrolment {
    pub id: EnrolmentId,
    pub person_id: PersonId,
    /// The person's external id: the learner's token subject.
    pub learner: String,
    pub pathway_id: PathwayId,
    pub pathway_version: i32,
    pub source: Source,
    /// Empty unless the source is an assignment.
    pub assignment_id: String,
    pub requirement: Requirement,
    pub status: Status,
    pub assigned_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub started_at: Option<NaiveDateTime>,
    pub withdrawn_at: Option<NaiveDateTime>,
    pub withdrawal: Option<Withdrawal>,
    pub withdraw_reason: String,
    pub due_changes: Vec<DueChange>,
    pub revision: i64,
    pub audit: Audit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessReason {
    Enrolled,
    UnknownLearner,
    LearnerInactive,
    NotEnrolled,
    /// Not enrolled, but an assignment of the learner's audiences or classes offers the
    /// pathway: SelfEnrol enrols them.
    MaySelfEnrol,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDecision {
    pub allowed: bool,
    pub reason: AccessReason,
    pub message: String,
    pub enrolment: Option<Enrolment>,
}

/// A published pathway offered to a learner for self-enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinablePathway {
    pub pathway_id: PathwayId,
    pub assignment_id: String,
    pub requirement: Requirement,
}

/// May a learner take a pathway, given their directory status (None: not in the directory),
/// their current (not withdrawn) enrolment in it, and whether an assignment of theirs offers
/// it for self-enrolment?
pub fn decide_access(
    person: Option<PersonStatus>,
    current: Option<Enrolment>,
    open_to_learner: bool,
    pathway_id: &str,
) -> AccessDecision {
    let (allowed, reason, message) = match (person, &current) {
        (None, _) => (
            false,
            AccessReason::UnknownLearner,
            "the learner is not in the directory".to_string(),
        ),
        (Some(PersonStatus::Inactive), _) => (
            false,
            AccessReason::LearnerInactive,
            "the learner is deactivated".to_string(),
        ),
        (Some(PersonStatus::Active), None) if open_to_learner => (
            false,
            AccessReason::MaySelfEnrol,
            format!(
                "the learner is not enrolled in pathway {pathway_id} yet, and may enrol \
                 themselves (SelfEnrol): an assignment of their audiences or classes offers it"
            ),
        ),
        (Some(PersonStatus::Active), None) => (
            false,
            AccessReason::NotEnrolled,
            format!("the learner is not enrolled in pathway {pathway_id}"),
        ),
        (Some(PersonStatus::Active), Some(e)) if e.status == Status::Suspended => (
            false,
            AccessReason::Suspended,
            format!("the enrolment {} is suspended", e.id),
        ),
        (Some(PersonStatus::Active), Some(e)) => (
            true,
            AccessReason::Enrolled,
            format!(
                "enrolled on version {} ({})",
                e.pathway_version,
                e.source.as_str().to_lowercase()
            ),
        ),
    };
    AccessDecision {
        allowed,
        reason,
        message,
        enrolment: current,
    }
}

/// Which enrolments to list.
#[derive(Debug, Clone, Default)]
pub struct EnrolmentFilter {
    pub learner: Option<String>,
    pub person_id: Option<PersonId>,
    pub pathway_id: Option<PathwayId>,
    pub status: Option<Status>,
}

impl EnrolmentFilter {
    pub fn describe(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}/{:?}",
            self.learner, self.person_id, self.pathway_id, self.status
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrolment(status: Status) -> Enrolment {
        Enrolment {
            id: "e1".into(),
            person_id: "p1".into(),
            learner: "ada".into(),
            pathway_id: "pw".into(),
            pathway_version: 2,
            source: Source::Assignment,
            assignment_id: "a1".into(),
            requirement: Requirement::Mandatory,
            status,
            assigned_at: chrono::Utc::now().naive_utc(),
            due_at: None,
            started_at: None,
            withdrawn_at: None,
            withdrawal: None,
            withdraw_reason: String::new(),
            due_changes: vec![],
            revision: 1,
            audit: Audit::new("t"),
        }
    }

    #[test]
    fn access_needs_an_active_person_and_an_active_enrolment() {
        let yes = decide_access(
            Some(PersonStatus::Active),
            Some(enrolment(Status::Active)),
            false,
            "pw",
        );
        assert!(yes.allowed);
        assert_eq!(yes.reason, AccessReason::Enrolled);
        assert!(yes.message.contains("version 2"), "{}", yes.message);

        let cases = [
            (None, None, AccessReason::UnknownLearner),
            (
                Some(PersonStatus::Inactive),
                Some(enrolment(Status::Active)),
                AccessReason::LearnerInactive,
            ),
            (Some(PersonStatus::Active), None, AccessReason::NotEnrolled),
            (
                Some(PersonStatus::Active),
                Some(enrolment(Status::Suspended)),
                AccessReason::Suspended,
            ),
        ];
        for (person, current, reason) in cases {
            let no = decide_access(person, current, false, "pw");
            assert!(!no.allowed);
            assert_eq!(no.reason, reason);
        }
        // Not enrolled, but offered: the answer says so.
        let open = decide_access(Some(PersonStatus::Active), None, true, "pw");
        assert_eq!(
            (open.allowed, open.reason),
            (false, AccessReason::MaySelfEnrol)
        );
        assert!(open.message.contains("SelfEnrol"), "{}", open.message);
    }
}
