//! Handlers of the access questions: may a learner take a pathway now, and which pathways may
//! they join.

use lms_platform::Principal;
use lms_platform::validate::Violations;
use lms_proto::enrolment_v1 as pb;
use tonic::Status;

use super::convert;
use crate::app::EnrolmentApp;
use crate::domain::person::MAX_EXTERNAL_ID_CHARS;

pub async fn check_access(
    app: &EnrolmentApp,
    who: &Principal,
    req: pb::CheckAccessRequest,
) -> Result<pb::AccessDecision, Status> {
    let mut v = Violations::new();
    v.id("pathway_id", &req.pathway_id);
    v.max_text("learner", &req.learner, MAX_EXTERNAL_ID_CHARS);
    v.finish()?;
    let learner = (!req.learner.is_empty()).then_some(req.learner);
    let decision = app
        .check_access(who, learner, req.pathway_id.into())
        .await?;
    Ok(convert::access_decision(decision))
}

pub async fn list_joinable_pathways(
    app: &EnrolmentApp,
    who: &Principal,
    req: pb::ListJoinablePathwaysRequest,
) -> Result<pb::ListJoinablePathwaysResponse, Status> {
    let mut v = Violations::new();
    v.max_text("learner", &req.learner, MAX_EXTERNAL_ID_CHARS);
    v.finish()?;
    let learner = (!req.learner.is_empty()).then_some(req.learner);
    let joinable = app.joinable_pathways(who, learner).await?;
    Ok(pb::ListJoinablePathwaysResponse {
        pathways: joinable
            .into_iter()
            .map(|j| pb::JoinablePathway {
                pathway_id: j.pathway_id.into(),
                assignment_id: j.assignment_id,
                requirement: crate::events::requirement(j.requirement) as i32,
            })
            .collect(),
    })
}
