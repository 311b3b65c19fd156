//! Conversions between the wire messages and the domain, with field-level validation.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use lms_platform::resource::{etag, from_timestamp, now, timestamp};
use lms_platform::validate::Violations;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use prost_types::FieldMask;

use crate::app::{
    AssignmentPatch, AssignmentView, AudiencePatch, AudienceView, ClassView, RulePreview,
    SyncOutcome,
};
use crate::domain::assignment::{self, Assignment, DuePolicy, LeavePolicy, Requirement, Target};
use crate::domain::audience::{self, Audience, AudienceKind};
use crate::domain::class::{self, AcademicClass, ClassRole};
use crate::domain::enrolment::{
    self, AccessDecision, AccessReason, Enrolment, Source, Status, Withdrawal,
};
use crate::domain::person::{self, Person, PersonStatus, Profile, RowError, UploadRow};
use crate::storage::assignments::AssignmentFilter;
use crate::storage::audiences::PersonRef;
use crate::storage::enrolments::EnrolmentFilter;
use crate::storage::people::PeopleFilter;

pub fn person(p: Person) -> pb::Person {
    let profile = p.profile;
    pb::Person {
        etag: etag(p.revision),
        audit: Some(p.audit.to_proto()),
        id: p.id,
        external_id: p.external_id,
        email: profile.email,
        display_name: profile.display_name,
        status: match profile.status {
            PersonStatus::Active => pb::PersonStatus::Active,
            PersonStatus::Inactive => pb::PersonStatus::Inactive,
        } as i32,
        department: profile.department,
        job_title: profile.job_title,
        location: profile.location,
        manager_external_id: profile.manager_external_id,
        hire_date: profile
            .hire_date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        attributes: profile.attributes.into_iter().collect(),
    }
}

fn status(v: &mut Violations, field: &str, value: i32) -> PersonStatus {
    match pb::PersonStatus::try_from(value) {
        Ok(pb::PersonStatus::Inactive) => PersonStatus::Inactive,
        Ok(pb::PersonStatus::Active | pb::PersonStatus::Unspecified) => PersonStatus::Active,
        Err(_) => {
            v.add(field, "must be ACTIVE or INACTIVE");
            PersonStatus::Active
        }
    }
}

fn hire_date(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.is_empty() {
        return None;
    }
    match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(date) => Some(date),
        Err(_) => {
            v.add(field, "must be a date like 2026-01-31");
            None
        }
    }
}

/// The profile a wire person describes, validated under `prefix`.
fn profile(v: &mut Violations, prefix: &str, p: &pb::Person) -> Profile {
    let profile = Profile {
        email: p.email.trim().to_string(),
        display_name: p.display_name.trim().to_string(),
        status: status(v, &format!("{prefix}status"), p.status),
        department: p.department.trim().to_string(),
        job_title: p.job_title.trim().to_string(),
        location: p.location.trim().to_string(),
        manager_external_id: p.manager_external_id.trim().to_string(),
        hire_date: hire_date(v, &format!("{prefix}hire_date"), &p.hire_date),
        attributes: p
            .attributes
            .iter()
            .map(|(k, value)| (k.clone(), value.trim().to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    person::validate(v, prefix, &p.external_id, &profile);
    profile
}

pub fn new_person(req: pb::CreatePersonRequest) -> AppResult<(String, Profile, Option<String>)> {
    let Some(p) = req.person else {
        return Err(AppError::invalid_field("person", "is required"));
    };
    let mut v = Violations::new();
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    let profile = profile(&mut v, "person.", &p);
    v.finish()?;
    Ok((p.external_id, profile, request_id))
}

const PERSON_PATHS: [&str; 9] = [
    "email",
    "display_name",
    "status",
    "department",
    "job_title",
    "location",
    "manager_external_id",
    "hire_date",
    "attributes",
];

/// The profile after applying the masked fields of `p` to `current`.
pub fn patched_profile(
    current: &Person,
    p: &pb::Person,
    mask: Option<FieldMask>,
) -> AppResult<Profile> {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    let paths: Vec<String> = if paths.is_empty() {
        PERSON_PATHS.iter().map(|p| p.to_string()).collect()
    } else {
        paths
    };
    let mut v = Violations::new();
    // Parse the whole wire person once, then take only the masked fields from it.
    let mut scratch = Violations::new();
    let mut wire = p.clone();
    wire.external_id = current.external_id.clone();
    let incoming = profile(&mut scratch, "person.", &wire);
    let mut next = current.profile.clone();
    for path in &paths {
        match path.as_str() {
            "email" => next.email = incoming.email.clone(),
            "display_name" => next.display_name = incoming.display_name.clone(),
            "status" => next.status = status(&mut v, "person.status", p.status),
            "department" => next.department = incoming.department.clone(),
            "job_title" => next.job_title = incoming.job_title.clone(),
            "location" => next.location = incoming.location.clone(),
            "manager_external_id" => {
                next.manager_external_id = incoming.manager_external_id.clone()
            }
            "hire_date" => next.hire_date = hire_date(&mut v, "person.hire_date", &p.hire_date),
            "attributes" => next.attributes = incoming.attributes.clone(),
            other => v.add(
                "update_mask",
                format!(
                    "unknown or read-only path {other:?}; updatable: {}",
                    PERSON_PATHS.join(", ")
                ),
            ),
        }
    }
    person::validate(&mut v, "person.", &current.external_id, &next);
    v.finish()?;
    Ok(next)
}

/// One row of an upload, or the first reason it cannot be applied.
pub fn upload_row(index: usize, p: pb::Person) -> Result<UploadRow, RowError> {
    let mut v = Violations::new();
    let profile = profile(&mut v, "", &p);
    match v.finish() {
        Ok(()) => Ok(UploadRow {
            index,
            external_id: p.external_id,
            profile,
        }),
        Err(AppError::InvalidArgument { violations, .. }) => {
            let first = violations.into_iter().next();
            Err(RowError {
                index,
                external_id: p.external_id,
                field: first.as_ref().map(|f| f.field.clone()).unwrap_or_default(),
                reason: first.map(|f| f.description).unwrap_or_default(),
            })
        }
        Err(other) => Err(RowError {
            index,
            external_id: p.external_id,
            field: String::new(),
            reason: other.to_string(),
        }),
    }
}

pub fn sync_outcome(outcome: SyncOutcome) -> pb::UpsertPeopleResponse {
    pb::UpsertPeopleResponse {
        created: outcome.created as i32,
        updated: outcome.updated as i32,
        unchanged: outcome.unchanged as i32,
        deactivated: outcome.deactivated as i32,
        errors: outcome
            .errors
            .into_iter()
            .map(|e| pb::RowError {
                index: e.index as i32,
                external_id: e.external_id,
                field: e.field,
                reason: e.reason,
            })
            .collect(),
    }
}

pub fn people_filter(req: &pb::ListPeopleRequest) -> AppResult<PeopleFilter> {
    let mut v = Violations::new();
    v.max_text("query", &req.query, person::MAX_NAME_CHARS);
    v.max_text("department", &req.department, person::MAX_NAME_CHARS);
    v.max_text("location", &req.location, person::MAX_NAME_CHARS);
    let status = match pb::PersonStatus::try_from(req.status) {
        Ok(pb::PersonStatus::Unspecified) => None,
        Ok(pb::PersonStatus::Active) => Some(PersonStatus::Active),
        Ok(pb::PersonStatus::Inactive) => Some(PersonStatus::Inactive),
        Err(_) => {
            v.add("status", "must be ACTIVE or INACTIVE");
            None
        }
    };
    v.finish()?;
    let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    Ok(PeopleFilter {
        status,
        department: non_empty(&req.department),
        location: non_empty(&req.location),
        query: non_empty(&req.query),
    })
}

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
        id,
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
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    let explicit = !paths.is_empty();
    let paths: Vec<String> = if explicit {
        paths
    } else {
        PATHS.iter().map(|p| p.to_string()).collect()
    };
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
            // Without a mask an empty rule means "leave it" (static audiences have none).
            "rule" if !explicit && a.rule.trim().is_empty() => {}
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
    pb::PreviewAudienceRuleResponse {
        match_count: preview.matches.len() as i32,
        join_count: preview.joining.len() as i32,
        leave_count: preview.leaving.len() as i32,
        matches: take(preview.matches),
        joining: take(preview.joining),
        leaving: take(preview.leaving),
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
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    let paths: Vec<String> = if paths.is_empty() {
        PATHS.iter().map(|p| p.to_string()).collect()
    } else {
        paths
    };
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

// ---- assignments and enrolments -----------------------------------------------------------

/// A timestamp field, or a violation when it is out of range.
fn time_field(v: &mut Violations, field: &str, t: prost_types::Timestamp) -> Option<NaiveDateTime> {
    let at = from_timestamp(&t);
    if at.is_none() {
        v.add(field, "is not a valid timestamp");
    }
    at
}

fn requirement_to_wire(r: Requirement) -> pb::Requirement {
    match r {
        Requirement::Mandatory => pb::Requirement::Mandatory,
        Requirement::Optional => pb::Requirement::Optional,
        Requirement::Open => pb::Requirement::Open,
    }
}

fn leave_policy_to_wire(p: LeavePolicy) -> pb::LeavePolicy {
    match p {
        LeavePolicy::Keep => pb::LeavePolicy::Keep,
        LeavePolicy::Suspend => pb::LeavePolicy::Suspend,
        LeavePolicy::WithdrawIfNotStarted => pb::LeavePolicy::WithdrawIfNotStarted,
    }
}

fn due_policy_to_wire(d: DuePolicy) -> Option<pb::DuePolicy> {
    use pb::due_policy::Policy;
    let policy = match d {
        DuePolicy::None => return None,
        DuePolicy::Fixed(at) => Policy::FixedTime(timestamp(at)),
        DuePolicy::DaysAfterAssignment(days) => Policy::DaysAfterAssignment(days),
        DuePolicy::DaysAfterHire(days) => Policy::DaysAfterHire(days),
    };
    Some(pb::DuePolicy {
        policy: Some(policy),
    })
}

pub fn assignment(view: AssignmentView) -> pb::Assignment {
    let a = view.assignment;
    let (audience_id, class_id) = match a.target {
        Target::Audience(id) => (id, String::new()),
        Target::Class(id) => (String::new(), id),
    };
    pb::Assignment {
        etag: etag(a.revision),
        audit: Some(a.audit.to_proto()),
        id: a.id,
        pathway_id: a.pathway_id,
        audience_id,
        class_id,
        requirement: requirement_to_wire(a.requirement) as i32,
        due_policy: due_policy_to_wire(a.due_policy),
        leave_policy: leave_policy_to_wire(a.leave_policy) as i32,
        pathway_version: a.pathway_version,
        enrolled_count: view.enrolled,
    }
}

fn due_policy(v: &mut Violations, field: &str, d: Option<&pb::DuePolicy>) -> DuePolicy {
    use pb::due_policy::Policy;
    match d.and_then(|d| d.policy) {
        None => DuePolicy::None,
        Some(Policy::FixedTime(t)) => time_field(v, &format!("{field}.fixed_time"), t)
            .map(DuePolicy::Fixed)
            .unwrap_or(DuePolicy::None),
        Some(Policy::DaysAfterAssignment(days)) => DuePolicy::DaysAfterAssignment(days),
        Some(Policy::DaysAfterHire(days)) => DuePolicy::DaysAfterHire(days),
    }
}

fn leave_policy(v: &mut Violations, field: &str, value: i32) -> LeavePolicy {
    match pb::LeavePolicy::try_from(value) {
        Ok(pb::LeavePolicy::Unspecified | pb::LeavePolicy::Keep) => LeavePolicy::Keep,
        Ok(pb::LeavePolicy::Suspend) => LeavePolicy::Suspend,
        Ok(pb::LeavePolicy::WithdrawIfNotStarted) => LeavePolicy::WithdrawIfNotStarted,
        Err(_) => {
            v.add(field, format!("unknown leave policy {value}"));
            LeavePolicy::Keep
        }
    }
}

pub fn new_assignment(req: pb::CreateAssignmentRequest) -> AppResult<(Assignment, Option<String>)> {
    let Some(a) = req.assignment else {
        return Err(AppError::invalid_field("assignment", "is required"));
    };
    let mut v = Violations::new();
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    v.id("assignment.pathway_id", &a.pathway_id);
    let target = match (a.audience_id.is_empty(), a.class_id.is_empty()) {
        (false, true) => {
            v.id("assignment.audience_id", &a.audience_id);
            Some(Target::Audience(a.audience_id.clone()))
        }
        (true, false) => {
            v.id("assignment.class_id", &a.class_id);
            Some(Target::Class(a.class_id.clone()))
        }
        _ => {
            v.add(
                "assignment.audience_id",
                "set exactly one of audience_id and class_id",
            );
            None
        }
    };
    let requirement = match pb::Requirement::try_from(a.requirement) {
        Ok(pb::Requirement::Mandatory) => Requirement::Mandatory,
        Ok(pb::Requirement::Optional) => Requirement::Optional,
        Ok(pb::Requirement::Open) => Requirement::Open,
        _ => {
            v.add(
                "assignment.requirement",
                "is required: MANDATORY, OPTIONAL or OPEN",
            );
            Requirement::Optional
        }
    };
    let due = due_policy(&mut v, "assignment.due_policy", a.due_policy.as_ref());
    if v.is_empty() {
        assignment::validate_due_policy(&mut v, "assignment.due_policy", requirement, due, now());
    }
    let leave = leave_policy(&mut v, "assignment.leave_policy", a.leave_policy);
    v.finish()?;
    Ok((
        Assignment {
            id: String::new(),
            pathway_id: a.pathway_id,
            target: target.ok_or_else(|| {
                AppError::invalid_field("assignment.audience_id", "set exactly one target")
            })?,
            requirement,
            due_policy: due,
            leave_policy: leave,
            pathway_version: 0,
            revision: 0,
            audit: lms_platform::resource::Audit::new(""),
        },
        request_id,
    ))
}

pub fn assignment_patch(a: &pb::Assignment, mask: Option<FieldMask>) -> AppResult<AssignmentPatch> {
    let paths = mask.map(|m| m.paths).unwrap_or_default();
    let paths: Vec<String> = if paths.is_empty() {
        vec!["due_policy".into(), "leave_policy".into()]
    } else {
        paths
    };
    let mut v = Violations::new();
    let mut patch = AssignmentPatch::default();
    for path in &paths {
        match path.as_str() {
            "due_policy" => {
                patch.due_policy = Some(due_policy(
                    &mut v,
                    "assignment.due_policy",
                    a.due_policy.as_ref(),
                ))
            }
            "leave_policy" => {
                patch.leave_policy = Some(leave_policy(
                    &mut v,
                    "assignment.leave_policy",
                    a.leave_policy,
                ))
            }
            other => v.add(
                "update_mask",
                format!("unknown or read-only path {other:?}; updatable: due_policy, leave_policy"),
            ),
        }
    }
    v.finish()?;
    Ok(patch)
}

pub fn assignment_filter(req: &pb::ListAssignmentsRequest) -> AppResult<AssignmentFilter> {
    let mut v = Violations::new();
    let pathway_id = v
        .optional_id("pathway_id", &req.pathway_id)
        .map(|_| req.pathway_id.clone());
    let audience_id = v
        .optional_id("audience_id", &req.audience_id)
        .map(|_| req.audience_id.clone());
    let class_id = v
        .optional_id("class_id", &req.class_id)
        .map(|_| req.class_id.clone());
    v.finish()?;
    Ok(AssignmentFilter {
        pathway_id,
        audience_id,
        class_id,
    })
}

pub fn enrolment(e: Enrolment) -> pb::Enrolment {
    pb::Enrolment {
        etag: etag(e.revision),
        audit: Some(e.audit.to_proto()),
        id: e.id,
        person_id: e.person_id,
        learner: e.learner,
        pathway_id: e.pathway_id,
        pathway_version: e.pathway_version,
        source: match e.source {
            Source::Assignment => pb::EnrolmentSource::Assignment,
            Source::SelfEnrolled => pb::EnrolmentSource::Self_,
            Source::Admin => pb::EnrolmentSource::Admin,
        } as i32,
        assignment_id: e.assignment_id,
        requirement: requirement_to_wire(e.requirement) as i32,
        status: enrolment_status_to_wire(e.status) as i32,
        assign_time: Some(timestamp(e.assigned_at)),
        due_time: e.due_at.map(timestamp),
        start_time: e.started_at.map(timestamp),
        withdraw_time: e.withdrawn_at.map(timestamp),
        withdrawal: match e.withdrawal {
            None => pb::Withdrawal::Unspecified,
            Some(Withdrawal::ByAdmin) => pb::Withdrawal::ByAdmin,
            Some(Withdrawal::AssignmentRemoved) => pb::Withdrawal::AssignmentRemoved,
            Some(Withdrawal::LeftTarget) => pb::Withdrawal::LeftTarget,
            Some(Withdrawal::Recertification) => pb::Withdrawal::Recertification,
        } as i32,
        withdraw_reason: e.withdraw_reason,
        due_changes: e
            .due_changes
            .into_iter()
            .map(|c| pb::DueDateChange {
                previous_due_time: c.previous_due_at.map(timestamp),
                due_time: Some(timestamp(c.due_at)),
                reason: c.reason,
                actor: c.actor,
                change_time: Some(timestamp(c.changed_at)),
            })
            .collect(),
    }
}

fn enrolment_status_to_wire(s: Status) -> pb::EnrolmentStatus {
    match s {
        Status::Active => pb::EnrolmentStatus::EnrolmentActive,
        Status::Suspended => pb::EnrolmentStatus::EnrolmentSuspended,
        Status::Withdrawn => pb::EnrolmentStatus::EnrolmentWithdrawn,
    }
}

pub fn enrolment_filter(req: &pb::ListEnrolmentsRequest) -> AppResult<EnrolmentFilter> {
    let mut v = Violations::new();
    let person_id = v
        .optional_id("person_id", &req.person_id)
        .map(|_| req.person_id.clone());
    let pathway_id = v
        .optional_id("pathway_id", &req.pathway_id)
        .map(|_| req.pathway_id.clone());
    v.max_text("learner", &req.learner, person::MAX_EXTERNAL_ID_CHARS);
    let status = match pb::EnrolmentStatus::try_from(req.status) {
        Ok(pb::EnrolmentStatus::Unspecified) => None,
        Ok(pb::EnrolmentStatus::EnrolmentActive) => Some(Status::Active),
        Ok(pb::EnrolmentStatus::EnrolmentSuspended) => Some(Status::Suspended),
        Ok(pb::EnrolmentStatus::EnrolmentWithdrawn) => Some(Status::Withdrawn),
        Err(_) => {
            v.add("status", format!("unknown status {}", req.status));
            None
        }
    };
    v.finish()?;
    Ok(EnrolmentFilter {
        learner: (!req.learner.is_empty()).then(|| req.learner.clone()),
        person_id,
        pathway_id,
        status,
    })
}

/// (person id, pathway id, due, request id) of an admin enrolment.
pub fn enrol_person(
    req: pb::EnrolPersonRequest,
) -> AppResult<(String, String, Option<NaiveDateTime>, Option<String>)> {
    let mut v = Violations::new();
    v.id("person_id", &req.person_id);
    v.id("pathway_id", &req.pathway_id);
    let request_id = v
        .optional_id("request_id", &req.request_id)
        .map(|id| id.to_string());
    let due = req.due_time.and_then(|t| time_field(&mut v, "due_time", t));
    if let Some(due) = due
        && due <= now()
    {
        v.add("due_time", "must be in the future");
    }
    v.finish()?;
    Ok((req.person_id, req.pathway_id, due, request_id))
}

/// (due, reason) of a due-date extension.
pub fn due_extension(req: &pb::ExtendDueDateRequest) -> AppResult<(NaiveDateTime, String)> {
    let mut v = Violations::new();
    v.id("id", &req.id);
    v.required_text("reason", &req.reason, enrolment::MAX_REASON_CHARS);
    let due = match req.due_time {
        None => {
            v.add("due_time", "is required");
            None
        }
        Some(t) => time_field(&mut v, "due_time", t),
    };
    if let Some(due) = due
        && due <= now()
    {
        v.add("due_time", "must be in the future");
    }
    v.finish()?;
    let due = due.ok_or_else(|| AppError::invalid_field("due_time", "is required"))?;
    Ok((due, req.reason.trim().to_string()))
}

pub fn access_decision(d: AccessDecision) -> pb::AccessDecision {
    pb::AccessDecision {
        allowed: d.allowed,
        reason: match d.reason {
            AccessReason::Enrolled => pb::AccessReason::Enrolled,
            AccessReason::UnknownLearner => pb::AccessReason::UnknownLearner,
            AccessReason::LearnerInactive => pb::AccessReason::LearnerInactive,
            AccessReason::NotEnrolled => pb::AccessReason::NotEnrolled,
            AccessReason::Suspended => pb::AccessReason::AccessSuspended,
        } as i32,
        message: d.message,
        enrolment: d.enrolment.map(enrolment),
    }
}
