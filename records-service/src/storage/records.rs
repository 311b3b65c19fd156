//! Enrolments as records-service knows them, pathway versions, activities.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use super::schema::{activities, enrolments, pathway_versions};
use crate::domain::pathway::PathwaySnapshot;
use crate::domain::progress::Record;

/// An enrolment as projected from enrolment-service's events.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrolments)]
pub struct EnrolmentRow {
    pub id: String,
    pub tenant_id: String,
    pub learner: String,
    pub pathway_id: String,
    pub pathway_version: i32,
    /// ACTIVE, SUSPENDED or WITHDRAWN.
    pub status: String,
    pub requirement: String,
    pub assigned_at: NaiveDateTime,
    pub due_at: Option<NaiveDateTime>,
    pub completed_at: Option<NaiveDateTime>,
    pub source_revision: i64,
}

/// Applies an enrolment as of `row.source_revision`: inserted when new, updated when newer
/// than what is stored; an older (reordered) event changes nothing.
pub fn upsert_enrolment(conn: &mut DbConnection, row: &EnrolmentRow) -> Result<(), AppError> {
    let current = enrolments::table
        .filter(enrolments::tenant_id.eq(&row.tenant_id))
        .filter(enrolments::id.eq(&row.id))
        .select(enrolments::source_revision)
        .first::<i64>(conn)
        .optional()?;
    match current {
        None => {
            diesel::insert_into(enrolments::table)
                .values(row)
                .execute(conn)?;
        }
        Some(revision) if revision < row.source_revision => {
            diesel::update(
                enrolments::table
                    .filter(enrolments::tenant_id.eq(&row.tenant_id))
                    .filter(enrolments::id.eq(&row.id)),
            )
            .set((
                enrolments::status.eq(&row.status),
                enrolments::due_at.eq(row.due_at),
                enrolments::requirement.eq(&row.requirement),
                enrolments::source_revision.eq(row.source_revision),
            ))
            .execute(conn)?;
        }
        Some(_) => {}
    }
    Ok(())
}

pub fn exists(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<bool, AppError> {
    Ok(enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::id.eq(id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

pub fn get_enrolment(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
) -> Result<EnrolmentRow, AppError> {
    enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::id.eq(id))
        .select(EnrolmentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("enrolment {id}")))
}

/// The learner's enrolment in a pathway that is not withdrawn, newest first.
pub fn current_enrolment(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
    pathway_id: &str,
) -> Result<Option<EnrolmentRow>, AppError> {
    Ok(enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::learner.eq(learner))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne("WITHDRAWN"))
        .order(enrolments::id.desc())
        .select(EnrolmentRow::as_select())
        .first(conn)
        .optional()?)
}

/// A learner's enrolments that are not withdrawn.
pub fn learner_enrolments(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
) -> Result<Vec<EnrolmentRow>, AppError> {
    Ok(enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::learner.eq(learner))
        .filter(enrolments::status.ne("WITHDRAWN"))
        .order(enrolments::id.asc())
        .select(EnrolmentRow::as_select())
        .load(conn)?)
}

pub fn set_completed(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
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

pub fn pathway_version(
    conn: &mut DbConnection,
    tenant: &str,
    pathway_id: &str,
    version: i32,
) -> Result<Option<PathwaySnapshot>, AppError> {
    let text: Option<String> = pathway_versions::table
        .filter(pathway_versions::tenant_id.eq(tenant))
        .filter(pathway_versions::pathway_id.eq(pathway_id))
        .filter(pathway_versions::version.eq(version))
        .select(pathway_versions::snapshot)
        .first(conn)
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(AppError::internal))
        .transpose()
}

/// Whether a published version is cached (without reading it).
pub fn has_pathway_version(
    conn: &mut DbConnection,
    tenant: &str,
    pathway_id: &str,
    version: i32,
) -> Result<bool, AppError> {
    Ok(diesel::select(diesel::dsl::exists(
        pathway_versions::table
            .filter(pathway_versions::tenant_id.eq(tenant))
            .filter(pathway_versions::pathway_id.eq(pathway_id))
            .filter(pathway_versions::version.eq(version)),
    ))
    .get_result(conn)?)
}

/// Caches a published version (immutable: a second store of the same version is a no-op).
pub fn store_pathway_version(
    conn: &mut DbConnection,
    tenant: &str,
    snapshot: &PathwaySnapshot,
) -> Result<(), AppError> {
    if has_pathway_version(conn, tenant, &snapshot.pathway_id, snapshot.version)? {
        return Ok(());
    }
    diesel::insert_into(pathway_versions::table)
        .values((
            pathway_versions::tenant_id.eq(tenant),
            pathway_versions::pathway_id.eq(&snapshot.pathway_id),
            pathway_versions::version.eq(snapshot.version),
            pathway_versions::snapshot
                .eq(serde_json::to_string(snapshot).map_err(AppError::internal)?),
            pathway_versions::fetched_at.eq(lms_platform::resource::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// One entry of the learner record.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = activities)]
pub struct ActivityRow {
    pub id: String,
    pub tenant_id: String,
    pub enrolment_id: String,
    pub step_id: String,
    /// STEP_STARTED, STEP_COMPLETED, STEP_FAILED.
    pub kind: String,
    /// LEARNER, ASSESSMENT_OUTCOME, INSTRUCTOR_ATTENDANCE, ADMIN_ENTRY.
    pub source: String,
    pub actor: String,
    pub score: f64,
    pub max_score: f64,
    pub evidence_url: String,
    pub note: String,
    pub recorded_at: NaiveDateTime,
}

pub fn insert_activity(conn: &mut DbConnection, row: &ActivityRow) -> Result<(), AppError> {
    diesel::insert_into(activities::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// An enrolment's activities, oldest first, after the id `after`.
pub fn activities(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_id: &str,
    after: Option<String>,
    limit: Option<i64>,
) -> Result<Vec<ActivityRow>, AppError> {
    let mut query = activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::enrolment_id.eq(enrolment_id))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(activities::id.gt(after));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    Ok(query
        .order(activities::id.asc())
        .select(ActivityRow::as_select())
        .load(conn)?)
}

/// The activity kind of an admin's move to a newer pathway version.
pub const VERSION_MOVED: &str = "PATHWAY_VERSION_MOVED";

/// A pathway's in-flight enrolments (neither completed nor withdrawn) on a version older than
/// `version`; only those of `ids` when given.
pub fn in_flight_before(
    conn: &mut DbConnection,
    tenant: &str,
    pathway_id: &str,
    version: i32,
    ids: &[String],
) -> Result<Vec<EnrolmentRow>, AppError> {
    let mut query = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne("WITHDRAWN"))
        .filter(enrolments::completed_at.is_null())
        .filter(enrolments::pathway_version.lt(version))
        .into_boxed();
    if !ids.is_empty() {
        query = query.filter(enrolments::id.eq_any(ids));
    }
    Ok(query
        .order(enrolments::id.asc())
        .select(EnrolmentRow::as_select())
        .load(conn)?)
}

pub fn set_version(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
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

/// What the activity log says the learner has done.
pub fn record_of(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_id: &str,
) -> Result<Record, AppError> {
    Ok(records_of(conn, tenant, &[enrolment_id.to_string()])?
        .remove(enrolment_id)
        .unwrap_or_default())
}

/// Every enrolment of a learner, withdrawn ones included (the training history).
pub fn history(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
) -> Result<Vec<EnrolmentRow>, AppError> {
    Ok(enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::learner.eq(learner))
        .order(enrolments::id.desc())
        .select(EnrolmentRow::as_select())
        .load(conn)?)
}

/// A page of a pathway's current (not withdrawn) enrolments, by learner, after `after`.
pub fn pathway_enrolments(
    conn: &mut DbConnection,
    tenant: &str,
    pathway_id: &str,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<EnrolmentRow>, AppError> {
    let mut query = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne("WITHDRAWN"))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(enrolments::learner.gt(after));
    }
    Ok(query
        .order(enrolments::learner.asc())
        .limit(limit)
        .select(EnrolmentRow::as_select())
        .load(conn)?)
}

/// The current (not withdrawn) enrolments in a pathway of these learners, by learner.
pub fn pathway_enrolments_of(
    conn: &mut DbConnection,
    tenant: &str,
    pathway_id: &str,
    learners: &[String],
) -> Result<Vec<EnrolmentRow>, AppError> {
    Ok(enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne("WITHDRAWN"))
        .filter(enrolments::learner.eq_any(learners))
        .order(enrolments::learner.asc())
        .select(EnrolmentRow::as_select())
        .load(conn)?)
}

/// The records of many enrolments in one query.
pub fn records_of(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_ids: &[String],
) -> Result<HashMap<String, Record>, AppError> {
    let mut records: HashMap<String, Record> = HashMap::new();
    let rows: Vec<ActivityRow> = activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::enrolment_id.eq_any(enrolment_ids))
        .order(activities::id.asc())
        .select(ActivityRow::as_select())
        .load(conn)?;
    for activity in rows {
        let record = records.entry(activity.enrolment_id.clone()).or_default();
        if activity.kind == VERSION_MOVED {
            // An admin's move is not the learner's doing: it starts nothing.
            continue;
        }
        record.any_activity = true;
        if activity.max_score > 0.0 {
            let percent = activity.score / activity.max_score * 100.0;
            let best = record
                .best_scores
                .entry(activity.step_id.clone())
                .or_insert(percent);
            *best = best.max(percent);
        }
        if activity.kind == "STEP_COMPLETED" {
            record
                .completed
                .entry(activity.step_id)
                .or_insert(activity.recorded_at);
        }
    }
    Ok(records)
}
