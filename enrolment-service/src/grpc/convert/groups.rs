//! Audiences and academic classes.

use chrono::NaiveDate;
use lms_platform::ids::PersonId;
use lms_platform::resource::etag;
use lms_platform::validate::Violations;
use lms_platform::{AppError, AppResult};

use lms_proto::enrolment_v1 as pb;
use prost_types::FieldMask;

use crate::app::{AudiencePatch, AudienceView, ClassView, RulePreview};
use crate::domain::audience::{self, Audience, AudienceKind, EnrolmentEffect};
use crate::domain::class::{self, AcademicClass, ClassRole};
use crate::domain::person::PersonRef;

pub fn audience(view: AudienceView) -> pb::Audience {
    let a = view.audience;
    pb::Audience {
        etag: etag(a.revision),
        audit: Some(a.audit.to_proto()),
        id: a.id,
        name: a.name,
        description: a.description,
        kind: match a.kind {
            AudienceKind::Static => pb::AudienceKind::Static,
            AudienceKind::Dynamic => pb::AudienceKind::Dynamic,
        } as i32,
        rule: a.rule,
        member_count: view.member_count as i32,
    }
}

pub fn person_ref((id, external_id, display_name): PersonRef) -> pb::PersonRef {
    pb::PersonRef {
        id: id.into(),
        external_id,
        display_name,
    }
}

/// A new audience (id, revision and audit are set by the use case).
pub fn new_audience(req: pb::CreateAudienceRequest) -> AppResult<(Audience, Option<String>)> {
    let Some(a) = req.audience else {
        return Err(AppError::invalid_field("audience", "is required"));
    };
    let mut v = Violations::new();
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    let kind = match pb::AudienceKind::try_from(a.kind) {
        Ok(pb::AudienceKind::Static) => AudienceKind::Static,
        Ok(pb::AudienceKind::Dynamic) => AudienceKind::Dynamic,
        _ => {
            v.add("audience.kind", "must be STATIC or DYNAMIC");
            AudienceKind::Static
        }
    };
    let audience = Audience {
        id: String::new(),
        name: a.name.trim().to_string(),
        description: a.description,
        kind,
        rule: a.rule.trim().to_string(),
        revision: 0,
        audit: lms_platform::resource::Audit::new(""),
    };
    if v.is_empty() {
        audience::validate(&mut v, "audience.", &audience);
    }
    v.finish()?;
    Ok((audience, request_id))
}

pub fn audience_patch(a: &pb::Audience, mask: Option<FieldMask>) -> AppResult<AudiencePatch> {
    const PATHS: [&str; 3] = ["name", "description", "rule"];
    let paths = lms_platform::field_mask::update_paths(mask.as_ref(), a, &PATHS)?;
    let mut v = Violations::new();
    let mut patch = AudiencePatch::default();
    for path in &paths {
        match path.as_str() {
            "name" => {
                v.required_text("audience.name", &a.name, audience::MAX_NAME_CHARS);
                patch.name = Some(a.name.clone());
            }
            "description" => {
                v.max_text(
                    "audience.description",
                    &a.description,
                    audience::MAX_DESCRIPTION_CHARS,
                );
                patch.description = Some(a.description.clone());
            }
            "rule" => patch.rule = Some(a.rule.trim().to_string()),
            other => v.add(
                "update_mask",
                format!("unknown or read-only path {other:?}; updatable: name, description, rule"),
            ),
        }
    }
    v.finish()?;
    Ok(patch)
}

pub fn rule_preview(preview: RulePreview, sample: usize) -> pb::PreviewAudienceRuleResponse {
    let take = |people: Vec<PersonRef>| -> Vec<pb::PersonRef> {
        people.into_iter().take(sample).map(person_ref).collect()
    };
    let effects = |list: Vec<EnrolmentEffect>| -> (i32, Vec<pb::EnrolmentEffect>) {
        let count = list.len() as i32;
        let sampled = list
            .into_iter()
            .take(sample)
            .map(|e| pb::EnrolmentEffect {
                learner: e.learner,
                pathway_id: e.pathway_id,
                assignment_id: e.assignment_id,
            })
            .collect();
        (count, sampled)
    };
    let (enrolments_created_count, enrolments_created) = effects(preview.enrolments.created);
    let (enrolments_withdrawn_count, enrolments_withdrawn) = effects(preview.enrolments.withdrawn);
    let (enrolments_suspended_count, enrolments_suspended) = effects(preview.enrolments.suspended);
    pb::PreviewAudienceRuleResponse {
        match_count: preview.matches.len() as i32,
        join_count: preview.joining.len() as i32,
        leave_count: preview.leaving.len() as i32,
        matches: take(preview.matches),
        joining: take(preview.joining),
        leaving: take(preview.leaving),
        enrolments_created_count,
        enrolments_created,
        enrolments_withdrawn_count,
        enrolments_withdrawn,
        enrolments_suspended_count,
        enrolments_suspended,
    }
}

fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub fn class(view: ClassView) -> pb::AcademicClass {
    let c = view.class;
    pb::AcademicClass {
        etag: etag(c.revision),
        audit: Some(c.audit.to_proto()),
        id: c.id,
        code: c.code,
        name: c.name,
        term: c.term,
        start_date: iso(c.start_date),
        end_date: iso(c.end_date),
        student_count: view.students as i32,
        instructor_count: view.instructors as i32,
    }
}

pub fn class_role_to_wire(role: ClassRole) -> pb::ClassRole {
    match role {
        ClassRole::Student => pb::ClassRole::Student,
        ClassRole::Instructor => pb::ClassRole::Instructor,
    }
}

/// A class role from the wire: `None` for UNSPECIFIED when `optional`, else a violation.
pub fn class_role(
    v: &mut Violations,
    field: &str,
    value: i32,
    optional: bool,
) -> Option<ClassRole> {
    match pb::ClassRole::try_from(value) {
        Ok(pb::ClassRole::Student) => Some(ClassRole::Student),
        Ok(pb::ClassRole::Instructor) => Some(ClassRole::Instructor),
        Ok(pb::ClassRole::Unspecified) if optional => None,
        _ => {
            v.add(field, "must be STUDENT or INSTRUCTOR");
            None
        }
    }
}

fn required_date(v: &mut Violations, field: &str, value: &str) -> NaiveDate {
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) => date,
        Err(_) => {
            v.add(field, "must be a date like 2026-01-31");
            NaiveDate::MIN
        }
    }
}

/// A class from the wire, every field checked.
fn class_fields(v: &mut Violations, c: &pb::AcademicClass) -> AcademicClass {
    let start = required_date(v, "class.start_date", &c.start_date);
    let end = required_date(v, "class.end_date", &c.end_date);
    AcademicClass {
        id: String::new(),
        code: c.code.trim().to_string(),
        name: c.name.trim().to_string(),
        term: c.term.trim().to_string(),
        start_date: start,
        end_date: end,
        revision: 0,
        audit: lms_platform::resource::Audit::new(""),
    }
}

pub fn new_class(req: pb::CreateClassRequest) -> AppResult<(AcademicClass, Option<String>)> {
    let Some(c) = req.class else {
        return Err(AppError::invalid_field("class", "is required"));
    };
    let mut v = Violations::new();
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    let parsed = class_fields(&mut v, &c);
    let dates_parsed = v.is_empty();
    let mut fields = Violations::new();
    class::validate(&mut fields, "class.", &parsed);
    // Dates that did not parse are reported once, not again as "ends before it starts".
    for violation in fields.into_violations() {
        if dates_parsed || violation.field != "class.end_date" {
            v.add(violation.field, violation.description);
        }
    }
    v.finish()?;
    Ok((parsed, request_id))
}

/// The class after applying the masked fields of `c` to `current`.
pub fn patched_class(
    current: &AcademicClass,
    c: &pb::AcademicClass,
    mask: Option<FieldMask>,
) -> AppResult<AcademicClass> {
    const PATHS: [&str; 5] = ["code", "name", "term", "start_date", "end_date"];
    let paths = lms_platform::field_mask::update_paths(mask.as_ref(), c, &PATHS)?;
    let mut v = Violations::new();
    let mut next = current.clone();
    for path in &paths {
        match path.as_str() {
            "code" => next.code = c.code.trim().to_string(),
            "name" => next.name = c.name.trim().to_string(),
            "term" => next.term = c.term.trim().to_string(),
            "start_date" => {
                next.start_date = required_date(&mut v, "class.start_date", &c.start_date)
            }
            "end_date" => next.end_date = required_date(&mut v, "class.end_date", &c.end_date),
            other => v.add(
                "update_mask",
                format!(
                    "unknown or read-only path {other:?}; updatable: {}",
                    PATHS.join(", ")
                ),
            ),
        }
    }
    if v.is_empty() {
        class::validate(&mut v, "class.", &next);
    }
    v.finish()?;
    Ok(next)
}

/// The group's id and every person id must be well formed.
pub fn member_ids(
    group_field: &str,
    group_id: &str,
    person_ids: Vec<String>,
) -> Result<Vec<PersonId>, AppError> {
    let mut v = Violations::new();
    v.id(group_field, group_id);
    if person_ids.is_empty() {
        v.add("person_ids", "must name at least one person");
    }
    for (i, id) in person_ids.iter().enumerate() {
        v.id(&format!("person_ids[{i}]"), id);
    }
    v.finish()?;
    Ok(person_ids.into_iter().map(PersonId::from).collect())
}

pub fn members_change(added: usize, removed: usize, count: i64) -> pb::AudienceMembersChange {
    pb::AudienceMembersChange {
        added: added as i32,
        removed: removed as i32,
        member_count: count as i32,
    }
}

pub fn class_members_change(
    added: usize,
    removed: usize,
    view: ClassView,
) -> pb::ClassMembersChange {
    pb::ClassMembersChange {
        added: added as i32,
        removed: removed as i32,
        student_count: view.students as i32,
        instructor_count: view.instructors as i32,
    }
}
