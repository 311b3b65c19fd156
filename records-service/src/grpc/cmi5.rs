//! `lms.records.v1.Cmi5Service` (launching a cmi5 step) and `Cmi5FetchService` (public: a
//! launch's one-time fetch URL, which the gateway serves at `/cmi5/fetch/{token}`).

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::ids::EnrolmentId;
use lms_platform::validate::Violations;
use lms_proto::records_v1 as pb;
use tonic::{Request, Response, Status};

use crate::app::RecordsApp;
use crate::app::cmi5::FetchRefusal;

pub struct Cmi5Grpc {
    app: RecordsApp,
}

impl Cmi5Grpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::cmi5_service_server::Cmi5Service for Cmi5Grpc {
    async fn launch_assignable_unit(
        &self,
        request: Request<pb::LaunchAssignableUnitRequest>,
    ) -> Result<Response<pb::AssignableUnitLaunch>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let enrolment_id: Option<EnrolmentId> = v.typed_id("enrolment_id", &req.enrolment_id);
        v.id("step_id", &req.step_id);
        let return_url = req.return_url.trim().to_string();
        if !return_url.is_empty() {
            v.url("return_url", &return_url, 2048);
        }
        v.finish()?;
        let enrolment_id = enrolment_id
            .ok_or_else(|| AppError::invalid_field("enrolment_id", "must be a UUID"))?;
        let launch = self
            .app
            .launch_assignable_unit(&who, enrolment_id, req.step_id, return_url)
            .await?;
        Ok(Response::new(pb::AssignableUnitLaunch {
            launch_url: launch.launch_url,
            session_id: launch.session_id,
            registration: launch.registration,
            activity_id: launch.activity_id,
            own_window: launch.own_window,
        }))
    }
}

/// Public, no token: the fetch token is the credential.
pub struct Cmi5FetchGrpc {
    app: RecordsApp,
}

impl Cmi5FetchGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::cmi5_fetch_service_server::Cmi5FetchService for Cmi5FetchGrpc {
    async fn fetch_auth_token(
        &self,
        request: Request<pb::FetchAuthTokenRequest>,
    ) -> Result<Response<pb::FetchAuthTokenResponse>, Status> {
        let token = request.into_inner().token;
        if token.is_empty() || token.len() > 200 {
            return Err(AppError::invalid_field("token", "is required").into());
        }
        match self.app.fetch_auth_token(token).await? {
            Ok(auth_token) => Ok(Response::new(pb::FetchAuthTokenResponse { auth_token })),
            Err(FetchRefusal::AlreadyUsed) => Err(Status::failed_precondition(
                "this fetch URL was used already, or its session has ended",
            )),
            Err(FetchRefusal::Unknown) => Err(Status::not_found("no launch has this fetch URL")),
        }
    }
}
