//! The Activities resource's definitions, gathered from the statements that name each
//! activity, and the verbs' displays, gathered likewise: kept as statements are stored, shown
//! in place of a statement's own when it is read in `canonical` format.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use serde_json::{Map, Value};

use crate::domain::xapi::definitions;
use crate::domain::xapi::views::{self, Canonical, Format};
use crate::storage::xapi_documents as documents;
use crate::storage::xapi_verbs as verbs;

/// Lays the activity definitions and verb displays a batch gives over the gathered ones (the
/// Activities resource; `canonical` verbs).
pub(crate) fn keep(
    conn: &mut DbConnection,
    tenant: &TenantId,
    gathered: BTreeMap<String, Map<String, Value>>,
    verb_displays: BTreeMap<String, Map<String, Value>>,
    at: NaiveDateTime,
) -> AppResult<()> {
    let activities: Vec<String> = gathered.keys().cloned().collect();
    let verb_ids: Vec<String> = verb_displays.keys().cloned().collect();
    let (known_definitions, known_displays) =
        verbs::definitions_and_displays(conn, tenant, &activities, &verb_ids)?;
    let changed_definitions = changed(known_definitions, gathered, definitions::merge);
    if !changed_definitions.is_empty() {
        documents::keep_definitions(conn, tenant, &changed_definitions, at)?;
    }
    let changed_displays = changed(known_displays, verb_displays, |mut older, newer| {
        older.extend(newer.clone());
        older
    });
    if !changed_displays.is_empty() {
        verbs::keep_displays(conn, tenant, &changed_displays, at)?;
    }
    Ok(())
}

/// Of the `gathered` texts, those that change what is `known` once laid over it with `merge`,
/// merged, as (id, JSON) in id order. Only changes are written: content sends the same
/// definition with every statement, and rewriting it would lock its row against every
/// concurrent batch naming it (and leave a dead row version behind each time).
fn changed(
    known: HashMap<String, String>,
    gathered: BTreeMap<String, Map<String, Value>>,
    merge: impl Fn(Map<String, Value>, &Map<String, Value>) -> Map<String, Value>,
) -> Vec<(String, String)> {
    gathered
        .into_iter()
        .filter_map(|(id, newer)| {
            let older: Option<Map<String, Value>> = known
                .get(&id)
                .and_then(|text| serde_json::from_str(text).ok());
            let merged = merge(older.clone().unwrap_or_default(), &newer);
            (older.as_ref() != Some(&merged)).then(|| (id, Value::Object(merged).to_string()))
        })
        .collect()
}

/// What the store keeps for the activities and verbs the stored statements `texts` name, by
/// id, when they are read in `canonical` format (nothing otherwise).
pub(crate) fn canonical<'a>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    format: Format,
    texts: impl Iterator<Item = &'a str>,
) -> AppResult<Canonical> {
    if format != Format::Canonical {
        return Ok(Canonical::default());
    }
    let statements: Vec<Value> = texts
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .collect();
    let activities = ids_of(statements.iter().flat_map(views::activity_ids));
    let verb_ids = ids_of(statements.iter().flat_map(views::verb_ids));
    let (definitions, displays) =
        verbs::definitions_and_displays(conn, tenant, &activities, &verb_ids)?;
    Ok(Canonical {
        activities: parsed(definitions),
        verbs: parsed(displays),
    })
}

fn ids_of(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort();
    ids.dedup();
    ids
}

fn parsed(texts: HashMap<String, String>) -> HashMap<String, Value> {
    texts
        .into_iter()
        .filter_map(|(id, text)| Some((id, serde_json::from_str(&text).ok()?)))
        .collect()
}
