//! "May this learner act on this step now, and if not, why": the question other services ask
//! before they let a learner act (assessment-service before an attempt starts), answered from
//! the same progress rules GetProgress shows.

use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal};

use super::{RecordsApp, kept_view};
use crate::domain::enrolment::EnrolmentStatus;
use crate::domain::progress::{self as rules, Record, StepProgress};
use crate::storage::{enrolments, versions};

/// The question, with the enrolment as enrolment-service knows it: records-service may not
/// have heard of a new enrolment yet.
#[derive(Debug, Clone)]
pub struct StepQuestion {
    pub enrolment_id: EnrolmentId,
    /// Empty: the step that links `assessment_id`.
    pub step_id: String,
    pub assessment_id: String,
    pub learner: String,
    pub pathway_id: PathwayId,
    pub pathway_version: i32,
}

impl RecordsApp {
    pub async fn check_step(&self, who: &Principal, q: StepQuestion) -> AppResult<StepProgress> {
        let tenant = who.tenant_id.clone();
        let known = {
            let (tenant, id) = (tenant.clone(), q.enrolment_id.clone());
            let kept = self.snapshots.clone();
            self.db
                .read(move |conn| match enrolments::find(conn, &tenant, &id)? {
                    Some(enrolment) => Ok(Some(kept_view(conn, &tenant, enrolment, &kept)?.0)),
                    None => Ok(None),
                })
                .await?
        };
        let (pathway, progress) = match known {
            Some(known) => {
                if known.enrolment.learner != q.learner
                    || known.enrolment.pathway_id != q.pathway_id
                {
                    return Err(AppError::not_found(format!(
                        "enrolment {} of {} in pathway {}",
                        q.enrolment_id, q.learner, q.pathway_id
                    )));
                }
                (known.pathway, known.progress)
            }
            // Nothing can be recorded on an enrolment before its events arrive here, so its
            // record is empty.
            None => {
                let pathway = self
                    .cached_version(&tenant, &q.pathway_id, q.pathway_version)
                    .await?;
                let progress = rules::compute(
                    &pathway,
                    &Record::default(),
                    EnrolmentStatus::Active,
                    None,
                    now(),
                );
                (std::sync::Arc::new(pathway), progress)
            }
        };
        let step = pathway
            .assessment_step(&q.step_id, &q.assessment_id)
            .ok_or_else(|| {
                AppError::not_found(if q.step_id.is_empty() {
                    format!(
                        "a step linking assessment {} in pathway {} version {}",
                        q.assessment_id, pathway.pathway_id, pathway.version
                    )
                } else {
                    format!(
                        "step {} in pathway {} version {}",
                        q.step_id, pathway.pathway_id, pathway.version
                    )
                })
            })?;
        progress
            .step(&step.id)
            .cloned()
            .ok_or_else(|| AppError::not_found(format!("step {}", step.id)))
    }

    /// A published pathway version: from the cache, or fetched from pathway-service (outside
    /// any transaction) and cached for good.
    pub(super) async fn cached_version(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
        version: i32,
    ) -> AppResult<crate::domain::pathway::PathwaySnapshot> {
        let cached = {
            let (tenant, pathway_id) = (tenant.clone(), pathway_id.clone());
            self.db
                .read_one(move |conn| versions::get(conn, &tenant, &pathway_id, version))
                .await?
        };
        if let Some(snapshot) = cached {
            return Ok(snapshot);
        }
        let snapshot = self.pathways.fetch(tenant, pathway_id, version).await?;
        let (tenant, stored) = (tenant.clone(), snapshot.clone());
        self.db
            .write(move |conn| versions::store(conn, &tenant, &stored))
            .await?;
        Ok(snapshot)
    }
}
