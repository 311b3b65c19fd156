//! `lms.portal.v1.PortalService`: one call per portal screen, answered by calling the services
//! with the learner's own token (each service checks it again and shows only the learner's
//! own data).

use std::time::Duration;

use lms_proto::pathway_v1 as pathway_pb;
use lms_proto::portal_v1 as pb;
use lms_proto::records_v1 as records_pb;
use pathway_pb::pathway_service_client::PathwayServiceClient;
use records_pb::records_service_client::RecordsServiceClient;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Pages read per portal answer: a learner with more than 50 000 entries is not a portal user.
const MAX_PAGES: usize = 100;
const PAGE: i32 = 500;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Portal {
    records: RecordsServiceClient<Channel>,
    pathways: PathwayServiceClient<Channel>,
}

impl Portal {
    pub fn new(records: Channel, pathways: Channel) -> Self {
        Self {
            records: RecordsServiceClient::new(records),
            pathways: PathwayServiceClient::new(pathways),
        }
    }
}

/// A request to a service carrying the caller's credentials and trace.
fn onward<T, M>(incoming: &Request<T>, message: M) -> Request<M> {
    let mut request = Request::new(message);
    for name in ["authorization", "x-request-id", "traceparent", "tracestate"] {
        if let Some(value) = incoming.metadata().get(name) {
            request.metadata_mut().insert(name, value.clone());
        }
    }
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// Every item of a paged list: `fetch(page_token)` answers one page and the next token.
async fn all_pages<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, Status>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), Status>>,
{
    let mut items = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let (page, next) = fetch(page_token).await?;
        items.extend(page);
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    Ok(items)
}

impl Portal {
    async fn all_progress<T>(
        &self,
        incoming: &Request<T>,
    ) -> Result<Vec<records_pb::Progress>, Status> {
        all_pages(|page_token| {
            let mut records = self.records.clone();
            let request = onward(
                incoming,
                records_pb::ListProgressRequest {
                    learner: String::new(),
                    page_size: PAGE,
                    page_token,
                },
            );
            async move {
                let page = records.list_progress(request).await?.into_inner();
                Ok((page.progress, page.next_page_token))
            }
        })
        .await
    }
}

#[tonic::async_trait]
impl pb::portal_service_server::PortalService for Portal {
    async fn get_my_learning(
        &self,
        request: Request<pb::GetMyLearningRequest>,
    ) -> Result<Response<pb::MyLearning>, Status> {
        // records-service orders them: overdue first, then by due date.
        let items = self.all_progress(&request).await?;
        let count = |status: records_pb::ProgressStatus| {
            items.iter().filter(|p| p.status() == status).count() as i32
        };
        Ok(Response::new(pb::MyLearning {
            overdue: count(records_pb::ProgressStatus::Overdue),
            in_progress: count(records_pb::ProgressStatus::InProgress),
            not_started: count(records_pb::ProgressStatus::NotStarted),
            completed: count(records_pb::ProgressStatus::Completed),
            items,
        }))
    }

    async fn get_my_pathway(
        &self,
        request: Request<pb::GetMyPathwayRequest>,
    ) -> Result<Response<pb::MyPathway>, Status> {
        let pathway_id = request.get_ref().pathway_id.clone();
        lms_platform::validate::parse_id("pathway_id", &pathway_id)?;
        let progress = self
            .all_progress(&request)
            .await?
            .into_iter()
            .find(|p| p.pathway_id == pathway_id)
            .ok_or_else(|| Status::not_found(format!("no enrolment in pathway {pathway_id}")))?;
        let version = self
            .pathways
            .clone()
            .get_pathway_version(onward(
                &request,
                pathway_pb::GetPathwayVersionRequest {
                    pathway_id,
                    version: progress.pathway_version,
                },
            ))
            .await?
            .into_inner();
        Ok(Response::new(pb::MyPathway {
            progress: Some(progress),
            version: Some(version),
        }))
    }

    async fn get_my_transcript(
        &self,
        request: Request<pb::GetMyTranscriptRequest>,
    ) -> Result<Response<pb::MyTranscript>, Status> {
        let entries = all_pages(|page_token| {
            let mut records = self.records.clone();
            let request = onward(
                &request,
                records_pb::ListTranscriptRequest {
                    page_size: PAGE,
                    page_token,
                    ..Default::default()
                },
            );
            async move {
                let page = records.list_transcript(request).await?.into_inner();
                Ok((page.entries, page.next_page_token))
            }
        })
        .await?;
        Ok(Response::new(pb::MyTranscript { entries }))
    }

    async fn get_my_certifications(
        &self,
        request: Request<pb::GetMyCertificationsRequest>,
    ) -> Result<Response<pb::MyCertifications>, Status> {
        let certifications = all_pages(|page_token| {
            let mut records = self.records.clone();
            let request = onward(
                &request,
                records_pb::ListCertificationsRequest {
                    learner: String::new(),
                    page_size: PAGE,
                    page_token,
                },
            );
            async move {
                let page = records.list_certifications(request).await?.into_inner();
                Ok((page.certifications, page.next_page_token))
            }
        })
        .await?;
        Ok(Response::new(pb::MyCertifications { certifications }))
    }
}
