//! Reporting lines: a manager's team, walked down the directory's `manager_external_id` links
//! with one recursive query (the same text on SQLite and PostgreSQL).
//!
//! HR data may hold a cycle (a manages b, b manages a). The walk is bounded by
//! [`MAX_LEVELS`], each person is reported once at the nearest level they are reached, and the
//! manager is never their own report, so a cycle ends the walk rather than looping.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Text};
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::sql::{self, Sql};

/// The deepest reporting line followed.
pub const MAX_LEVELS: i32 = crate::domain::reporting::MAX_LEVELS as i32;

/// Every reporting line of the tenant: person → manager (external ids), for people who have
/// one. What an upload's loop check reads: one query, two short columns.
pub fn reporting_lines(
    conn: &mut DbConnection,
    tenant: &TenantId,
) -> Result<std::collections::HashMap<String, String>, AppError> {
    use super::schema::people;
    use diesel::prelude::*;
    Ok(people::table
        .filter(people::tenant_id.eq(tenant))
        .filter(people::manager_external_id.ne(""))
        .select((people::external_id, people::manager_external_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

#[derive(QueryableByName)]
pub struct Member {
    #[diesel(sql_type = Text)]
    pub external_id: String,
    #[diesel(sql_type = Integer)]
    pub level: i32,
}

#[derive(QueryableByName)]
struct CountedMember {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = Integer)]
    level: i32,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `WITH RECURSIVE team ..., members(external_id, level) ...`: everyone below `manager` down to
/// `max_level`, each once at their nearest level, the manager left out.
fn with_members(sql: &mut Sql, tenant: &TenantId, manager: &str, max_level: i32) {
    sql.push(
        "WITH RECURSIVE team(external_id, level) AS (\
         SELECT external_id, 1 FROM people WHERE tenant_id = ",
    )
    .push_text(tenant.as_str())
    .push(" AND manager_external_id = ")
    .push_text(manager)
    .push(
        " UNION SELECT p.external_id, t.level + 1 FROM people p \
         JOIN team t ON p.manager_external_id = t.external_id WHERE p.tenant_id = ",
    )
    .push_text(tenant.as_str())
    .push(&format!(" AND t.level < {max_level}), "))
    .push(
        "members(external_id, level) AS (\
         SELECT external_id, MIN(level) FROM team WHERE external_id <> ",
    )
    .push_text(manager)
    .push(" GROUP BY external_id) ");
}

fn depth(whole_subtree: bool) -> i32 {
    if whole_subtree { MAX_LEVELS } else { 1 }
}

/// A page of `manager`'s team, nearest first then by external id, after `after`
/// (level, external id); and how many the whole team holds.
pub fn page(
    conn: &mut DbConnection,
    tenant: &TenantId,
    manager: &str,
    whole_subtree: bool,
    after: Option<(i32, String)>,
    limit: i64,
) -> Result<(Vec<Member>, i64), AppError> {
    let max_level = depth(whole_subtree);
    // The page and the whole team's size in one walk (a window over the members before the
    // page is cut).
    let rows = sql::load::<CountedMember>(conn, |sql| {
        with_members(sql, tenant, manager, max_level);
        sql.push(
            ", counted AS (SELECT external_id, level, COUNT(*) OVER () AS total FROM members) \
             SELECT external_id, level, total FROM counted",
        );
        if let Some((level, external_id)) = &after {
            sql.push(&format!(
                " WHERE level > {level} OR (level = {level} AND external_id > "
            ))
            .push_text(external_id)
            .push(")");
        }
        sql.push(&format!(" ORDER BY level, external_id LIMIT {limit}"));
    })?;
    let total = match rows.first() {
        Some(row) => row.total,
        // Past the last page: counted on its own.
        None => sql::load::<Count>(conn, |sql| {
            with_members(sql, tenant, manager, max_level);
            sql.push("SELECT COUNT(*) AS n FROM members");
        })?
        .first()
        .map_or(0, |c| c.n),
    };
    let members = rows
        .into_iter()
        .map(|r| Member {
            external_id: r.external_id,
            level: r.level,
        })
        .collect();
    Ok((members, total))
}

/// The ones of `people` anywhere below `manager`: each person's chain of managers is walked up
/// (a few rows each, on the unique external-id index), rather than the manager's whole team
/// down.
pub fn managed(
    conn: &mut DbConnection,
    tenant: &TenantId,
    manager: &str,
    people: &[String],
) -> Result<Vec<String>, AppError> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let members = sql::load::<Member>(conn, |sql| {
        sql.push(
            "WITH RECURSIVE chain(person, manager, level) AS (\
             SELECT external_id, manager_external_id, 1 FROM people WHERE tenant_id = ",
        )
        .push_text(tenant.as_str())
        .push(" AND external_id IN (")
        .push_text_list(people)
        .push(
            ") UNION ALL SELECT c.person, p.manager_external_id, c.level + 1 FROM chain c \
             JOIN people p ON p.external_id = c.manager WHERE p.tenant_id = ",
        )
        .push_text(tenant.as_str())
        .push(&format!(
            " AND c.manager <> '' AND c.level < {MAX_LEVELS}) \
             SELECT person AS external_id, MIN(level) AS level FROM chain WHERE manager = "
        ))
        .push_text(manager)
        .push(" AND person <> ")
        .push_text(manager)
        .push(" GROUP BY person ORDER BY person");
    })?;
    Ok(members.into_iter().map(|m| m.external_id).collect())
}
