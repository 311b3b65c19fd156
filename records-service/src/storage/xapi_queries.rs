//! Statement queries. A query naming an agent and a verb walks their pair's keys (exactly the
//! statements that match both); one naming a registration, a learner, an activity or a verb
//! otherwise walks that value's keys. Either walk follows `stored` order (the primary key's
//! order, so no sort) and checks each statement against the other filters by a point lookup
//! of its key: a key row carries its
//! statement's `stored`, so (kind, value, related, stored, id) is the whole primary key. A
//! page then costs about as many lookups as the statements it skips. The plain form below
//! walked every statement in `stored` order on SQLite, testing each against the values' key
//! lists (60 ms a page at 200 000 statements), and is kept for queries naming none of these
//! values, or only values asked as related (which may match one statement by two keys).

use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::{DbConnection, plan_for_actual_sizes};
use lms_platform::ids::TenantId;

use super::schema::{xapi_statement_keys as keys, xapi_statements as statements};
use super::xapi_statements::{KeyKind, StatementFilter, StoredStatement, pair_key};

diesel::alias!(keys as other: OtherKeys);

/// A boxed query narrowed to the filter's time window, after the previous page's last
/// statement (`more`), in `stored` order and limited: the same for either walk, over the
/// (stored, id) columns it walks.
macro_rules! page {
    ($query:expr, $filter:expr, $stored:expr, $id:expr) => {{
        let (mut query, filter) = ($query, $filter);
        if let Some(since) = filter.since {
            query = query.filter($stored.gt(since));
        }
        if let Some(until) = filter.until {
            query = query.filter($stored.le(until));
        }
        if let Some((stored, id)) = &filter.after {
            query = if filter.ascending {
                query.filter(
                    $stored
                        .gt(*stored)
                        .or($stored.eq(*stored).and($id.gt(id.clone()))),
                )
            } else {
                query.filter(
                    $stored
                        .lt(*stored)
                        .or($stored.eq(*stored).and($id.lt(id.clone()))),
                )
            };
        }
        query = if filter.ascending {
            query.order(($stored.asc(), $id.asc()))
        } else {
            query.order(($stored.desc(), $id.desc()))
        };
        query.limit(filter.limit)
    }};
}

/// The filters of a query as (kind, value, asked as related), the most selective first.
fn filters(filter: &StatementFilter) -> [(KeyKind, Option<&String>, bool); 4] {
    [
        (KeyKind::Registration, filter.registration.as_ref(), false),
        (KeyKind::Agent, filter.agent.as_ref(), filter.related_agents),
        (
            KeyKind::Activity,
            filter.activity.as_ref(),
            filter.related_activities,
        ),
        (KeyKind::Verb, filter.verb.as_ref(), false),
    ]
}

/// Statements that are not voided and match every filter, in `stored` order.
pub fn query(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &StatementFilter,
) -> Result<Vec<StoredStatement>, AppError> {
    // A generic plan (a prepared statement's, once used five times) knows neither which value
    // is rare nor which common: on PostgreSQL it merged the learner's 100 keys with a sort of
    // the verb's 50 000 (98 ms a page at 1 000 000 statements) where the plan for the values
    // given probes 100 keys (1 ms).
    if let (Some(agent), Some(verb), false) = (&filter.agent, &filter.verb, filter.related_agents) {
        // Agent and verb together: their pair's keys are the statements matching both, so
        // none is read only to be skipped (a learner's 100 statements walked for the 5 with
        // the verb, before).
        plan_for_actual_sizes(conn)?;
        let pair = pair_key(agent, verb);
        let covered = [KeyKind::Agent, KeyKind::Verb];
        return by_key(conn, tenant, filter, (KeyKind::AgentVerb, &pair), &covered);
    }
    let driver = filters(filter)
        .into_iter()
        .find_map(|(kind, value, related)| value.filter(|_| !related).map(|v| (kind, v)));
    match driver {
        Some((kind, value)) => {
            plan_for_actual_sizes(conn)?;
            by_key(conn, tenant, filter, (kind, value), &[kind])
        }
        None => in_stored_order(conn, tenant, filter),
    }
}

/// Walks the keys of `driver` (kind, value) in `stored` order; the filters of the `covered`
/// kinds are met by the driver itself, the others are checked.
fn by_key(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &StatementFilter,
    (kind, value): (KeyKind, &str),
    covered: &[KeyKind],
) -> Result<Vec<StoredStatement>, AppError> {
    let mut query = keys::table
        .inner_join(
            statements::table.on(statements::tenant_id
                .eq(keys::tenant_id)
                .and(statements::id.eq(keys::statement_id))),
        )
        .filter(keys::tenant_id.eq(tenant.as_str()))
        .filter(keys::kind.eq(kind.as_str()))
        .filter(keys::key.eq(value))
        .filter(keys::related.eq(false))
        .filter(statements::voided.eq(false))
        .into_boxed();
    for (other_kind, other_value, related) in filters(filter) {
        let Some(other_value) = other_value.filter(|_| !covered.contains(&other_kind)) else {
            continue;
        };
        // The whole primary key of the statement's key row (for each `related` asked).
        let matching = other
            .filter(other.field(keys::tenant_id).eq(keys::tenant_id))
            .filter(other.field(keys::kind).eq(other_kind.as_str()))
            .filter(other.field(keys::key).eq(other_value.clone()))
            .filter(
                other
                    .field(keys::related)
                    .eq(false)
                    .or(other.field(keys::related).eq(related)),
            )
            .filter(other.field(keys::stored).eq(keys::stored))
            .filter(other.field(keys::statement_id).eq(keys::statement_id));
        query = query.filter(diesel::dsl::exists(matching));
    }
    Ok(page!(query, filter, keys::stored, keys::statement_id)
        .select(StoredStatement::as_select())
        .load(conn)?)
}

/// Reads statements in `stored` order, each value given (as related) matched by its keys.
fn in_stored_order(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &StatementFilter,
) -> Result<Vec<StoredStatement>, AppError> {
    let mut query = statements::table
        .filter(statements::tenant_id.eq(tenant.as_str()))
        .filter(statements::voided.eq(false))
        .into_boxed();
    for (kind, value, related) in filters(filter) {
        if let Some(value) = value {
            let matching = keys::table
                .filter(keys::tenant_id.eq(tenant.to_string()))
                .filter(keys::kind.eq(kind.as_str()))
                .filter(keys::key.eq(value.clone()))
                // related = false, or either when the related_* flag is on.
                .filter(keys::related.eq(false).or(keys::related.eq(related)))
                .select(keys::statement_id);
            query = query.filter(statements::id.eq_any(matching));
        }
    }
    Ok(page!(query, filter, statements::stored, statements::id)
        .select(StoredStatement::as_select())
        .load(conn)?)
}
