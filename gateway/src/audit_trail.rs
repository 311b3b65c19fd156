//! The suite's audit trail as one: `lms.audit.v1.AuditService` served by the gateway over every
//! service's own trail, merged newest first, so an administrator asks once (and exports one
//! CSV) rather than once per service.
//!
//! Every service orders its entries by id (UUIDv7, so by time) and reads a page token as "older
//! than this id" under the same filters. The gateway therefore asks each service for the same
//! page — same filters, same token — and keeps the newest `page_size` of their answers; the
//! next token names the last entry kept, so what was left out comes first on the next page. The
//! services check the caller's token and role themselves (administrators only): the gateway
//! passes the caller's credentials on and adds none of its own.

use futures::future::join_all;
use lms_platform::audit;
use lms_platform::client::Peer;
use lms_platform::pagination;
use lms_proto::audit_v1 as pb;
use pb::audit_service_client::AuditServiceClient;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

#[derive(Clone)]
pub struct MergedAuditTrail {
    /// Every service that keeps a trail.
    services: Vec<Peer>,
}

impl MergedAuditTrail {
    pub fn new(services: Vec<Peer>) -> Self {
        Self { services }
    }

    async fn page(
        &self,
        incoming: &MetadataMap,
        request: pb::ListAuditEntriesRequest,
    ) -> Result<pb::ListAuditEntriesResponse, Status> {
        let filter = audit::filter_of(&request)?;
        let limit = pagination::page_size(request.page_size)? as usize;
        audit::page_after(&filter, &request.page_token)?;
        let answers = join_all(self.services.iter().map(|service| {
            service.read_as_caller(incoming, request.clone(), |channel, request| async move {
                AuditServiceClient::new(channel)
                    .list_audit_entries(request)
                    .await
            })
        }))
        .await;
        let mut entries = Vec::new();
        let mut more = false;
        // A service that cannot answer fails the query: a trail with a gap would mislead.
        for answer in answers {
            let page = answer?;
            more |= !page.next_page_token.is_empty();
            entries.extend(page.audit_entries);
        }
        entries.sort_by(|a, b| b.id.cmp(&a.id));
        if entries.len() > limit {
            more = true;
            entries.truncate(limit);
        }
        let next_page_token = match (more, entries.last()) {
            (true, Some(last)) => audit::page_token(&filter, &last.id),
            _ => String::new(),
        };
        Ok(pb::ListAuditEntriesResponse {
            audit_entries: entries,
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for MergedAuditTrail {
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let page = self
            .page(request.metadata(), request.get_ref().clone())
            .await?;
        Ok(Response::new(page))
    }

    type ExportAuditEntriesStream = audit::CsvStream;

    async fn export_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<audit::CsvStream>, Status> {
        let incoming = request.metadata().clone();
        let trail = self.clone();
        let stream = audit::export(request.into_inner(), move |request| {
            let (trail, incoming) = (trail.clone(), incoming.clone());
            async move { trail.page(&incoming, request).await }
        })?;
        Ok(Response::new(stream))
    }
}
