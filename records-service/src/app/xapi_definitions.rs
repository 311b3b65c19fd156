//! The Activities resource's definitions, gathered from the statements that name each
//! activity: kept as statements are stored, shown in place of a statement's own when it is
//! read in `canonical` format.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use serde_json::{Map, Value};

use crate::domain::xapi::definitions;
use crate::domain::xapi::views::{self, Format};
use crate::storage::xapi_documents as documents;

/// Lays the activity definitions a batch gives over the gathered ones (the Activities
/// resource).
pub(crate) fn keep(
    conn: &mut DbConnection,
    tenant: &TenantId,
    gathered: BTreeMap<String, Map<String, Value>>,
    at: NaiveDateTime,
) -> AppResult<()> {
    if gathered.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = gathered.keys().cloned().collect();
    let known = documents::definitions(conn, tenant, &ids)?;
    // Only definitions that change are written: content sends the same definition with every
    // statement, and rewriting it would lock the activity's row against every concurrent
    // batch naming it (and leave a dead row version behind each time).
    let changed: Vec<(String, String)> = gathered
        .into_iter()
        .filter_map(|(id, newer)| {
            let older: Option<Map<String, Value>> = known
                .get(&id)
                .and_then(|text| serde_json::from_str(text).ok());
            let merged = definitions::merge(older.clone().unwrap_or_default(), &newer);
            (older.as_ref() != Some(&merged)).then(|| (id, Value::Object(merged).to_string()))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    documents::keep_definitions(conn, tenant, &changed, at)
}

/// The definitions the store keeps for the activities the stored statements `texts` name,
/// by id, when they are read in `canonical` format (none otherwise).
pub(crate) fn canonical<'a>(
    conn: &mut DbConnection,
    tenant: &TenantId,
    format: Format,
    texts: impl Iterator<Item = &'a str>,
) -> AppResult<HashMap<String, Value>> {
    if format != Format::Canonical {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<String> = texts
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .flat_map(|statement| views::activity_ids(&statement))
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(documents::definitions(conn, tenant, &ids)?
        .into_iter()
        .filter_map(|(id, text)| Some((id, serde_json::from_str(&text).ok()?)))
        .collect())
}
