//! People of the learner directory and the rules of syncing them from HR.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use lms_platform::ids::PersonId;
use lms_platform::resource::Audit;
use lms_platform::validate::Violations;

use super::rules::{Attribute, Subject};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_EXTERNAL_ID_CHARS: usize = 128;
pub const MAX_EMAIL_CHARS: usize = 254;
pub const MAX_ATTRIBUTES: usize = 50;
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum PersonStatus {
    Active,
    Inactive,
}

impl PersonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonStatus::Active => "ACTIVE",
            PersonStatus::Inactive => "INACTIVE",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ACTIVE" => Some(PersonStatus::Active),
            "INACTIVE" => Some(PersonStatus::Inactive),
            _ => None,
        }
    }
}

/// What HR says about a person: everything but identity and bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    pub email: String,
    pub display_name: String,
    pub status: PersonStatus,
    pub department: String,
    pub job_title: String,
    pub location: String,
    pub manager_external_id: String,
    pub hire_date: Option<NaiveDate>,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Person {
    pub id: PersonId,
    pub external_id: String,
    pub profile: Profile,
    pub revision: i64,
    pub audit: Audit,
}

impl Subject for Person {
    fn text(&self, attribute: &Attribute) -> Option<&str> {
        let p = &self.profile;
        let value = match attribute {
            Attribute::ExternalId => &self.external_id,
            Attribute::Email => &p.email,
            Attribute::Name => &p.display_name,
            Attribute::Status => return Some(p.status.as_str()),
            Attribute::Department => &p.department,
            Attribute::JobTitle => &p.job_title,
            Attribute::Location => &p.location,
            Attribute::Manager => &p.manager_external_id,
            Attribute::HireDate => return None,
            Attribute::Custom(key) => return p.attributes.get(key).map(String::as_str),
        };
        (!value.is_empty()).then_some(value.as_str())
    }

    fn date(&self, attribute: &Attribute) -> Option<NaiveDate> {
        attribute
            .is_date()
            .then_some(self.profile.hire_date)
            .flatten()
    }
}

/// Field checks on an external id and a profile, reported under `prefix` (e.g. `person.`).
pub fn validate(v: &mut Violations, prefix: &str, external_id: &str, profile: &Profile) {
    let field = |name: &str| format!("{prefix}{name}");
    v.required_text(&field("external_id"), external_id, MAX_EXTERNAL_ID_CHARS);
    if external_id.trim() != external_id {
        v.add(
            field("external_id"),
            "must not start or end with whitespace",
        );
    }
    v.required_text(
        &field("display_name"),
        &profile.display_name,
        MAX_NAME_CHARS,
    );
    v.max_text(&field("email"), &profile.email, MAX_EMAIL_CHARS);
    if !profile.email.is_empty() && !looks_like_email(&profile.email) {
        v.add(field("email"), "must look like name@domain");
    }
    for (name, value) in [
        ("department", &profile.department),
        ("job_title", &profile.job_title),
        ("location", &profile.location),
    ] {
        v.max_text(&field(name), value, MAX_NAME_CHARS);
    }
    v.max_text(
        &field("manager_external_id"),
        &profile.manager_external_id,
        MAX_EXTERNAL_ID_CHARS,
    );
    if profile.attributes.len() > MAX_ATTRIBUTES {
        v.add(
            field("attributes"),
            format!("at most {MAX_ATTRIBUTES} attributes"),
        );
    }
    for (key, value) in &profile.attributes {
        let valid_key = !key.is_empty()
            && key.len() <= MAX_ATTRIBUTE_KEY_CHARS
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_key {
            v.add(
                field(&format!("attributes[{key:?}]")),
                format!("keys are 1..{MAX_ATTRIBUTE_KEY_CHARS} of a-z 0-9 _"),
            );
        }
        v.max_text(
            &field(&format!("attributes[{key:?}]")),
            value,
            MAX_ATTRIBUTE_VALUE_CHARS,
        );
    }
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// One row of an upload, as read from the wire.
#[derive(Debug, Clone)]
pub struct UploadRow {
    pub index: usize,
    pub external_id: String,
    pub profile: Profile,
}

/// Why one row of an upload was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub index: usize,
    pub external_id: String,
    pub field: String,
    pub reason: String,
}

/// What a sync will do, decided before anything is written.
#[derive(Debug, Default)]
pub struct SyncPlan {
    pub create: Vec<(String, Profile)>,
    /// (id, external id, new profile)
    pub update: Vec<(PersonId, String, Profile)>,
    /// Ids among `update` whose custom attributes did not change (they need no rewrite).
    pub same_attributes: HashSet<PersonId>,
    pub unchanged: usize,
    /// Ids of active people missing from a full sync.
    pub deactivate: Vec<PersonId>,
    pub errors: Vec<RowError>,
}

/// What is known of a person already in the directory.
#[derive(Debug, Clone)]
pub struct Existing {
    pub id: PersonId,
    pub profile: Profile,
}

/// Plans a sync: rows already invalid are in `errors` (with their reasons); a later row
/// repeating an external id is an error pointing at the first; identical profiles are left
/// alone. With `full_sync`, active people absent from the upload are deactivated.
pub fn plan_sync(
    rows: Vec<UploadRow>,
    mut errors: Vec<RowError>,
    existing: &HashMap<String, Existing>,
    full_sync: bool,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in rows {
        if let Some(first) = seen.get(&row.external_id) {
            errors.push(RowError {
                index: row.index,
                external_id: row.external_id.clone(),
                field: "external_id".into(),
                reason: format!("appears again in this upload (first at index {first})"),
            });
            continue;
        }
        seen.insert(row.external_id.clone(), row.index);
        match existing.get(&row.external_id) {
            None => plan.create.push((row.external_id, row.profile)),
            Some(current) if current.profile == row.profile => plan.unchanged += 1,
            Some(current) => {
                if current.profile.attributes == row.profile.attributes {
                    plan.same_attributes.insert(current.id.clone());
                }
                plan.update
                    .push((current.id.clone(), row.external_id, row.profile));
            }
        }
    }
    // Rows with errors still count as present: a typo must not deactivate anyone.
    for error in &errors {
        seen.insert(error.external_id.clone(), error.index);
    }
    if full_sync {
        plan.deactivate = existing
            .iter()
            .filter(|(external_id, person)| {
                person.profile.status == PersonStatus::Active && !seen.contains_key(*external_id)
            })
            .map(|(_, person)| person.id.clone())
            .collect();
        plan.deactivate.sort();
    }
    errors.sort_by_key(|e| e.index);
    plan.errors = errors;
    plan
}

/// Which people a list shows.
#[derive(Debug, Default, Clone)]
pub struct PeopleFilter {
    pub status: Option<PersonStatus>,
    pub department: Option<String>,
    pub location: Option<String>,
    pub query: Option<String>,
    pub external_id: Option<String>,
    /// Only these directory ids (none: everyone).
    pub ids: Vec<String>,
}

impl PeopleFilter {
    pub fn describe(&self) -> String {
        format!(
            "s={:?};d={:?};l={:?};q={:?};e={:?};i={:?}",
            self.status, self.department, self.location, self.query, self.external_id, self.ids
        )
    }
}

/// A person as a member list shows them: id, external id, display name.
pub type PersonRef = (PersonId, String, String);

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, department: &str) -> Profile {
        Profile {
            email: String::new(),
            display_name: name.into(),
            status: PersonStatus::Active,
            department: department.into(),
            job_title: String::new(),
            location: String::new(),
            manager_external_id: String::new(),
            hire_date: None,
            attributes: BTreeMap::new(),
        }
    }

    fn row(index: usize, external_id: &str, department: &str) -> UploadRow {
        UploadRow {
            index,
            external_id: external_id.into(),
            profile: profile(external_id, department),
        }
    }

    fn existing(pairs: &[(&str, &str)]) -> HashMap<String, Existing> {
        pairs
            .iter()
            .map(|(external_id, department)| {
                (
                    external_id.to_string(),
                    Existing {
                        id: format!("id-{external_id}").into(),
                        profile: profile(external_id, department),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_sync_creates_updates_and_leaves_identical_people_alone() {
        let directory = existing(&[("e1", "Sales"), ("e2", "Sales")]);
        let plan = plan_sync(
            vec![
                row(0, "e1", "Sales"),
                row(1, "e2", "Marketing"),
                row(2, "e3", "HR"),
            ],
            vec![],
            &directory,
            false,
        );
        assert_eq!(plan.unchanged, 1);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].0, "id-e2");
        assert!(
            plan.same_attributes.contains("id-e2"),
            "only the department changed"
        );
        assert_eq!(plan.create.len(), 1);
        assert!(plan.deactivate.is_empty());
    }

    #[test]
    fn duplicates_in_one_upload_are_row_errors() {
        let plan = plan_sync(
            vec![row(0, "e1", "A"), row(1, "e1", "B")],
            vec![],
            &HashMap::new(),
            false,
        );
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.errors.len(), 1);
        assert_eq!(plan.errors[0].index, 1);
        assert!(plan.errors[0].reason.contains("index 0"));
    }

    #[test]
    fn a_full_sync_deactivates_the_missing_but_not_the_mistyped() {
        let directory = existing(&[("e1", "A"), ("e2", "A"), ("e3", "A")]);
        let invalid = RowError {
            index: 1,
            external_id: "e2".into(),
            field: "email".into(),
            reason: "bad".into(),
        };
        let plan = plan_sync(vec![row(0, "e1", "A")], vec![invalid], &directory, true);
        assert_eq!(plan.deactivate, ["id-e3"]);
    }

    #[test]
    fn validation_names_each_field() {
        let mut v = Violations::new();
        let mut p = profile("", "");
        p.email = "not-an-email".into();
        p.attributes.insert("Cost Centre".into(), "x".into());
        validate(&mut v, "person.", " e1", &p);
        let error = v.finish().unwrap_err().to_string();
        for field in [
            "person.external_id",
            "person.display_name",
            "person.email",
            "person.attributes",
        ] {
            assert!(error.contains(field), "{field} in {error}");
        }
    }
}
