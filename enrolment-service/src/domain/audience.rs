//! Target audiences and how their membership changes.

use lms_platform::ids::PersonId;
use std::collections::HashSet;

use lms_platform::resource::Audit;
use lms_platform::validate::Violations;

use super::rules::{self, Rule};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AudienceKind {
    Static,
    Dynamic,
}

impl AudienceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AudienceKind::Static => "STATIC",
            AudienceKind::Dynamic => "DYNAMIC",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "STATIC" => Some(AudienceKind::Static),
            "DYNAMIC" => Some(AudienceKind::Dynamic),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Audience {
    pub id: String,
    pub name: String,
    pub description: String,
    pub kind: AudienceKind,
    /// The rule's text (dynamic audiences only; empty for static ones).
    pub rule: String,
    pub revision: i64,
    pub audit: Audit,
}

/// Checks an audience's fields and parses its rule; rule errors name the line and column.
pub fn validate(v: &mut Violations, prefix: &str, audience: &Audience) -> Option<Rule> {
    v.required_text(&format!("{prefix}name"), &audience.name, MAX_NAME_CHARS);
    v.max_text(
        &format!("{prefix}description"),
        &audience.description,
        MAX_DESCRIPTION_CHARS,
    );
    match audience.kind {
        AudienceKind::Static => {
            if !audience.rule.trim().is_empty() {
                v.add(format!("{prefix}rule"), "a STATIC audience has no rule");
            }
            None
        }
        AudienceKind::Dynamic => match rules::parse(&audience.rule) {
            Ok(rule) => Some(rule),
            Err(error) => {
                v.add(format!("{prefix}rule"), error.to_string());
                None
            }
        },
    }
}

/// Who joins and who leaves when membership goes from `current` to `desired`.
pub fn diff(
    current: &HashSet<PersonId>,
    desired: &HashSet<PersonId>,
) -> (Vec<PersonId>, Vec<PersonId>) {
    let mut joining: Vec<PersonId> = desired.difference(current).cloned().collect();
    let mut leaving: Vec<PersonId> = current.difference(desired).cloned().collect();
    joining.sort();
    leaving.sort();
    (joining, leaving)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audience(kind: AudienceKind, rule: &str) -> Audience {
        Audience {
            id: "a".into(),
            name: "Sales".into(),
            description: String::new(),
            kind,
            rule: rule.into(),
            revision: 1,
            audit: Audit::new("t"),
        }
    }

    #[test]
    fn rule_errors_carry_their_position() {
        let mut v = Violations::new();
        assert!(
            validate(
                &mut v,
                "audience.",
                &audience(AudienceKind::Dynamic, "department = ")
            )
            .is_none()
        );
        let error = v.finish().unwrap_err().to_string();
        assert!(
            error.contains("audience.rule: line 1, column 14"),
            "{error}"
        );
    }

    #[test]
    fn static_audiences_take_no_rule() {
        let mut v = Violations::new();
        validate(
            &mut v,
            "",
            &audience(AudienceKind::Static, "department = \"x\""),
        );
        assert!(!v.is_empty());
    }

    #[test]
    fn diff_lists_joiners_and_leavers() {
        let current: HashSet<PersonId> = ["a", "b"].map(PersonId::from).into();
        let desired: HashSet<PersonId> = ["b", "c"].map(PersonId::from).into();
        assert_eq!(
            diff(&current, &desired),
            (vec![PersonId::from("c")], vec![PersonId::from("a")])
        );
    }
}

/// An enrolment a membership change would create, withdraw or suspend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentEffect {
    /// The person's external id.
    pub learner: String,
    pub pathway_id: String,
    pub assignment_id: String,
}

/// What a membership change would do to enrolments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrolmentEffects {
    pub created: Vec<EnrolmentEffect>,
    pub withdrawn: Vec<EnrolmentEffect>,
    pub suspended: Vec<EnrolmentEffect>,
}
