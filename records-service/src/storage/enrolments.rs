//! Enrolments as records-service knows them (projected from enrolment-service's events).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::upsert::excluded;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};

use super::schema::enrolments;
use crate::domain::enrolment::{Enrolment, EnrolmentStatus};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrolments)]
struct EnrolmentRow {
    id: EnrolmentId,
    tenant_id: String,
    learner: String,
    pathway_id: PathwayId,
    pathway_version: i32,
    status: String,
    requirement: String,
    assigned_at: NaiveDateTime,
    due_at: Option<NaiveDateTime>,
    completed_at: Option<NaiveDateTime>,
    source_revision: i64,
}

impl EnrolmentRow {
    fn new(tenant: &TenantId, e: &Enrolment) -> Self {
        Self {
            id: e.id.clone(),
            tenant_id: tenant.to_string(),
            learner: e.learner.clone(),
            pathway_id: e.pathway_id.clone(),
            pathway_version: e.pathway_version,
            status: e.status.as_str().to_string(),
            requirement: e.requirement.clone(),
            assigned_at: e.assigned_at,
            due_at: e.due_at,
            completed_at: e.completed_at,
            source_revision: e.source_revision,
        }
    }

    fn into_enrolment(self) -> Result<Enrolment, AppError> {
        let status = EnrolmentStatus::parse(&self.status).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "enrolment {} has status {:?}",
                self.id,
                self.status
            ))
        })?;
        Ok(Enrolment {
            id: self.id,
            learner: self.learner,
            pathway_id: self.pathway_id,
            pathway_version: self.pathway_version,
            status,
            requirement: self.requirement,
            assigned_at: self.assigned_at,
            due_at: self.due_at,
            completed_at: self.completed_at,
            source_revision: self.source_revision,
        })
    }
}

fn enrolments_of(rows: Vec<EnrolmentRow>) -> Result<Vec<Enrolment>, AppError> {
    rows.into_iter().map(EnrolmentRow::into_enrolment).collect()
}

/// Withdrawn enrolments are history only.
const WITHDRAWN: &str = "WITHDRAWN";

/// Applies an enrolment as of its `source_revision`: inserted when new, updated when newer
/// than what is stored; an older (reordered) event changes nothing. The same statement as a
/// batch's ([`upsert_all`]), so an event applied alone (a delivery retried event by event)
/// ends as it would in a batch.
pub fn upsert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
) -> Result<(), AppError> {
    upsert_all(conn, tenant, std::slice::from_ref(enrolment))
}

/// Applies many enrolments, each as [`upsert`] describes, in one upsert per 500: new ones
/// inserted, stored ones updated when the event is a newer revision. Of an enrolment the batch
/// holds twice, the newest revision wins, as it would one event after another.
pub fn upsert_all(
    conn: &mut DbConnection,
    tenant: &TenantId,
    batch: &[Enrolment],
) -> Result<(), AppError> {
    let mut newest: Vec<&Enrolment> = Vec::with_capacity(batch.len());
    let mut at: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
    for enrolment in batch {
        match at.get(enrolment.id.as_str()) {
            Some(&i) if newest[i].source_revision >= enrolment.source_revision => {}
            Some(&i) => newest[i] = enrolment,
            None => {
                at.insert(enrolment.id.as_str(), newest.len());
                newest.push(enrolment);
            }
        }
    }
    // One statement per chunk: new enrolments are inserted, stored ones take the row only
    // when it is a newer revision of the same tenant's enrolment. (Reading the stored
    // revisions first was a fifth of the database time of applying a delivery; issue 22.)
    let rows: Vec<EnrolmentRow> = newest
        .into_iter()
        .map(|enrolment| EnrolmentRow::new(tenant, enrolment))
        .collect();
    // PostgreSQL takes a chunk per statement; SQLite (in process: a statement costs no round
    // trip) a row per statement, as diesel writes no multi-row upsert for it.
    let chunk_size = match conn {
        DbConnection::Postgres(_) => BATCH,
        DbConnection::Sqlite(_) => 1,
    };
    for chunk in rows.chunks(chunk_size) {
        let newer = enrolments::source_revision
            .lt(excluded(enrolments::source_revision))
            .and(enrolments::tenant_id.eq(excluded(enrolments::tenant_id)));
        let changes = (
            enrolments::status.eq(excluded(enrolments::status)),
            enrolments::due_at.eq(excluded(enrolments::due_at)),
            enrolments::requirement.eq(excluded(enrolments::requirement)),
            enrolments::source_revision.eq(excluded(enrolments::source_revision)),
        );
        // Written once for both backends' value types (a chunk, a row).
        macro_rules! upsert {
            ($values:expr) => {
                diesel::query_dsl::methods::FilterDsl::filter(
                    diesel::insert_into(enrolments::table)
                        .values($values)
                        .on_conflict(enrolments::id)
                        .do_update()
                        .set(changes),
                    newer,
                )
            };
        }
        match conn {
            DbConnection::Postgres(pg) => upsert!(chunk).execute(pg)?,
            DbConnection::Sqlite(sqlite) => upsert!(&chunk[0]).execute(sqlite)?,
        };
    }
    Ok(())
}

/// Rows per multi-row statement (11 columns: well under both backends' bind limits).
const BATCH: usize = 500;

pub fn exists(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
) -> Result<bool, AppError> {
    Ok(enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::id.eq(id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
) -> Result<Enrolment, AppError> {
    find(conn, tenant, id)?.ok_or_else(|| AppError::not_found(format!("enrolment {id}")))
}

/// The enrolment, when its events have arrived here.
pub fn find(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
) -> Result<Option<Enrolment>, AppError> {
    enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::id.eq(id))
        .select(EnrolmentRow::as_select())
        .first(conn)
        .optional()?
        .map(EnrolmentRow::into_enrolment)
        .transpose()
}

/// The learner's enrolment in a pathway that is not withdrawn, newest first.
pub fn current(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    pathway_id: &PathwayId,
) -> Result<Option<Enrolment>, AppError> {
    enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::learner.eq(learner))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne(WITHDRAWN))
        .order(enrolments::id.desc())
        .select(EnrolmentRow::as_select())
        .first(conn)
        .optional()?
        .map(EnrolmentRow::into_enrolment)
        .transpose()
}

/// A learner's enrolments that are not withdrawn.
pub fn of_learner(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
) -> Result<Vec<Enrolment>, AppError> {
    enrolments_of(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::learner.eq(learner))
            .filter(enrolments::status.ne(WITHDRAWN))
            .order(enrolments::id.asc())
            .select(EnrolmentRow::as_select())
            .load(conn)?,
    )
}

pub fn set_completed(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::id.eq(id))
            .filter(enrolments::completed_at.is_null()),
    )
    .set(enrolments::completed_at.eq(Some(at)))
    .execute(conn)?;
    Ok(())
}

/// A pathway's in-flight enrolments (neither completed nor withdrawn) on a version older than
/// `version`; only those of `ids` when given.
pub fn in_flight_before(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &PathwayId,
    version: i32,
    ids: &[EnrolmentId],
) -> Result<Vec<Enrolment>, AppError> {
    let mut query = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne(WITHDRAWN))
        .filter(enrolments::completed_at.is_null())
        .filter(enrolments::pathway_version.lt(version))
        .into_boxed();
    if !ids.is_empty() {
        query = query.filter(enrolments::id.eq_any(ids));
    }
    enrolments_of(
        query
            .order(enrolments::id.asc())
            .select(EnrolmentRow::as_select())
            .load(conn)?,
    )
}

pub fn set_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
    version: i32,
) -> Result<(), AppError> {
    diesel::update(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::id.eq(id)),
    )
    .set(enrolments::pathway_version.eq(version))
    .execute(conn)?;
    Ok(())
}

/// Every enrolment of a learner, withdrawn ones included (the training history).
pub fn history(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
) -> Result<Vec<Enrolment>, AppError> {
    enrolments_of(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::learner.eq(learner))
            .order(enrolments::id.desc())
            .select(EnrolmentRow::as_select())
            .load(conn)?,
    )
}

/// A page of a pathway's current (not withdrawn) enrolments, by learner, after `after`.
pub fn pathway_enrolments(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &PathwayId,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Enrolment>, AppError> {
    let mut query = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne(WITHDRAWN))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(enrolments::learner.gt(after));
    }
    enrolments_of(
        query
            .order(enrolments::learner.asc())
            .limit(limit)
            .select(EnrolmentRow::as_select())
            .load(conn)?,
    )
}

/// The current (not withdrawn) enrolments in a pathway of these learners, by learner.
pub fn pathway_enrolments_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &PathwayId,
    learners: &[String],
) -> Result<Vec<Enrolment>, AppError> {
    enrolments_of(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::pathway_id.eq(pathway_id))
            .filter(enrolments::status.ne(WITHDRAWN))
            .filter(enrolments::learner.eq_any(learners))
            .order(enrolments::learner.asc())
            .select(EnrolmentRow::as_select())
            .load(conn)?,
    )
}
