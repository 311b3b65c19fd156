//! Personal data (`lms.privacy.v1`): where a service keeps a person's identity, and the one
//! mechanism that exports those rows and pseudonymises them. Each service declares its
//! [`PersonalTables`] once; table and column names come from those declarations only, never
//! from a request (the person and the pseudonym are always bound parameters).

mod service;

use diesel::prelude::*;
use diesel::sql_types::Text;
use serde_json::{Map, Value};

pub use service::{
    MAX_ADDRESSES, POLICY, PersonalDataGrpc, all_addresses, check_erasure, check_export, section,
};

use crate::db::DbConnection;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;

/// The gRPC service every service serves a person's data with (and the gateway all of it).
pub const SERVICE_NAME: &str = "lms.privacy.v1.PersonalDataService";

/// What a pseudonym starts with: `erased-` and a random UUID.
pub const PSEUDONYM_PREFIX: &str = "erased-";

/// Where one service keeps a person's identity.
pub struct PersonalTables {
    /// The service's name in an export (`records-service`).
    pub service: &'static str,
    /// (table, column): columns holding a person's external id. An export lists the rows that
    /// name the person in any of them; an erasure sets them to the pseudonym.
    pub identity: &'static [(&'static str, &'static str)],
    /// (table, key column, assignments): the person's own profile row, found by its key
    /// column (already the pseudonym) and cleared on erasure (`display_name = ''`).
    pub cleared: &'static [(&'static str, &'static str, &'static str)],
    /// What the service holds about a person that no identity column can name (a person
    /// named inside a JSON document), exported and erased by its own functions in the same
    /// transaction as the tables.
    pub other: Option<OtherPersonalData>,
}

/// A service's own export and erasure of personal data its tables cannot declare.
pub struct OtherPersonalData {
    /// Adds table → rows naming the person to an export.
    pub export:
        fn(&mut DbConnection, &TenantId, &Person<'_>, &mut Map<String, Value>) -> AppResult<()>,
    /// Replaces the person (the third argument) with the pseudonym (the fourth); how many
    /// rows changed.
    pub erase: fn(&mut DbConnection, &TenantId, &Person<'_>, &str) -> AppResult<i64>,
}

/// Who an export or an erasure is about.
#[derive(Debug, Clone, Copy)]
pub struct Person<'a> {
    /// Their external id: what identity columns hold.
    pub id: &'a str,
    /// The email addresses they are also known by (the directory's and the request's): what
    /// names them where data comes from outside the suite (an xAPI statement's `mbox`).
    pub email_addresses: &'a [String],
}

impl<'a> Person<'a> {
    /// A person known by their external id only.
    pub fn by_id(id: &'a str) -> Self {
        Person {
            id,
            email_addresses: &[],
        }
    }
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct ColumnName {
    #[diesel(sql_type = Text)]
    name: String,
}

/// A new pseudonym: `erased-` and a random UUID, linked to nothing.
pub fn new_pseudonym() -> String {
    format!("{PSEUDONYM_PREFIX}{}", uuid::Uuid::new_v4())
}

/// What the directory keeps of an erased person to answer a second request for them: the
/// SHA-256 of their tenant and external id (it confirms a guess, and reveals nothing else).
pub fn person_hash(tenant: &TenantId, person: &str) -> String {
    let text = format!("{tenant}:{person}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Every row of `tables` (and of the audit trail) that names `person`, as table → rows.
pub fn export(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person<'_>,
    tables: &PersonalTables,
) -> AppResult<Map<String, Value>> {
    let mut out = Map::new();
    let audit = [("audit_entries", "actor")];
    for table in table_names(tables.identity.iter().chain(&audit)) {
        let columns: Vec<&str> = tables
            .identity
            .iter()
            .chain(&audit)
            .filter(|(t, _)| *t == table)
            .map(|(_, c)| *c)
            .collect();
        let rows = rows_naming(conn, table, &columns, tenant, person.id)?;
        if !rows.is_empty() {
            out.insert(table.to_string(), Value::Array(rows));
        }
    }
    if let Some(other) = &tables.other {
        (other.export)(conn, tenant, person, &mut out)?;
    }
    Ok(out)
}

/// Replaces `person` with `pseudonym` in every identity column of `tables` and in the audit
/// trail, then clears the profile rows; how many rows took the pseudonym. Run it in one
/// transaction.
pub fn erase(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person: &Person<'_>,
    pseudonym: &str,
    tables: &PersonalTables,
) -> AppResult<i64> {
    if !pseudonym.starts_with(PSEUDONYM_PREFIX) {
        return Err(AppError::invalid_field(
            "pseudonym",
            format!("must start with {PSEUDONYM_PREFIX}"),
        ));
    }
    let mut changed = 0;
    for (table, column) in tables.identity {
        let sql =
            format!("UPDATE {table} SET {column} = $3 WHERE tenant_id = $1 AND {column} = $2");
        changed += execute(conn, &sql, &[tenant.as_str(), person.id, pseudonym])?;
    }
    // Cleared rows are not counted: they were counted as they took the pseudonym, and
    // clearing them again (a repeated erasure) changes nothing.
    for (table, key, assignments) in tables.cleared {
        let sql = format!("UPDATE {table} SET {assignments} WHERE tenant_id = $1 AND {key} = $2");
        execute(conn, &sql, &[tenant.as_str(), pseudonym])?;
    }
    if let Some(other) = &tables.other {
        changed += (other.erase)(conn, tenant, person, pseudonym)?;
    }
    changed += crate::audit::pseudonymise(conn, tenant, person.id, pseudonym)?;
    Ok(changed)
}

/// Runs one statement with text parameters `$1, $2, ...` (`?1, ?2, ...` on SQLite).
pub(crate) fn execute(conn: &mut DbConnection, sql: &str, params: &[&str]) -> AppResult<i64> {
    let changed = match conn {
        DbConnection::Postgres(pg) => {
            let mut query = diesel::sql_query(sql).into_boxed();
            for param in params {
                query = query.bind::<Text, _>(param.to_string());
            }
            query.execute(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let mut query = diesel::sql_query(sql.replace('$', "?")).into_boxed();
            for param in params {
                query = query.bind::<Text, _>(param.to_string());
            }
            query.execute(sqlite)?
        }
    };
    Ok(changed as i64)
}

fn table_names<'a>(
    pairs: impl Iterator<Item = &'a (&'static str, &'static str)>,
) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for (table, _) in pairs {
        if !names.contains(table) {
            names.push(table);
        }
    }
    names
}

/// The rows of `table` whose `columns` name `person`, each as a JSON object.
fn rows_naming(
    conn: &mut DbConnection,
    table: &str,
    columns: &[&str],
    tenant: &TenantId,
    person: &str,
) -> AppResult<Vec<Value>> {
    let naming = columns
        .iter()
        .map(|c| format!("t.{c} = $2"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let rows: Vec<JsonRow> = match conn {
        DbConnection::Postgres(pg) => {
            let sql = format!(
                "SELECT row_to_json(t)::text AS row FROM {table} t \
                 WHERE t.tenant_id = $1 AND ({naming})"
            );
            diesel::sql_query(sql)
                .bind::<Text, _>(tenant.as_str())
                .bind::<Text, _>(person)
                .load(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let names: Vec<ColumnName> =
                diesel::sql_query(format!("SELECT name FROM pragma_table_info('{table}')"))
                    .load(sqlite)?;
            let object = names
                .iter()
                .map(|c| format!("'{0}', t.{0}", c.name))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT json_object({object}) AS row FROM {table} t \
                 WHERE t.tenant_id = ?1 AND ({})",
                naming.replace('$', "?")
            );
            diesel::sql_query(sql)
                .bind::<Text, _>(tenant.as_str())
                .bind::<Text, _>(person)
                .load(sqlite)?
        }
    };
    rows.into_iter()
        .map(|r| {
            serde_json::from_str(&r.row).map_err(|e| AppError::internal(anyhow::Error::from(e)))
        })
        .collect()
}
