//! The enrolments notification-service follows, and their next reminder.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::tracked_enrolments as t;

/// An enrolment as notification-service knows it.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = t)]
#[diesel(treat_none_as_null = true)]
pub struct Tracked {
    pub tenant_id: String,
    pub enrolment_id: String,
    pub person_id: String,
    pub learner: String,
    pub pathway_id: String,
    pub mandatory: bool,
    pub due_at: Option<NaiveDateTime>,
    /// `open`, `suspended`, `completed` or `withdrawn`.
    pub state: String,
    pub revision: i64,
    pub next_reminder_at: Option<NaiveDateTime>,
    pub next_stage: i32,
}

pub const OPEN: &str = "open";
pub const SUSPENDED: &str = "suspended";
pub const COMPLETED: &str = "completed";
pub const WITHDRAWN: &str = "withdrawn";

pub fn find(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &str,
) -> AppResult<Option<Tracked>> {
    Ok(t::table
        .filter(t::tenant_id.eq(tenant.as_str()))
        .filter(t::enrolment_id.eq(enrolment_id))
        .select(Tracked::as_select())
        .first(conn)
        .optional()?)
}

/// The followed enrolments among `ids`.
pub fn find_all(conn: &mut DbConnection, tenant: &str, ids: &[&str]) -> AppResult<Vec<Tracked>> {
    // Followed enrolments arrive in bursts: plan for the table's size now.
    lms_platform::db::plan_for_actual_sizes(conn)?;
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1_000) {
        let of_ids = lms_platform::db::in_set(conn, "tracked_enrolments.enrolment_id", chunk);
        found.extend(
            t::table
                .filter(t::tenant_id.eq(tenant))
                .filter(of_ids)
                .select(Tracked::as_select())
                .load(conn)?,
        );
    }
    Ok(found)
}

/// Inserts or replaces many rows: on PostgreSQL one upsert per 1,000, on SQLite row by row (in
/// process, a statement costs no round trip).
pub fn save_all(conn: &mut DbConnection, rows: &[Tracked]) -> AppResult<()> {
    use diesel::upsert::excluded;
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in rows.chunks(1_000) {
                diesel::insert_into(t::table)
                    .values(chunk)
                    .on_conflict((t::tenant_id, t::enrolment_id))
                    .do_update()
                    .set((
                        t::person_id.eq(excluded(t::person_id)),
                        t::learner.eq(excluded(t::learner)),
                        t::pathway_id.eq(excluded(t::pathway_id)),
                        t::mandatory.eq(excluded(t::mandatory)),
                        t::due_at.eq(excluded(t::due_at)),
                        t::state.eq(excluded(t::state)),
                        t::revision.eq(excluded(t::revision)),
                        t::next_reminder_at.eq(excluded(t::next_reminder_at)),
                        t::next_stage.eq(excluded(t::next_stage)),
                    ))
                    .execute(pg)?;
            }
        }
        DbConnection::Sqlite(_) => {
            for row in rows {
                save(conn, row)?;
            }
        }
    }
    Ok(())
}

/// Inserts or replaces the row.
pub fn save(conn: &mut DbConnection, row: &Tracked) -> AppResult<()> {
    let updated = diesel::update(
        t::table
            .filter(t::tenant_id.eq(&row.tenant_id))
            .filter(t::enrolment_id.eq(&row.enrolment_id)),
    )
    .set(row)
    .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(t::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Enrolments whose next reminder is due at `now`, soonest first, held until the transaction
/// ends. On PostgreSQL rows another transaction holds are skipped, not waited for: another
/// replica's scan (which would otherwise take the same rows, and could deadlock with this one
/// over their order), or an event changing the due date, which this scan must not overwrite
/// with a plan made from the old one (the row is due at the next scan). SQLite's writers take
/// turns.
pub fn due(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> AppResult<Vec<Tracked>> {
    Ok(lms_platform::load_skipping_locked!(
        conn,
        t::table
            .filter(t::next_reminder_at.le(now))
            .order(t::next_reminder_at.asc())
            .limit(limit)
            .select(Tracked::as_select())
    )?)
}

/// Moves the enrolment's reminder sequence on.
pub fn set_next(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_id: &str,
    next_stage: i32,
    next_reminder_at: Option<NaiveDateTime>,
) -> AppResult<()> {
    diesel::update(
        t::table
            .filter(t::tenant_id.eq(tenant))
            .filter(t::enrolment_id.eq(enrolment_id)),
    )
    .set((
        t::next_stage.eq(next_stage),
        t::next_reminder_at.eq(next_reminder_at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Where an enrolment's reminder plan goes next.
pub struct NextReminder {
    pub tenant_id: String,
    pub enrolment_id: String,
    pub next_stage: i32,
    pub next_reminder_at: Option<NaiveDateTime>,
}

/// Moves many plans on: on PostgreSQL in one statement (arrays unnested), on SQLite row by row
/// (in process, a statement costs no round trip).
pub fn set_next_all(conn: &mut DbConnection, moves: &[NextReminder]) -> AppResult<()> {
    use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamp};
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in moves.chunks(5_000) {
                diesel::sql_query(
                    "UPDATE tracked_enrolments AS t \
                     SET next_stage = v.stage, next_reminder_at = v.at \
                     FROM (SELECT unnest($1::text[]) AS tenant, unnest($2::text[]) AS id, \
                                  unnest($3::int[]) AS stage, unnest($4::timestamp[]) AS at) AS v \
                     WHERE t.tenant_id = v.tenant AND t.enrolment_id = v.id",
                )
                .bind::<Array<Text>, _>(
                    chunk
                        .iter()
                        .map(|m| m.tenant_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Text>, _>(
                    chunk
                        .iter()
                        .map(|m| m.enrolment_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind::<Array<Integer>, _>(chunk.iter().map(|m| m.next_stage).collect::<Vec<_>>())
                .bind::<Array<Nullable<Timestamp>>, _>(
                    chunk.iter().map(|m| m.next_reminder_at).collect::<Vec<_>>(),
                )
                .execute(pg)?;
            }
        }
        DbConnection::Sqlite(_) => {
            for m in moves {
                set_next(
                    conn,
                    &m.tenant_id,
                    &m.enrolment_id,
                    m.next_stage,
                    m.next_reminder_at,
                )?;
            }
        }
    }
    Ok(())
}
