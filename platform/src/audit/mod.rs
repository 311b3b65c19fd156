//! The audit trail: every write a person makes is recorded in the write's own transaction —
//! who, when, which RPC, which resource, under which request id, and the fields that changed
//! with their values before and after. Every service applies [`migrations`]: the
//! `audit_entries` table below, with triggers that refuse UPDATE, DELETE and TRUNCATE — the
//! trail is append-only, but for the pseudonymisation of an erased person ([`pseudonymise`]).
//!
//! A use case calls [`record`] once, inside its `Db::write`, with a [`Change`]; the actor, the
//! RPC and the request id come from the [`Principal`] (the auth layer fills them in), so an
//! entry can name nothing but the call that made it. Service identities are not recorded: what
//! they write is the effect of a person's write, recorded where the person made it.

mod service;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use serde::Serialize;
use serde_json::{Map, Value};

pub use service::{
    AuditTrailGrpc, CsvStream, POLICY, check_export, export, filter_of, page_after, page_token,
    to_struct,
};

/// The gRPC service every service serves its trail with (and the gateway the merged trail).
pub const SERVICE_NAME: &str = "lms.audit.v1.AuditService";

use crate::Role;
use crate::auth::Principal;
use crate::db::{DbConnection, Migrations};
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("audit_migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("audit_migrations/sqlite");

/// The migration of the `audit_entries` table, which every service applies with its own
/// (version `2026-12-01-990003`, in the platform's range, as the outbox's).
pub fn migrations() -> Migrations {
    Migrations {
        postgres: POSTGRES_MIGRATIONS,
        sqlite: SQLITE_MIGRATIONS,
    }
}

diesel::table! {
    audit_entries (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        occurred_at -> Timestamp,
        actor -> Text,
        actor_roles -> Text,
        action -> Text,
        resource -> Text,
        request_id -> Text,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
    }
}

/// What one write changed: a resource and its fields before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    resource: String,
    before: Option<Value>,
    after: Option<Value>,
}

impl Change {
    /// A resource made by the write: all its fields, after.
    pub fn created(resource: impl Into<String>, after: &impl Serialize) -> AppResult<Self> {
        Ok(Self {
            resource: resource.into(),
            before: None,
            after: Some(snapshot(after)?),
        })
    }

    /// A resource the write changed: the fields whose values differ, before and after.
    pub fn updated(
        resource: impl Into<String>,
        before: &impl Serialize,
        after: &impl Serialize,
    ) -> AppResult<Self> {
        let (before, after) = changed_fields(snapshot(before)?, snapshot(after)?);
        Ok(Self {
            resource: resource.into(),
            before: Some(before),
            after: Some(after),
        })
    }

    /// A resource the write removed: all its fields, before.
    pub fn deleted(resource: impl Into<String>, before: &impl Serialize) -> AppResult<Self> {
        Ok(Self {
            resource: resource.into(),
            before: Some(snapshot(before)?),
            after: None,
        })
    }

    /// A write that is an act on a resource rather than a new state of it (answers saved,
    /// people added to an audience): what was done, as the "after".
    pub fn acted(resource: impl Into<String>, what: &impl Serialize) -> AppResult<Self> {
        Ok(Self {
            resource: resource.into(),
            before: None,
            after: Some(snapshot(what)?),
        })
    }
}

/// Records `change` as made by `who`'s current call, in the transaction of `conn`.
pub fn record(conn: &mut DbConnection, who: &Principal, change: Change) -> AppResult<()> {
    if who.has_role(Role::Service) {
        return Ok(());
    }
    let mut roles: Vec<&str> = who.roles.iter().map(|r| r.as_str()).collect();
    roles.sort_unstable();
    let text = |value: Option<Value>| value.map(|v| v.to_string());
    diesel::insert_into(audit_entries::table)
        .values((
            audit_entries::tenant_id.eq(who.tenant_id.as_str()),
            audit_entries::id.eq(crate::validate::new_id()),
            audit_entries::occurred_at.eq(crate::resource::now()),
            audit_entries::actor.eq(&who.subject),
            audit_entries::actor_roles.eq(roles.join(",")),
            audit_entries::action.eq(&who.call.rpc),
            audit_entries::resource.eq(change.resource),
            audit_entries::request_id.eq(&who.call.request_id),
            audit_entries::before_json.eq(text(change.before)),
            audit_entries::after_json.eq(text(change.after)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A value as the trail keeps it: JSON, with any field that holds a secret left out (defence
/// in depth: the types recorded do not serialise their secrets in the first place).
fn snapshot(value: &impl Serialize) -> AppResult<Value> {
    let mut value =
        serde_json::to_value(value).map_err(|e| AppError::internal(anyhow::Error::from(e)))?;
    drop_secrets(&mut value);
    Ok(value)
}

fn drop_secrets(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|name, _| !name.to_ascii_lowercase().contains("secret"));
            fields.values_mut().for_each(drop_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_secrets),
        _ => {}
    }
}

/// The fields of two objects whose values differ (missing on one side counts as null); other
/// values are kept whole.
fn changed_fields(before: Value, after: Value) -> (Value, Value) {
    match (before, after) {
        (Value::Object(before), Value::Object(after)) => {
            let mut old = Map::new();
            let mut new = Map::new();
            let names: std::collections::BTreeSet<&String> =
                before.keys().chain(after.keys()).collect();
            for name in names {
                let was = before.get(name).cloned().unwrap_or(Value::Null);
                let is = after.get(name).cloned().unwrap_or(Value::Null);
                if was != is {
                    old.insert(name.clone(), was);
                    new.insert(name.clone(), is);
                }
            }
            (Value::Object(old), Value::Object(new))
        }
        (before, after) => (before, after),
    }
}

/// One stored entry.
#[derive(Debug, Clone, Queryable)]
pub struct Entry {
    pub tenant_id: String,
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub actor_roles: String,
    pub action: String,
    pub resource: String,
    pub request_id: String,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
}

/// What to list: every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: String,
    pub resource: String,
    pub action: String,
    pub start: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
}

impl Filter {
    /// The filters as a page token's fingerprint input.
    pub fn fingerprint_text(&self) -> String {
        format!(
            "actor={}\nresource={}\naction={}\nstart={:?}\nend={:?}",
            self.actor, self.resource, self.action, self.start, self.end
        )
    }
}

/// Up to `limit` entries of `tenant` matching `filter`, newest first, older than `before_id`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &Filter,
    before_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Entry>> {
    use audit_entries::dsl as a;
    let mut query = audit_entries::table
        .filter(a::tenant_id.eq(tenant.as_str()))
        .into_boxed();
    if !filter.actor.is_empty() {
        query = query.filter(a::actor.eq(filter.actor.clone()));
    }
    if !filter.resource.is_empty() {
        // The resource and everything below it: 'pathways/1' and 'pathways/1/...' ('0' is the
        // byte after '/').
        let below = format!("{}/", filter.resource);
        let past = format!("{}0", filter.resource);
        query = query.filter(
            a::resource
                .eq(filter.resource.clone())
                .or(a::resource.ge(below).and(a::resource.lt(past))),
        );
    }
    if !filter.action.is_empty() {
        if filter.action.contains('/') {
            query = query.filter(a::action.eq(filter.action.clone()));
        } else {
            let method = format!("%/{}", escape_like(&filter.action));
            query = query.filter(a::action.like(method).escape('\\'));
        }
    }
    if let Some(start) = filter.start {
        query = query.filter(a::occurred_at.ge(start));
    }
    if let Some(end) = filter.end {
        query = query.filter(a::occurred_at.lt(end));
    }
    if let Some(id) = before_id {
        query = query.filter(a::id.lt(id.to_string()));
    }
    Ok(query.order(a::id.desc()).limit(limit).load(conn)?)
}

/// Erasure (`crate::privacy`): `person` becomes `pseudonym` in the trail — as the actor, and
/// wherever their id is a JSON string in an entry's fields. The one change the trail admits:
/// the transaction holds a permit for the tenant (which the triggers check) only while it
/// rewrites. Returns how many entries changed.
pub fn pseudonymise(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &str,
    pseudonym: &str,
) -> AppResult<i64> {
    let (quoted, replacement) = (json_string(person), json_string(pseudonym));
    let pattern = format!("%{}%", escape_like(&quoted));
    with_permit(conn, tenant, |conn| {
        let actors = crate::privacy::execute(
            conn,
            "UPDATE audit_entries SET actor = $3 WHERE tenant_id = $1 AND actor = $2",
            &[tenant.as_str(), person, pseudonym],
        )?;
        let fields = crate::privacy::execute(
            conn,
            "UPDATE audit_entries SET before_json = REPLACE(before_json, $2, $3), \
             after_json = REPLACE(after_json, $2, $3) WHERE tenant_id = $1 \
             AND (before_json LIKE $4 ESCAPE '\\' OR after_json LIKE $4 ESCAPE '\\')",
            &[tenant.as_str(), &quoted, &replacement, &pattern],
        )?;
        Ok(actors + fields)
    })
}

/// Erasure: the fields of the entries on `resource` (a person's profile, with their name and
/// email) are replaced by `{"erased": true}`.
pub fn clear_fields(conn: &mut DbConnection, tenant: &TenantId, resource: &str) -> AppResult<i64> {
    with_permit(conn, tenant, |conn| {
        crate::privacy::execute(
            conn,
            "UPDATE audit_entries SET before_json = CASE WHEN before_json IS NULL THEN NULL \
             ELSE '{\"erased\":true}' END, after_json = CASE WHEN after_json IS NULL THEN NULL \
             ELSE '{\"erased\":true}' END WHERE tenant_id = $1 AND resource = $2",
            &[tenant.as_str(), resource],
        )
    })
}

fn with_permit(
    conn: &mut DbConnection,
    tenant: &TenantId,
    work: impl FnOnce(&mut DbConnection) -> AppResult<i64>,
) -> AppResult<i64> {
    let permit = [tenant.as_str()];
    crate::privacy::execute(
        conn,
        "INSERT INTO audit_erasure_permits (tenant_id) VALUES ($1)",
        &permit,
    )?;
    let changed = work(conn)?;
    crate::privacy::execute(
        conn,
        "DELETE FROM audit_erasure_permits WHERE tenant_id = $1",
        &permit,
    )?;
    Ok(changed)
}

fn json_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// `text` matched literally by LIKE ... ESCAPE '\'.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The header of the CSV export.
pub const CSV_HEADER: [&str; 9] = [
    "id",
    "time",
    "actor",
    "actor_roles",
    "action",
    "resource",
    "request_id",
    "before",
    "after",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_keeps_only_the_fields_that_changed() {
        let change = Change::updated(
            "categories/1",
            &json!({"name": "Safety", "order": 1, "gone": true}),
            &json!({"name": "Safety", "order": 2, "new": "x"}),
        )
        .unwrap();
        assert_eq!(
            change.before,
            Some(json!({"order": 1, "gone": true, "new": null}))
        );
        assert_eq!(
            change.after,
            Some(json!({"order": 2, "gone": null, "new": "x"}))
        );
    }

    #[test]
    fn secrets_are_never_kept() {
        let change = Change::created(
            "webhooks/1",
            &json!({"url": "https://x", "signingSecret": "whsec_1", "inner": [{"secret": 1}]}),
        )
        .unwrap();
        assert_eq!(
            change.after,
            Some(json!({"url": "https://x", "inner": [{}]}))
        );
    }
}
