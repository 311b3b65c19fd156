//! The Learning Record Store's statements, and the keys its queries filter by: one row per
//! statement and agent, verb, activity or registration it matches, its own and (xAPI's rule
//! for StatementRefs) those of the statement it targets, recursively.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::{DbConnection, in_set};
use lms_platform::ids::TenantId;

use super::schema::{xapi_statement_keys as keys, xapi_statements as statements};

/// Rows per INSERT (SQLite's bound-parameter limit; 6 per key row).
const CHUNK: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Agent,
    Verb,
    Activity,
    Registration,
    /// An agent and a verb the statement both matches ([`pair_key`]): what a query by agent
    /// and verb walks.
    AgentVerb,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Agent => "agent",
            KeyKind::Verb => "verb",
            KeyKind::Activity => "activity",
            KeyKind::Registration => "registration",
            KeyKind::AgentVerb => "agent_verb",
        }
    }
}

/// The key of an agent and a verb together (IRIs hold no line breaks; agent keys escape
/// theirs as JSON).
pub fn pair_key(agent: &str, verb: &str) -> String {
    format!("{agent}\n{verb}")
}

/// The agent-and-verb pairs of a statement's keys, given as (kind, key, related). Only
/// agents it matches directly: a query by agent and verb walks pairs only without
/// `related_agents` (with it, an agent may match one statement by two keys, and the verb's
/// keys are walked instead), so a pair of a related agent (an instructor, the authority)
/// would never be read.
fn pairs<'a>(keys: impl Iterator<Item = (&'a str, &'a str, bool)> + Clone) -> Vec<Key> {
    let agent = KeyKind::Agent.as_str();
    let verbs = keys
        .clone()
        .filter(|(kind, ..)| *kind == KeyKind::Verb.as_str());
    keys.filter(|&(kind, _, related)| kind == agent && !related)
        .flat_map(|(_, agent, _)| {
            verbs.clone().map(move |(_, verb, _)| Key {
                kind: KeyKind::AgentVerb,
                key: pair_key(agent, verb),
                related: false,
            })
        })
        .collect()
}

fn own_pairs(keys: &[Key]) -> Vec<Key> {
    pairs(
        keys.iter()
            .map(|k| (k.kind.as_str(), k.key.as_str(), k.related)),
    )
}

/// One value a statement matches a filter by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: KeyKind,
    pub key: String,
    /// Matched only by `related_agents` / `related_activities`.
    pub related: bool,
}

/// A statement to store.
pub struct NewStatement {
    pub id: String,
    pub stored: NaiveDateTime,
    pub target_statement: Option<String>,
    pub voids: Option<String>,
    pub voided: bool,
    pub fingerprint: String,
    pub document: String,
    pub keys: Vec<Key>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = statements)]
pub struct StoredStatement {
    pub id: String,
    pub stored: NaiveDateTime,
    pub voided: bool,
    pub document: String,
}

#[derive(Insertable)]
#[diesel(table_name = statements)]
struct StatementRow<'a> {
    tenant_id: &'a str,
    id: &'a str,
    stored: NaiveDateTime,
    target_statement: &'a str,
    voids: &'a str,
    voided: bool,
    fingerprint: &'a str,
    document: &'a str,
}

/// One key row: what a query by agent, verb, activity or registration walks.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = keys)]
pub(super) struct KeyRow {
    pub tenant_id: String,
    pub kind: String,
    pub key: String,
    pub related: bool,
    pub stored: NaiveDateTime,
    pub statement_id: String,
}

/// The stored fingerprints of those of `ids` already stored.
///
/// Every store asks this, so on PostgreSQL each id is looked up by the primary key, one probe
/// an id whatever the statistics say: as `IN (<set>)` ([`in_set`]), a store's statistics from
/// before a burst of statements (the planner sure the tenant had a few hundred) had each
/// lookup hash the set and read every statement of the tenant — 3.5 ms a call after 5 000
/// statements, and growing with each (issue 22, measured with pg_stat_statements). A
/// `LATERAL` subquery with a `LIMIT` cannot be turned into a join, so it stays a probe an id.
pub fn fingerprints(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, String>, AppError> {
    let found: Vec<(String, String)> = match conn {
        DbConnection::Postgres(pg) => {
            let wanted = serde_json::Value::from(ids.to_vec()).to_string();
            diesel::sql_query(
                "SELECT stored.id, stored.fingerprint \
                 FROM jsonb_array_elements_text($2::jsonb) AS wanted(id) \
                 CROSS JOIN LATERAL (SELECT id, fingerprint FROM xapi_statements \
                     WHERE tenant_id = $1 AND id = wanted.id LIMIT 1) AS stored",
            )
            .bind::<diesel::sql_types::Text, _>(tenant.as_str())
            .bind::<diesel::sql_types::Text, _>(wanted)
            .load::<Fingerprint>(pg)?
            .into_iter()
            .map(|row| (row.id, row.fingerprint))
            .collect()
        }
        DbConnection::Sqlite(_) => statements::table
            .filter(statements::tenant_id.eq(tenant.as_str()))
            .filter(in_set(conn, "xapi_statements.id", ids))
            .select((statements::id, statements::fingerprint))
            .load(conn)?,
    };
    Ok(found.into_iter().collect())
}

#[derive(QueryableByName)]
struct Fingerprint {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    fingerprint: String,
}

/// Which of `ids` are stored voiding statements (which nothing can void).
pub fn voiding_among(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashSet<String>, AppError> {
    let found: Vec<String> = statements::table
        .filter(statements::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_statements.id", ids))
        .filter(statements::voids.ne(""))
        .select(statements::id)
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// Which of `ids` a stored voiding statement voids (a statement may arrive after the one
/// voiding it).
pub fn voided_among(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashSet<String>, AppError> {
    // `voids <> ''` lets PostgreSQL use the partial index on voiding statements (a set alone
    // does not imply it, and the scan of every statement it would otherwise make grows with
    // the store).
    let found: Vec<String> = statements::table
        .filter(statements::tenant_id.eq(tenant.as_str()))
        .filter(statements::voids.ne(""))
        .filter(in_set(conn, "xapi_statements.voids", ids))
        .select(statements::voids)
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// Stores statements and their own keys, then gives every statement whose object targets
/// another the keys of its target, and passes new keys on to earlier statements that target
/// these.
pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    new: &[NewStatement],
) -> Result<(), AppError> {
    let rows: Vec<StatementRow> = new
        .iter()
        .map(|s| StatementRow {
            tenant_id: tenant.as_str(),
            id: &s.id,
            stored: s.stored,
            target_statement: s.target_statement.as_deref().unwrap_or(""),
            voids: s.voids.as_deref().unwrap_or(""),
            voided: s.voided,
            fingerprint: &s.fingerprint,
            document: &s.document,
        })
        .collect();
    for chunk in rows.chunks(CHUNK / 2) {
        let insert = diesel::insert_into(statements::table).values(chunk);
        lms_platform::execute_on_backend!(&mut *conn, insert)?;
    }
    let mut own = Vec::new();
    for s in new {
        for k in s.keys.iter().chain(&own_pairs(&s.keys)) {
            own.push(KeyRow {
                tenant_id: tenant.to_string(),
                kind: k.kind.as_str().to_string(),
                key: k.key.clone(),
                related: k.related,
                stored: s.stored,
                statement_id: s.id.clone(),
            });
        }
    }
    insert_keys(conn, own)?;
    let referring: Vec<(String, NaiveDateTime, String)> = new
        .iter()
        .filter_map(|s| Some((s.id.clone(), s.stored, s.target_statement.clone()?)))
        .collect();
    copy_target_keys(conn, tenant, &referring)?;
    let mut changed: Vec<String> = new.iter().map(|s| s.id.clone()).collect();
    // Each round reaches one step further back along chains of StatementRefs; a round that
    // adds nothing ends it (key sets only grow, so a cycle of references ends too).
    while !changed.is_empty() {
        // `target_statement <> ''`: the partial index's predicate (see voided_among).
        let referrers: Vec<(String, NaiveDateTime, String)> = statements::table
            .filter(statements::tenant_id.eq(tenant.as_str()))
            .filter(statements::target_statement.ne(""))
            .filter(in_set(conn, "xapi_statements.target_statement", &changed))
            .select((
                statements::id,
                statements::stored,
                statements::target_statement,
            ))
            .load(conn)?;
        if copy_target_keys(conn, tenant, &referrers)? == 0 {
            break;
        }
        changed = referrers.into_iter().map(|(id, _, _)| id).collect();
    }
    Ok(())
}

/// Gives each `(statement, stored, target)` its target's keys; how many rows were new.
fn copy_target_keys(
    conn: &mut DbConnection,
    tenant: &TenantId,
    referring: &[(String, NaiveDateTime, String)],
) -> Result<usize, AppError> {
    if referring.is_empty() {
        return Ok(0);
    }
    let targets: Vec<&String> = referring.iter().map(|(_, _, target)| target).collect();
    let target_keys: Vec<(String, String, String, bool)> = keys::table
        .filter(keys::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_statement_keys.statement_id", &targets))
        // Pairs follow from the agents and verbs (complete_pairs), not from the target's.
        .filter(keys::kind.ne(KeyKind::AgentVerb.as_str()))
        .select((keys::statement_id, keys::kind, keys::key, keys::related))
        .load(conn)?;
    let mut by_target: HashMap<&str, Vec<(&str, &str, bool)>> = HashMap::new();
    for (statement, kind, key, related) in &target_keys {
        by_target
            .entry(statement)
            .or_default()
            .push((kind, key, *related));
    }
    let rows: Vec<KeyRow> = referring
        .iter()
        .flat_map(|(id, stored, target)| {
            by_target
                .get(target.as_str())
                .into_iter()
                .flatten()
                .map(|(kind, key, related)| KeyRow {
                    tenant_id: tenant.to_string(),
                    kind: kind.to_string(),
                    key: key.to_string(),
                    related: *related,
                    stored: *stored,
                    statement_id: id.clone(),
                })
        })
        .collect();
    let copied = insert_keys(conn, rows)?;
    if copied > 0 {
        complete_pairs(conn, tenant, referring)?;
    }
    Ok(copied)
}

/// Gives each statement the pair of every agent and verb it now holds, its own and those
/// copied from its targets (a statement targeting a match meets each filter its target
/// meets, so its own agent with its target's verb is a pair too).
fn complete_pairs(
    conn: &mut DbConnection,
    tenant: &TenantId,
    statements: &[(String, NaiveDateTime, String)],
) -> Result<usize, AppError> {
    let ids: Vec<&String> = statements.iter().map(|(id, _, _)| id).collect();
    let held: Vec<(String, String, String, bool)> = keys::table
        .filter(keys::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_statement_keys.statement_id", &ids))
        .filter(keys::kind.eq_any([KeyKind::Agent.as_str(), KeyKind::Verb.as_str()]))
        .select((keys::statement_id, keys::kind, keys::key, keys::related))
        .load(conn)?;
    let mut rows = Vec::new();
    for (id, stored, _) in statements {
        let mine = held
            .iter()
            .filter(|(statement, ..)| statement == id)
            .map(|(_, kind, key, related)| (kind.as_str(), key.as_str(), *related));
        rows.extend(pairs(mine).into_iter().map(|k| KeyRow {
            tenant_id: tenant.to_string(),
            kind: k.kind.as_str().to_string(),
            key: k.key,
            related: k.related,
            stored: *stored,
            statement_id: id.clone(),
        }));
    }
    insert_keys(conn, rows)
}

fn insert_keys(conn: &mut DbConnection, rows: Vec<KeyRow>) -> Result<usize, AppError> {
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK) {
        // Keys already held are skipped: ON CONFLICT DO NOTHING / INSERT OR IGNORE (diesel
        // writes a multi-row upsert only in PostgreSQL's dialect).
        inserted += match &mut *conn {
            DbConnection::Postgres(pg) => diesel::insert_into(keys::table)
                .values(chunk)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConnection::Sqlite(sqlite) => diesel::insert_or_ignore_into(keys::table)
                .values(chunk)
                .execute(sqlite)?,
        };
    }
    Ok(inserted)
}

/// Marks statements voided.
pub fn mark_voided(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<(), AppError> {
    if ids.is_empty() {
        return Ok(());
    }
    let filter = in_set(conn, "xapi_statements.id", ids);
    diesel::update(statements::table)
        .filter(statements::tenant_id.eq(tenant.as_str()))
        .filter(filter)
        .set(statements::voided.eq(true))
        .execute(conn)?;
    Ok(())
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<StoredStatement>, AppError> {
    Ok(statements::table
        .filter(statements::tenant_id.eq(tenant.as_str()))
        .filter(statements::id.eq(id))
        .select(StoredStatement::as_select())
        .first(conn)
        .optional()?)
}

/// A statement query's filters, as the store reads them.
#[derive(Debug, Clone, Default)]
pub struct StatementFilter {
    pub agent: Option<String>,
    pub related_agents: bool,
    pub verb: Option<String>,
    pub activity: Option<String>,
    pub related_activities: bool,
    pub registration: Option<String>,
    /// Stored after (exclusive).
    pub since: Option<NaiveDateTime>,
    /// Stored at or before.
    pub until: Option<NaiveDateTime>,
    pub ascending: bool,
    /// The last statement of the previous page: (stored, id).
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}
