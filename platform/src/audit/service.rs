//! `lms.audit.v1.AuditService` over one service's entries, and what the gateway's merged trail
//! shares with it: reading a request's filters, the page tokens, the CSV export.

use std::future::Future;
use std::pin::Pin;

use futures::Stream;
use lms_proto::audit_v1 as pb;
use prost_types::value::Kind;
use serde_json::Value;
use tonic::{Request, Response, Status};

use super::{CSV_HEADER, Entry, Filter, list};
use crate::Role;
use crate::auth::{Policy, principal};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::pagination;
use crate::resource::{from_timestamp, timestamp};
use crate::validate::Violations;

/// Who may read the trail: a tenant's administrators.
pub const POLICY: Policy = &[
    ("ListAuditEntries", &[Role::Admin]),
    ("ExportAuditEntries", &[Role::Admin]),
];

/// The longest filter texts accepted.
const MAX_FILTER: usize = 300;
/// Entries fetched per page while exporting.
const EXPORT_PAGE: i32 = 500;

/// A request's filters, checked.
pub fn filter_of(request: &pb::ListAuditEntriesRequest) -> AppResult<Filter> {
    let mut v = Violations::new();
    v.max_text("actor", &request.actor, MAX_FILTER);
    v.max_text("resource", &request.resource, MAX_FILTER);
    v.max_text("action", &request.action, MAX_FILTER);
    let mut time = |field: &str, t: &Option<prost_types::Timestamp>| {
        t.as_ref().and_then(|t| {
            let at = from_timestamp(t);
            if at.is_none() {
                v.add(field, "is not a valid time");
            }
            at
        })
    };
    let start = time("start_time", &request.start_time);
    let end = time("end_time", &request.end_time);
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        v.add("end_time", "must be after start_time");
    }
    v.finish()?;
    Ok(Filter {
        actor: request.actor.clone(),
        resource: request.resource.trim_end_matches('/').to_string(),
        action: request.action.clone(),
        start,
        end,
    })
}

/// An export's request checked as a list's is (the export holds every page, but a negative
/// page size or a foreign page token is refused the same way).
pub fn check_export(request: &pb::ListAuditEntriesRequest) -> AppResult<()> {
    let filter = filter_of(request)?;
    pagination::page_size(request.page_size)?;
    page_after(&filter, &request.page_token)?;
    Ok(())
}

/// The id of the last entry of the page before (`None` for the first page).
pub fn page_after(filter: &Filter, page_token: &str) -> AppResult<Option<String>> {
    Ok(pagination::decode_key::<1>(page_token, &filter.fingerprint_text())?.map(|[id]| id))
}

/// The token of the page after the entry `last_id`.
pub fn page_token(filter: &Filter, last_id: &str) -> String {
    pagination::encode(vec![last_id.to_string()], &filter.fingerprint_text())
}

/// A stored entry on the wire.
pub fn to_proto(entry: Entry) -> pb::AuditEntry {
    let object = |text: Option<String>| {
        text.and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|value| match value {
                Value::Object(fields) => to_struct(fields),
                other => to_struct(serde_json::Map::from_iter([("value".to_string(), other)])),
            })
    };
    pb::AuditEntry {
        id: entry.id,
        occur_time: Some(timestamp(entry.occurred_at)),
        actor: entry.actor,
        actor_roles: entry
            .actor_roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        action: entry.action,
        resource: entry.resource,
        request_id: entry.request_id,
        before: object(entry.before_json),
        after: object(entry.after_json),
    }
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn to_struct(fields: serde_json::Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: fields
            .into_iter()
            .map(|(name, value)| (name, to_value(value)))
            .collect(),
    }
}

fn to_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(fields) => Kind::StructValue(to_struct(fields)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn from_struct(object: &prost_types::Struct) -> Value {
    Value::Object(
        object
            .fields
            .iter()
            .map(|(name, value)| (name.clone(), from_value(value)))
            .collect(),
    )
}

fn from_value(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => serde_json::Number::from_f64(*n)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(from_value).collect()),
        Some(Kind::StructValue(object)) => from_struct(object),
    }
}

/// A CSV export, streamed.
pub type CsvStream = Pin<Box<dyn Stream<Item = Result<pb::CsvChunk, Status>> + Send>>;

/// The CSV export of every entry `request` matches (from its page token on), read page after
/// page with `page` (one service's list, or the merged one) and streamed as it is read: one
/// page is held in memory at a time. The request is checked as a list's would be.
pub fn export<F, Fut>(request: pb::ListAuditEntriesRequest, page: F) -> Result<CsvStream, Status>
where
    F: Fn(pb::ListAuditEntriesRequest) -> Fut + Send + 'static,
    Fut: Future<Output = Result<pb::ListAuditEntriesResponse, Status>> + Send,
{
    check_export(&request)?;
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut token = request.page_token.clone();
        let mut first = true;
        loop {
            let next = pb::ListAuditEntriesRequest {
                page_size: EXPORT_PAGE,
                page_token: token,
                ..request.clone()
            };
            let entries = match page(next).await {
                Ok(entries) => entries,
                Err(status) => {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
            };
            let chunk = csv_rows(first, &entries.audit_entries);
            first = false;
            if sender
                .send(chunk.map(|data| pb::CsvChunk { data }))
                .await
                .is_err()
            {
                return;
            }
            if entries.next_page_token.is_empty() {
                return;
            }
            token = entries.next_page_token;
        }
    });
    Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(
        receiver,
    )))
}

fn csv_rows(header: bool, entries: &[pb::AuditEntry]) -> Result<Vec<u8>, Status> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| Status::from(AppError::internal(anyhow::Error::from(e)));
    if header {
        writer.write_record(CSV_HEADER).map_err(failed)?;
    }
    let json = |object: &Option<prost_types::Struct>| {
        object
            .as_ref()
            .map(|o| from_struct(o).to_string())
            .unwrap_or_default()
    };
    for entry in entries {
        let time = entry
            .occur_time
            .as_ref()
            .and_then(from_timestamp)
            .map(|at| {
                at.and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .unwrap_or_default();
        writer
            .write_record([
                entry.id.as_str(),
                time.as_str(),
                entry.actor.as_str(),
                entry.actor_roles.join(",").as_str(),
                entry.action.as_str(),
                entry.resource.as_str(),
                entry.request_id.as_str(),
                json(&entry.before).as_str(),
                json(&entry.after).as_str(),
            ])
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| Status::from(AppError::internal(anyhow::anyhow!("{e}"))))
}

/// `lms.audit.v1.AuditService` over one service's entries.
#[derive(Clone)]
pub struct AuditTrailGrpc {
    db: Db,
}

impl AuditTrailGrpc {
    /// The service, ready to add to a server (behind [`POLICY`]).
    pub fn server(db: Db) -> pb::audit_service_server::AuditServiceServer<Self> {
        pb::audit_service_server::AuditServiceServer::new(Self { db })
    }

    async fn page(
        db: Db,
        who: crate::Principal,
        request: pb::ListAuditEntriesRequest,
    ) -> Result<pb::ListAuditEntriesResponse, Status> {
        let filter = filter_of(&request)?;
        let limit = pagination::page_size(request.page_size)?;
        let after = page_after(&filter, &request.page_token)?;
        let tenant = who.tenant_id.clone();
        let query = filter.clone();
        let mut rows = db
            .read_one(move |conn| list(conn, &tenant, &query, after.as_deref(), limit + 1))
            .await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_page_token = match (more, rows.last()) {
            (true, Some(last)) => page_token(&filter, &last.id),
            _ => String::new(),
        };
        Ok(pb::ListAuditEntriesResponse {
            audit_entries: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        })
    }
}

#[tonic::async_trait]
impl pb::audit_service_server::AuditService for AuditTrailGrpc {
    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<pb::ListAuditEntriesResponse>, Status> {
        let who = principal(&request)?;
        let page = Self::page(self.db.clone(), who, request.into_inner()).await?;
        Ok(Response::new(page))
    }

    type ExportAuditEntriesStream = CsvStream;

    async fn export_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Result<Response<CsvStream>, Status> {
        let who = principal(&request)?;
        let db = self.db.clone();
        let stream = export(request.into_inner(), move |request| {
            Self::page(db.clone(), who.clone(), request)
        })?;
        Ok(Response::new(stream))
    }
}
