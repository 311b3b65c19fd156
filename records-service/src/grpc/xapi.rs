//! `lms.xapi.v1.LearningRecordStoreService`: statements as JSON text in, JSON text out.

use lms_platform::Principal;
use lms_platform::auth::principal;
use lms_platform::resource::timestamp;
use lms_proto::xapi_v1 as pb;
use pb::learning_record_store_service_server::LearningRecordStoreService;
use tonic::{Request, Response, Status};

use super::xapi_documents::{document_at, preconditions};
use super::xapi_streams::AnswerStream;
use crate::app::RecordsApp;
use crate::app::xapi::{Lookup, StatementQuery, StatementsToStore, consistent_through};
use crate::app::xapi_documents::{DocumentWrite, person};
use crate::app::xapi_parts::ReceivedPart;
use crate::domain::xapi::Version;
use crate::domain::xapi::attachments::AttachmentData;
use crate::domain::xapi::views::Format;

pub struct XapiGrpc {
    app: RecordsApp,
}

impl XapiGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

pub(super) fn version(version: i32) -> Result<Version, Status> {
    match pb::XapiVersion::try_from(version) {
        Ok(pb::XapiVersion::OneZero) => Ok(Version::V1),
        Ok(pb::XapiVersion::TwoZero) => Ok(Version::V2),
        _ => Err(lms_platform::AppError::invalid_field(
            "version",
            "must be XAPI_VERSION_ONE_ZERO or XAPI_VERSION_TWO_ZERO",
        )
        .into()),
    }
}

fn format(format: i32) -> Format {
    match pb::StatementFormat::try_from(format) {
        Ok(pb::StatementFormat::Ids) => Format::Ids,
        Ok(pb::StatementFormat::Canonical) => Format::Canonical,
        _ => Format::Exact,
    }
}

pub(super) fn text(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn from_part(part: pb::AttachmentPart) -> ReceivedPart {
    ReceivedPart::whole(&part.sha2, part.content_type, part.content)
}

fn to_part(data: AttachmentData) -> pb::AttachmentPart {
    pb::AttachmentPart {
        sha2: data.sha2,
        content_type: data.content_type,
        size: data.content.len() as i64,
        content: data.content,
    }
}

pub(super) fn now_consistent() -> Option<prost_types::Timestamp> {
    Some(timestamp(consistent_through().naive_utc()))
}

/// GetStatement's answer (shared with its streamed form).
pub(super) async fn get_statement(
    app: &RecordsApp,
    who: &Principal,
    req: pb::GetStatementRequest,
) -> Result<pb::GetStatementResponse, Status> {
    let lookup = match req.lookup {
        Some(pb::get_statement_request::Lookup::StatementId(id)) => Lookup::Statement(id),
        Some(pb::get_statement_request::Lookup::VoidedStatementId(id)) => Lookup::Voided(id),
        None => {
            return Err(lms_platform::AppError::invalid_field(
                "statement_id",
                "give statement_id or voided_statement_id",
            )
            .into());
        }
    };
    let found = app
        .get_statement(
            who,
            lookup,
            format(req.format),
            req.languages,
            req.attachments,
        )
        .await?;
    Ok(pb::GetStatementResponse {
        statement: found.statement.to_string(),
        stored: Some(timestamp(found.stored.naive_utc())),
        consistent_through: now_consistent(),
        attachments: found.attachments.into_iter().map(to_part).collect(),
    })
}

/// QueryStatements' answer (shared with its streamed form).
pub(super) async fn query_statements(
    app: &RecordsApp,
    who: &Principal,
    req: pb::QueryStatementsRequest,
) -> Result<pb::QueryStatementsResponse, Status> {
    // Read before the query runs: whatever it promises is in what the query sees.
    let consistent = now_consistent();
    let page = app
        .query_statements(
            who,
            StatementQuery {
                agent: text(req.agent),
                verb: text(req.verb),
                activity: text(req.activity),
                registration: text(req.registration),
                related_activities: req.related_activities,
                related_agents: req.related_agents,
                since: text(req.since),
                until: text(req.until),
                limit: req.limit,
                format: format(req.format),
                ascending: req.ascending,
                page_token: text(req.page_token),
                languages: req.languages,
                attachments: req.attachments,
            },
        )
        .await?;
    Ok(pb::QueryStatementsResponse {
        statements: serde_json::Value::from(page.statements).to_string(),
        next_page_token: page.next_page_token.unwrap_or_default(),
        consistent_through: consistent,
        attachments: page.attachments.into_iter().map(to_part).collect(),
    })
}

#[tonic::async_trait]
impl LearningRecordStoreService for XapiGrpc {
    type GetStatementStreamStream = AnswerStream;
    type QueryStatementsStreamStream = AnswerStream;

    async fn store_statements_stream(
        &self,
        request: Request<tonic::Streaming<pb::StoreStatementsStreamRequest>>,
    ) -> Result<Response<pb::StoreStatementsResponse>, Status> {
        super::xapi_streams::store(&self.app, request).await
    }

    async fn get_statement_stream(
        &self,
        request: Request<pb::GetStatementStreamRequest>,
    ) -> Result<Response<AnswerStream>, Status> {
        super::xapi_streams::get(&self.app, request).await
    }

    async fn query_statements_stream(
        &self,
        request: Request<pb::QueryStatementsStreamRequest>,
    ) -> Result<Response<AnswerStream>, Status> {
        super::xapi_streams::query(&self.app, request).await
    }

    async fn store_statements(
        &self,
        request: Request<pb::StoreStatementsRequest>,
    ) -> Result<Response<pb::StoreStatementsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let ids = self
            .app
            .store_statements(
                &who,
                StatementsToStore {
                    body: req.statements,
                    statement_id: text(req.statement_id),
                    version: version(req.version)?,
                    attachments: req.attachments.into_iter().map(from_part).collect(),
                },
            )
            .await?;
        Ok(Response::new(pb::StoreStatementsResponse {
            ids,
            consistent_through: now_consistent(),
        }))
    }

    async fn get_statement(
        &self,
        request: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::GetStatementResponse>, Status> {
        let who = principal(&request)?;
        let answer = get_statement(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn query_statements(
        &self,
        request: Request<pb::QueryStatementsRequest>,
    ) -> Result<Response<pb::QueryStatementsResponse>, Status> {
        let who = principal(&request)?;
        let answer = query_statements(&self.app, &who, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn write_document(
        &self,
        request: Request<pb::WriteDocumentRequest>,
    ) -> Result<Response<pb::WriteDocumentResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let write = DocumentWrite {
            content: req.content,
            content_type: req.content_type,
            merge: req.merge,
            preconditions: preconditions(req.if_match, req.if_none_match),
            version: version(req.version)?,
        };
        let etag = self
            .app
            .write_document(&who, document_at(req.key)?, write)
            .await?;
        Ok(Response::new(pb::WriteDocumentResponse { etag }))
    }

    async fn get_document(
        &self,
        request: Request<pb::GetDocumentRequest>,
    ) -> Result<Response<pb::Document>, Status> {
        let who = principal(&request)?;
        let at = document_at(request.into_inner().key)?;
        let found = self.app.get_document(&who, at).await?;
        Ok(Response::new(pb::Document {
            content: found.content,
            content_type: found.content_type,
            etag: found.etag,
            update_time: Some(timestamp(found.updated_at)),
        }))
    }

    async fn list_document_ids(
        &self,
        request: Request<pb::ListDocumentIdsRequest>,
    ) -> Result<Response<pb::ListDocumentIdsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let (document_ids, latest) = self
            .app
            .list_document_ids(&who, document_at(req.key)?, text(req.since))
            .await?;
        Ok(Response::new(pb::ListDocumentIdsResponse {
            document_ids,
            update_time: latest.map(timestamp),
        }))
    }

    async fn delete_documents(
        &self,
        request: Request<pb::DeleteDocumentsRequest>,
    ) -> Result<Response<pb::DeleteDocumentsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let given = preconditions(req.if_match, req.if_none_match);
        self.app
            .delete_documents(&who, document_at(req.key)?, given, version(req.version)?)
            .await?;
        Ok(Response::new(pb::DeleteDocumentsResponse {}))
    }

    async fn get_activity(
        &self,
        request: Request<pb::GetActivityRequest>,
    ) -> Result<Response<pb::GetActivityResponse>, Status> {
        let who = principal(&request)?;
        let activity = self
            .app
            .get_activity(&who, request.into_inner().activity_id)
            .await?;
        Ok(Response::new(pb::GetActivityResponse {
            activity: activity.to_string(),
        }))
    }

    async fn get_person(
        &self,
        request: Request<pb::GetPersonRequest>,
    ) -> Result<Response<pb::GetPersonResponse>, Status> {
        principal(&request)?;
        let person = person(&request.into_inner().agent)?;
        Ok(Response::new(pb::GetPersonResponse {
            person: person.to_string(),
        }))
    }
}
