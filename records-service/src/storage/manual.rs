//! Manual records (training outside the suite) and their audit trail.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::{manual_record_changes, manual_records};
use crate::domain::manual::{ManualRecord, ManualRecordChange};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = manual_records)]
struct ManualRecordRow {
    id: String,
    tenant_id: TenantId,
    learner: String,
    title: String,
    provider: String,
    completed_at: NaiveDateTime,
    hours: f64,
    evidence_url: String,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = manual_record_changes)]
struct ChangeRow {
    id: String,
    tenant_id: String,
    record_id: String,
    action: String,
    actor: String,
    changed_at: NaiveDateTime,
    reason: String,
    snapshot: String,
}

impl From<ManualRecordRow> for ManualRecord {
    fn from(r: ManualRecordRow) -> Self {
        ManualRecord {
            id: r.id,
            tenant_id: r.tenant_id,
            learner: r.learner,
            title: r.title,
            provider: r.provider,
            completed_at: r.completed_at,
            hours: r.hours,
            evidence_url: r.evidence_url,
            revision: r.revision,
            created_at: r.created_at,
            created_by: r.created_by,
            deleted_at: r.deleted_at,
        }
    }
}

impl From<&ManualRecord> for ManualRecordRow {
    fn from(r: &ManualRecord) -> Self {
        ManualRecordRow {
            id: r.id.clone(),
            tenant_id: r.tenant_id.clone(),
            learner: r.learner.clone(),
            title: r.title.clone(),
            provider: r.provider.clone(),
            completed_at: r.completed_at,
            hours: r.hours,
            evidence_url: r.evidence_url.clone(),
            revision: r.revision,
            created_at: r.created_at,
            created_by: r.created_by.clone(),
            deleted_at: r.deleted_at,
        }
    }
}

pub fn insert(conn: &mut DbConnection, record: &ManualRecord) -> Result<(), AppError> {
    diesel::insert_into(manual_records::table)
        .values(ManualRecordRow::from(record))
        .execute(conn)?;
    Ok(())
}

/// A record that is not deleted.
pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<ManualRecord, AppError> {
    manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::id.eq(id))
        .filter(manual_records::deleted_at.is_null())
        .select(ManualRecordRow::as_select())
        .first(conn)
        .optional()?
        .map(ManualRecord::from)
        .ok_or_else(|| AppError::not_found(format!("manual record {id}")))
}

/// Any record, deleted ones included (for the audit).
pub fn exists(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<bool, AppError> {
    Ok(manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::id.eq(id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Writes the fields of `row` if its stored revision is still `expected`.
pub fn update(conn: &mut DbConnection, row: &ManualRecord, expected: i64) -> Result<(), AppError> {
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
    AppError::unless_updated(changed, "record")
}

/// A learner's records that are not deleted, newest first, before the id `before`.
pub fn of_learner(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<ManualRecord>, AppError> {
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
        .load(conn)?
        .into_iter()
        .map(ManualRecord::from)
        .collect())
}

/// Every record of a learner that is not deleted (for the transcript).
pub fn all_of_learner(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
) -> Result<Vec<ManualRecord>, AppError> {
    Ok(manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::learner.eq(learner))
        .filter(manual_records::deleted_at.is_null())
        .select(ManualRecordRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ManualRecord::from)
        .collect())
}

pub fn record_change(
    conn: &mut DbConnection,
    tenant: &TenantId,
    change: &ManualRecordChange,
) -> Result<(), AppError> {
    let row = ChangeRow {
        id: change.id.clone(),
        tenant_id: tenant.to_string(),
        record_id: change.record_id.clone(),
        action: change.action.clone(),
        actor: change.actor.clone(),
        changed_at: change.changed_at,
        reason: change.reason.clone(),
        snapshot: change.snapshot.clone(),
    };
    diesel::insert_into(manual_record_changes::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn changes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    record_id: &str,
) -> Result<Vec<ManualRecordChange>, AppError> {
    Ok(manual_record_changes::table
        .filter(manual_record_changes::tenant_id.eq(tenant))
        .filter(manual_record_changes::record_id.eq(record_id))
        .order(manual_record_changes::id.asc())
        .select(ChangeRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c: ChangeRow| ManualRecordChange {
            id: c.id,
            record_id: c.record_id,
            action: c.action,
            actor: c.actor,
            changed_at: c.changed_at,
            reason: c.reason,
            snapshot: c.snapshot,
        })
        .collect())
}

/// A tenant's manual records after the id `after` ("" from the first), by id, deleted ones
/// included: a batch of the statements' backfill.
pub fn after(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: &str,
    limit: i64,
) -> Result<Vec<ManualRecord>, AppError> {
    Ok(manual_records::table
        .filter(manual_records::tenant_id.eq(tenant))
        .filter(manual_records::id.gt(after))
        .order(manual_records::id.asc())
        .limit(limit)
        .select(ManualRecordRow::as_select())
        .load::<ManualRecordRow>(conn)?
        .into_iter()
        .map(ManualRecord::from)
        .collect())
}
