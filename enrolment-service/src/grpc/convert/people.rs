//! People and HR uploads.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use lms_platform::resource::etag;
use lms_platform::validate::Violations;
use lms_platform::{AppError, AppResult};

use lms_proto::enrolment_v1 as pb;
use prost_types::FieldMask;

use crate::app::SyncOutcome;
use crate::domain::person::{
    self, PeopleFilter, Person, PersonStatus, Profile, RowError, UploadRow,
};

pub fn person(p: Person) -> pb::Person {
    let profile = p.profile;
    pb::Person {
        etag: etag(p.revision),
        audit: Some(p.audit.to_proto()),
        id: p.id.into(),
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
    let paths = lms_platform::field_mask::update_paths(mask.as_ref(), p, &PERSON_PATHS)?;
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
        reporting_cycles: outcome
            .reporting_cycles
            .into_iter()
            .map(|people| pb::ReportingCycle { people })
            .collect(),
    }
}

pub fn people_filter(req: &pb::ListPeopleRequest) -> AppResult<PeopleFilter> {
    let mut v = Violations::new();
    v.max_text("query", &req.query, person::MAX_NAME_CHARS);
    v.max_text("department", &req.department, person::MAX_NAME_CHARS);
    v.max_text("location", &req.location, person::MAX_NAME_CHARS);
    v.max_text("external_id", &req.external_id, person::MAX_NAME_CHARS);
    if req.ids.len() > MAX_IDS {
        v.add("ids", format!("at most {MAX_IDS}"));
    }
    for (i, id) in req.ids.iter().enumerate().take(MAX_IDS) {
        v.id(&format!("ids[{i}]"), id);
    }
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
        external_id: non_empty(&req.external_id),
        ids: req.ids.clone(),
    })
}

/// The most ids one ListPeople names.
const MAX_IDS: usize = 500;
