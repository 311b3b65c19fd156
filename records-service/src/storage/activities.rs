//! The activity log: append-only entries of the learner record.

use lms_platform::ids::{EnrolmentId, TenantId};
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use super::schema::activities;
use crate::domain::activity::{Activity, ActivityKind, ActivitySource};
use crate::domain::progress::Record;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = activities)]
struct ActivityRow {
    id: String,
    tenant_id: String,
    enrolment_id: EnrolmentId,
    step_id: String,
    kind: String,
    source: String,
    actor: String,
    score: f64,
    max_score: f64,
    attempt_number: i32,
    max_attempts: i32,
    evidence_url: String,
    note: String,
    recorded_at: NaiveDateTime,
}

impl ActivityRow {
    fn into_activity(self) -> Result<Activity, AppError> {
        let unknown = |what: &str, text: &str| {
            AppError::internal(anyhow::anyhow!("activity {} has {what} {text:?}", self.id))
        };
        let kind = ActivityKind::parse(&self.kind).ok_or_else(|| unknown("kind", &self.kind))?;
        let source =
            ActivitySource::parse(&self.source).ok_or_else(|| unknown("source", &self.source))?;
        Ok(Activity {
            id: self.id,
            enrolment_id: self.enrolment_id,
            step_id: self.step_id,
            kind,
            source,
            actor: self.actor,
            score: self.score,
            max_score: self.max_score,
            attempt_number: self.attempt_number,
            max_attempts: self.max_attempts,
            evidence_url: self.evidence_url,
            note: self.note,
            recorded_at: self.recorded_at,
        })
    }
}

pub fn insert(conn: &mut DbConnection, tenant: &TenantId, a: &Activity) -> Result<(), AppError> {
    let row = ActivityRow {
        id: a.id.clone(),
        tenant_id: tenant.to_string(),
        enrolment_id: a.enrolment_id.clone(),
        step_id: a.step_id.clone(),
        kind: a.kind.as_str().to_string(),
        source: a.source.as_str().to_string(),
        actor: a.actor.clone(),
        score: a.score,
        max_score: a.max_score,
        attempt_number: a.attempt_number,
        max_attempts: a.max_attempts,
        evidence_url: a.evidence_url.clone(),
        note: a.note.clone(),
        recorded_at: a.recorded_at,
    };
    diesel::insert_into(activities::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

/// An enrolment's activities, oldest first, after the id `after`.
pub fn of_enrolment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_id: &EnrolmentId,
    after: Option<String>,
    limit: Option<i64>,
) -> Result<Vec<Activity>, AppError> {
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
    query
        .order(activities::id.asc())
        .select(ActivityRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ActivityRow::into_activity)
        .collect()
}

/// The records of many enrolments in one query.
pub fn records_of(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[EnrolmentId],
) -> Result<HashMap<EnrolmentId, Record>, AppError> {
    let mut records: HashMap<EnrolmentId, Record> = HashMap::new();
    let rows: Vec<ActivityRow> = activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::enrolment_id.eq_any(enrolment_ids))
        .order(activities::id.asc())
        .select(ActivityRow::as_select())
        .load(conn)?;
    for row in rows {
        let activity = row.into_activity()?;
        records
            .entry(activity.enrolment_id.clone())
            .or_default()
            .add(&activity);
    }
    Ok(records)
}

/// A tenant's activities after the id `after` ("" from the first), by id: a batch of the
/// statements' backfill.
pub fn after(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: &str,
    limit: i64,
) -> Result<Vec<Activity>, AppError> {
    activities::table
        .filter(activities::tenant_id.eq(tenant))
        .filter(activities::id.gt(after))
        .order(activities::id.asc())
        .limit(limit)
        .select(ActivityRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ActivityRow::into_activity)
        .collect()
}
