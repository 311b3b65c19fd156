//! Conversions between the wire messages and the domain, with field-level validation.

use chrono::{DateTime, Utc};
use lms_platform::validate::Violations;
use lms_platform::{AppError, AppResult};
use lms_proto::pathway_v1 as pb;
use prost_types::{FieldMask, Timestamp};

use super::content::{cmi5_unit, media_type, parse_cmi5_unit, parse_media_type};
use crate::app::{CategoryPatch, NewCategory, TreeNode};
use crate::domain::category::Category;
use crate::domain::pathway::{
    self, CertificationPolicy, CompletionRule, Outcome, Pathway, PathwayFilter, PathwaySettings,
    PathwayStatus, Sequencing, VersionRecord,
};
use crate::domain::step::{self, Step, StepDetail};
use crate::domain::{Audit, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, etag};

// ---- outgoing ------------------------------------------------------------------------------

use lms_platform::resource::timestamp;

fn audit(a: &Audit) -> lms_proto::common_v1::Audit {
    a.to_proto()
}

pub fn category(c: Category) -> pb::Category {
    pb::Category {
        etag: etag(c.revision),
        audit: Some(audit(&c.audit)),
        id: c.id,
        parent_id: c.parent_id,
        name: c.name,
        description: c.description,
        sort_order: c.sort_order,
        depth: c.depth,
    }
}

pub fn tree_node(node: TreeNode) -> pb::CategoryNode {
    pb::CategoryNode {
        category: Some(category(node.category)),
        children: node.children.into_iter().map(tree_node).collect(),
        pathway_count: node.pathway_count as i32,
    }
}

fn outcome(o: Outcome) -> pb::Outcome {
    match o {
        Outcome::Onboarding => pb::Outcome::Onboarding,
        Outcome::Certification => pb::Outcome::Certification,
        Outcome::Training => pb::Outcome::Training,
        Outcome::Compliance => pb::Outcome::Compliance,
        Outcome::Academic => pb::Outcome::Academic,
    }
}

fn status(s: PathwayStatus) -> pb::PathwayStatus {
    match s {
        PathwayStatus::Draft => pb::PathwayStatus::Draft,
        PathwayStatus::Published => pb::PathwayStatus::Published,
        PathwayStatus::Archived => pb::PathwayStatus::Archived,
    }
}

fn utc_timestamp(at: DateTime<Utc>) -> Timestamp {
    timestamp(at.naive_utc())
}

pub fn step(s: Step) -> pb::Step {
    use pb::step::Kind;
    let kind = match s.detail {
        StepDetail::Content {
            url,
            media_type: m,
            cmi5,
        } => Kind::Content(pb::ContentStep {
            url,
            media_type: media_type(m) as i32,
            cmi5: cmi5.map(cmi5_unit),
        }),
        StepDetail::Assessment { assessment_id } => {
            Kind::Assessment(pb::AssessmentStep { assessment_id })
        }
        StepDetail::TrainingSession {
            start_time,
            end_time,
            location,
            capacity,
            instructor,
        } => Kind::TrainingSession(pb::TrainingSessionStep {
            start_time: start_time.map(utc_timestamp),
            end_time: end_time.map(utc_timestamp),
            location,
            capacity,
            instructor,
        }),
        StepDetail::External { instructions } => Kind::External(pb::ExternalStep { instructions }),
        StepDetail::Acknowledgement {
            policy_url,
            statement,
        } => Kind::Acknowledgement(pb::AcknowledgementStep {
            policy_url,
            statement,
        }),
    };
    pb::Step {
        audit: Some(audit(&s.audit)),
        id: s.id,
        title: s.title,
        description: s.description,
        required: s.required,
        prerequisite_step_ids: s.prerequisites,
        position: s.position,
        estimated_minutes: s.estimated_minutes,
        kind: Some(kind),
    }
}

pub fn pathway(p: Pathway) -> pb::Pathway {
    let s = p.settings;
    let completion_rule = pb::CompletionRule {
        rule: Some(match s.completion_rule {
            CompletionRule::AllRequired => {
                pb::completion_rule::Rule::AllRequired(pb::completion_rule::AllRequired {})
            }
            CompletionRule::MinSteps(count) => {
                pb::completion_rule::Rule::MinSteps(pb::completion_rule::MinSteps { count })
            }
        }),
    };
    pb::Pathway {
        id: p.id.into(),
        title: s.title,
        description: s.description,
        category_id: s.category_id,
        outcome: outcome(s.outcome) as i32,
        sequencing: match s.sequencing {
            Sequencing::Sequential => pb::Sequencing::Sequential,
            Sequencing::Free => pb::Sequencing::Free,
        } as i32,
        completion_rule: Some(completion_rule),
        estimated_duration_minutes: s.estimated_duration_minutes,
        tags: s.tags,
        certification: s.certification.map(|c| pb::CertificationPolicy {
            validity_days: c.validity_days,
            recertification_window_days: c.recertification_window_days,
            expiry_month: c.expiry_date.map_or(0, |(month, _)| month as i32),
            expiry_day: c.expiry_date.map_or(0, |(_, day)| day as i32),
            grace_days: c.grace_days,
        }),
        status: status(p.status) as i32,
        latest_version: p.latest_version,
        has_unpublished_changes: p.has_unpublished_changes,
        steps: p.steps.into_iter().map(step).collect(),
        etag: etag(p.revision),
        audit: Some(audit(&p.audit)),
    }
}

/// A pathway for lists: without its steps.
pub fn pathway_summary(mut p: Pathway) -> pb::Pathway {
    p.steps.clear();
    pathway(p)
}

pub fn version(v: VersionRecord) -> pb::PathwayVersion {
    pb::PathwayVersion {
        pathway_id: v.pathway_id.into(),
        version: v.version,
        pathway: Some(pathway(v.snapshot)),
        publish_time: Some(timestamp(v.published_at)),
        published_by: v.published_by,
    }
}

// ---- incoming ------------------------------------------------------------------------------

/// An optional `request_id`: a UUID when present.
pub fn request_id(v: &mut Violations, value: &str) -> Option<String> {
    v.optional_id("request_id", value).map(|id| id.to_string())
}

pub fn new_category(req: pb::CreateCategoryRequest) -> AppResult<NewCategory> {
    let mut v = Violations::new();
    v.optional_id("parent_id", &req.parent_id);
    let request_id = request_id(&mut v, &req.request_id);
    let Some(c) = req.category else {
        return Err(AppError::invalid_field("category", "is required"));
    };
    // The parent may be given beside the category or inside it (as REST clients write it).
    v.optional_id("category.parent_id", &c.parent_id);
    let parent_id = match (req.parent_id.is_empty(), c.parent_id.is_empty()) {
        (_, true) => req.parent_id,
        (true, false) => c.parent_id.clone(),
        (false, false) if req.parent_id == c.parent_id => req.parent_id,
        (false, false) => {
            v.add(
                "category.parent_id",
                "differs from parent_id; give one of them",
            );
            req.parent_id
        }
    };
    v.required_text("category.name", &c.name, MAX_NAME_CHARS);
    v.max_text(
        "category.description",
        &c.description,
        MAX_DESCRIPTION_CHARS,
    );
    v.finish()?;
    Ok(NewCategory {
        parent_id,
        name: c.name,
        description: c.description,
        sort_order: c.sort_order,
        request_id,
    })
}

/// The updatable paths `mask` asks to change on `resource` (AIP-134; see
/// `lms_platform::field_mask`).
fn mask_paths<M: prost::Message + prost::Name>(
    mask: Option<FieldMask>,
    resource: &M,
    all: &[&str],
) -> AppResult<Vec<String>> {
    lms_platform::field_mask::update_paths(mask.as_ref(), resource, all)
}

pub fn category_patch(c: &pb::Category, mask: Option<FieldMask>) -> AppResult<CategoryPatch> {
    let paths = mask_paths(mask, c, &["name", "description", "sort_order"])?;
    let mut v = Violations::new();
    let mut patch = CategoryPatch::default();
    for path in paths {
        match path.as_str() {
            "name" => {
                v.required_text("category.name", &c.name, MAX_NAME_CHARS);
                patch.name = Some(c.name.clone());
            }
            "description" => {
                v.max_text(
                    "category.description",
                    &c.description,
                    MAX_DESCRIPTION_CHARS,
                );
                patch.description = Some(c.description.clone());
            }
            "sort_order" => patch.sort_order = Some(c.sort_order),
            other => v.add("update_mask", format!("unknown path {other:?}")),
        }
    }
    v.finish()?;
    Ok(patch)
}

fn parse_outcome(v: &mut Violations, field: &str, value: i32) -> Option<Outcome> {
    match pb::Outcome::try_from(value) {
        Ok(pb::Outcome::Onboarding) => Some(Outcome::Onboarding),
        Ok(pb::Outcome::Certification) => Some(Outcome::Certification),
        Ok(pb::Outcome::Training) => Some(Outcome::Training),
        Ok(pb::Outcome::Compliance) => Some(Outcome::Compliance),
        Ok(pb::Outcome::Academic) => Some(Outcome::Academic),
        _ => {
            v.add(
                field,
                "must be one of ONBOARDING, CERTIFICATION, TRAINING, COMPLIANCE, ACADEMIC",
            );
            None
        }
    }
}

fn parse_sequencing(v: &mut Violations, value: i32) -> Sequencing {
    match pb::Sequencing::try_from(value) {
        Ok(pb::Sequencing::Free) => Sequencing::Free,
        Ok(pb::Sequencing::Sequential | pb::Sequencing::Unspecified) => Sequencing::Sequential,
        Err(_) => {
            v.add("pathway.sequencing", "must be SEQUENTIAL or FREE");
            Sequencing::Sequential
        }
    }
}

fn parse_completion_rule(rule: &Option<pb::CompletionRule>) -> CompletionRule {
    match rule.as_ref().and_then(|r| r.rule.as_ref()) {
        Some(pb::completion_rule::Rule::MinSteps(m)) => CompletionRule::MinSteps(m.count),
        Some(pb::completion_rule::Rule::AllRequired(_)) | None => CompletionRule::AllRequired,
    }
}

const PATHWAY_PATHS: [&str; 9] = [
    "title",
    "description",
    "category_id",
    "outcome",
    "sequencing",
    "completion_rule",
    "estimated_duration_minutes",
    "tags",
    "certification",
];

/// The settings of a new pathway.
pub fn new_pathway(req: pb::CreatePathwayRequest) -> AppResult<(PathwaySettings, Option<String>)> {
    let mut v = Violations::new();
    let request_id = request_id(&mut v, &req.request_id);
    let Some(p) = req.pathway else {
        return Err(AppError::invalid_field("pathway", "is required"));
    };
    let fallback = PathwaySettings {
        title: String::new(),
        description: String::new(),
        category_id: String::new(),
        outcome: Outcome::Training,
        sequencing: Sequencing::Sequential,
        completion_rule: CompletionRule::AllRequired,
        estimated_duration_minutes: 0,
        tags: Vec::new(),
        certification: None,
    };
    let settings = merge_settings(&mut v, &fallback, &p, &PATHWAY_PATHS.map(String::from))?;
    v.finish()?;
    Ok((settings, request_id))
}

/// The settings after applying the masked fields of `p` to `current`.
pub fn patched_settings(
    current: &PathwaySettings,
    p: &pb::Pathway,
    mask: Option<FieldMask>,
) -> AppResult<PathwaySettings> {
    let paths = mask_paths(mask, p, &PATHWAY_PATHS)?;
    let mut v = Violations::new();
    let settings = merge_settings(&mut v, current, p, &paths)?;
    v.finish()?;
    Ok(settings)
}

fn merge_settings(
    v: &mut Violations,
    current: &PathwaySettings,
    p: &pb::Pathway,
    paths: &[String],
) -> AppResult<PathwaySettings> {
    let mut s = current.clone();
    for path in paths {
        match path.as_str() {
            "title" => s.title = p.title.trim().to_string(),
            "description" => s.description = p.description.clone(),
            "category_id" => {
                v.optional_id("pathway.category_id", &p.category_id);
                s.category_id = p.category_id.clone();
            }
            "outcome" => {
                if let Some(o) = parse_outcome(v, "pathway.outcome", p.outcome) {
                    s.outcome = o;
                }
            }
            "sequencing" => s.sequencing = parse_sequencing(v, p.sequencing),
            "completion_rule" => s.completion_rule = parse_completion_rule(&p.completion_rule),
            "estimated_duration_minutes" => {
                s.estimated_duration_minutes = p.estimated_duration_minutes
            }
            "tags" => s.tags = p.tags.iter().map(|t| t.trim().to_string()).collect(),
            "certification" => {
                s.certification = p.certification.map(|c| certification_policy(v, c))
            }
            other => v.add("update_mask", format!("unknown path {other:?}")),
        }
    }
    pathway::validate_settings(v, &s);
    Ok(s)
}

/// The certification policy of a request; a calendar expiry needs both month and day.
fn certification_policy(v: &mut Violations, c: pb::CertificationPolicy) -> CertificationPolicy {
    let expiry_date = match (c.expiry_month, c.expiry_day) {
        (0, 0) => None,
        (month @ 1..=12, day @ 1..=31) => Some((month as u32, day as u32)),
        _ => {
            v.add(
                "pathway.certification.expiry_day",
                "expiry_month (1..12) and expiry_day (1..31) are set together, or both 0",
            );
            None
        }
    };
    CertificationPolicy {
        validity_days: c.validity_days,
        recertification_window_days: c.recertification_window_days,
        expiry_date,
        grace_days: c.grace_days,
    }
}

pub fn pathway_filter(req: &pb::ListPathwaysRequest) -> AppResult<PathwayFilter> {
    let mut v = Violations::new();
    v.optional_id("category_id", &req.category_id);
    v.max_text("query", &req.query, MAX_NAME_CHARS);
    let outcome = if req.outcome == 0 {
        None
    } else {
        parse_outcome(&mut v, "outcome", req.outcome)
    };
    let status = match pb::PathwayStatus::try_from(req.status) {
        Ok(pb::PathwayStatus::Unspecified) => None,
        Ok(pb::PathwayStatus::Draft) => Some(PathwayStatus::Draft),
        Ok(pb::PathwayStatus::Published) => Some(PathwayStatus::Published),
        Ok(pb::PathwayStatus::Archived) => Some(PathwayStatus::Archived),
        Err(_) => {
            v.add("status", "must be DRAFT, PUBLISHED or ARCHIVED");
            None
        }
    };
    v.finish()?;
    let query = req.query.trim();
    Ok(PathwayFilter {
        category_id: (!req.category_id.is_empty()).then(|| req.category_id.clone()),
        outcome,
        status,
        query: (!query.is_empty()).then(|| query.to_string()),
    })
}

fn parse_time(v: &mut Violations, field: &str, t: &Option<Timestamp>) -> DateTime<Utc> {
    match t {
        None => {
            v.add(field, "is required");
            DateTime::<Utc>::UNIX_EPOCH
        }
        Some(t) => match DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32) {
            Some(at) if (0..1_000_000_000).contains(&t.nanos) => at,
            _ => {
                v.add(field, "is not a valid timestamp");
                DateTime::<Utc>::UNIX_EPOCH
            }
        },
    }
}

fn step_detail(v: &mut Violations, kind: &pb::step::Kind) -> StepDetail {
    use pb::step::Kind;
    match kind {
        Kind::Content(c) => StepDetail::Content {
            url: c.url.trim().to_string(),
            media_type: parse_media_type(v, c.media_type),
            cmi5: c.cmi5.as_ref().map(|unit| parse_cmi5_unit(v, unit)),
        },
        Kind::Assessment(a) => StepDetail::Assessment {
            assessment_id: a.assessment_id.clone(),
        },
        Kind::TrainingSession(t) => StepDetail::TrainingSession {
            start_time: t
                .start_time
                .as_ref()
                .map(|_| parse_time(v, "step.training_session.start_time", &t.start_time)),
            end_time: t
                .end_time
                .as_ref()
                .map(|_| parse_time(v, "step.training_session.end_time", &t.end_time)),
            location: t.location.trim().to_string(),
            capacity: t.capacity,
            instructor: t.instructor.clone(),
        },
        Kind::External(e) => StepDetail::External {
            instructions: e.instructions.clone(),
        },
        Kind::Acknowledgement(a) => StepDetail::Acknowledgement {
            policy_url: a.policy_url.trim().to_string(),
            statement: a.statement.clone(),
        },
    }
}

/// A new step (id, position and audit are set by the use case).
pub fn new_step(s: Option<pb::Step>) -> AppResult<Step> {
    let mut v = Violations::new();
    let Some(s) = s else {
        return Err(AppError::invalid_field("step", "is required"));
    };
    let Some(kind) = &s.kind else {
        return Err(AppError::invalid_field(
            "step",
            "exactly one kind must be set: content, assessment, training_session, external or acknowledgement",
        ));
    };
    let at = crate::domain::now();
    let step = Step {
        id: String::new(),
        title: s.title.trim().to_string(),
        description: s.description.clone(),
        required: s.required,
        prerequisites: s.prerequisite_step_ids.clone(),
        position: 0,
        estimated_minutes: s.estimated_minutes,
        detail: step_detail(&mut v, kind),
        audit: Audit {
            created_at: at,
            created_by: String::new(),
            updated_at: at,
            updated_by: String::new(),
        },
    };
    step::validate_step(&mut v, &step);
    v.finish()?;
    Ok(step)
}

const STEP_PATHS: [&str; 10] = [
    "title",
    "description",
    "required",
    "prerequisite_step_ids",
    "estimated_minutes",
    "content",
    "assessment",
    "training_session",
    "external",
    "acknowledgement",
];

/// The step after applying the masked fields of `s` to `current` (no mask: the fields `s` sets,
/// the kind's details included when its kind is set).
pub fn patched_step(current: &Step, s: &pb::Step, mask: Option<FieldMask>) -> AppResult<Step> {
    // A kind named explicitly must be set; without a mask (or with `*`) only the kind set counts.
    let explicit = mask
        .as_ref()
        .is_some_and(|m| !m.paths.is_empty() && !m.paths.iter().any(|p| p == "*"));
    let paths = mask_paths(mask, s, &STEP_PATHS)?;
    let mut v = Violations::new();
    let mut step = current.clone();
    for path in &paths {
        match path.as_str() {
            "title" => step.title = s.title.trim().to_string(),
            "description" => step.description = s.description.clone(),
            "required" => step.required = s.required,
            "prerequisite_step_ids" => step.prerequisites = s.prerequisite_step_ids.clone(),
            "estimated_minutes" => step.estimated_minutes = s.estimated_minutes,
            kind_path => match &s.kind {
                Some(kind) if kind_name(kind) == kind_path => {
                    step.detail = step_detail(&mut v, kind)
                }
                // Without a mask only the kind that is set counts.
                _ if !explicit => {}
                _ => v.add(
                    format!("step.{kind_path}"),
                    "is named in update_mask but not set",
                ),
            },
        }
    }
    step::validate_step(&mut v, &step);
    v.finish()?;
    Ok(step)
}

fn kind_name(kind: &pb::step::Kind) -> &'static str {
    use pb::step::Kind;
    match kind {
        Kind::Content(_) => "content",
        Kind::Assessment(_) => "assessment",
        Kind::TrainingSession(_) => "training_session",
        Kind::External(_) => "external",
        Kind::Acknowledgement(_) => "acknowledgement",
    }
}

/// Ids in a request path or body: present and well formed.
pub fn ids(pairs: &[(&str, &str)]) -> AppResult<()> {
    let mut v = Violations::new();
    for (field, value) in pairs {
        v.id(field, value);
    }
    v.finish()
}
