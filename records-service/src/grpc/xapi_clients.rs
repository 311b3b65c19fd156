//! `lms.xapi.v1.LrsClientService`: an admin's LRS client credentials.

use lms_platform::auth::principal;
use lms_platform::resource::timestamp;
use lms_proto::xapi_v1 as pb;
use pb::lrs_client_service_server::LrsClientService;
use tonic::{Request, Response, Status};

use crate::app::RecordsApp;
use crate::app::xapi_clients::LrsClient;

pub struct LrsClientsGrpc {
    app: RecordsApp,
}

impl LrsClientsGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

fn client(row: LrsClient) -> pb::LrsClient {
    pb::LrsClient {
        key: row.key,
        name: row.name,
        can_read: row.can_read,
        can_write: row.can_write,
        create_time: Some(timestamp(row.created_at)),
        created_by: row.created_by,
    }
}

#[tonic::async_trait]
impl LrsClientService for LrsClientsGrpc {
    async fn create_lrs_client(
        &self,
        request: Request<pb::CreateLrsClientRequest>,
    ) -> Result<Response<pb::CreateLrsClientResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let (made, secret) = self
            .app
            .create_lrs_client(&who, req.name, req.can_read, req.can_write)
            .await?;
        Ok(Response::new(pb::CreateLrsClientResponse {
            client: Some(client(made)),
            secret,
        }))
    }

    async fn list_lrs_clients(
        &self,
        request: Request<pb::ListLrsClientsRequest>,
    ) -> Result<Response<pb::ListLrsClientsResponse>, Status> {
        let who = principal(&request)?;
        let clients = self.app.list_lrs_clients(&who).await?;
        Ok(Response::new(pb::ListLrsClientsResponse {
            clients: clients.into_iter().map(client).collect(),
        }))
    }

    async fn delete_lrs_client(
        &self,
        request: Request<pb::DeleteLrsClientRequest>,
    ) -> Result<Response<pb::DeleteLrsClientResponse>, Status> {
        let who = principal(&request)?;
        let key = request.into_inner().key;
        if key.is_empty() {
            return Err(lms_platform::AppError::invalid_field("key", "is required").into());
        }
        self.app.delete_lrs_client(&who, key).await?;
        Ok(Response::new(pb::DeleteLrsClientResponse {}))
    }
}
