//! Handlers of the reporting-line questions: a manager's team, and whether people are in it.

use lms_platform::Principal;
use lms_platform::validate::Violations;
use lms_proto::enrolment_v1 as pb;
use tonic::Status;

use super::convert;
use crate::app::EnrolmentApp;
use crate::domain::person::MAX_EXTERNAL_ID_CHARS;

/// The most people one CheckManages asks about.
const MAX_PEOPLE_PER_CHECK: usize = 500;

pub async fn list_team(
    app: &EnrolmentApp,
    who: &Principal,
    req: pb::ListTeamRequest,
) -> Result<pb::ListTeamResponse, Status> {
    let mut v = Violations::new();
    v.max_text("manager", &req.manager, MAX_EXTERNAL_ID_CHARS);
    v.finish()?;
    let manager = (!req.manager.is_empty()).then_some(req.manager);
    let page = app
        .list_team(
            who,
            manager,
            req.whole_subtree,
            req.page_size,
            req.page_token,
        )
        .await?;
    Ok(pb::ListTeamResponse {
        members: page
            .members
            .into_iter()
            .map(|(person, level)| pb::TeamMember {
                person: Some(convert::person(person)),
                level,
            })
            .collect(),
        next_page_token: page.next_page_token,
        total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
    })
}

pub async fn check_manages(
    app: &EnrolmentApp,
    who: &Principal,
    req: pb::CheckManagesRequest,
) -> Result<pb::CheckManagesResponse, Status> {
    let mut v = Violations::new();
    v.required_text("manager", &req.manager, MAX_EXTERNAL_ID_CHARS);
    if req.people.len() > MAX_PEOPLE_PER_CHECK {
        v.add(
            "people",
            format!("at most {MAX_PEOPLE_PER_CHECK} people per call"),
        );
    }
    for (i, person) in req.people.iter().enumerate() {
        v.required_text(&format!("people[{i}]"), person, MAX_EXTERNAL_ID_CHARS);
    }
    v.finish()?;
    let people = app.check_manages(who, req.manager, req.people).await?;
    Ok(pb::CheckManagesResponse { people })
}
