//! The document resources (State, Activity Profile, Agent Profile), the Activities resource
//! and the Agents resource of the Learning Record Store. Every document is the caller's
//! tenant's.

use std::sync::Arc;

use chrono::NaiveDateTime;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal};
use serde_json::{Value, json};

use super::RecordsApp;
use super::xapi::{RACED, retry_lost_races};
use crate::domain::xapi::documents::{self as rules, DocumentKind, Preconditions, Refusal, Write};
use crate::domain::xapi::{Version, agent, formats, json as strict_json};
use crate::storage::xapi_documents::{self as rows, Place, StoredDocument};

/// Where a document lives, as the client names it (checked here).
pub struct DocumentAt {
    pub kind: DocumentKind,
    pub activity_id: Option<String>,
    /// An Agent, as JSON.
    pub agent: Option<String>,
    pub registration: Option<String>,
    pub document_id: Option<String>,
}

/// A document write: PUT, or POST (merge), with the client's preconditions.
pub struct DocumentWrite {
    pub content: Vec<u8>,
    pub content_type: String,
    pub merge: bool,
    pub preconditions: Preconditions,
    pub version: Version,
}

/// One attempt at a write, in the caller's transaction; the new ETag (RACED when the document
/// changed since it was read).
fn write_in(
    conn: &mut DbConnection,
    tenant: &TenantId,
    kind: DocumentKind,
    place: &Place,
    id: String,
    write: &DocumentWrite,
) -> AppResult<String> {
    let stored = rows::get(conn, tenant, place, &id)?;
    let operation = if write.merge { Write::Post } else { Write::Put };
    rules::check(
        kind,
        operation,
        stored.as_ref().map(|d| d.etag.as_str()),
        &write.preconditions,
        write.version,
    )
    .map_err(refused)?;
    let content = match (&stored, write.merge) {
        (Some(stored), true) => rules::merge(
            &stored.content,
            &stored.content_type,
            &write.content,
            &write.content_type,
        )
        .map_err(|why| AppError::invalid_field("content", why))?,
        _ => write.content.clone(),
    };
    let document = StoredDocument {
        document_id: id,
        etag: rules::etag(&content),
        content,
        content_type: write.content_type.clone(),
        updated_at: now(),
    };
    let read = stored.as_ref().map(|d| d.etag.as_str());
    if !rows::put_if_unchanged(conn, tenant, place, &document, read)? {
        return Err(AppError::AlreadyExists(RACED.into()));
    }
    Ok(document.etag)
}

/// The identity key of an Agent given as JSON (a Group is not an agent here).
fn agent_key(text: &str) -> AppResult<String> {
    let value = strict_json::parse(text).map_err(|e| AppError::invalid_field("agent", e))?;
    if value.get("objectType").and_then(Value::as_str) == Some("Group") {
        return Err(AppError::invalid_field(
            "agent",
            "must be an Agent, not a Group",
        ));
    }
    agent::query_identity(&value).map_err(|e| AppError::invalid_field("agent", e))
}

fn place(at: &DocumentAt) -> AppResult<Place> {
    let (needs_activity, needs_agent) = match at.kind {
        DocumentKind::State => (true, true),
        DocumentKind::ActivityProfile => (true, false),
        DocumentKind::AgentProfile => (false, true),
    };
    let activity_id = match (&at.activity_id, needs_activity) {
        (Some(id), true) if formats::is_iri(id) => id.clone(),
        (Some(_), true) => {
            return Err(AppError::invalid_field(
                "activityId",
                "must be an absolute IRI",
            ));
        }
        (None, true) => return Err(AppError::invalid_field("activityId", "is required")),
        (Some(_), false) => {
            return Err(AppError::invalid_field(
                "activityId",
                "is not a parameter here",
            ));
        }
        (None, false) => String::new(),
    };
    let agent = match (&at.agent, needs_agent) {
        (Some(text), true) => agent_key(text)?,
        (None, true) => return Err(AppError::invalid_field("agent", "is required")),
        (Some(_), false) => {
            return Err(AppError::invalid_field("agent", "is not a parameter here"));
        }
        (None, false) => String::new(),
    };
    let registration = match (&at.registration, at.kind) {
        (Some(text), DocumentKind::State) => formats::uuid(text)
            .ok_or_else(|| AppError::invalid_field("registration", "must be a UUID"))?,
        (Some(_), _) => {
            return Err(AppError::invalid_field(
                "registration",
                "is not a parameter here",
            ));
        }
        (None, _) => String::new(),
    };
    Ok(Place {
        kind: at.kind.as_str(),
        activity_id,
        agent,
        registration,
    })
}

fn id_field(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::State => "stateId",
        _ => "profileId",
    }
}

fn required_id(at: &DocumentAt) -> AppResult<String> {
    at.document_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AppError::invalid_field(id_field(at.kind), "is required"))
}

fn refused(refusal: Refusal) -> AppError {
    match refusal {
        Refusal::PreconditionFailed(why) => AppError::StaleEtag(why),
        Refusal::Conflict(why) => AppError::Aborted(why),
    }
}

impl RecordsApp {
    /// Stores a document (PUT) or merges JSON into it (POST); its new ETag.
    pub async fn write_document(
        &self,
        who: &Principal,
        at: DocumentAt,
        write: DocumentWrite,
    ) -> AppResult<String> {
        let place = place(&at)?;
        let id = required_id(&at)?;
        self.check_document_access(who, &place, Some(&id), true)
            .await?;
        let content_type = match write.content_type.trim() {
            "" => "application/octet-stream".to_string(),
            given => given.to_string(),
        };
        if write.merge && !rules::is_json(&content_type) {
            return Err(AppError::invalid_field(
                "Content-Type",
                "a POST merges JSON: send application/json",
            ));
        }
        let write = Arc::new(DocumentWrite {
            content_type,
            ..write
        });
        // Requests writing the same document at once: each writes only if the document is
        // still what it read (none, or the ETag it judged the preconditions by). One that
        // finds it changed is judged again against what is there now, as if it had come
        // after: If-None-Match fails (412), If-Match on the old ETag fails, a PUT replaces it,
        // a POST merges into it.
        retry_lost_races(|| {
            let (tenant, place, id) = (who.tenant_id.clone(), place.clone(), id.clone());
            let write = write.clone();
            self.db
                .write(move |conn| write_in(conn, &tenant, at.kind, &place, id, &write))
        })
        .await
    }

    pub async fn get_document(&self, who: &Principal, at: DocumentAt) -> AppResult<StoredDocument> {
        let place = place(&at)?;
        let id = required_id(&at)?;
        self.check_document_access(who, &place, Some(&id), false)
            .await?;
        let tenant = who.tenant_id.clone();
        self.db
            .read_one(move |conn| rows::get(conn, &tenant, &place, &id))
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!("no document with that {}", id_field(at.kind)))
            })
    }

    /// The ids of the documents at a place changed after `since`, and the latest change.
    pub async fn list_document_ids(
        &self,
        who: &Principal,
        at: DocumentAt,
        since: Option<String>,
    ) -> AppResult<(Vec<String>, Option<NaiveDateTime>)> {
        let place = place(&at)?;
        self.check_document_access(who, &place, None, false).await?;
        let since = match since {
            Some(text) => Some(
                formats::timestamp(&text)
                    .ok_or_else(|| {
                        AppError::invalid_field("since", "must be an ISO 8601 timestamp")
                    })?
                    .naive_utc(),
            ),
            None => None,
        };
        let tenant = who.tenant_id.clone();
        let found = self
            .db
            .read_one(move |conn| rows::ids(conn, &tenant, &place, since))
            .await?;
        let latest = found.iter().map(|(_, at)| *at).max();
        Ok((found.into_iter().map(|(id, _)| id).collect(), latest))
    }

    /// Deletes one document, or (State only, no stateId) every state at the place.
    pub async fn delete_documents(
        &self,
        who: &Principal,
        at: DocumentAt,
        preconditions: Preconditions,
        version: Version,
    ) -> AppResult<()> {
        let place = place(&at)?;
        let id = match (&at.document_id, at.kind) {
            (Some(id), _) if !id.is_empty() => Some(id.clone()),
            (_, DocumentKind::State) => None,
            _ => return Err(AppError::invalid_field("profileId", "is required")),
        };
        self.check_document_access(who, &place, id.as_deref(), true)
            .await?;
        let (kind, tenant) = (at.kind, who.tenant_id.clone());
        self.db
            .write(move |conn| {
                if let Some(id) = &id {
                    let stored = rows::get(conn, &tenant, &place, id)?;
                    rules::check(
                        kind,
                        Write::Delete,
                        stored.as_ref().map(|d| d.etag.as_str()),
                        &preconditions,
                        version,
                    )
                    .map_err(refused)?;
                }
                rows::delete(conn, &tenant, &place, id.as_deref())?;
                Ok(())
            })
            .await
    }

    /// The Activities resource: the activity with its gathered definition (an unknown one
    /// is answered with its id alone, as xAPI asks).
    pub async fn get_activity(&self, who: &Principal, id: String) -> AppResult<Value> {
        if !formats::is_iri(&id) {
            return Err(AppError::invalid_field(
                "activityId",
                "must be an absolute IRI",
            ));
        }
        let tenant = who.tenant_id.clone();
        let lookup = vec![id.clone()];
        let known = self
            .db
            .read_one(move |conn| rows::definitions(conn, &tenant, &lookup))
            .await?;
        let mut activity = json!({"objectType": "Activity", "id": id});
        if let Some(definition) = known
            .get(&id)
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
        {
            activity["definition"] = definition;
        }
        Ok(activity)
    }
}

/// The Agents resource: the Person object of an Agent — its name and identifiers, each as a
/// list (the store does not join identities, so one of each).
pub fn person(agent_json: &str) -> AppResult<Value> {
    agent_key(agent_json)?;
    let agent = strict_json::parse(agent_json).map_err(|e| AppError::invalid_field("agent", e))?;
    let mut person = json!({"objectType": "Person"});
    for property in ["name", "mbox", "mbox_sha1sum", "openid", "account"] {
        if let Some(value) = agent.get(property) {
            person[property] = Value::Array(vec![value.clone()]);
        }
    }
    Ok(person)
}
