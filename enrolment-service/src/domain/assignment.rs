//! Assignments: a pathway given to an audience or a class, with who must take it, by when, and
//! what happens when someone leaves.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use lms_platform::ids::PathwayId;
use lms_platform::resource::Audit;
use lms_platform::validate::Violations;

/// The longest relative due policy, in days (ten years).
pub const MAX_DUE_DAYS: i32 = 3_650;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Requirement {
    /// Everyone in the target is enrolled and must finish by the due date.
    Mandatory,
    /// Everyone in the target is enrolled, without obligation.
    Optional,
    /// Nobody is enrolled automatically; members may self-enrol.
    Open,
}

impl Requirement {
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Mandatory => "MANDATORY",
            Requirement::Optional => "OPTIONAL",
            Requirement::Open => "OPEN",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "MANDATORY" => Some(Requirement::Mandatory),
            "OPTIONAL" => Some(Requirement::Optional),
            "OPEN" => Some(Requirement::Open),
            _ => None,
        }
    }

    /// Whether the assignment enrols its target by itself.
    pub fn enrols(self) -> bool {
        self != Requirement::Open
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum DuePolicy {
    None,
    Fixed(NaiveDateTime),
    DaysAfterAssignment(i32),
    /// Days after the hire date (midnight UTC); without a hire date, after enrolment.
    DaysAfterHire(i32),
}

impl DuePolicy {
    /// When an enrolment made at `assigned_at` for someone hired on `hire_date` is due.
    pub fn due_at(
        self,
        assigned_at: NaiveDateTime,
        hire_date: Option<NaiveDate>,
    ) -> Option<NaiveDateTime> {
        match self {
            DuePolicy::None => None,
            DuePolicy::Fixed(at) => Some(at),
            DuePolicy::DaysAfterAssignment(days) => Some(assigned_at + Duration::days(days.into())),
            DuePolicy::DaysAfterHire(days) => Some(match hire_date {
                Some(hired) => hired.and_hms_opt(0, 0, 0)? + Duration::days(days.into()),
                None => assigned_at + Duration::days(days.into()),
            }),
        }
    }

    /// Storage form: (kind, fixed moment, days).
    pub fn to_parts(self) -> (&'static str, Option<NaiveDateTime>, i32) {
        match self {
            DuePolicy::None => ("NONE", None, 0),
            DuePolicy::Fixed(at) => ("FIXED", Some(at), 0),
            DuePolicy::DaysAfterAssignment(days) => ("AFTER_ASSIGNMENT", None, days),
            DuePolicy::DaysAfterHire(days) => ("AFTER_HIRE", None, days),
        }
    }

    pub fn from_parts(kind: &str, fixed: Option<NaiveDateTime>, days: i32) -> Option<Self> {
        match (kind, fixed) {
            ("NONE", _) => Some(DuePolicy::None),
            ("FIXED", Some(at)) => Some(DuePolicy::Fixed(at)),
            ("AFTER_ASSIGNMENT", _) => Some(DuePolicy::DaysAfterAssignment(days)),
            ("AFTER_HIRE", _) => Some(DuePolicy::DaysAfterHire(days)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LeavePolicy {
    Keep,
    Suspend,
    WithdrawIfNotStarted,
}

impl LeavePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            LeavePolicy::Keep => "KEEP",
            LeavePolicy::Suspend => "SUSPEND",
            LeavePolicy::WithdrawIfNotStarted => "WITHDRAW_IF_NOT_STARTED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "KEEP" => Some(LeavePolicy::Keep),
            "SUSPEND" => Some(LeavePolicy::Suspend),
            "WITHDRAW_IF_NOT_STARTED" => Some(LeavePolicy::WithdrawIfNotStarted),
            _ => None,
        }
    }

    /// What happens to an enrolment whose person left the target.
    pub fn on_leave(self, started: bool) -> LeaveAction {
        match self {
            LeavePolicy::Keep => LeaveAction::Keep,
            LeavePolicy::Suspend => LeaveAction::Suspend,
            LeavePolicy::WithdrawIfNotStarted if started => LeaveAction::Keep,
            LeavePolicy::WithdrawIfNotStarted => LeaveAction::Withdraw,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum LeaveAction {
    Keep,
    Suspend,
    Withdraw,
}

/// Who an assignment targets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Target {
    Audience(String),
    /// The class's students.
    Class(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assignment {
    pub id: String,
    pub pathway_id: PathwayId,
    pub target: Target,
    pub requirement: Requirement,
    pub due_policy: DuePolicy,
    pub leave_policy: LeavePolicy,
    pub pathway_version: i32,
    pub revision: i64,
    pub audit: Audit,
}

/// Checks the due policy against the requirement; `now` bounds fixed dates.
pub fn validate_due_policy(
    v: &mut Violations,
    field: &str,
    requirement: Requirement,
    due: DuePolicy,
    now: NaiveDateTime,
) {
    match (requirement, due) {
        (Requirement::Mandatory, DuePolicy::None) => {
            v.add(field, "a MANDATORY assignment needs a due policy")
        }
        (Requirement::Open, policy) if policy != DuePolicy::None => v.add(
            field,
            "an OPEN assignment enrols nobody, so it has no due policy",
        ),
        (_, DuePolicy::Fixed(at)) if at <= now => v.add(field, "fixed_time must be in the future"),
        (_, DuePolicy::DaysAfterAssignment(days)) if !(1..=MAX_DUE_DAYS).contains(&days) => v.add(
            field,
            format!("days_after_assignment must be 1..{MAX_DUE_DAYS}"),
        ),
        (_, DuePolicy::DaysAfterHire(days)) if !(0..=MAX_DUE_DAYS).contains(&days) => {
            v.add(field, format!("days_after_hire must be 0..{MAX_DUE_DAYS}"))
        }
        _ => {}
    }
}

/// Which live assignments to list.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    pub pathway_id: Option<PathwayId>,
    pub audience_id: Option<String>,
    pub class_id: Option<String>,
}

impl AssignmentFilter {
    pub fn describe(&self) -> String {
        format!(
            "{:?}/{:?}/{:?}",
            self.pathway_id, self.audience_id, self.class_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(9, 30, 0)
            .unwrap()
    }

    #[test]
    fn due_dates_follow_the_policy() {
        let assigned = at(2026, 11, 23);
        let hired = NaiveDate::from_ymd_opt(2026, 11, 1);
        assert_eq!(DuePolicy::None.due_at(assigned, hired), None);
        assert_eq!(
            DuePolicy::DaysAfterAssignment(30).due_at(assigned, hired),
            Some(at(2026, 12, 23))
        );
        assert_eq!(
            DuePolicy::DaysAfterHire(30).due_at(assigned, hired),
            NaiveDate::from_ymd_opt(2026, 12, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
        );
        // Without a hire date, the clock starts at enrolment.
        assert_eq!(
            DuePolicy::DaysAfterHire(30).due_at(assigned, None),
            Some(at(2026, 12, 23))
        );
        assert_eq!(
            DuePolicy::Fixed(at(2027, 1, 1)).due_at(assigned, hired),
            Some(at(2027, 1, 1))
        );
    }

    #[test]
    fn withdraw_if_not_started_keeps_started_enrolments() {
        let policy = LeavePolicy::WithdrawIfNotStarted;
        assert_eq!(policy.on_leave(false), LeaveAction::Withdraw);
        assert_eq!(policy.on_leave(true), LeaveAction::Keep);
        assert_eq!(LeavePolicy::Suspend.on_leave(true), LeaveAction::Suspend);
        assert_eq!(LeavePolicy::Keep.on_leave(false), LeaveAction::Keep);
    }

    #[test]
    fn mandatory_needs_a_due_policy_and_open_has_none() {
        let now = at(2026, 11, 23);
        let mut v = Violations::new();
        validate_due_policy(&mut v, "due", Requirement::Mandatory, DuePolicy::None, now);
        assert!(v.finish().is_err());
        let mut v = Violations::new();
        validate_due_policy(
            &mut v,
            "due",
            Requirement::Open,
            DuePolicy::DaysAfterAssignment(3),
            now,
        );
        assert!(v.finish().is_err());
        let mut v = Violations::new();
        validate_due_policy(
            &mut v,
            "due",
            Requirement::Mandatory,
            DuePolicy::Fixed(at(2026, 1, 1)),
            now,
        );
        assert!(v.finish().is_err());
        let mut v = Violations::new();
        validate_due_policy(
            &mut v,
            "due",
            Requirement::Optional,
            DuePolicy::DaysAfterHire(0),
            now,
        );
        assert!(v.finish().is_ok());
    }
}
