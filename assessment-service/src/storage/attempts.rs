//! Attempt rows: the served questions, answers and grades as JSON documents.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::attempts;
use super::{from_json, to_json};
use crate::domain::attempt::{AttemptRecord, Status};

#[derive(Queryable, Selectable)]
#[diesel(table_name = attempts)]
struct Row {
    id: String,
    assessment_id: String,
    learner: String,
    number: i32,
    status: String,
    started_at: NaiveDateTime,
    deadline: Option<NaiveDateTime>,
    submitted_at: Option<NaiveDateTime>,
    served: String,
    answers: String,
    grades: String,
    score: f64,
    max_score: f64,
    passed: bool,
    revision: i64,
}

impl Row {
    fn into_record(self) -> Result<AttemptRecord, AppError> {
        Ok(AttemptRecord {
            status: Status::parse(&self.status).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("stored attempt status {:?}", self.status))
            })?,
            served: from_json(&self.served)?,
            answers: from_json(&self.answers)?,
            grades: from_json(&self.grades)?,
            id: self.id,
            assessment_id: self.assessment_id,
            learner: self.learner,
            number: self.number,
            started_at: self.started_at,
            deadline: self.deadline,
            submitted_at: self.submitted_at,
            score: self.score,
            max_score: self.max_score,
            passed: self.passed,
            revision: self.revision,
        })
    }
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    a: &AttemptRecord,
) -> Result<(), AppError> {
    diesel::insert_into(attempts::table)
        .values((
            attempts::id.eq(&a.id),
            attempts::tenant_id.eq(tenant),
            attempts::assessment_id.eq(&a.assessment_id),
            attempts::learner.eq(&a.learner),
            attempts::number.eq(a.number),
            attempts::status.eq(a.status.as_str()),
            attempts::started_at.eq(a.started_at),
            attempts::deadline.eq(a.deadline),
            attempts::submitted_at.eq(a.submitted_at),
            attempts::served.eq(to_json(&a.served)?),
            attempts::answers.eq(to_json(&a.answers)?),
            attempts::grades.eq(to_json(&a.grades)?),
            attempts::score.eq(a.score),
            attempts::max_score.eq(a.max_score),
            attempts::passed.eq(a.passed),
            attempts::revision.eq(a.revision),
        ))
        .execute(conn)
        .map_err(|e| {
            AppError::on_conflict(e, || {
                AppError::Aborted("another attempt started at the same moment; retry".into())
            })
        })?;
    Ok(())
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<AttemptRecord, AppError> {
    attempts::table
        .filter(attempts::tenant_id.eq(tenant))
        .filter(attempts::id.eq(id))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("attempt {id}")))?
        .into_record()
}

/// The learner's attempts at an assessment in number order.
pub fn of_learner(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assessment_id: &str,
    learner: &str,
) -> Result<Vec<AttemptRecord>, AppError> {
    attempts::table
        .filter(attempts::tenant_id.eq(tenant))
        .filter(attempts::assessment_id.eq(assessment_id))
        .filter(attempts::learner.eq(learner))
        .order(attempts::number.asc())
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_record)
        .collect()
}

/// Attempts of an assessment (of one learner when given), newest first before the id `before`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assessment_id: &str,
    learner: Option<String>,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<AttemptRecord>, AppError> {
    let mut query = attempts::table
        .filter(attempts::tenant_id.eq(tenant))
        .filter(attempts::assessment_id.eq(assessment_id))
        .into_boxed();
    if let Some(learner) = learner {
        query = query.filter(attempts::learner.eq(learner));
    }
    if let Some(before) = before {
        query = query.filter(attempts::id.lt(before));
    }
    query
        .order(attempts::id.desc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_record)
        .collect()
}

/// Attempts waiting for essay grades, oldest submission first, after the id `after`.
pub fn awaiting_grading(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assessment_id: Option<String>,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<AttemptRecord>, AppError> {
    let mut query = attempts::table
        .filter(attempts::tenant_id.eq(tenant))
        .filter(attempts::status.eq(Status::AwaitingGrading.as_str()))
        .into_boxed();
    if let Some(assessment) = assessment_id {
        query = query.filter(attempts::assessment_id.eq(assessment));
    }
    if let Some(after) = after {
        query = query.filter(attempts::id.gt(after));
    }
    query
        .order(attempts::id.asc())
        .limit(limit)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(Row::into_record)
        .collect()
}

/// Writes answers, status, grades and totals if the attempt is still at `expected_revision`;
/// false when another call changed it first (the caller re-reads).
pub fn update(
    conn: &mut DbConnection,
    tenant: &TenantId,
    a: &AttemptRecord,
    expected_revision: i64,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        attempts::table
            .filter(attempts::tenant_id.eq(tenant))
            .filter(attempts::id.eq(&a.id))
            .filter(attempts::revision.eq(expected_revision)),
    )
    .set((
        attempts::status.eq(a.status.as_str()),
        attempts::submitted_at.eq(a.submitted_at),
        attempts::answers.eq(to_json(&a.answers)?),
        attempts::grades.eq(to_json(&a.grades)?),
        attempts::score.eq(a.score),
        attempts::max_score.eq(a.max_score),
        attempts::passed.eq(a.passed),
        attempts::revision.eq(expected_revision + 1),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Submitted attempts (graded or awaiting grading) that were served `question_id`.
pub fn submitted_with_question(
    conn: &mut DbConnection,
    tenant: &TenantId,
    question_id: &str,
) -> Result<Vec<AttemptRecord>, AppError> {
    // The served snapshot is JSON: a LIKE on the question's id narrows the rows, and the
    // parsed snapshot decides.
    let rows = attempts::table
        .filter(attempts::tenant_id.eq(tenant))
        .filter(attempts::status.ne(Status::InProgress.as_str()))
        .filter(attempts::served.like(format!("%\"{question_id}\"%")))
        .order(attempts::id.asc())
        .select(Row::as_select())
        .load(conn)?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let attempt = row.into_record()?;
        if attempt.served.iter().any(|s| s.question.id == question_id) {
            found.push(attempt);
        }
    }
    Ok(found)
}
