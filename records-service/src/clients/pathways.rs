//! Published pathway versions, fetched from pathway-service once and cached for good (they are
//! immutable); and whether a pathway exists, before a compliance report on it. Asked while applying enrolment events, and when a service checks a step of an
//! enrolment whose events have not arrived yet; never on a learner's request.

use lms_platform::client::Peer;
use lms_platform::ids::{PathwayId, TenantId};
use lms_platform::{AppError, AppResult};
use lms_proto::pathway_v1 as pb;
use pb::pathway_service_client::PathwayServiceClient;

use crate::domain::cmi5::{Cmi5Unit, MoveOn};
use crate::domain::pathway::{CertificationPolicy, Completion, PathwaySnapshot, Step, StepKind};

#[derive(Clone)]
pub struct PathwayVersions {
    pathways: Peer,
}

impl PathwayVersions {
    pub fn new(pathways: Peer) -> Self {
        Self { pathways }
    }

    pub async fn fetch(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
        version: i32,
    ) -> AppResult<PathwaySnapshot> {
        let request = pb::GetPathwayVersionRequest {
            pathway_id: pathway_id.to_string(),
            version,
        };
        let published = self
            .pathways
            .read(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_pathway_version(request)
                    .await
            })
            .await?;
        snapshot(&published).ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("pathway version without steps' kinds"))
        })
    }

    /// The latest published version of a pathway; FAILED_PRECONDITION when it was never
    /// published (NOT_FOUND when it does not exist).
    pub async fn latest(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
    ) -> AppResult<PathwaySnapshot> {
        let request = pb::GetPathwayRequest {
            id: pathway_id.to_string(),
        };
        let pathway = self
            .pathways
            .read(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_pathway(request)
                    .await
            })
            .await?;
        if pathway.latest_version == 0 {
            return Err(AppError::FailedPrecondition(format!(
                "pathway {pathway_id} is not published yet; sessions are scheduled for the \
                 steps of a published pathway"
            )));
        }
        self.fetch(tenant, pathway_id, pathway.latest_version).await
    }

    /// NOT_FOUND unless the pathway exists in the tenant (in any state).
    pub async fn require_pathway(
        &self,
        tenant: &TenantId,
        pathway_id: &PathwayId,
    ) -> AppResult<()> {
        let request = pb::GetPathwayRequest {
            id: pathway_id.to_string(),
        };
        self.pathways
            .read(tenant, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_pathway(request)
                    .await
            })
            .await
            .map(|_| ())
    }
}

/// What records-service keeps of pathway-service's published version.
fn snapshot(version: &pb::PathwayVersion) -> Option<PathwaySnapshot> {
    let pathway = version.pathway.as_ref()?;
    let steps = pathway
        .steps
        .iter()
        .map(|s| {
            let mut assessment_id = String::new();
            let mut instructor = String::new();
            let mut cmi5 = None;
            let kind = match s.kind.as_ref()? {
                pb::step::Kind::Content(content) => {
                    cmi5 = content
                        .cmi5
                        .as_ref()
                        .map(|unit| cmi5_unit(&content.url, unit));
                    StepKind::Content
                }
                pb::step::Kind::Assessment(a) => {
                    assessment_id = a.assessment_id.clone();
                    StepKind::Assessment
                }
                pb::step::Kind::TrainingSession(t) => {
                    instructor = t.instructor.clone();
                    StepKind::TrainingSession
                }
                pb::step::Kind::External(_) => StepKind::External,
                pb::step::Kind::Acknowledgement(_) => StepKind::Acknowledgement,
            };
            Some(Step {
                id: s.id.clone(),
                title: s.title.clone(),
                kind,
                required: s.required,
                prerequisites: s.prerequisite_step_ids.clone(),
                assessment_id,
                instructor,
                cmi5,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let completion = match pathway
        .completion_rule
        .as_ref()
        .and_then(|r| r.rule.as_ref())
    {
        Some(pb::completion_rule::Rule::MinSteps(min)) => {
            Completion::MinSteps(min.count.max(1) as usize)
        }
        _ => Completion::AllRequired,
    };
    let certification = (pathway.outcome == pb::Outcome::Certification as i32).then(|| {
        let policy = pathway.certification.unwrap_or_default();
        CertificationPolicy {
            validity_days: policy.validity_days,
            window_days: policy.recertification_window_days,
            expiry_date: (policy.expiry_month > 0)
                .then_some((policy.expiry_month as u32, policy.expiry_day as u32)),
            grace_days: policy.grace_days,
        }
    });
    Some(PathwaySnapshot {
        certification,
        pathway_id: version.pathway_id.clone().into(),
        version: version.version,
        title: pathway.title.clone(),
        sequential: pathway.sequencing != pb::Sequencing::Free as i32,
        completion,
        steps,
    })
}

/// What records-service keeps of a cmi5 AU published on a content step at `url`.
fn cmi5_unit(url: &str, unit: &pb::Cmi5AssignableUnit) -> Cmi5Unit {
    use pb::cmi5_assignable_unit::{LaunchMethod, MoveOn as M};
    Cmi5Unit {
        url: url.to_string(),
        publisher_id: unit.activity_id.clone(),
        course_id: unit.course_id.clone(),
        move_on: match M::try_from(unit.move_on) {
            Ok(M::Passed) => MoveOn::Passed,
            Ok(M::Completed) => MoveOn::Completed,
            Ok(M::CompletedAndPassed) => MoveOn::CompletedAndPassed,
            Ok(M::CompletedOrPassed) => MoveOn::CompletedOrPassed,
            // pathway-service refuses anything else.
            Ok(M::NotApplicable | M::Unspecified) | Err(_) => MoveOn::NotApplicable,
        },
        mastery_score: unit.mastery_score,
        own_window: unit.launch_method == LaunchMethod::OwnWindow as i32,
        launch_parameters: unit.launch_parameters.clone(),
        entitlement_key: unit.entitlement_key.clone(),
        block_ids: unit.block_ids.clone(),
    }
}
