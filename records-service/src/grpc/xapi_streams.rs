//! The Statement Resource's streamed forms: a store whose attachments' raw data arrives part
//! by part (`StoreStatementsStream`), and a statement or a page answered with its
//! attachments' raw data part by part (`GetStatementStream`, `QueryStatementsStream`). The
//! gateway's `multipart/mixed` requests and answers use them, so no attachment is held whole
//! in memory on the way.

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::ids::TenantId;
use lms_proto::xapi_v1 as pb;
use pb::statements_stream_response::Item as Answer;
use pb::store_statements_stream_request::Item;
use serde_json::Value;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::xapi::{get_statement, now_consistent, query_statements, text, version};
use crate::app::RecordsApp;
use crate::app::xapi::StatementsToStore;
use crate::app::xapi_parts::{PartSpool, StoredAttachment};

pub type AnswerStream = ReceiverStream<Result<pb::StatementsStreamResponse, Status>>;

/// The most parts one request may carry: each holds up to 64 KiB in memory before it spools,
/// so this bounds what a request holds (6.25 MiB).
const MAX_PARTS: usize = 100;

fn invalid(field: &str, description: impl Into<String>) -> Status {
    AppError::invalid_field(field, description).into()
}

fn spool_failed(error: std::io::Error) -> Status {
    AppError::Internal(anyhow::anyhow!("spooling an attachment: {error}")).into()
}

/// Reads the request, then each part into a spool, then — once `end` has come — stores it
/// all as StoreStatements does. An error, the stream cancelled, or a stream ending without
/// `end` stores nothing.
pub(super) async fn store(
    app: &RecordsApp,
    request: Request<Streaming<pb::StoreStatementsStreamRequest>>,
) -> Result<Response<pb::StoreStatementsResponse>, Status> {
    let who = principal(&request)?;
    let mut messages = request.into_inner();
    let first = match messages.message().await? {
        Some(pb::StoreStatementsStreamRequest {
            item: Some(Item::Request(first)),
        }) => first,
        _ => return Err(invalid("request", "must be the first message")),
    };
    if !first.attachments.is_empty() {
        return Err(invalid(
            "request.attachments",
            "are sent as parts after the request",
        ));
    }
    let max_bytes = app.max_attachment_bytes();
    let mut parts = Vec::new();
    let mut current: Option<PartSpool> = None;
    let mut received = 0u64;
    let mut ended = false;
    while let Some(message) = messages.message().await? {
        if ended {
            return Err(invalid("end", "must be the last message"));
        }
        match message.item {
            Some(Item::End(end)) => ended = end,
            Some(Item::Part(part)) => {
                if !part.content.is_empty() {
                    return Err(invalid("part.content", "is sent as data messages"));
                }
                if parts.len() + usize::from(current.is_some()) >= MAX_PARTS {
                    return Err(invalid(
                        "part",
                        format!("a request carries at most {MAX_PARTS} attachments' parts"),
                    ));
                }
                if part.sha2.len() > 128 || part.content_type.len() > 255 {
                    return Err(invalid(
                        "part",
                        "a part's hash is at most 128 characters, its content type 255",
                    ));
                }
                if let Some(done) = current.take() {
                    parts.push(done.finish().await.map_err(spool_failed)?);
                }
                current = Some(PartSpool::new(&part.sha2, part.content_type));
            }
            Some(Item::Data(bytes)) => {
                let Some(spool) = current.as_mut() else {
                    return Err(invalid("data", "must follow a part"));
                };
                received += bytes.len() as u64;
                if received > max_bytes {
                    return Err(invalid(
                        "attachments",
                        format!("are larger than the {max_bytes} bytes allowed"),
                    ));
                }
                spool.write(&bytes).await.map_err(spool_failed)?;
            }
            Some(Item::Request(_)) => {
                return Err(invalid("request", "must be sent once, first"));
            }
            None => {}
        }
    }
    if !ended {
        // The sender stopped before saying the request was whole: it was cut short.
        return Err(invalid(
            "end",
            "the stream ended without its end message; nothing was stored",
        ));
    }
    if let Some(done) = current {
        parts.push(done.finish().await.map_err(spool_failed)?);
    }
    let store = StatementsToStore {
        body: first.statements,
        statement_id: text(first.statement_id),
        version: version(first.version)?,
        attachments: parts,
    };
    let ids = app.store_statements(&who, store).await?;
    Ok(Response::new(pb::StoreStatementsResponse {
        ids,
        consistent_through: now_consistent(),
    }))
}

pub(super) async fn get(
    app: &RecordsApp,
    request: Request<pb::GetStatementStreamRequest>,
) -> Result<Response<AnswerStream>, Status> {
    let who = principal(&request)?;
    let mut req = request.into_inner().request.unwrap_or_default();
    let with_attachments = std::mem::take(&mut req.attachments);
    let answer = get_statement(app, &who, req).await?;
    let held = match with_attachments {
        true => {
            let statement: Value = serde_json::from_str(&answer.statement).unwrap_or_default();
            app.held_attachments(&who.tenant_id, &[statement]).await?
        }
        false => Vec::new(),
    };
    Ok(Response::new(answer_then_parts(
        app.clone(),
        who.tenant_id,
        Answer::Statement(answer),
        held,
    )))
}

pub(super) async fn query(
    app: &RecordsApp,
    request: Request<pb::QueryStatementsStreamRequest>,
) -> Result<Response<AnswerStream>, Status> {
    let who = principal(&request)?;
    let mut req = request.into_inner().request.unwrap_or_default();
    let with_attachments = std::mem::take(&mut req.attachments);
    let page = query_statements(app, &who, req).await?;
    let held = match with_attachments {
        true => {
            let statements: Vec<Value> = serde_json::from_str(&page.statements).unwrap_or_default();
            app.held_attachments(&who.tenant_id, &statements).await?
        }
        false => Vec::new(),
    };
    Ok(Response::new(answer_then_parts(
        app.clone(),
        who.tenant_id,
        Answer::Page(page),
        held,
    )))
}

/// The answer, then each held attachment: a message naming it, then its bytes, one stored
/// part at a time as the reader takes them (two messages in flight at most).
fn answer_then_parts(
    app: RecordsApp,
    tenant: TenantId,
    first: Answer,
    held: Vec<StoredAttachment>,
) -> AnswerStream {
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    let message = |item| Ok(pb::StatementsStreamResponse { item: Some(item) });
    tokio::spawn(async move {
        if sender.send(message(first)).await.is_err() {
            return;
        }
        for attachment in held {
            let part = pb::AttachmentPart {
                sha2: attachment.sha2.clone(),
                content_type: attachment.content_type,
                content: Vec::new(),
                size: attachment.size,
            };
            if sender.send(message(Answer::Part(part))).await.is_err() {
                return;
            }
            for seq in 0.. {
                let data = match app.attachment_chunk(&tenant, &attachment.sha2, seq).await {
                    Ok(Some(data)) => data,
                    Ok(None) => break,
                    Err(error) => {
                        let _ = sender.send(Err(error.into())).await;
                        return;
                    }
                };
                if sender.send(message(Answer::Data(data))).await.is_err() {
                    return; // the reader went away
                }
            }
        }
    });
    ReceiverStream::new(receiver)
}
