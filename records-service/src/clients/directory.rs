//! Who is in an audience, a class or a department, asked of enrolment-service (with this
//! service's own identity) when a compliance report is scoped to one; whether a person
//! exists, before an admin records training for them; and whether a learner reports to a
//! manager who asks for their record. None is a learner's hot path: progress and recording for
//! oneself never ask.

use lms_platform::client::Peer;
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_client::EnrolmentServiceClient;
use tokio::sync::mpsc;

use crate::domain::report::Scope;

/// enrolment-service's largest page.
const PAGE_SIZE: i32 = 500;

#[derive(Clone)]
pub struct Directory {
    enrolments: Peer,
}

impl Directory {
    pub fn new(enrolments: Peer) -> Self {
        Self { enrolments }
    }

    /// Whether `learner` is anywhere below `manager` in the reporting lines, as the directory
    /// says now (asked on every call, so a reporting line HR moves moves access at once).
    pub async fn manages(
        &self,
        tenant: &TenantId,
        manager: &str,
        learner: &str,
    ) -> AppResult<bool> {
        let request = pb::CheckManagesRequest {
            manager: manager.to_string(),
            people: vec![learner.to_string()],
        };
        let answer = self
            .enrolments
            .read(tenant, request, |channel, request| async move {
                EnrolmentServiceClient::new(channel)
                    .check_manages(request)
                    .await
            })
            .await?;
        Ok(answer.people.iter().any(|p| p == learner))
    }

    /// NOT_FOUND unless the directory has a person with this external id.
    pub async fn require_person(&self, tenant: &TenantId, external_id: &str) -> AppResult<()> {
        let request = pb::ListPeopleRequest {
            external_id: external_id.to_string(),
            page_size: 1,
            ..Default::default()
        };
        let found = self
            .enrolments
            .read(tenant, request, |channel, request| async move {
                EnrolmentServiceClient::new(channel)
                    .list_people(request)
                    .await
            })
            .await?;
        if found.people.iter().any(|p| p.external_id == external_id) {
            Ok(())
        } else {
            Err(AppError::not_found(format!("person {external_id}")))
        }
    }

    /// The external ids of everyone in the scope, in external-id order, as a stream of pages.
    /// The first page is asked before this returns (an unknown audience or class is its
    /// error); the rest are fetched ahead in the background while the caller works on the
    /// pages it has.
    pub async fn member_pages(
        &self,
        tenant: &TenantId,
        scope: &Scope,
    ) -> AppResult<mpsc::Receiver<AppResult<Vec<String>>>> {
        let (first, mut next) = self.page(tenant, scope, String::new()).await?;
        let (send, receive) = mpsc::channel(4);
        let (directory, tenant, scope) = (self.clone(), tenant.clone(), scope.clone());
        tokio::spawn(async move {
            if send.send(Ok(first)).await.is_err() {
                return;
            }
            while !next.is_empty() {
                let page = match directory.page(&tenant, &scope, next).await {
                    Ok((members, token)) => {
                        next = token;
                        Ok(members)
                    }
                    Err(error) => {
                        next = String::new();
                        Err(error)
                    }
                };
                if send.send(page).await.is_err() {
                    return;
                }
            }
        });
        Ok(receive)
    }

    /// One page of the scope's members and the token of the next ("" after the last).
    async fn page(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        page_token: String,
    ) -> AppResult<(Vec<String>, String)> {
        let peer = &self.enrolments;
        Ok(match scope {
            Scope::Audience(id) => {
                let request = pb::ListAudienceMembersRequest {
                    audience_id: id.clone(),
                    page_size: PAGE_SIZE,
                    page_token,
                };
                let page = peer
                    .read(tenant, request, |channel, request| async move {
                        EnrolmentServiceClient::new(channel)
                            .list_audience_members(request)
                            .await
                    })
                    .await?;
                let members = page.members.into_iter().map(|m| m.external_id).collect();
                (members, page.next_page_token)
            }
            Scope::Class(id) => {
                let request = pb::ListClassMembersRequest {
                    class_id: id.clone(),
                    role: pb::ClassRole::Student as i32,
                    page_size: PAGE_SIZE,
                    page_token,
                };
                let page = peer
                    .read(tenant, request, |channel, request| async move {
                        EnrolmentServiceClient::new(channel)
                            .list_class_members(request)
                            .await
                    })
                    .await?;
                let members = page
                    .members
                    .into_iter()
                    .filter_map(|m| m.person.map(|p| p.external_id))
                    .collect();
                (members, page.next_page_token)
            }
            Scope::Department(department) => {
                let request = pb::ListPeopleRequest {
                    page_size: PAGE_SIZE,
                    page_token,
                    department: department.clone(),
                    ..Default::default()
                };
                let page = peer
                    .read(tenant, request, |channel, request| async move {
                        EnrolmentServiceClient::new(channel)
                            .list_people(request)
                            .await
                    })
                    .await?;
                let members = page.people.into_iter().map(|p| p.external_id).collect();
                (members, page.next_page_token)
            }
            Scope::Team {
                manager,
                whole_subtree,
            } => {
                let request = pb::ListTeamRequest {
                    manager: manager.clone(),
                    whole_subtree: *whole_subtree,
                    page_size: PAGE_SIZE,
                    page_token,
                };
                let page = peer
                    .read(tenant, request, |channel, request| async move {
                        EnrolmentServiceClient::new(channel)
                            .list_team(request)
                            .await
                    })
                    .await?;
                let members = page
                    .members
                    .into_iter()
                    .filter_map(|m| m.person.map(|p| p.external_id))
                    .collect();
                (members, page.next_page_token)
            }
        })
    }
}
