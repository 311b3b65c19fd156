//! Question banks, questions and assessments.

use lms_platform::ids::{PathwayId, TenantId};
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::resource::Audit;

use super::schema::{assessments, question_banks, questions};
use super::{from_json, to_json};
use crate::domain::assessment::{Assessment, StoredAssessment};
use crate::domain::bank::{Bank, StoredQuestion};
use crate::domain::question::Question;

type AuditColumns = (NaiveDateTime, String, NaiveDateTime, String);

fn audit((created_at, created_by, updated_at, updated_by): AuditColumns) -> Audit {
    Audit {
        created_at,
        created_by,
        updated_at,
        updated_by,
    }
}

pub fn insert_bank(
    conn: &mut DbConnection,
    tenant: &TenantId,
    bank: &Bank,
) -> Result<(), AppError> {
    diesel::insert_into(question_banks::table)
        .values((
            question_banks::id.eq(&bank.id),
            question_banks::tenant_id.eq(tenant),
            question_banks::name.eq(&bank.name),
            question_banks::name_key.eq(bank.name.trim().to_lowercase()),
            question_banks::description.eq(&bank.description),
            question_banks::revision.eq(bank.revision),
            question_banks::created_at.eq(bank.audit.created_at),
            question_banks::created_by.eq(&bank.audit.created_by),
            question_banks::updated_at.eq(bank.audit.updated_at),
            question_banks::updated_by.eq(&bank.audit.updated_by),
        ))
        .execute(conn)
        .map_err(|e| {
            AppError::on_conflict(e, || {
                AppError::AlreadyExists(format!("a question bank is already named {:?}", bank.name))
            })
        })?;
    Ok(())
}

type BankRow = (
    String,
    String,
    String,
    i64,
    NaiveDateTime,
    String,
    NaiveDateTime,
    String,
);

fn bank_from((id, name, description, revision, ca, cb, ua, ub): BankRow) -> Bank {
    Bank {
        id,
        name,
        description,
        revision,
        audit: audit((ca, cb, ua, ub)),
    }
}

macro_rules! bank_columns {
    () => {
        (
            question_banks::id,
            question_banks::name,
            question_banks::description,
            question_banks::revision,
            question_banks::created_at,
            question_banks::created_by,
            question_banks::updated_at,
            question_banks::updated_by,
        )
    };
}

pub fn get_bank(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Bank, AppError> {
    question_banks::table
        .filter(question_banks::tenant_id.eq(tenant))
        .filter(question_banks::id.eq(id))
        .select(bank_columns!())
        .first::<BankRow>(conn)
        .optional()?
        .map(bank_from)
        .ok_or_else(|| AppError::not_found(format!("question bank {id}")))
}

/// Banks by name key after `after`.
pub fn list_banks(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Bank>, AppError> {
    let mut query = question_banks::table
        .filter(question_banks::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(question_banks::name_key.gt(after));
    }
    Ok(query
        .order(question_banks::name_key.asc())
        .limit(limit)
        .select(bank_columns!())
        .load::<BankRow>(conn)?
        .into_iter()
        .map(bank_from)
        .collect())
}

pub fn question_counts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    bank_ids: &[String],
) -> Result<HashMap<String, i64>, AppError> {
    let rows: Vec<(String, i64)> = questions::table
        .filter(questions::tenant_id.eq(tenant))
        .filter(questions::bank_id.eq_any(bank_ids))
        .group_by(questions::bank_id)
        .select((questions::bank_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

fn tags_column(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(
            " {} ",
            tags.iter()
                .map(|t| t.to_lowercase())
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// Writes new questions in multi-row inserts.
pub fn insert_questions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    bank_id: &str,
    new: &[(Question, Audit)],
) -> Result<(), AppError> {
    for chunk in new.chunks(2_000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for (q, audit) in chunk {
            rows.push((
                questions::id.eq(q.id.clone()),
                questions::tenant_id.eq(tenant.to_string()),
                questions::bank_id.eq(bank_id.to_string()),
                questions::tags.eq(tags_column(&q.tags)),
                questions::definition.eq(to_json(q)?),
                questions::revision.eq(1i64),
                questions::created_at.eq(audit.created_at),
                questions::created_by.eq(audit.created_by.clone()),
                questions::updated_at.eq(audit.updated_at),
                questions::updated_by.eq(audit.updated_by.clone()),
            ));
        }
        let insert = diesel::insert_into(questions::table).values(rows);
        lms_platform::execute_on_backend!(conn, insert)?;
    }
    Ok(())
}

type QuestionRow = (
    String,
    String,
    i64,
    NaiveDateTime,
    String,
    NaiveDateTime,
    String,
);

macro_rules! question_columns {
    () => {
        (
            questions::bank_id,
            questions::definition,
            questions::revision,
            questions::created_at,
            questions::created_by,
            questions::updated_at,
            questions::updated_by,
        )
    };
}

fn question_from(
    (bank_id, definition, revision, ca, cb, ua, ub): QuestionRow,
) -> Result<StoredQuestion, AppError> {
    Ok(StoredQuestion {
        bank_id,
        question: from_json(&definition)?,
        revision,
        audit: audit((ca, cb, ua, ub)),
    })
}

pub fn get_question(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<StoredQuestion, AppError> {
    let row = questions::table
        .filter(questions::tenant_id.eq(tenant))
        .filter(questions::id.eq(id))
        .select(question_columns!())
        .first::<QuestionRow>(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("question {id}")))?;
    question_from(row)
}

/// Questions by id (any order); missing ids are simply absent.
pub fn questions_by_ids(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<Vec<StoredQuestion>, AppError> {
    questions::table
        .filter(questions::tenant_id.eq(tenant))
        .filter(questions::id.eq_any(ids))
        .select(question_columns!())
        .load::<QuestionRow>(conn)?
        .into_iter()
        .map(question_from)
        .collect()
}

/// A bank's questions in creation order after the id `after`, optionally carrying `tag`.
pub fn list_questions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    bank_id: &str,
    tags: &[String],
    after: Option<String>,
    limit: Option<i64>,
) -> Result<Vec<StoredQuestion>, AppError> {
    let mut query = questions::table
        .filter(questions::tenant_id.eq(tenant))
        .filter(questions::bank_id.eq(bank_id))
        .into_boxed();
    if !tags.is_empty() {
        let mut any = Box::new(
            questions::tags.like(lms_platform::db::like_pattern(&format!(
                " {} ",
                tags[0].to_lowercase()
            ))),
        )
            as Box<dyn BoxableExpression<questions::table, _, SqlType = diesel::sql_types::Bool>>;
        for tag in &tags[1..] {
            any = Box::new(any.or(
                questions::tags.like(lms_platform::db::like_pattern(&format!(
                    " {} ",
                    tag.to_lowercase()
                ))),
            ));
        }
        query = query.filter(any);
    }
    if let Some(after) = after {
        query = query.filter(questions::id.gt(after));
    }
    if let Some(limit) = limit {
        query = query.limit(limit);
    }
    query
        .order(questions::id.asc())
        .select(question_columns!())
        .load::<QuestionRow>(conn)?
        .into_iter()
        .map(question_from)
        .collect()
}

pub fn update_question(
    conn: &mut DbConnection,
    tenant: &TenantId,
    q: &Question,
    expected_revision: i64,
    at: NaiveDateTime,
    actor: &str,
) -> Result<(), AppError> {
    let changed = diesel::update(
        questions::table
            .filter(questions::tenant_id.eq(tenant))
            .filter(questions::id.eq(&q.id))
            .filter(questions::revision.eq(expected_revision)),
    )
    .set((
        questions::tags.eq(tags_column(&q.tags)),
        questions::definition.eq(to_json(q)?),
        questions::revision.eq(expected_revision + 1),
        questions::updated_at.eq(at),
        questions::updated_by.eq(actor),
    ))
    .execute(conn)?;
    AppError::unless_updated(changed, "question")
}

pub fn insert_assessment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    a: &Assessment,
    audit: &Audit,
) -> Result<(), AppError> {
    diesel::insert_into(assessments::table)
        .values((
            assessments::id.eq(&a.id),
            assessments::tenant_id.eq(tenant),
            assessments::pathway_id.eq(&a.pathway_id),
            assessments::definition.eq(to_json(a)?),
            assessments::revision.eq(1i64),
            assessments::created_at.eq(audit.created_at),
            assessments::created_by.eq(&audit.created_by),
            assessments::updated_at.eq(audit.updated_at),
            assessments::updated_by.eq(&audit.updated_by),
        ))
        .execute(conn)?;
    Ok(())
}

type AssessmentRow = (String, i64, NaiveDateTime, String, NaiveDateTime, String);

macro_rules! assessment_columns {
    () => {
        (
            assessments::definition,
            assessments::revision,
            assessments::created_at,
            assessments::created_by,
            assessments::updated_at,
            assessments::updated_by,
        )
    };
}

fn assessment_from(
    (definition, revision, ca, cb, ua, ub): AssessmentRow,
) -> Result<StoredAssessment, AppError> {
    Ok(StoredAssessment {
        assessment: from_json(&definition)?,
        revision,
        audit: audit((ca, cb, ua, ub)),
    })
}

pub fn get_assessment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<StoredAssessment, AppError> {
    let row = assessments::table
        .filter(assessments::tenant_id.eq(tenant))
        .filter(assessments::id.eq(id))
        .select(assessment_columns!())
        .first::<AssessmentRow>(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("assessment {id}")))?;
    assessment_from(row)
}

/// Assessments newest first before the id `before`, optionally of one pathway.
pub fn list_assessments(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: Option<PathwayId>,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<StoredAssessment>, AppError> {
    let mut query = assessments::table
        .filter(assessments::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(pathway) = pathway_id {
        query = query.filter(assessments::pathway_id.eq(pathway));
    }
    if let Some(before) = before {
        query = query.filter(assessments::id.lt(before));
    }
    query
        .order(assessments::id.desc())
        .limit(limit)
        .select(assessment_columns!())
        .load::<AssessmentRow>(conn)?
        .into_iter()
        .map(assessment_from)
        .collect()
}

/// Removes an assessment that never had attempts (a create undone).
pub fn delete_assessment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<(), AppError> {
    diesel::delete(
        assessments::table
            .filter(assessments::tenant_id.eq(tenant))
            .filter(assessments::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Writes an assessment's definition if its revision is still `expected`.
pub fn update_assessment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    a: &Assessment,
    expected_revision: i64,
    at: NaiveDateTime,
    actor: &str,
) -> Result<(), AppError> {
    let changed = diesel::update(
        assessments::table
            .filter(assessments::tenant_id.eq(tenant))
            .filter(assessments::id.eq(&a.id))
            .filter(assessments::revision.eq(expected_revision)),
    )
    .set((
        assessments::definition.eq(to_json(a)?),
        assessments::revision.eq(expected_revision + 1),
        assessments::updated_at.eq(at),
        assessments::updated_by.eq(actor),
    ))
    .execute(conn)?;
    AppError::unless_updated(changed, "assessment")
}
