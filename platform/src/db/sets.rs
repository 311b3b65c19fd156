//! Filtering by a set of values the caller holds (the ids of a batch), written so that both
//! databases probe their index for each value whatever their statistics say; and locking the
//! rows of such a set that no other transaction holds.

use diesel::RunQueryDsl;
use diesel::sql_types::{Bool, Text};

use super::DbConnection;
use crate::error::AppResult;

/// `column IN (<values>)`, the values bound as one JSON array: on PostgreSQL
/// `column IN (SELECT jsonb_array_elements_text($n::jsonb))`, on SQLite
/// `column IN (SELECT value FROM json_each(?))`.
///
/// Why not diesel's `eq_any` (`column = ANY($n)` on PostgreSQL): on statistics older than a
/// table's last burst — an outbox or an inbox just filled, a first HR import — PostgreSQL
/// planned `tenant = $1 AND id = ANY(<500 ids>)` as a scan of the tenant's (or destination's)
/// whole range, comparing each row with each id: 30–90 ms per statement at 100 000 rows where
/// a probe per id takes 5 (issue 22), and seconds at 2 000 ids. A set it joins is probed
/// through the index or hashed, and one array keeps a batch to one bind parameter on both
/// databases. Hashed is the trap left: when stale statistics make the other side look small
/// (a tenant's "few hundred" rows that are thousands by now), PostgreSQL hashes the set and
/// reads that whole side; a lookup that must stay a probe per value whatever the statistics
/// say is written as a `LATERAL` subquery with a `LIMIT` (records-service's
/// `xapi_statements::fingerprints`).
///
/// `column` is written into the statement as it is: pass a qualified column name, never input.
pub fn in_set<S: AsRef<str>>(conn: &DbConnection, column: &'static str, values: &[S]) -> InSet {
    let json = serde_json::Value::from(
        values
            .iter()
            .map(|value| serde_json::Value::from(value.as_ref()))
            .collect::<Vec<_>>(),
    )
    .to_string();
    let (open, close) = match conn {
        DbConnection::Postgres(_) => ("IN (SELECT jsonb_array_elements_text(", "::jsonb))"),
        DbConnection::Sqlite(_) => ("IN (SELECT value FROM json_each(", "))"),
    };
    diesel::dsl::sql::<Bool>(&format!("{column} {open}"))
        .bind::<Text, _>(json)
        .sql(close)
}

/// The filter [`in_set`] builds.
pub type InSet = diesel::expression::SqlLiteral<
    Bool,
    diesel::expression::UncheckedBind<
        diesel::expression::SqlLiteral<Bool>,
        diesel::dsl::AsExprOf<String, Text>,
    >,
>;

/// Of `ids` — rows of `table` in `tenant`, keyed `(tenant_id, id)` — those this transaction
/// now holds. On PostgreSQL each is locked `FOR UPDATE SKIP LOCKED`: a row another
/// transaction holds is left out at once, never waited for. Workers claiming from one queue
/// (replicas, or a periodic task beside a run an operator started) read the same candidates;
/// updating those directly, each waited for the rows the other had updated first, in whatever
/// order its plan visited them, and two such claims deadlocked. Updating only the rows locked
/// here, no claim ever waits for another.
///
/// SQLite runs one writer at a time: there every id is returned.
///
/// `table` is written into the statement as it is: pass a table's name, never input.
pub fn lock_unheld(
    conn: &mut DbConnection,
    table: &'static str,
    tenant: &str,
    ids: &[&str],
) -> AppResult<Vec<String>> {
    #[derive(diesel::QueryableByName)]
    struct Locked {
        #[diesel(sql_type = Text)]
        id: String,
    }
    match conn {
        DbConnection::Postgres(pg) => {
            let ids = serde_json::Value::from(ids.to_vec()).to_string();
            let locked: Vec<Locked> = diesel::sql_query(format!(
                "SELECT id FROM {table} WHERE tenant_id = $1 \
                 AND id IN (SELECT jsonb_array_elements_text($2::jsonb)) \
                 FOR UPDATE SKIP LOCKED"
            ))
            .bind::<Text, _>(tenant)
            .bind::<Text, _>(ids)
            .load(pg)?;
            Ok(locked.into_iter().map(|row| row.id).collect())
        }
        DbConnection::Sqlite(_) => Ok(ids.iter().map(|id| id.to_string()).collect()),
    }
}
