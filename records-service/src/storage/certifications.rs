//! Certification cycles.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};

use super::schema::certifications;
use crate::domain::certification::Certification;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = certifications)]
struct CertificationRow {
    id: String,
    tenant_id: TenantId,
    learner: String,
    pathway_id: PathwayId,
    pathway_title: String,
    pathway_version: i32,
    enrolment_id: EnrolmentId,
    cycle: i32,
    completed_at: NaiveDateTime,
    issued_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
    window_days: i32,
    grace_days: i32,
    verification_code: String,
    revoked_at: Option<NaiveDateTime>,
    revoke_reason: String,
    revoked_by: String,
    expiring_announced_at: Option<NaiveDateTime>,
}

impl From<CertificationRow> for Certification {
    fn from(r: CertificationRow) -> Self {
        Certification {
            id: r.id,
            tenant_id: r.tenant_id,
            learner: r.learner,
            pathway_id: r.pathway_id,
            pathway_title: r.pathway_title,
            pathway_version: r.pathway_version,
            enrolment_id: r.enrolment_id,
            cycle: r.cycle,
            completed_at: r.completed_at,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
            window_days: r.window_days,
            grace_days: r.grace_days,
            verification_code: r.verification_code,
            revoked_at: r.revoked_at,
            revoke_reason: r.revoke_reason,
            revoked_by: r.revoked_by,
            expiring_announced_at: r.expiring_announced_at,
        }
    }
}

impl From<&Certification> for CertificationRow {
    fn from(c: &Certification) -> Self {
        CertificationRow {
            id: c.id.clone(),
            tenant_id: c.tenant_id.clone(),
            learner: c.learner.clone(),
            pathway_id: c.pathway_id.clone(),
            pathway_title: c.pathway_title.clone(),
            pathway_version: c.pathway_version,
            enrolment_id: c.enrolment_id.clone(),
            cycle: c.cycle,
            completed_at: c.completed_at,
            issued_at: c.issued_at,
            expires_at: c.expires_at,
            window_days: c.window_days,
            grace_days: c.grace_days,
            verification_code: c.verification_code.clone(),
            revoked_at: c.revoked_at,
            revoke_reason: c.revoke_reason.clone(),
            revoked_by: c.revoked_by.clone(),
            expiring_announced_at: c.expiring_announced_at,
        }
    }
}

pub fn insert(conn: &mut DbConnection, certification: &Certification) -> Result<(), AppError> {
    diesel::insert_into(certifications::table)
        .values(CertificationRow::from(certification))
        .execute(conn)?;
    Ok(())
}

/// The latest cycle of a learner's certification in a pathway that is not revoked.
pub fn latest(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    pathway_id: &PathwayId,
) -> Result<Option<Certification>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::learner.eq(learner))
        .filter(certifications::pathway_id.eq(pathway_id))
        .filter(certifications::revoked_at.is_null())
        .order(certifications::cycle.desc())
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?
        .map(Certification::from))
}

/// How many cycles (revoked ones included) a learner has in a pathway.
pub fn cycles(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    pathway_id: &PathwayId,
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
    tenant: &TenantId,
    enrolment_id: &EnrolmentId,
) -> Result<bool, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::enrolment_id.eq(enrolment_id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &str,
) -> Result<Certification, AppError> {
    certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::id.eq(id))
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?
        .map(Certification::from)
        .ok_or_else(|| AppError::not_found(format!("certification {id}")))
}

/// By verification code, in any tenant (codes are unique across the suite).
pub fn by_code(conn: &mut DbConnection, code: &str) -> Result<Option<Certification>, AppError> {
    Ok(certifications::table
        .filter(certifications::verification_code.eq(code))
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?
        .map(Certification::from))
}

/// A learner's certifications, newest first, before the id `before`.
pub fn of_learner(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<Certification>, AppError> {
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
        .load(conn)?
        .into_iter()
        .map(Certification::from)
        .collect())
}

pub fn revoke(
    conn: &mut DbConnection,
    tenant: &TenantId,
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
    tenant: &TenantId,
    enrolment_id: &EnrolmentId,
) -> Result<Option<Certification>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::enrolment_id.eq(enrolment_id))
        .select(CertificationRow::as_select())
        .first(conn)
        .optional()?
        .map(Certification::from))
}

/// Every certification not revoked that these learners hold in a pathway, by learner.
pub fn of_learners_in_pathway(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &PathwayId,
    learners: &[String],
) -> Result<std::collections::HashMap<String, Vec<Certification>>, AppError> {
    let mut held: std::collections::HashMap<String, Vec<Certification>> =
        std::collections::HashMap::new();
    let rows: Vec<CertificationRow> = certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::pathway_id.eq(pathway_id))
        .filter(certifications::learner.eq_any(learners))
        .filter(certifications::revoked_at.is_null())
        .select(CertificationRow::as_select())
        .load(conn)?;
    for row in rows {
        held.entry(row.learner.clone())
            .or_default()
            .push(Certification::from(row));
    }
    Ok(held)
}

/// The certifications earned by many enrolments, by enrolment id.
pub fn of_enrolments(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[EnrolmentId],
) -> Result<std::collections::HashMap<EnrolmentId, Certification>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant))
        .filter(certifications::enrolment_id.eq_any(enrolment_ids))
        .select(CertificationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c: CertificationRow| (c.enrolment_id.clone(), Certification::from(c)))
        .collect())
}

/// Certifications not revoked whose recertification window has opened by `now` and that were
/// not announced yet (any tenant), oldest expiry first.
pub fn due_for_announcement(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Certification>, AppError> {
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
        .map(Certification::from)
        .filter(|c| {
            c.expires_at
                .is_some_and(|at| now >= at - chrono::Duration::days(c.window_days.into()))
        })
        .collect())
}

/// Marks a certification announced; false when another scheduler did it first, or when it
/// was revoked since `read` was read — the announcement, made from that copy, is then not the
/// certification's to make. (A renewal is a new cycle: the caller asks `latest`.)
pub fn mark_announced(
    conn: &mut DbConnection,
    read: &Certification,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    Ok(diesel::update(
        certifications::table
            .filter(certifications::id.eq(&read.id))
            .filter(certifications::expiring_announced_at.is_null())
            .filter(certifications::revoked_at.is_null()),
    )
    .set(certifications::expiring_announced_at.eq(Some(at)))
    .execute(conn)?
        == 1)
}

/// Certifications whose expiry date has passed by `now` and that were not announced as expired
/// yet (nor revoked), oldest first: an indexed query over those rows only.
pub fn due_for_expiry(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Certification>, AppError> {
    Ok(certifications::table
        .filter(certifications::expired_announced_at.is_null())
        .filter(certifications::revoked_at.is_null())
        .filter(certifications::expires_at.is_not_null())
        .filter(certifications::expires_at.le(Some(now)))
        .order(certifications::expires_at.asc())
        .limit(limit)
        .select(CertificationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Certification::from)
        .collect())
}

/// Marks a certification's expiry announced; false when another scheduler did first, or when
/// it was revoked since `read` was read (see [`mark_announced`]).
pub fn mark_expired_announced(
    conn: &mut DbConnection,
    read: &Certification,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    Ok(diesel::update(
        certifications::table
            .filter(certifications::id.eq(&read.id))
            .filter(certifications::expired_announced_at.is_null())
            .filter(certifications::revoked_at.is_null()),
    )
    .set(certifications::expired_announced_at.eq(Some(at)))
    .execute(conn)?
        == 1)
}

/// A tenant's certifications after the id `after` ("" from the first), by id: a batch of the
/// statements' backfill.
pub fn after(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: &str,
    limit: i64,
) -> Result<Vec<Certification>, AppError> {
    Ok(certifications::table
        .filter(certifications::tenant_id.eq(tenant.as_str()))
        .filter(certifications::id.gt(after))
        .order(certifications::id.asc())
        .limit(limit)
        .select(CertificationRow::as_select())
        .load::<CertificationRow>(conn)?
        .into_iter()
        .map(Certification::from)
        .collect())
}
