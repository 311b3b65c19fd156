//! Pathways and the rules of publishing.

use chrono::NaiveDateTime;
use lms_platform::AppError;
use lms_platform::ids::PathwayId;
use lms_platform::text_enum;
use lms_platform::validate::Violations;
use serde::{Deserialize, Serialize};

use std::collections::HashMap;

use super::step::{MAX_STEPS, Step, check_prerequisites};
use super::{Audit, MAX_DESCRIPTION_CHARS, MAX_MINUTES, MAX_NAME_CHARS};

pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;

text_enum!(Outcome {
    Onboarding = "ONBOARDING",
    Certification = "CERTIFICATION",
    Training = "TRAINING",
    Compliance = "COMPLIANCE",
    Academic = "ACADEMIC",
});

text_enum!(Sequencing {
    Sequential = "SEQUENTIAL",
    Free = "FREE",
});

text_enum!(PathwayStatus {
    Draft = "DRAFT",
    Published = "PUBLISHED",
    Archived = "ARCHIVED",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompletionRule {
    /// Every required step.
    AllRequired,
    /// Any `n` steps.
    MinSteps(i32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificationPolicy {
    /// 0: never expires (unless calendar-anchored).
    pub validity_days: i32,
    pub recertification_window_days: i32,
    /// Calendar-anchored expiry: (month, day), e.g. (3, 31); None: completion + validity.
    #[serde(default)]
    pub expiry_date: Option<(u32, u32)>,
    /// Days after expiry the holder stays compliant.
    #[serde(default)]
    pub grace_days: i32,
}

/// A certification policy's rules: completion-anchored (validity, a window inside it) or
/// calendar-anchored (a real month and day, a window under a year); a grace period under a
/// year either way.
fn validate_certification(v: &mut Violations, c: CertificationPolicy) {
    v.in_range(
        "pathway.certification.grace_days",
        c.grace_days.into(),
        0,
        365,
    );
    match c.expiry_date {
        None => {
            v.in_range(
                "pathway.certification.validity_days",
                c.validity_days.into(),
                0,
                36_500,
            );
            if c.recertification_window_days < 0
                || (c.validity_days > 0 && c.recertification_window_days >= c.validity_days)
                || (c.validity_days == 0 && c.recertification_window_days != 0)
            {
                v.add(
                    "pathway.certification.recertification_window_days",
                    "must be 0..validity_days-1 (and 0 when certifications never expire)",
                );
            }
            if c.validity_days == 0 && c.grace_days != 0 {
                v.add(
                    "pathway.certification.grace_days",
                    "must be 0 when certifications never expire",
                );
            }
        }
        Some((month, day)) => {
            // 2001 is not a leap year: 29 February, which most years lack, is refused.
            if chrono::NaiveDate::from_ymd_opt(2001, month, day).is_none() {
                v.add(
                    "pathway.certification.expiry_day",
                    "with expiry_month, must be a day of that month (1..12 and 1..31; not 29 February)",
                );
            }
            if c.validity_days != 0 {
                v.add(
                    "pathway.certification.validity_days",
                    "must be 0 with a calendar expiry: the calendar decides",
                );
            }
            v.in_range(
                "pathway.certification.recertification_window_days",
                c.recertification_window_days.into(),
                0,
                364,
            );
        }
    }
}

/// What an admin sets on a pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathwaySettings {
    pub title: String,
    pub description: String,
    /// Empty when uncategorised.
    pub category_id: String,
    pub outcome: Outcome,
    pub sequencing: Sequencing,
    pub completion_rule: CompletionRule,
    pub estimated_duration_minutes: i32,
    pub tags: Vec<String>,
    pub certification: Option<CertificationPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pathway {
    pub id: PathwayId,
    pub settings: PathwaySettings,
    pub status: PathwayStatus,
    pub latest_version: i32,
    pub has_unpublished_changes: bool,
    pub revision: i64,
    pub audit: Audit,
    pub steps: Vec<Step>,
}

/// Field checks on pathway settings, reported against `pathway.*` fields.
pub fn validate_settings(v: &mut Violations, s: &PathwaySettings) {
    v.required_text("pathway.title", &s.title, MAX_NAME_CHARS);
    v.max_text("pathway.description", &s.description, MAX_DESCRIPTION_CHARS);
    v.in_range(
        "pathway.estimated_duration_minutes",
        s.estimated_duration_minutes.into(),
        0,
        MAX_MINUTES,
    );
    if s.tags.len() > MAX_TAGS {
        v.add("pathway.tags", format!("at most {MAX_TAGS} tags"));
    }
    for (i, tag) in s.tags.iter().enumerate() {
        v.required_text(&format!("pathway.tags[{i}]"), tag, MAX_TAG_CHARS);
    }
    if let CompletionRule::MinSteps(n) = s.completion_rule {
        v.in_range(
            "pathway.completion_rule.min_steps.count",
            n.into(),
            1,
            MAX_STEPS as i64,
        );
    }
    match (s.outcome, s.certification) {
        (Outcome::Certification, Some(c)) => {
            validate_certification(v, c);
        }
        (Outcome::Certification, None) => {}
        (_, Some(_)) => v.add(
            "pathway.certification",
            "only a CERTIFICATION pathway has a certification policy",
        ),
        (_, None) => {}
    }
}

/// Whether the draft can become a version; `FAILED_PRECONDITION` says what stands in the way.
pub fn check_publishable(pathway: &Pathway) -> Result<(), AppError> {
    let refuse = |why: String| Err(AppError::FailedPrecondition(why));
    if pathway.status == PathwayStatus::Archived {
        return refuse("an archived pathway cannot be published".into());
    }
    if pathway.steps.is_empty() {
        return refuse("a pathway needs at least one step to be published".into());
    }
    if pathway.latest_version > 0 && !pathway.has_unpublished_changes {
        return refuse(format!(
            "nothing changed since version {}",
            pathway.latest_version
        ));
    }
    match pathway.settings.completion_rule {
        CompletionRule::AllRequired => {
            if !pathway.steps.iter().any(|s| s.required) {
                return refuse(
                    "the completion rule needs every required step, but no step is required".into(),
                );
            }
        }
        CompletionRule::MinSteps(n) => {
            if n as usize > pathway.steps.len() {
                return refuse(format!(
                    "the completion rule needs {n} steps, but the pathway has {}",
                    pathway.steps.len()
                ));
            }
        }
    }
    if pathway.settings.sequencing == Sequencing::Sequential {
        // In a sequential pathway a step unlocks after the steps before it; a prerequisite
        // placed after its step could never be reached first.
        let positions: HashMap<&str, usize> = pathway
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        for (index, step) in pathway.steps.iter().enumerate() {
            if let Some(later) = step
                .prerequisites
                .iter()
                .find(|p| positions.get(p.as_str()).is_some_and(|&at| at > index))
            {
                return refuse(format!(
                    "step {:?} has prerequisite {later}, which comes after it in a sequential pathway",
                    step.title
                ));
            }
        }
    }
    check_prerequisites(&pathway.steps)
        .map_err(|error| AppError::FailedPrecondition(error.to_string()))
}

/// A published version: the pathway frozen as it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub pathway_id: PathwayId,
    pub version: i32,
    pub snapshot: Pathway,
    pub published_at: NaiveDateTime,
    pub published_by: String,
}

/// Which pathways a list shows.
#[derive(Debug, Clone, Default)]
pub struct PathwayFilter {
    pub category_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub status: Option<PathwayStatus>,
    pub query: Option<String>,
}

impl PathwayFilter {
    /// A stable text form, fingerprinted into page tokens.
    pub fn describe(&self) -> String {
        format!(
            "c={:?};o={:?};s={:?};q={:?}",
            self.category_id, self.outcome, self.status, self.query
        )
    }
}
