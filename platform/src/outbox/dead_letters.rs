//! Dead letters: deliveries a destination rejected for good, kept by the producing service with
//! the destination's reason, listed and replayed by a tenant's administrators
//! (`lms.events.v1.DeadLetters`, served beside every outbox).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_proto::events_v1 as pb;
use tonic::{Request, Response, Status};

use super::{now, outbox_deliveries, outbox_events};
use crate::Role;
use crate::auth::{Policy, principal};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::ids::TenantId;
use crate::pagination;
use crate::validate::Violations;

/// Who may call `lms.events.v1.DeadLetters`: a tenant's administrators.
pub const POLICY: Policy = &[
    ("ListDeadLetters", &[Role::Admin]),
    ("ReplayDeadLetters", &[Role::Admin]),
];

/// The most letters one replay names.
const MAX_REPLAY: usize = 500;
/// The longest destination name accepted as a filter.
const MAX_DESTINATION: usize = 100;

type LetterRow = (
    String,
    String,
    NaiveDateTime,
    String,
    i32,
    NaiveDateTime,
    Option<NaiveDateTime>,
    String,
    String,
);

/// One page of a tenant's dead letters, oldest first.
async fn list(
    db: &Db,
    tenant: &TenantId,
    destination: String,
    page_size: i32,
    page_token: &str,
) -> AppResult<pagination::Page<pb::DeadLetter>> {
    let limit = pagination::page_size(page_size)?;
    let filters = format!("destination={destination}");
    let after = pagination::decode_key::<3>(page_token, &filters)?
        .map(|[at, event, destination]| {
            let at = NaiveDateTime::parse_from_str(&at, TOKEN_TIME)
                .map_err(|_| AppError::invalid_field("page_token", "is malformed"))?;
            Ok::<_, AppError>((at, event, destination))
        })
        .transpose()?;
    let tenant = tenant.to_string();
    let rows: Vec<LetterRow> = db
        .read(move |conn| {
            use outbox_deliveries::dsl as d;
            let mut query = outbox_deliveries::table
                .inner_join(outbox_events::table)
                .filter(d::tenant_id.eq(&tenant))
                .filter(d::rejected_at.is_not_null())
                .into_boxed();
            if !destination.is_empty() {
                query = query.filter(d::destination.eq(destination));
            }
            if let Some((at, event, queue)) = after {
                query = query.filter(
                    d::event_created_at
                        .gt(at)
                        .or(d::event_created_at
                            .eq(at)
                            .and(d::event_id.gt(event.clone())))
                        .or(d::event_created_at
                            .eq(at)
                            .and(d::event_id.eq(event))
                            .and(d::destination.gt(queue))),
                );
            }
            Ok(query
                .order((
                    d::event_created_at.asc(),
                    d::event_id.asc(),
                    d::destination.asc(),
                ))
                .limit(limit + 1)
                .select((
                    d::event_id,
                    d::destination,
                    d::event_created_at,
                    d::last_error,
                    d::attempts,
                    d::event_created_at,
                    d::rejected_at,
                    outbox_events::type_url,
                    outbox_events::aggregate_id,
                ))
                .load(conn)?)
        })
        .await?;
    let page = pagination::paginate(rows, limit, &filters, |row| {
        vec![
            row.2.format(TOKEN_TIME).to_string(),
            row.0.clone(),
            row.1.clone(),
        ]
    });
    Ok(pagination::Page {
        items: page.items.into_iter().map(to_letter).collect(),
        next_page_token: page.next_page_token,
    })
}

const TOKEN_TIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

fn to_letter(row: LetterRow) -> pb::DeadLetter {
    let (event_id, destination, _, reason, attempts, created, rejected, type_url, aggregate_id) =
        row;
    pb::DeadLetter {
        event_id,
        destination,
        type_url,
        aggregate_id,
        reason,
        attempts,
        occur_time: Some(timestamp(created)),
        reject_time: rejected.map(timestamp),
    }
}

fn timestamp(at: NaiveDateTime) -> prost_types::Timestamp {
    let at = at.and_utc();
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Queues a tenant's dead letters for delivery again (all of them, or those named), in their
/// original order. Returns how many were queued. A named letter that is not a dead letter of
/// the tenant is NOT_FOUND, and nothing is replayed.
pub async fn replay_dead_letters(
    db: &Db,
    who: &crate::Principal,
    destination: String,
    event_ids: Vec<String>,
) -> AppResult<usize> {
    let tenant = who.tenant_id.to_string();
    let who = who.clone();
    db.write(move |conn| {
        use outbox_deliveries::dsl as d;
        let letters = || {
            let mut query = outbox_deliveries::table
                .filter(d::tenant_id.eq(tenant.clone()))
                .filter(d::rejected_at.is_not_null())
                .into_boxed();
            if !destination.is_empty() {
                query = query.filter(d::destination.eq(destination.clone()));
            }
            query
        };
        if !event_ids.is_empty() {
            let found: Vec<String> = letters()
                .filter(d::event_id.eq_any(&event_ids))
                .select(d::event_id)
                .load(conn)?;
            if let Some(missing) = event_ids.iter().find(|id| !found.contains(id)) {
                return Err(AppError::NotFound(format!(
                    "no dead letter for event {missing}"
                )));
            }
        }
        let mut keys = letters().select((d::destination, d::event_id));
        if !event_ids.is_empty() {
            keys = keys.filter(d::event_id.eq_any(event_ids.clone()));
        }
        let keys: Vec<(String, String)> = keys.load(conn)?;
        let at = now();
        for (queue, event) in &keys {
            diesel::update(
                outbox_deliveries::table
                    .filter(d::destination.eq(queue))
                    .filter(d::event_id.eq(event)),
            )
            .set((
                d::rejected_at.eq(None::<NaiveDateTime>),
                d::next_attempt_at.eq(at),
            ))
            .execute(conn)?;
        }
        let replayed: Vec<&String> = keys.iter().map(|(_, event)| event).collect();
        let resource = "deadLetters";
        let what = serde_json::json!({ "destination": destination, "replayed": replayed });
        crate::audit::record(conn, &who, crate::audit::Change::acted(resource, &what)?)?;
        Ok(keys.len())
    })
    .await
}

/// `lms.events.v1.DeadLetters` over one service's outbox.
pub struct DeadLettersGrpc {
    db: Db,
}

impl DeadLettersGrpc {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The service, ready to add to a server (behind [`POLICY`]).
    pub fn server(db: Db) -> pb::dead_letters_server::DeadLettersServer<Self> {
        pb::dead_letters_server::DeadLettersServer::new(Self::new(db))
    }
}

#[tonic::async_trait]
impl pb::dead_letters_server::DeadLetters for DeadLettersGrpc {
    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.max_text("destination", &req.destination, MAX_DESTINATION);
        v.finish()?;
        let page = list(
            &self.db,
            &who.tenant_id,
            req.destination,
            req.page_size,
            &req.page_token,
        )
        .await?;
        Ok(Response::new(pb::ListDeadLettersResponse {
            dead_letters: page.items,
            next_page_token: page.next_page_token,
        }))
    }

    async fn replay_dead_letters(
        &self,
        request: Request<pb::ReplayDeadLettersRequest>,
    ) -> Result<Response<pb::ReplayDeadLettersResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.max_text("destination", &req.destination, MAX_DESTINATION);
        if req.event_ids.len() > MAX_REPLAY {
            v.add("event_ids", format!("at most {MAX_REPLAY} a call"));
        }
        if req.event_ids.is_empty() && !req.all {
            v.add("event_ids", "name the letters to replay, or set all");
        }
        if !req.event_ids.is_empty() && req.all {
            v.add("all", "either name letters or set all, not both");
        }
        for (i, id) in req.event_ids.iter().enumerate() {
            v.id(&format!("event_ids[{i}]"), id);
        }
        v.finish()?;
        let replayed = replay_dead_letters(&self.db, &who, req.destination, req.event_ids).await?;
        Ok(Response::new(pb::ReplayDeadLettersResponse {
            replayed: replayed as i32,
        }))
    }
}
