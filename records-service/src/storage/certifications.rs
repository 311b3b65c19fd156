//! Certification cycles.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use super::schema::certifications;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = certifications)]
pub struct CertificationRow {
    pub id: String,
    pub tenant_id: String,
    pub learner: String,
    pub pathway_id: String,
    pub pathway_title: String,
    pub pathway_version: i32,
    pub enrolment_id: String,
    pub cycle: i32,
    pub completed_at: NaiveDateTime,
    pub issued_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub window_days: i32,
    pub verification_code: String,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoke_reason: String,
    pub revoked_by: String,
    pub expiring_announced_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &CertificationRow) -> Result<(), AppError> {
    diesel::insert_into(certifications::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The latest cycle of a learner's certification in a pathway that is not revoked.
pub fn latest(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
    pathway_id: &str,
) -> Result<Option<CertificationRow>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::learner.eq(learner))
        .filter(certifications::pathway_id.eq(pathway_id))
        .filter(certifications::revoked_at.is_null())
        .order(certifications::cycle.desc())
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?)
}

/// How many cycles (revoked ones included) a learner has in a pathway.
pub fn cycles(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
    pathway_id: &str,
) -> Result<i32, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::learner.eq(learner))
        .filter(certifications::pathway_id.eq(pathway_id))
        .select(diesel::dsl::max(certifications::cycle))
        .first::<Option<i32>>(conn)?
        .unwrap_or(0))
}

pub fn exists_for_enrolment(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_id: &str,
) -> Result<bool, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::enrolment_id.eq(enrolment_id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

pub fn get(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<CertificationRow, AppError> {
    certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::id.eq(id))
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("certification {id}")))
}

/// By verification code, in any tenant (codes are unique across the suite).
pub fn by_code(conn: &mut DbConnection, code: &str) -> Result<Option<CertificationRow>, AppError> {
    Ok(certifications::table
        .filter(certifications::verification_code.eq(code))
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?)
}

/// A learner's certifications, newest first, before the id `before`.
pub fn of_learner(
    conn: &mut DbConnection,
    tenant: &str,
    learner: &str,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<CertificationRow>, AppError> {
    let mut query = certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::learner.eq(learner))
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(certifications::id.lt(before));
    }
    Ok(query
        .order(certifications::id.desc())
        .limit(limit)
        .select(CertificationRow::as_select())
        .load(conn)?)
}

pub fn revoke(
    conn: &mut DbConnection,
    tenant: &str,
    id: &str,
    at: NaiveDateTime,
    reason: &str,
    actor: &str,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        certifications::table
            .filter(certifications::tenant_id.eq(tenant))
            .filter(certifications::id.eq(id))
            .filter(certifications::revoked_at.is_null()),
    )
    .set((
        certifications::revoked_at.eq(Some(at)),
        certifications::revoke_reason.eq(reason),
        certifications::revoked_by.eq(actor),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// The certification an enrolment earned, if any.
pub fn of_enrolment(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_id: &str,
) -> Result<Option<CertificationRow>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::enrolment_id.eq(enrolment_id))
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?)
}

/// The certifications earned by many enrolments, by enrolment id.
pub fn of_enrolments(
    conn: &mut DbConnection,
    tenant: &str,
    enrolment_ids: &[String],
) -> Result<std::collections::HashMap<String, CertificationRow>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::enrolment_id.eq_any(enrolment_ids))
        .select(CertificationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| (c.enrolment_id.clone(), c))
        .collect())
}

/// Certifications not revoked whose recertification window has opened by `now` and that were
/// not announced yet (any tenant), oldest expiry first.
pub fn due_for_announcement(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<CertificationRow>, AppError> {
    // The window is per row; rows expiring within the longest window allowed are candidates,
    // and the exact test is made on each.
    let horizon = now + chrono::Duration::days(3_650);
    let candidates: Vec<CertificationRow> = certifications::table
        .filter(certifications::expiring_announced_at.is_null())
        .filter(certifications::revoked_at.is_null())
        .filter(certifications::expires_at.is_not_null())
        .filter(certifications::expires_at.le(Some(horizon)))
        .order(certifications::expires_at.asc())
        .limit(limit)
        .select(CertificationRow::as_select())
        .load(conn)?;
    Ok(candidates
        .into_iter()
        .filter(|c| {
            c.expires_at
                .is_some_and(|at| now >= at - chrono::Duration::days(c.window_days.into()))
        })
        .collect())
}

/// Marks a certification announced; false when another scheduler did it first.
pub fn mark_announced(
    conn: &mut DbConnection,
    id: &str,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    Ok(diesel::update(
        certifications::table
            .filter(certifications::id.eq(id))
            .filter(certifications::expiring_announced_at.is_null()),
    )
    .set(certifications::expiring_announced_at.eq(Some(at)))
    .execute(conn)?
        == 1)
}
