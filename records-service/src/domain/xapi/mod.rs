//! xAPI (IEEE 9274.1.1; xAPI 1.0.3 and 2.0.0): the rules a Learning Record Store applies to
//! statements, free of HTTP and storage. The statement is kept as the JSON the client sent
//! (plus what the store sets: id, stored, authority, version, timestamp); what queries filter
//! on is read off it once, when it is checked.

pub mod achievements;
mod activity;
pub mod agent;
pub mod attachments;
mod check;
pub mod definitions;
pub mod documents;
pub mod formats;
pub mod json;
pub mod learner_record;
pub mod personal;
pub mod statement;
pub mod views;

use chrono::{DateTime, SecondsFormat, Utc};
use lms_platform::error::FieldViolation;
use serde_json::{Map, Value};

pub use statement::{Checked, FilterKeys, Target, VOIDED};

/// The versions served (the About resource's list).
pub const VERSIONS: [&str; 2] = ["1.0.3", "2.0.0"];

/// The xAPI version a request is made under (its `X-Experience-API-Version`), which decides
/// the rules its statements are read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 1.0.0 to 1.0.3.
    V1,
    /// 2.0.0 (IEEE 9274.1.1).
    V2,
}

impl Version {
    /// `1.0`, `1.0.x`, `2.0`, `2.0.x`; None for anything else (0.95, 1.1.0, 3.0.0).
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = text.split('.');
        let version = match (parts.next(), parts.next()) {
            (Some("1"), Some("0")) => Version::V1,
            (Some("2"), Some("0")) => Version::V2,
            _ => return None,
        };
        let patch_ok = match parts.next() {
            None => true,
            Some(patch) => !patch.is_empty() && patch.chars().all(|c| c.is_ascii_digit()),
        };
        (patch_ok && parts.next().is_none()).then_some(version)
    }

    /// The version a response names: the latest of the line the request asked for.
    pub fn latest(self) -> &'static str {
        match self {
            Version::V1 => VERSIONS[0],
            Version::V2 => VERSIONS[1],
        }
    }

    /// What a statement stored without a `version` property is given.
    pub fn statement_default(self) -> &'static str {
        match self {
            Version::V1 => "1.0.0",
            Version::V2 => "2.0.0",
        }
    }
}

/// One statement of a request: checked, with its JSON.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub checked: Checked,
    pub document: Map<String, Value>,
}

/// The statements of a PUT (one, whose id must be `put_id`) or a POST (one or an array):
/// all checked, with every violation of every statement; ids distinct within the request.
pub fn check_request(
    body: &Value,
    put_id: Option<&str>,
    version: Version,
) -> Result<Vec<Incoming>, Vec<FieldViolation>> {
    let mut check = check::Check::new(version);
    let (items, single): (Vec<&Value>, bool) = match body {
        Value::Array(items) if put_id.is_none() => (items.iter().collect(), false),
        Value::Array(_) => {
            check.fail("statement", "a PUT carries one statement, not an array");
            return Err(check.into_violations());
        }
        other => (vec![other], true),
    };
    if items.is_empty() {
        check.fail("statements", "must hold at least one statement");
    }
    let mut incoming = Vec::with_capacity(items.len());
    for (index, value) in items.into_iter().enumerate() {
        let path = if single {
            "statement".to_string()
        } else {
            format!("statements[{index}]")
        };
        if let Some(checked) = statement::check_statement(value, &path, &mut check)
            && let Some(document) = value.as_object()
        {
            let mut document = document.clone();
            normalize(&mut document);
            incoming.push(Incoming { checked, document });
        }
    }
    if let Some(put_id) = put_id {
        match incoming.first().and_then(|s| s.checked.id.as_deref()) {
            Some(id) if id != put_id => {
                check.fail("statement.id", "differs from the statementId parameter")
            }
            _ => {}
        }
        for statement in &mut incoming {
            statement.checked.id = Some(put_id.to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (index, statement) in incoming.iter().enumerate() {
        if let Some(id) = &statement.checked.id
            && !seen.insert(id.clone())
        {
            check.fail(
                &format!("statements[{index}].id"),
                "the same id is given twice in one request",
            );
        }
    }
    if check.is_clean() {
        Ok(incoming)
    } else {
        Err(check.into_violations())
    }
}

/// The serialization changes xAPI lets a store make, made once on the way in: timestamps in
/// UTC, and every context activity list an array (a single Activity wrapped), in the
/// statement and in its SubStatement.
fn normalize(document: &mut Map<String, Value>) {
    if let Some(Value::String(text)) = document.get_mut("timestamp")
        && let Some(at) = formats::timestamp(text)
    {
        *text = at
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    }
    if let Some(Value::Object(lists)) = document
        .get_mut("context")
        .and_then(|context| context.get_mut("contextActivities"))
    {
        for list in lists.values_mut() {
            if list.is_object() {
                *list = Value::Array(vec![list.take()]);
            }
        }
    }
    if let Some(Value::Object(object)) = document.get_mut("object")
        && object.get("objectType").and_then(Value::as_str) == Some("SubStatement")
    {
        normalize(object);
    }
}

/// What two statements with one id are compared by: the statement as the client sent it
/// (normalized), without what the store sets (id, authority, stored, version), with a
/// Group's members in any order — xAPI's rule for telling a repeated statement (accepted,
/// nothing changes) from a conflicting one (409).
pub fn fingerprint(document: &Map<String, Value>) -> String {
    let mut content = document.clone();
    for key in ["id", "authority", "stored", "version"] {
        content.remove(key);
    }
    sort_members(&mut content);
    // serde_json's maps are ordered by key: the same content always prints the same.
    let text = Value::Object(content).to_string();
    crate::domain::digests::hex_digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
}

/// Orders every Group's `member` list (outside extensions), for comparison only.
fn sort_members(map: &mut Map<String, Value>) {
    for (key, value) in map.iter_mut() {
        match value {
            Value::Array(items) if key == "member" => {
                items.sort_by_cached_key(|member| member.to_string())
            }
            Value::Object(inner) if key != "extensions" => sort_members(inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        sort_members(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The statement as stored: the client's JSON with the id, `stored`, the `authority` (who
/// the credentials say sent it, whatever the client claimed), a `timestamp` (`stored` when
/// the client gave none) and a `version` (the request's when the client gave none).
pub fn complete(
    document: &mut Map<String, Value>,
    id: &str,
    stored: DateTime<Utc>,
    authority: &Value,
    version: &str,
) {
    let stored = Value::String(stored.to_rfc3339_opts(SecondsFormat::Micros, true));
    document.insert("id".into(), Value::String(id.to_string()));
    document.insert("stored".into(), stored.clone());
    document.entry("timestamp").or_insert(stored);
    document.insert("authority".into(), authority.clone());
    document
        .entry("version")
        .or_insert_with(|| Value::String(version.to_string()));
}

/// The home page of a tenant's accounts: the suite's people are Agents with an account named
/// by their external id on it.
pub fn home_page(tenant: &lms_platform::ids::TenantId) -> String {
    format!("urn:lms:tenant:{tenant}")
}

/// The Agent standing for a suite principal in `authority` (and in statements the suite
/// writes): an account on the tenant's home page.
pub fn account_agent(home_page: &str, subject: &str) -> Value {
    serde_json::json!({
        "objectType": "Agent",
        "account": {"homePage": home_page, "name": subject},
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
