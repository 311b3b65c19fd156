//! Filtering by a set of values the caller holds (the ids of a batch), written so that both
//! databases probe their index for each value whatever their statistics say.

use diesel::sql_types::{Bool, Text};

use super::DbConnection;

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
