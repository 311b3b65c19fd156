//! Who is in an audience, a class or a department, asked of enrolment-service (with this
//! service's own identity) when a compliance report is scoped to one. Reports are not a
//! learner's hot path; progress and recording never ask.

use std::time::Duration;

use lms_platform::auth::ServiceCredentials;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_client::EnrolmentServiceClient;
use tonic::transport::{Channel, Endpoint};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// enrolment-service's largest page.
const PAGE_SIZE: i32 = 500;

/// Whose compliance a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Audience(String),
    /// The class's students.
    Class(String),
    Department(String),
}

#[derive(Clone)]
pub struct Directory {
    client: EnrolmentServiceClient<Channel>,
    credentials: ServiceCredentials,
}

fn unavailable(status: tonic::Status) -> AppError {
    match status.code() {
        tonic::Code::NotFound => AppError::NotFound(status.message().to_string()),
        tonic::Code::InvalidArgument => AppError::invalid_field("scope", status.message()),
        _ => {
            tracing::warn!(code = ?status.code(), message = status.message(), "enrolment-service call failed");
            AppError::Unavailable("enrolment-service cannot be reached; retry".into())
        }
    }
}

impl Directory {
    pub fn new(url: &str, credentials: ServiceCredentials) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|_| anyhow::anyhow!("{url:?} is not a URL like http://host:port"))?
            .connect_timeout(Duration::from_secs(3))
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            client: EnrolmentServiceClient::new(endpoint.connect_lazy()),
            credentials,
        })
    }

    fn request<T>(&self, tenant: &str, message: T) -> AppResult<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(CALL_TIMEOUT);
        self.credentials.authorize(&mut request, tenant)?;
        Ok(request)
    }

    /// The external ids of everyone in the scope, in external-id order, as a stream of pages.
    /// The first page is asked before this returns (an unknown audience or class is its
    /// error); the rest are fetched ahead in the background while the caller works on the
    /// pages it has.
    pub async fn member_pages(
        &self,
        tenant: &str,
        scope: &Scope,
    ) -> AppResult<tokio::sync::mpsc::Receiver<AppResult<Vec<String>>>> {
        let (first, mut next) = self.page(tenant, scope, String::new()).await?;
        let (send, receive) = tokio::sync::mpsc::channel(4);
        let (directory, tenant, scope) = (self.clone(), tenant.to_string(), scope.clone());
        tokio::spawn(async move {
            if send.send(Ok(first)).await.is_err() {
                return;
            }
            while !next.is_empty() {
                let page = directory.page(&tenant, &scope, next).await;
                let page = match page {
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
        tenant: &str,
        scope: &Scope,
        page_token: String,
    ) -> AppResult<(Vec<String>, String)> {
        let mut client = self.client.clone();
        Ok(match scope {
            Scope::Audience(id) => {
                let page = client
                    .list_audience_members(self.request(
                        tenant,
                        pb::ListAudienceMembersRequest {
                            audience_id: id.clone(),
                            page_size: PAGE_SIZE,
                            page_token,
                        },
                    )?)
                    .await
                    .map_err(unavailable)?
                    .into_inner();
                (
                    page.members.into_iter().map(|m| m.external_id).collect(),
                    page.next_page_token,
                )
            }
            Scope::Class(id) => {
                let page = client
                    .list_class_members(self.request(
                        tenant,
                        pb::ListClassMembersRequest {
                            class_id: id.clone(),
                            role: pb::ClassRole::Student as i32,
                            page_size: PAGE_SIZE,
                            page_token,
                        },
                    )?)
                    .await
                    .map_err(unavailable)?
                    .into_inner();
                (
                    page.members
                        .into_iter()
                        .filter_map(|m| m.person.map(|p| p.external_id))
                        .collect(),
                    page.next_page_token,
                )
            }
            Scope::Department(department) => {
                let page = client
                    .list_people(self.request(
                        tenant,
                        pb::ListPeopleRequest {
                            page_size: PAGE_SIZE,
                            page_token,
                            department: department.clone(),
                            ..Default::default()
                        },
                    )?)
                    .await
                    .map_err(unavailable)?
                    .into_inner();
                (
                    page.people.into_iter().map(|p| p.external_id).collect(),
                    page.next_page_token,
                )
            }
        })
    }
}
