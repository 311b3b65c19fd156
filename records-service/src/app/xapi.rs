//! The Learning Record Store's statements: storing them (a request's statements all or
//! none), reading one, and querying (xAPI Communication 2.1). Who may call is the gRPC
//! policy's; every statement is the caller's tenant's.

use std::collections::HashSet;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult, Principal};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::xapi_definitions as activity_definitions;
use super::xapi_parts::{
    ReceivedPart, broken, check_attachments, hashes_of, keep_parts, load_whole,
};
use super::{RecordsApp, cmi5};
use crate::domain::xapi::attachments::AttachmentData;
use crate::domain::xapi::definitions;
use crate::domain::xapi::views::{self, Format};
use crate::domain::xapi::{self, FilterKeys, Target, Version, agent, formats, json};
use crate::storage::xapi_queries;
use crate::storage::xapi_statements::{self as rows, Key, KeyKind, NewStatement, StatementFilter};

/// The most statements one page holds (what `limit=0` means).
pub const MAX_PAGE: u32 = 500;

/// A storing transaction whose statements were stamped `stored` longer ago than this rolls
/// back instead of committing (the client retries), so that every statement stored before
/// [`consistent_through`] is visible once [`CONSISTENCY_LAG`] has passed.
const STAMP_TO_COMMIT: std::time::Duration = std::time::Duration::from_secs(2);
/// How far `X-Experience-API-Consistent-Through` trails the clock: the stamp-to-commit
/// limit and three seconds for the commit itself.
const CONSISTENCY_LAG: chrono::Duration = chrono::Duration::seconds(5);

/// Every statement stored at or before this instant is in query results.
pub fn consistent_through() -> DateTime<Utc> {
    Utc::now() - CONSISTENCY_LAG
}

/// What a PUT (one statement, its id given) or a POST (one or many) sends.
pub struct StatementsToStore {
    /// The request body: a statement or an array of them, as JSON text.
    pub body: String,
    /// PUT's `statementId`.
    pub statement_id: Option<String>,
    pub version: Version,
    /// The attachments' raw data (the parts of a multipart/mixed request).
    pub attachments: Vec<ReceivedPart>,
}

pub enum Lookup {
    Statement(String),
    Voided(String),
}

pub struct FoundStatement {
    pub statement: Value,
    pub stored: DateTime<Utc>,
    /// With attachments asked for: their raw data the store holds.
    pub attachments: Vec<AttachmentData>,
}

/// A statement query as the client gives it (text, checked here).
#[derive(Default)]
pub struct StatementQuery {
    pub agent: Option<String>,
    pub verb: Option<String>,
    pub activity: Option<String>,
    pub registration: Option<String>,
    pub related_activities: bool,
    pub related_agents: bool,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: u32,
    pub format: Format,
    pub ascending: bool,
    /// The `more` of a previous page: the whole query and where it stopped.
    pub page_token: Option<String>,
    /// The reader's languages, most preferred first (for `canonical`).
    pub languages: Vec<String>,
    /// Also the raw data of the statements' attachments.
    pub attachments: bool,
}

pub struct StatementPage {
    pub statements: Vec<Value>,
    pub next_page_token: Option<String>,
    /// With attachments asked for: the raw data of the page's attachments, each once.
    pub attachments: Vec<AttachmentData>,
}

/// A query and where its last page ended, carried in `more`.
#[derive(Serialize, Deserialize)]
struct PageToken {
    agent: Option<String>,
    related_agents: bool,
    verb: Option<String>,
    activity: Option<String>,
    related_activities: bool,
    registration: Option<String>,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    ascending: bool,
    limit: i64,
    format: String,
    after: (NaiveDateTime, String),
}

/// What a unique violation says (`lms_platform::AppError`): a concurrent insert of the same
/// key, unlike the store's own "stored already, with other content".
pub(crate) const RACED: &str = "already exists";

/// How often a write that lost a race is tried again.
const MAX_RACES: u32 = 16;

/// Runs a write again while it loses a race with a concurrent write of the same key (RACED: a
/// unique violation, or a conditional write that found its row changed): each new attempt
/// sees the winner's row and is judged against it, as if it had come after. Still losing
/// after [`MAX_RACES`] attempts: UNAVAILABLE, for the client to retry.
pub(crate) async fn retry_lost_races<T, F, Fut>(mut attempt: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = AppResult<T>>,
{
    for _ in 0..MAX_RACES {
        match attempt().await {
            Err(AppError::AlreadyExists(why)) if why == RACED => continue,
            other => return other,
        }
    }
    Err(AppError::Unavailable(
        "concurrent requests kept changing what this one writes; retry".into(),
    ))
}

/// The home page of the accounts standing for a tenant's people in statements.
pub use crate::domain::xapi::home_page;

impl RecordsApp {
    /// Stores a request's statements, all or none; their ids, in order. A statement whose id
    /// is stored already is accepted unchanged when it is the same statement, and fails the
    /// request (ALREADY_EXISTS) when it is not.
    pub async fn store_statements(
        &self,
        who: &Principal,
        request: StatementsToStore,
    ) -> AppResult<Vec<String>> {
        let body = json::parse(&request.body)
            .map_err(|error| AppError::invalid_field("statements", error))?;
        let put_id = match &request.statement_id {
            Some(id) => Some(
                formats::uuid(id)
                    .ok_or_else(|| AppError::invalid_field("statementId", "must be a UUID"))?,
            ),
            None => None,
        };
        let incoming = xapi::check_request(&body, put_id.as_deref(), request.version)
            .map_err(|violations| broken("the statements break xAPI", violations))?;
        check_attachments(&incoming, &request.attachments)?;
        let authority = xapi::account_agent(&home_page(&who.tenant_id), &who.subject);
        let default_version = request.version.statement_default();
        let prepared = prepare(incoming);
        let ids: Vec<String> = prepared.iter().map(|s| s.id.clone()).collect();
        let tenant = who.tenant_id.clone();
        let parts = std::sync::Arc::new(request.attachments);
        let session = cmi5::session_of(who).map(str::to_string);
        // Two requests storing the same new statement at once: the second's insert meets the
        // first's row (a unique violation, not the store's own comparison); tried again, it
        // compares with that row like any repeat.
        retry_lost_races(|| {
            let (tenant, prepared, parts) = (tenant.clone(), prepared.clone(), parts.clone());
            let (authority, session) = (authority.clone(), session.clone());
            let kept = self.snapshots.clone();
            self.db.write(move |conn| {
                if let Some(session) = &session {
                    let statements: Vec<(&str, &serde_json::Map<String, Value>)> = prepared
                        .iter()
                        .map(|s| (s.id.as_str(), &s.document))
                        .collect();
                    cmi5::admit_statements(conn, &tenant, &kept, session, &statements)?;
                }
                store_in(conn, &tenant, prepared, &authority, default_version)?;
                keep_parts(conn, &tenant, &parts, Utc::now().naive_utc())
            })
        })
        .await
        .map(|()| ids)
    }

    /// One statement by id (not voided) or by voidedStatementId (voided only).
    pub async fn get_statement(
        &self,
        who: &Principal,
        lookup: Lookup,
        format: Format,
        languages: Vec<String>,
        with_attachments: bool,
    ) -> AppResult<FoundStatement> {
        let (field, id, want_voided) = match lookup {
            Lookup::Statement(id) => ("statementId", id, false),
            Lookup::Voided(id) => ("voidedStatementId", id, true),
        };
        let id =
            formats::uuid(&id).ok_or_else(|| AppError::invalid_field(field, "must be a UUID"))?;
        if self.confined_to(who).await?.is_some() {
            return Err(AppError::PermissionDenied(
                "cmi5 content queries its learner's statements (agent) rather than reading by id"
                    .into(),
            ));
        }
        let tenant = who.tenant_id.clone();
        let (found, data) = self
            .db
            .read(move |conn| {
                let found = rows::get(conn, &tenant, &id)?.filter(|s| s.voided == want_voided);
                let data = match (&found, with_attachments) {
                    (Some(found), true) => {
                        load_whole(conn, &tenant, &hashes_of([&found.document]))?
                    }
                    _ => Vec::new(),
                };
                let texts = found.iter().map(|s| s.document.as_str());
                let definitions = activity_definitions::canonical(conn, &tenant, format, texts)?;
                Ok((found, (data, definitions)))
            })
            .await?;
        let (data, definitions) = data;
        let found =
            found.ok_or_else(|| AppError::NotFound(format!("no statement has that {field}")))?;
        Ok(FoundStatement {
            statement: views::render(document(&found.document)?, format, &languages, &definitions),
            stored: found.stored.and_utc(),
            attachments: data,
        })
    }

    /// A page of the statements matching a query, newest stored first unless ascending.
    pub async fn query_statements(
        &self,
        who: &Principal,
        query: StatementQuery,
    ) -> AppResult<StatementPage> {
        let languages = query.languages.clone();
        let (filter, format) = match &query.page_token {
            Some(token) => from_token(token)?,
            None => (filter_of(&query)?, query.format),
        };
        if let Some(me) = self.confined_to(who).await?
            && filter.agent.as_deref() != Some(me.as_str())
        {
            return Err(AppError::PermissionDenied(
                "cmi5 content reads only its learner's statements: give their agent".into(),
            ));
        }
        let tenant = who.tenant_id.clone();
        let mut asked = filter.clone();
        asked.limit += 1;
        let (limit, with_attachments) = (filter.limit as usize, query.attachments);
        let ((found, more), data) = self
            .db
            .read(move |conn| {
                let mut found = xapi_queries::query(conn, &tenant, &asked)?;
                let more = found.len() > limit;
                found.truncate(limit);
                let data = if with_attachments {
                    let hashes = hashes_of(found.iter().map(|s| &s.document));
                    load_whole(conn, &tenant, &hashes)?
                } else {
                    Vec::new()
                };
                let texts = found.iter().map(|s| s.document.as_str());
                let definitions = activity_definitions::canonical(conn, &tenant, format, texts)?;
                Ok(((found, more), (data, definitions)))
            })
            .await?;
        let (data, definitions) = data;
        let next_page_token = match (more, found.last()) {
            (true, Some(last)) => Some(to_token(&filter, format, (last.stored, last.id.clone()))),
            _ => None,
        };
        let statements = found
            .iter()
            .map(|s| {
                let statement = document(&s.document)?;
                Ok(views::render(statement, format, &languages, &definitions))
            })
            .collect::<AppResult<Vec<Value>>>()?;
        Ok(StatementPage {
            statements,
            next_page_token,
            attachments: data,
        })
    }
}

/// Gives each checked statement its id (generated where it has none), fingerprint and keys.
pub(crate) fn prepare(incoming: Vec<xapi::Incoming>) -> Vec<Prepared> {
    incoming
        .into_iter()
        .map(|statement| Prepared {
            id: statement
                .checked
                .id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
            fingerprint: xapi::fingerprint(&statement.document),
            keys: keys(&statement.checked.keys),
            target: match &statement.checked.target {
                Target::Statement(id) => Some(id.clone()),
                _ => None,
            },
            voids: statement.checked.voids().map(str::to_string),
            document: statement.document,
        })
        .collect()
}

/// Stores prepared statements in the caller's transaction, all or none: a statement whose id
/// is stored already is skipped when it is the same statement and fails the whole (ALREADY_EXISTS)
/// when it is not; voiding statements void their targets, stored, in this batch, or to come.
pub(crate) fn store_in(
    conn: &mut lms_platform::db::DbConnection,
    tenant: &TenantId,
    prepared: Vec<Prepared>,
    authority: &Value,
    default_version: &str,
) -> AppResult<()> {
    let request_ids: Vec<String> = prepared.iter().map(|s| s.id.clone()).collect();
    let stored = rows::fingerprints(conn, tenant, &request_ids)?;
    let mut new = Vec::new();
    for statement in prepared {
        match stored.get(&statement.id) {
            Some(fingerprint) if *fingerprint == statement.fingerprint => {}
            Some(_) => {
                return Err(AppError::AlreadyExists(format!(
                    "statement {} is stored already, with other content",
                    statement.id
                )));
            }
            None => new.push(statement),
        }
    }
    if new.is_empty() {
        return Ok(());
    }
    // The authority matches `related_agents` (xAPI Communication 2.1.3, "Actor, Object,
    // Authority, Instructor, Team"); an erasure finds what a person vouched for by it too.
    // A statement's own match (its actor, say) wins: each value is one key row.
    if let Ok(key) = agent::query_identity(authority) {
        for statement in &mut new {
            if !statement
                .keys
                .iter()
                .any(|k| k.kind == KeyKind::Agent && k.key == key)
            {
                statement.keys.push(Key {
                    kind: KeyKind::Agent,
                    key: key.clone(),
                    related: true,
                });
            }
        }
    }
    let new_ids: Vec<String> = new.iter().map(|s| s.id.clone()).collect();
    // Voiding: a target is voided unless it is a voiding statement itself, whether it is
    // stored already, comes in this request, or comes later.
    let voiding_in_request: HashSet<String> = new
        .iter()
        .filter(|s| s.voids.is_some())
        .map(|s| s.id.clone())
        .collect();
    let targets: Vec<String> = new.iter().filter_map(|s| s.voids.clone()).collect();
    let stored_voiding = if targets.is_empty() {
        HashSet::new()
    } else {
        rows::voiding_among(conn, tenant, &targets)?
    };
    let voided_now: HashSet<String> = targets
        .into_iter()
        .filter(|t| !voiding_in_request.contains(t) && !stored_voiding.contains(t))
        .collect();
    let voided_before = rows::voided_among(conn, tenant, &new_ids)?;
    // The activity definitions they give, read before the documents become text.
    let gathered = definitions::gathered(new.iter().map(|s| &s.document));
    let verb_displays = definitions::verb_displays(new.iter().map(|s| &s.document));
    let now = Utc::now().trunc_subsecs(6);
    let stamped = Instant::now();
    let documents: Vec<NewStatement> = new
        .into_iter()
        .map(|mut s| {
            xapi::complete(&mut s.document, &s.id, now, authority, default_version);
            let voided =
                s.voids.is_none() && (voided_now.contains(&s.id) || voided_before.contains(&s.id));
            NewStatement {
                voided,
                document: Value::Object(s.document).to_string(),
                id: s.id,
                stored: now.naive_utc(),
                target_statement: s.target,
                voids: s.voids,
                fingerprint: s.fingerprint,
                keys: s.keys,
            }
        })
        .collect();
    rows::insert(conn, tenant, &documents)?;
    super::xapi_forwarding::enqueue(conn, tenant, &documents)?;
    activity_definitions::keep(conn, tenant, gathered, verb_displays, now.naive_utc())?;
    let already: Vec<String> = voided_now
        .into_iter()
        .filter(|id| !new_ids.contains(id))
        .collect();
    rows::mark_voided(conn, tenant, &already)?;
    if stamped.elapsed() > STAMP_TO_COMMIT {
        return Err(AppError::Unavailable(
            "storing took too long to keep the consistency promise; retry".into(),
        ));
    }
    Ok(())
}

/// A statement on its way into the store.
#[derive(Clone)]
pub(crate) struct Prepared {
    id: String,
    fingerprint: String,
    keys: Vec<Key>,
    target: Option<String>,
    voids: Option<String>,
    document: serde_json::Map<String, Value>,
}

fn document(text: &str) -> AppResult<Value> {
    serde_json::from_str(text).map_err(AppError::internal)
}

/// A statement's filter keys as rows: each value once, a direct match winning over a
/// related one.
fn keys(found: &FilterKeys) -> Vec<Key> {
    let mut keys: Vec<Key> = Vec::new();
    let mut add = |kind: KeyKind, key: &str, related: bool| {
        if keys
            .iter()
            .any(|k| k.kind == kind && k.key == key && (!k.related || related))
        {
            return;
        }
        keys.retain(|k| !(k.kind == kind && k.key == key));
        keys.push(Key {
            kind,
            key: key.to_string(),
            related,
        });
    };
    add(KeyKind::Verb, &found.verb, false);
    if let Some(registration) = &found.registration {
        add(KeyKind::Registration, registration, false);
    }
    for (key, related) in &found.agents {
        add(KeyKind::Agent, key, *related);
    }
    for (key, related) in &found.activities {
        add(KeyKind::Activity, key, *related);
    }
    keys
}

fn filter_of(query: &StatementQuery) -> AppResult<StatementFilter> {
    let agent = match &query.agent {
        Some(text) => {
            let value = json::parse(text).map_err(|e| AppError::invalid_field("agent", e))?;
            Some(agent::query_identity(&value).map_err(|e| AppError::invalid_field("agent", e))?)
        }
        None => None,
    };
    let iri = |field: &str, value: &Option<String>| -> AppResult<Option<String>> {
        match value {
            Some(text) if formats::is_iri(text) => Ok(Some(text.clone())),
            Some(_) => Err(AppError::invalid_field(field, "must be an absolute IRI")),
            None => Ok(None),
        }
    };
    let registration = match &query.registration {
        Some(text) => Some(
            formats::uuid(text)
                .ok_or_else(|| AppError::invalid_field("registration", "must be a UUID"))?,
        ),
        None => None,
    };
    let instant = |field: &str, value: &Option<String>| -> AppResult<Option<NaiveDateTime>> {
        match value {
            Some(text) => formats::timestamp(text)
                .map(|at| Some(at.naive_utc()))
                .ok_or_else(|| AppError::invalid_field(field, "must be an ISO 8601 timestamp")),
            None => Ok(None),
        }
    };
    let limit = match query.limit {
        0 => MAX_PAGE,
        n => n.min(MAX_PAGE),
    };
    Ok(StatementFilter {
        agent,
        related_agents: query.related_agents,
        verb: iri("verb", &query.verb)?,
        activity: iri("activity", &query.activity)?,
        related_activities: query.related_activities,
        registration,
        since: instant("since", &query.since)?,
        until: instant("until", &query.until)?,
        ascending: query.ascending,
        after: None,
        limit: i64::from(limit),
    })
}

fn to_token(filter: &StatementFilter, format: Format, after: (NaiveDateTime, String)) -> String {
    let token = PageToken {
        agent: filter.agent.clone(),
        related_agents: filter.related_agents,
        verb: filter.verb.clone(),
        activity: filter.activity.clone(),
        related_activities: filter.related_activities,
        registration: filter.registration.clone(),
        since: filter.since,
        until: filter.until,
        ascending: filter.ascending,
        limit: filter.limit,
        format: format_name(format).to_string(),
        after,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn from_token(token: &str) -> AppResult<(StatementFilter, Format)> {
    let bad = || AppError::invalid_field("more", "is not a page this store gave");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let token: PageToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let format = Format::parse(&token.format).ok_or_else(bad)?;
    if !(1..=i64::from(MAX_PAGE)).contains(&token.limit) {
        return Err(bad());
    }
    Ok((
        StatementFilter {
            agent: token.agent,
            related_agents: token.related_agents,
            verb: token.verb,
            activity: token.activity,
            related_activities: token.related_activities,
            registration: token.registration,
            since: token.since,
            until: token.until,
            ascending: token.ascending,
            after: Some(token.after),
            limit: token.limit,
        },
        format,
    ))
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Exact => "exact",
        Format::Ids => "ids",
        Format::Canonical => "canonical",
    }
}
