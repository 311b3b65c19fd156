//! `lms.portal.v1.PortalService`: one call per portal screen, answered by calling the services
//! with the learner's own token (each service checks it again and shows only the learner's
//! own data).

use enrolment_pb::enrolment_service_client::EnrolmentServiceClient;
use lms_platform::client::Peer;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::notification_v1 as notification_pb;
use lms_proto::pathway_v1 as pathway_pb;
use lms_proto::portal_v1 as pb;
use lms_proto::records_v1 as records_pb;
use pathway_pb::pathway_service_client::PathwayServiceClient;
use records_pb::records_service_client::RecordsServiceClient;
use records_pb::training_session_service_client::TrainingSessionServiceClient;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

#[path = "portal_team.rs"]
mod team;

/// Pages read per portal answer: a learner with more than 50 000 entries is not a portal user.
const MAX_PAGES: usize = 100;
const PAGE: i32 = 500;

#[derive(Clone)]
pub struct Portal {
    records: Peer,
    pathways: Peer,
    enrolments: Peer,
    /// The inbox, when notification-service is deployed.
    notifications: Option<Peer>,
}

impl Portal {
    pub fn new(
        records: Peer,
        pathways: Peer,
        enrolments: Peer,
        notifications: Option<Peer>,
    ) -> Self {
        Self {
            records,
            pathways,
            enrolments,
            notifications,
        }
    }
}

/// Every item of a paged list: `fetch(page_token)` answers one page and the next token.
async fn all_pages<T, F, Fut>(mut fetch: F) -> AppResult<Vec<T>>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = AppResult<(Vec<T>, String)>>,
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

/// The time the gateway gave this call (`grpc-timeout`), as the deadline of the calls it makes.
async fn within_deadline<T>(
    incoming: &MetadataMap,
    work: impl std::future::Future<Output = AppResult<T>>,
) -> AppResult<T> {
    let timeout = incoming
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(lms_platform::deadline::parse_grpc_timeout);
    match timeout {
        Some(timeout) => {
            let deadline = std::time::Instant::now() + timeout;
            lms_platform::deadline::scope(deadline, work).await
        }
        None => work.await,
    }
}

impl Portal {
    async fn all_progress(&self, incoming: &MetadataMap) -> AppResult<Vec<records_pb::Progress>> {
        self.all_progress_of(incoming, String::new()).await
    }

    /// Every current enrolment of `learner` (empty: the caller) with its progress, as the
    /// caller may read it (records-service decides: their own, staff, or their manager).
    async fn all_progress_of(
        &self,
        incoming: &MetadataMap,
        learner: String,
    ) -> AppResult<Vec<records_pb::Progress>> {
        all_pages(|page_token| {
            let request = records_pb::ListProgressRequest {
                learner: learner.clone(),
                page_size: PAGE,
                page_token,
            };
            async move {
                let page = self
                    .records
                    .read_as_caller(incoming, request, |channel, request| async move {
                        RecordsServiceClient::new(channel)
                            .list_progress(request)
                            .await
                    })
                    .await?;
                Ok((page.progress, page.next_page_token))
            }
        })
        .await
    }

    /// My unread notifications; None when the inbox cannot say (it is not deployed, or not
    /// answering: the learning page does not fail for it).
    async fn unread(&self, incoming: &MetadataMap) -> Option<i32> {
        let inbox = self.notifications.as_ref()?;
        let answer = inbox
            .read_as_caller(
                incoming,
                notification_pb::GetUnreadCountRequest {},
                |channel, request| async move {
                    notification_pb::notification_service_client::NotificationServiceClient::new(
                        channel,
                    )
                    .get_unread_count(request)
                    .await
                },
            )
            .await;
        match answer {
            Ok(count) => Some(count.unread),
            Err(error) => {
                tracing::warn!(%error, "the unread count is left out of my learning");
                None
            }
        }
    }

    async fn my_learning(&self, incoming: &MetadataMap) -> AppResult<pb::MyLearning> {
        // records-service orders them: overdue first, then by due date.
        let (items, unread) = tokio::join!(self.all_progress(incoming), self.unread(incoming));
        let items = items?;
        let count = |status: records_pb::ProgressStatus| {
            items.iter().filter(|p| p.status() == status).count() as i32
        };
        Ok(pb::MyLearning {
            overdue: count(records_pb::ProgressStatus::Overdue),
            in_progress: count(records_pb::ProgressStatus::InProgress),
            not_started: count(records_pb::ProgressStatus::NotStarted),
            completed: count(records_pb::ProgressStatus::Completed),
            unread_notifications: unread,
            items,
        })
    }

    async fn my_pathway(
        &self,
        incoming: &MetadataMap,
        pathway_id: String,
    ) -> AppResult<pb::MyPathway> {
        lms_platform::validate::parse_id("pathway_id", &pathway_id)?;
        let progress = self
            .all_progress(incoming)
            .await?
            .into_iter()
            .find(|p| p.pathway_id == pathway_id)
            .ok_or_else(|| AppError::NotFound(format!("no enrolment in pathway {pathway_id}")))?;
        let request = pathway_pb::GetPathwayVersionRequest {
            pathway_id,
            version: progress.pathway_version,
        };
        let version = self
            .pathways
            .read_as_caller(incoming, request, |channel, request| async move {
                PathwayServiceClient::new(channel)
                    .get_pathway_version(request)
                    .await
            })
            .await?;
        Ok(pb::MyPathway {
            progress: Some(progress),
            version: Some(version),
        })
    }

    async fn my_transcript(&self, incoming: &MetadataMap) -> AppResult<pb::MyTranscript> {
        let entries = all_pages(|page_token| {
            let request = records_pb::ListTranscriptRequest {
                page_size: PAGE,
                page_token,
                ..Default::default()
            };
            async move {
                let page = self
                    .records
                    .read_as_caller(incoming, request, |channel, request| async move {
                        RecordsServiceClient::new(channel)
                            .list_transcript(request)
                            .await
                    })
                    .await?;
                Ok((page.entries, page.next_page_token))
            }
        })
        .await?;
        Ok(pb::MyTranscript { entries })
    }

    async fn my_catalogue(&self, incoming: &MetadataMap) -> AppResult<pb::MyCatalogue> {
        let joinable = self
            .enrolments
            .read_as_caller(
                incoming,
                enrolment_pb::ListJoinablePathwaysRequest::default(),
                |channel, request| async move {
                    EnrolmentServiceClient::new(channel)
                        .list_joinable_pathways(request)
                        .await
                },
            )
            .await?;
        let mut entries = Vec::with_capacity(joinable.pathways.len());
        for offer in joinable.pathways {
            let request = pathway_pb::GetPathwayRequest {
                id: offer.pathway_id.clone(),
            };
            let pathway = self
                .pathways
                .read_as_caller(incoming, request, |channel, request| async move {
                    PathwayServiceClient::new(channel)
                        .get_pathway(request)
                        .await
                })
                .await?;
            entries.push(pb::CatalogueEntry {
                pathway: Some(pathway),
                assignment_id: offer.assignment_id,
                requirement: offer.requirement,
            });
        }
        Ok(pb::MyCatalogue { entries })
    }

    async fn my_certifications(&self, incoming: &MetadataMap) -> AppResult<pb::MyCertifications> {
        let certifications = all_pages(|page_token| {
            let request = records_pb::ListCertificationsRequest {
                learner: String::new(),
                page_size: PAGE,
                page_token,
            };
            async move {
                let page = self
                    .records
                    .read_as_caller(incoming, request, |channel, request| async move {
                        RecordsServiceClient::new(channel)
                            .list_certifications(request)
                            .await
                    })
                    .await?;
                Ok((page.certifications, page.next_page_token))
            }
        })
        .await?;
        Ok(pb::MyCertifications { certifications })
    }
}

/// Training sessions: a learner's bookings and what they can book; an instructor's sessions.
impl Portal {
    async fn sessions(
        &self,
        incoming: &MetadataMap,
        filter: records_pb::ListSessionsRequest,
    ) -> AppResult<Vec<records_pb::Session>> {
        all_pages(|page_token| {
            let request = records_pb::ListSessionsRequest {
                page_size: PAGE,
                page_token,
                ..filter.clone()
            };
            async move {
                let page = self
                    .records
                    .read_as_caller(incoming, request, |channel, request| async move {
                        TrainingSessionServiceClient::new(channel)
                            .list_sessions(request)
                            .await
                    })
                    .await?;
                Ok((page.sessions, page.next_page_token))
            }
        })
        .await
    }

    async fn bookings(
        &self,
        incoming: &MetadataMap,
        session_id: String,
    ) -> AppResult<Vec<records_pb::Booking>> {
        all_pages(|page_token| {
            let request = records_pb::ListBookingsRequest {
                page_size: PAGE,
                page_token,
                session_id: session_id.clone(),
                ..Default::default()
            };
            async move {
                let page = self
                    .records
                    .read_as_caller(incoming, request, |channel, request| async move {
                        TrainingSessionServiceClient::new(channel)
                            .list_bookings(request)
                            .await
                    })
                    .await?;
                Ok((page.bookings, page.next_page_token))
            }
        })
        .await
    }

    async fn my_sessions(&self, incoming: &MetadataMap) -> AppResult<pb::MySessions> {
        let bookable = records_pb::ListSessionsRequest {
            bookable: true,
            ..Default::default()
        };
        let (bookings, bookable) = tokio::join!(
            self.bookings(incoming, String::new()),
            self.sessions(incoming, bookable)
        );
        Ok(pb::MySessions {
            bookings: bookings?,
            bookable: bookable?,
        })
    }

    async fn my_teaching(&self, incoming: &MetadataMap) -> AppResult<pb::MyTeaching> {
        let taught = self
            .sessions(
                incoming,
                records_pb::ListSessionsRequest {
                    taught_by_me: true,
                    ..Default::default()
                },
            )
            .await?;
        let rosters = futures::future::try_join_all(
            taught
                .iter()
                .map(|session| self.bookings(incoming, session.id.clone())),
        )
        .await?;
        let sessions = taught
            .into_iter()
            .zip(rosters)
            .map(|(session, roster)| pb::TaughtSession {
                session: Some(session),
                roster,
            })
            .collect();
        Ok(pb::MyTeaching { sessions })
    }
}

#[tonic::async_trait]
impl pb::portal_service_server::PortalService for Portal {
    async fn get_my_learning(
        &self,
        request: Request<pb::GetMyLearningRequest>,
    ) -> Result<Response<pb::MyLearning>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_learning(incoming)).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_pathway(
        &self,
        request: Request<pb::GetMyPathwayRequest>,
    ) -> Result<Response<pb::MyPathway>, Status> {
        let incoming = request.metadata();
        let pathway_id = request.get_ref().pathway_id.clone();
        let answer = within_deadline(incoming, self.my_pathway(incoming, pathway_id)).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_transcript(
        &self,
        request: Request<pb::GetMyTranscriptRequest>,
    ) -> Result<Response<pb::MyTranscript>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_transcript(incoming)).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_catalogue(
        &self,
        request: Request<pb::GetMyCatalogueRequest>,
    ) -> Result<Response<pb::MyCatalogue>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_catalogue(incoming)).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_certifications(
        &self,
        request: Request<pb::GetMyCertificationsRequest>,
    ) -> Result<Response<pb::MyCertifications>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_certifications(incoming)).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_sessions(
        &self,
        request: Request<pb::GetMySessionsRequest>,
    ) -> Result<Response<pb::MySessions>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_sessions(incoming)).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_team(
        &self,
        request: Request<pb::GetMyTeamRequest>,
    ) -> Result<Response<pb::MyTeam>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_team(incoming, request.get_ref())).await?;
        Ok(Response::new(answer))
    }

    async fn get_my_teaching(
        &self,
        request: Request<pb::GetMyTeachingRequest>,
    ) -> Result<Response<pb::MyTeaching>, Status> {
        let incoming = request.metadata();
        let answer = within_deadline(incoming, self.my_teaching(incoming)).await?;
        Ok(Response::new(answer))
    }
}
