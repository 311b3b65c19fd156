//! A person in the Learning Record Store (`lms.privacy.v1`): the statements that name them
//! (found by their agent key, related or not) and the State and Agent Profile documents kept
//! for them. An export lists both; an erasure rewrites those statements under the pseudonym
//! (their keys with them) and deletes the documents — content's working state, opaque bytes
//! that may hold anything about the person and that no compliance fact rests on.

use std::collections::{BTreeSet, HashSet};

use base64::Engine;
use diesel::prelude::*;
use lms_platform::db::{DbConnection, in_set};
use lms_platform::error::AppResult;
use lms_platform::ids::TenantId;
use lms_platform::privacy::Person;
use serde_json::{Map, Value, json};

use super::schema::{
    xapi_documents as documents, xapi_statement_keys as keys, xapi_statements as statements,
};
use super::xapi_statements::{KeyKind, KeyRow, pair_key};
use crate::domain::xapi::agent::account_key;
use crate::domain::xapi::personal::{Mailboxes, erase_person};
use crate::domain::xapi::{fingerprint, home_page};

#[derive(Queryable, Selectable)]
#[diesel(table_name = statements)]
struct Row {
    id: String,
    stored: chrono::NaiveDateTime,
    voided: bool,
    document: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = documents)]
struct DocumentRow {
    kind: String,
    activity_id: String,
    registration: String,
    document_id: String,
    content_type: String,
    content: Vec<u8>,
    updated_at: chrono::NaiveDateTime,
}

/// The store's identity keys of `person`: their account on the tenant's home page, and the
/// Agents named by their email addresses.
fn keys_of(tenant: &TenantId, person: &Person<'_>, mailboxes: &Mailboxes) -> Vec<String> {
    let mut keys = vec![account_key(&home_page(tenant), person.id)];
    keys.extend(mailboxes.agent_keys());
    keys
}

/// Adds `xapi_statements` and `xapi_documents` naming `person` to an export.
pub fn export(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person<'_>,
    out: &mut Map<String, Value>,
) -> AppResult<()> {
    let (named, keys) = naming_person(conn, tenant, person, "")?;
    let keys: Vec<String> = keys.into_iter().collect();
    let rows: Vec<Value> = named
        .into_iter()
        .map(|row| {
            let statement = serde_json::from_str(&row.document).unwrap_or(Value::Null);
            json!({"id": row.id, "stored": row.stored.and_utc().to_rfc3339(),
                   "voided": row.voided, "statement": statement})
        })
        .collect();
    if !rows.is_empty() {
        out.insert("xapi_statements".into(), Value::Array(rows));
    }
    let held: Vec<DocumentRow> = documents::table
        .filter(documents::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_documents.agent", &keys))
        .order((
            documents::kind,
            documents::activity_id,
            documents::document_id,
        ))
        .select(DocumentRow::as_select())
        .load(conn)?;
    let rows: Vec<Value> = held.into_iter().map(document_json).collect();
    if !rows.is_empty() {
        out.insert("xapi_documents".into(), Value::Array(rows));
    }
    Ok(())
}

fn document_json(row: DocumentRow) -> Value {
    // Text as text; anything else (an image, a binary blob) in base64.
    let content = match String::from_utf8(row.content) {
        Ok(text) => json!({"text": text}),
        Err(bytes) => {
            json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes.into_bytes())})
        }
    };
    json!({"kind": row.kind, "activity_id": row.activity_id, "registration": row.registration,
           "document_id": row.document_id, "content_type": row.content_type,
           "updated_at": row.updated_at.and_utc().to_rfc3339(), "content": content})
}

/// Rewrites the statements naming `person` under `pseudonym`, moves their keys to the
/// pseudonym's, deletes the person's documents and the signatures that signed their
/// identity; how many rows changed.
pub fn erase(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person<'_>,
    pseudonym: &str,
) -> AppResult<i64> {
    let home = home_page(tenant);
    let mailboxes = Mailboxes::of(person.email_addresses);
    let new_key = account_key(&home, pseudonym);
    let mut changed = 0;
    let mut signatures = Vec::new();
    let (named, moved_keys) = naming_person(conn, tenant, person, pseudonym)?;
    let keys: Vec<String> = moved_keys.iter().cloned().collect();
    let ids: Vec<String> = named.iter().map(|row| row.id.clone()).collect();
    for row in named {
        let Ok(Value::Object(mut document)) = serde_json::from_str(&row.document) else {
            continue;
        };
        let (renamed, dropped, _) =
            erase_person(&mut document, &home, person.id, pseudonym, &mailboxes);
        if !renamed {
            continue;
        }
        signatures.extend(dropped);
        changed += diesel::update(statements::table)
            .filter(statements::tenant_id.eq(tenant.as_str()))
            .filter(statements::id.eq(&row.id))
            .set((
                statements::fingerprint.eq(fingerprint(&document)),
                statements::document.eq(Value::Object(document).to_string()),
            ))
            .execute(conn)? as i64;
    }
    // Each key of theirs to the pseudonym's (a Group identified by their address becomes a
    // Group with the pseudonym's account).
    let renames: Vec<(String, String)> = moved_keys
        .iter()
        .map(|key| {
            let to = match key.strip_prefix("Group|") {
                Some(_) => new_key.replacen("Agent|", "Group|", 1),
                None => new_key.clone(),
            };
            (key.clone(), to)
        })
        .collect();
    for (from, to) in &renames {
        changed += move_keys(conn, tenant, from, to)?;
    }
    changed += move_pairs(conn, tenant, &ids, &renames)?;
    changed += diesel::delete(documents::table)
        .filter(documents::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_documents.agent", &keys))
        .execute(conn)? as i64;
    for sha2 in signatures {
        // Statements name attachments by hash; the data goes once no statement names it.
        let named: i64 = statements::table
            .filter(statements::tenant_id.eq(tenant.as_str()))
            .filter(statements::document.like(format!("%{sha2}%")))
            .count()
            .get_result(conn)?;
        if named == 0 {
            super::xapi_attachments::delete(conn, tenant, &sha2.to_ascii_lowercase())?;
        }
    }
    Ok(changed)
}

/// Moves the agent keys `from` to `to`. A statement that named the person twice (by their
/// account and by an address) keeps one key where both become the same.
fn move_keys(conn: &mut DbConnection, tenant: &TenantId, from: &str, to: &str) -> AppResult<i64> {
    let kind = KeyKind::Agent.as_str();
    let held: Vec<KeyRow> = keys::table
        .filter(keys::tenant_id.eq(tenant.as_str()))
        .filter(keys::kind.eq(kind))
        .filter(keys::key.eq(from))
        .select(KeyRow::as_select())
        .load(conn)?;
    replace_keys(conn, held, |_| Some(to.to_string()))
}

/// Deletes `held` and inserts each under the key `renamed` gives it (none: dropped), each
/// unless that key row exists already; how many rows moved.
fn replace_keys(
    conn: &mut DbConnection,
    held: Vec<KeyRow>,
    renamed: impl Fn(&str) -> Option<String>,
) -> AppResult<i64> {
    let mut moved = 0;
    for row in held {
        let Some(key) = renamed(&row.key) else {
            continue;
        };
        let of_row = keys::table
            .filter(keys::tenant_id.eq(&row.tenant_id))
            .filter(keys::kind.eq(&row.kind))
            .filter(keys::key.eq(&row.key))
            .filter(keys::related.eq(row.related))
            .filter(keys::stored.eq(row.stored))
            .filter(keys::statement_id.eq(&row.statement_id));
        diesel::delete(of_row).execute(conn)?;
        let insert = diesel::insert_into(keys::table)
            .values(KeyRow { key, ..row })
            .on_conflict_do_nothing();
        lms_platform::execute_on_backend!(&mut *conn, insert)?;
        moved += 1;
    }
    Ok(moved)
}

/// Moves the agent-and-verb keys of `statements` naming an agent `from` to its `to`, for every
/// (from, to) of `renames`: the statements' pairs read once.
fn move_pairs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    statements: &[String],
    renames: &[(String, String)],
) -> AppResult<i64> {
    if statements.is_empty() {
        return Ok(0);
    }
    let kind = KeyKind::AgentVerb.as_str();
    let held: Vec<KeyRow> = keys::table
        .filter(keys::tenant_id.eq(tenant.as_str()))
        .filter(keys::kind.eq(kind))
        .filter(in_set(conn, "xapi_statement_keys.statement_id", statements))
        .select(KeyRow::as_select())
        .load(conn)?;
    let prefixes: Vec<(String, &str)> = renames
        .iter()
        .map(|(from, to)| (pair_key(from, ""), to.as_str()))
        .collect();
    replace_keys(conn, held, |pair| {
        prefixes.iter().find_map(|(prefix, to)| {
            pair.strip_prefix(prefix.as_str())
                .map(|verb| pair_key(to, verb))
        })
    })
}

/// The statements naming `person`, in stored order, and the keys they name them by: those of
/// their account and addresses, and any other case of an address one of those statements
/// holds — whose statements are found in turn, until no new form turns up. (`pseudonym` only
/// fills the trial renaming that finds the forms.)
fn naming_person(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person<'_>,
    pseudonym: &str,
) -> AppResult<(Vec<Row>, BTreeSet<String>)> {
    let (home, mailboxes) = (home_page(tenant), Mailboxes::of(person.email_addresses));
    let mut to_search = keys_of(tenant, person, &mailboxes);
    let mut keys: BTreeSet<String> = to_search.iter().cloned().collect();
    let (mut found_rows, mut seen): (Vec<Row>, HashSet<String>) = Default::default();
    while !to_search.is_empty() {
        let mut new_forms = BTreeSet::new();
        for row in naming(conn, tenant, &to_search)? {
            if !seen.insert(row.id.clone()) {
                continue;
            }
            if let Ok(Value::Object(mut document)) = serde_json::from_str(&row.document) {
                let (_, _, found) =
                    erase_person(&mut document, &home, person.id, pseudonym, &mailboxes);
                new_forms.extend(found.into_iter().filter(|key| !keys.contains(key)));
            }
            found_rows.push(row);
        }
        keys.extend(new_forms.iter().cloned());
        to_search = new_forms.into_iter().collect();
    }
    found_rows.sort_by(|a, b| (a.stored, &a.id).cmp(&(b.stored, &b.id)));
    Ok((found_rows, keys))
}

/// The statements whose keys name any of the agents `agents`, in stored order.
fn naming(conn: &mut DbConnection, tenant: &TenantId, agents: &[String]) -> AppResult<Vec<Row>> {
    let ids: Vec<String> = keys::table
        .filter(keys::tenant_id.eq(tenant.as_str()))
        .filter(keys::kind.eq(KeyKind::Agent.as_str()))
        .filter(in_set(conn, "xapi_statement_keys.key", agents))
        .select(keys::statement_id)
        .distinct()
        .load(conn)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(statements::table
        .filter(statements::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_statements.id", &ids))
        .order((statements::stored, statements::id))
        .select(Row::as_select())
        .load(conn)?)
}
