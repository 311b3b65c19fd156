//! Who is in an audience, a class or a department, asked of enrolment-service (with this
//! service's own identity) when a compliance report is scoped to one. Reports are not a
//! learner's hot path; progress and recording never ask.

use std::collections::HashSet;
use std::time::Duration;

use lms_platform::auth::ServiceCredentials;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_client::EnrolmentServiceClient;
use tonic::transport::{Channel, Endpoint};

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

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

    /// The external ids of everyone in the scope, page by page.
    pub async fn learners(&self, tenant: &str, scope: &Scope) -> AppResult<HashSet<String>> {
        let mut client = self.client.clone();
        let mut learners = HashSet::new();
        let mut page_token = String::new();
        loop {
            let next = match scope {
                Scope::Audience(id) => {
                    let page = client
                        .list_audience_members(self.request(
                            tenant,
                            pb::ListAudienceMembersRequest {
                                audience_id: id.clone(),
                                page_size: 500,
                                page_token: page_token.clone(),
                            },
                        )?)
                        .await
                        .map_err(unavailable)?
                        .into_inner();
                    learners.extend(page.members.into_iter().map(|m| m.external_id));
                    page.next_page_token
                }
                Scope::Class(id) => {
                    let page = client
                        .list_class_members(self.request(
                            tenant,
                            pb::ListClassMembersRequest {
                                class_id: id.clone(),
                                role: pb::ClassRole::Student as i32,
                                page_size: 500,
                                page_token: page_token.clone(),
                            },
                        )?)
                        .await
                        .map_err(unavailable)?
                        .into_inner();
                    learners.extend(
                        page.members
                            .into_iter()
                            .filter_map(|m| m.person.map(|p| p.external_id)),
                    );
                    page.next_page_token
                }
                Scope::Department(department) => {
                    let page = client
                        .list_people(self.request(
                            tenant,
                            pb::ListPeopleRequest {
                                page_size: 500,
                                page_token: page_token.clone(),
                                department: department.clone(),
                                ..Default::default()
                            },
                        )?)
                        .await
                        .map_err(unavailable)?
                        .into_inner();
                    learners.extend(page.people.into_iter().map(|p| p.external_id));
                    page.next_page_token
                }
            };
            if next.is_empty() {
                return Ok(learners);
            }
            page_token = next;
        }
    }
}
