//! My team: a manager's reports from enrolment-service's reporting lines, each with their
//! learning from records-service — both asked with the manager's own token, so each service
//! decides what the manager may see (enrolment-service: only their own team; records-service:
//! only people who report to them, checked again per person).

use futures::StreamExt;
use lms_platform::client::Peer;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::portal_v1 as pb;
use lms_proto::records_v1 as records_pb;
use tonic::metadata::MetadataMap;

use super::{EnrolmentServiceClient, Portal};

/// Members on a page unless asked, and at most.
const DEFAULT_MEMBERS: i32 = 20;
const MAX_MEMBERS: i32 = 100;
/// Members whose learning is read at once.
const READ_AT_ONCE: usize = 8;

impl Portal {
    pub(super) async fn my_team(
        &self,
        incoming: &MetadataMap,
        request: &pb::GetMyTeamRequest,
    ) -> AppResult<pb::MyTeam> {
        let page_size = match request.page_size {
            n if n < 0 => {
                return Err(AppError::invalid_field("page_size", "must not be negative"));
            }
            0 => DEFAULT_MEMBERS,
            n => n.min(MAX_MEMBERS),
        };
        let team = team_page(&self.enrolments, incoming, request, page_size).await?;
        let members = futures::stream::iter(team.members)
            .map(|member| async move {
                let learner = member
                    .person
                    .as_ref()
                    .map(|p| p.external_id.clone())
                    .unwrap_or_default();
                let items = match self.all_progress_of(incoming, learner).await {
                    Ok(items) => items,
                    // Moved out of the team since the list was read: nothing to show.
                    Err(AppError::PermissionDenied(_)) => Vec::new(),
                    Err(error) => return Err(error),
                };
                Ok(learning_of(member, items))
            })
            .buffered(READ_AT_ONCE)
            .collect::<Vec<AppResult<_>>>()
            .await
            .into_iter()
            .collect::<AppResult<Vec<_>>>()?;
        Ok(pb::MyTeam {
            members,
            next_page_token: team.next_page_token,
            total_size: team.total_size,
        })
    }
}

async fn team_page(
    enrolments: &Peer,
    incoming: &MetadataMap,
    request: &pb::GetMyTeamRequest,
    page_size: i32,
) -> AppResult<enrolment_pb::ListTeamResponse> {
    let request = enrolment_pb::ListTeamRequest {
        manager: String::new(),
        whole_subtree: request.whole_subtree,
        page_size,
        page_token: request.page_token.clone(),
    };
    enrolments
        .read_as_caller(incoming, request, |channel, request| async move {
            EnrolmentServiceClient::new(channel)
                .list_team(request)
                .await
        })
        .await
}

fn learning_of(
    member: enrolment_pb::TeamMember,
    items: Vec<records_pb::Progress>,
) -> pb::TeamMemberLearning {
    let count = |status: records_pb::ProgressStatus| {
        items.iter().filter(|p| p.status() == status).count() as i32
    };
    pb::TeamMemberLearning {
        overdue: count(records_pb::ProgressStatus::Overdue),
        in_progress: count(records_pb::ProgressStatus::InProgress),
        not_started: count(records_pb::ProgressStatus::NotStarted),
        completed: count(records_pb::ProgressStatus::Completed),
        person: member.person,
        level: member.level,
        items,
    }
}
