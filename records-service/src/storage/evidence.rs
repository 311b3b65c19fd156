//! Evidence submissions for external steps.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};

use super::schema::evidence;
use crate::domain::evidence::{Evidence, EvidenceStatus};
use crate::domain::progress::EvidenceStanding;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = evidence)]
struct EvidenceRow {
    id: String,
    tenant_id: TenantId,
    enrolment_id: EnrolmentId,
    step_id: String,
    step_title: String,
    learner: String,
    pathway_id: PathwayId,
    description: String,
    url: String,
    file_reference: String,
    status: String,
    submitted_at: NaiveDateTime,
    decided_by: String,
    decided_at: Option<NaiveDateTime>,
    decision_reason: String,
}

impl EvidenceRow {
    fn into_evidence(self) -> Result<Evidence, AppError> {
        let status = EvidenceStatus::parse(&self.status).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "evidence {} has status {:?}",
                self.id,
                self.status
            ))
        })?;
        Ok(Evidence {
            id: self.id,
            enrolment_id: self.enrolment_id,
            step_id: self.step_id,
            step_title: self.step_title,
            learner: self.learner,
            pathway_id: self.pathway_id,
            description: self.description,
            url: self.url,
            file_reference: self.file_reference,
            status,
            submitted_at: self.submitted_at,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
            decision_reason: self.decision_reason,
        })
    }
}

pub fn insert(conn: &mut DbConnection, tenant: &TenantId, e: &Evidence) -> Result<(), AppError> {
    let row = EvidenceRow {
        id: e.id.clone(),
        tenant_id: tenant.clone(),
        enrolment_id: e.enrolment_id.clone(),
        step_id: e.step_id.clone(),
        step_title: e.step_title.clone(),
        learner: e.learner.clone(),
        pathway_id: e.pathway_id.clone(),
        description: e.description.clone(),
        url: e.url.clone(),
        file_reference: e.file_reference.clone(),
        status: e.status.as_str().to_string(),
        submitted_at: e.submitted_at,
        decided_by: e.decided_by.clone(),
        decided_at: e.decided_at,
        decision_reason: e.decision_reason.clone(),
    };
    diesel::insert_into(evidence::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, tenant: &TenantId, id: &str) -> Result<Evidence, AppError> {
    evidence::table
        .filter(evidence::tenant_id.eq(tenant))
        .filter(evidence::id.eq(id))
        .select(EvidenceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("evidence {id}")))?
        .into_evidence()
}

/// Records a decision on evidence that is still pending; false when somebody decided first.
pub fn decide(
    conn: &mut DbConnection,
    tenant: &TenantId,
    decided: &Evidence,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        evidence::table
            .filter(evidence::tenant_id.eq(tenant))
            .filter(evidence::id.eq(&decided.id))
            .filter(evidence::status.eq(EvidenceStatus::Pending.as_str())),
    )
    .set((
        evidence::status.eq(decided.status.as_str()),
        evidence::decided_by.eq(&decided.decided_by),
        evidence::decided_at.eq(decided.decided_at),
        evidence::decision_reason.eq(&decided.decision_reason),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// What to list: a status, a pathway, a learner (each optional), oldest first after `after`.
pub struct EvidenceQuery {
    pub status: Option<EvidenceStatus>,
    pub pathway_id: Option<PathwayId>,
    pub learner: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    q: EvidenceQuery,
) -> Result<Vec<Evidence>, AppError> {
    let mut query = evidence::table
        .filter(evidence::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(status) = q.status {
        query = query.filter(evidence::status.eq(status.as_str()));
    }
    if let Some(pathway_id) = q.pathway_id {
        query = query.filter(evidence::pathway_id.eq(pathway_id));
    }
    if let Some(learner) = q.learner {
        query = query.filter(evidence::learner.eq(learner));
    }
    if let Some(after) = q.after {
        query = query.filter(evidence::id.gt(after));
    }
    query
        .order(evidence::id.asc())
        .limit(q.limit)
        .select(EvidenceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(EvidenceRow::into_evidence)
        .collect()
}

/// Step id → the standing of its latest submission, per enrolment, for many enrolments in one
/// query (approved evidence shows as the step's completion instead).
pub fn standings_of_all(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment_ids: &[EnrolmentId],
) -> Result<HashMap<EnrolmentId, HashMap<String, EvidenceStanding>>, AppError> {
    let rows: Vec<(EnrolmentId, String, String, String)> = evidence::table
        .filter(evidence::tenant_id.eq(tenant))
        .filter(evidence::enrolment_id.eq_any(enrolment_ids))
        .order(evidence::id.asc())
        .select((
            evidence::enrolment_id,
            evidence::step_id,
            evidence::status,
            evidence::decision_reason,
        ))
        .load(conn)?;
    let mut out: HashMap<EnrolmentId, HashMap<String, EvidenceStanding>> = HashMap::new();
    for (enrolment, step_id, status, reason) in rows {
        standing_after(out.entry(enrolment).or_default(), step_id, &status, reason);
    }
    Ok(out)
}

/// A submission's effect on its step's standing, submissions taken oldest first.
fn standing_after(
    standings: &mut HashMap<String, EvidenceStanding>,
    step_id: String,
    status: &str,
    reason: String,
) {
    match EvidenceStatus::parse(status) {
        Some(EvidenceStatus::Pending) => {
            standings.insert(step_id, EvidenceStanding::AwaitingApproval);
        }
        Some(EvidenceStatus::Rejected) => {
            standings.insert(step_id, EvidenceStanding::Rejected(reason));
        }
        Some(EvidenceStatus::Approved) | None => {
            standings.remove(&step_id);
        }
    }
}
