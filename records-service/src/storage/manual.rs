//! Manual records (training outside the suite) and their audit trail.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use serde::Serialize;

use super::schema::{manual_record_changes, manual_records};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = manual_records)]
pub struct ManualRecordRow {
    pub id: String,
    pub tenant_id: String,
    pub learner: String,
    pub title: String,
    pub provider: String,
    pub completed_at: NaiveDateTime,
    pub hours: f64,
    pub evidence_url: String,
    pub revision: i64,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = manual_record_changes)]
pub struct ChangeRow {
    pub id: String,
    pub tenant_id: String,
    pub record_id: String,
    pub action: String,
    pub actor: String,
    pub changed_at: NaiveDateTime,
    pub reason: String,
    pub snapshot: String,
}

pub fn insert(conn: &mut DbConnection, row: &ManualRecordRow) -> Result<(), AppError> {
    diesel::insert_into(manual_records::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A record that is not deleted.
pub fn get(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<ManualRecordRow, AppError> {
    manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::id.eq(id))
        .filter(manual_records::deleted_at.is_null())
        .select(ManualRecordRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("manual record {id}")))
}

/// Any record, deleted ones included (for the audit).
pub fn exists(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<bool, AppError> {
    Ok(manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::id.eq(id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Writes the fields of `row` if its stored revision is still `expected`.
pub fn update(
    conn: &mut DbConnection,
    row: &ManualRecordRow,
    expected: i64,
) -> Result<(), AppError> {
    let changed = diesel::update(
        manual_records::table
            .filter(manual_records::tenant_id.eq(&row.tenant_id))
            .filter(manual_records::id.eq(&row.id))
            .filter(manual_records::revision.eq(expected)),
    )
    .set((
        manual_records::title.eq(&row.title),
        manual_records::provider.eq(&row.provider),
        manual_records::completed_at.eq(row.completed_at),
        manual_records::hours.eq(row.hours),
        manual_records::evidence_url.eq(&row.evidence_url),
        manual_records::revision.eq(row.revision),
        manual_records::deleted_at.eq(row.deleted_at),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(AppError::Aborted(
            "the record changed concurrently; re-read and retry".into(),
        ));
    }
    Ok(())
}

/// A learner's records that are not deleted, newest first, before the id `before`.
pub fn of_learner(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<ManualRecordRow>, AppError> {
    let mut query = manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::learner.eq(learner))
        .filter(manual_records::deleted_at.is_null())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(manual_records::id.lt(before));
    }
    Ok(query
        .order(manual_records::id.desc())
        .limit(limit)
        .select(ManualRecordRow::as_select())
        .load(conn)?)
}

pub fn record_change(conn: &mut DbConnection, change: &ChangeRow) -> Result<(), AppError> {
    diesel::insert_into(manual_record_changes::table)
        .values(change)
        .execute(conn)?;
    Ok(())
}

pub fn changes(
    conn: &mut DbConnection,
    tenant: &str,
    record_id: &str,
) -> Result<Vec<ChangeRow>, AppError> {
    Ok(manual_record_changes::table
        .filter(manual_record_changes::tenant_id.eq(tenant))
        .filter(manual_record_changes::record_id.eq(record_id))
        .order(manual_record_changes::id.asc())
        .select(ChangeRow::as_select())
        .load(conn)?)
}
