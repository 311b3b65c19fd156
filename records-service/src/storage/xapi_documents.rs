//! xAPI documents (State, Activity Profile, Agent Profile) and the activities' gathered
//! definitions.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::{DbConnection, in_set};
use lms_platform::ids::TenantId;

use super::schema::{xapi_activities, xapi_documents as documents};

/// Where a document lives ('' for the parts its kind has not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub kind: &'static str,
    pub activity_id: String,
    pub agent: String,
    pub registration: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = documents)]
pub struct StoredDocument {
    pub document_id: String,
    pub content_type: String,
    pub content: Vec<u8>,
    pub etag: String,
    pub updated_at: NaiveDateTime,
}

macro_rules! at_place {
    ($tenant:expr, $place:expr) => {
        documents::table
            .filter(documents::tenant_id.eq($tenant.as_str()))
            .filter(documents::kind.eq($place.kind))
            .filter(documents::activity_id.eq(&$place.activity_id))
            .filter(documents::agent.eq(&$place.agent))
            .filter(documents::registration.eq(&$place.registration))
    };
}

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    place: &Place,
    id: &str,
) -> Result<Option<StoredDocument>, AppError> {
    Ok(at_place!(tenant, place)
        .filter(documents::document_id.eq(id))
        .select(StoredDocument::as_select())
        .first(conn)
        .optional()?)
}

#[derive(Insertable)]
#[diesel(table_name = documents)]
struct DocumentRow<'a> {
    tenant_id: &'a str,
    kind: &'a str,
    activity_id: &'a str,
    agent: &'a str,
    registration: &'a str,
    document_id: &'a str,
    content_type: &'a str,
    content: &'a [u8],
    etag: &'a str,
    updated_at: NaiveDateTime,
}

fn row<'a>(
    tenant: &'a TenantId,
    place: &'a Place,
    document: &'a StoredDocument,
) -> DocumentRow<'a> {
    DocumentRow {
        tenant_id: tenant.as_str(),
        kind: place.kind,
        activity_id: &place.activity_id,
        agent: &place.agent,
        registration: &place.registration,
        document_id: &document.document_id,
        content_type: &document.content_type,
        content: &document.content,
        etag: &document.etag,
        updated_at: document.updated_at,
    }
}

/// Stores (or replaces) a document.
pub fn put(
    conn: &mut DbConnection,
    tenant: &TenantId,
    place: &Place,
    document: &StoredDocument,
) -> Result<(), AppError> {
    delete(conn, tenant, place, Some(&document.document_id))?;
    diesel::insert_into(documents::table)
        .values(row(tenant, place, document))
        .execute(conn)?;
    Ok(())
}

/// Writes a document only if the one at its place is still what the caller read: none
/// (`read` None: inserted unless another was inserted meanwhile) or the one with the ETag
/// `read` (replaced unless it changed meanwhile). False when it was changed by another
/// request: the caller judges its request again against what is there now.
pub fn put_if_unchanged(
    conn: &mut DbConnection,
    tenant: &TenantId,
    place: &Place,
    document: &StoredDocument,
    read: Option<&str>,
) -> Result<bool, AppError> {
    let written = match read {
        None => {
            let row = row(tenant, place, document);
            match &mut *conn {
                DbConnection::Postgres(pg) => diesel::insert_into(documents::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(pg)?,
                DbConnection::Sqlite(sqlite) => diesel::insert_or_ignore_into(documents::table)
                    .values(row)
                    .execute(sqlite)?,
            }
        }
        Some(etag) => diesel::update(
            at_place!(tenant, place)
                .filter(documents::document_id.eq(&document.document_id))
                .filter(documents::etag.eq(etag)),
        )
        .set((
            documents::content_type.eq(&document.content_type),
            documents::content.eq(&document.content),
            documents::etag.eq(&document.etag),
            documents::updated_at.eq(document.updated_at),
        ))
        .execute(conn)?,
    };
    Ok(written == 1)
}

/// Deletes one document, or every one at the place; how many.
pub fn delete(
    conn: &mut DbConnection,
    tenant: &TenantId,
    place: &Place,
    id: Option<&str>,
) -> Result<usize, AppError> {
    let deleted = match id {
        Some(id) => diesel::delete(at_place!(tenant, place).filter(documents::document_id.eq(id)))
            .execute(conn)?,
        None => diesel::delete(at_place!(tenant, place)).execute(conn)?,
    };
    Ok(deleted)
}

/// The ids (and change times) of the documents at a place changed after `since`.
pub fn ids(
    conn: &mut DbConnection,
    tenant: &TenantId,
    place: &Place,
    since: Option<NaiveDateTime>,
) -> Result<Vec<(String, NaiveDateTime)>, AppError> {
    let mut query = at_place!(tenant, place).into_boxed();
    if let Some(since) = since {
        query = query.filter(documents::updated_at.gt(since));
    }
    Ok(query
        .order(documents::document_id.asc())
        .select((documents::document_id, documents::updated_at))
        .load(conn)?)
}

/// The gathered definitions of these activities.
pub fn definitions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, String>, AppError> {
    let found: Vec<(String, String)> = xapi_activities::table
        .filter(xapi_activities::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_activities.activity_id", ids))
        .select((xapi_activities::activity_id, xapi_activities::definition))
        .load(conn)?;
    Ok(found.into_iter().collect())
}

/// Keeps these definitions (activity id → definition JSON, in id order), replacing the stored
/// ones. One upsert: concurrent requests naming the same activity each write their merge (the
/// later one wins) instead of one failing on the other's insert; id order keeps two such
/// transactions from waiting on each other's rows in opposite orders.
pub fn keep_definitions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    definitions: &[(String, String)],
    at: NaiveDateTime,
) -> Result<(), AppError> {
    use diesel::upsert::excluded;
    let rows: Vec<_> = definitions
        .iter()
        .map(|(id, definition)| {
            (
                xapi_activities::tenant_id.eq(tenant.as_str()),
                xapi_activities::activity_id.eq(id.as_str()),
                xapi_activities::definition.eq(definition.as_str()),
                xapi_activities::updated_at.eq(at),
            )
        })
        .collect();
    let newer = (
        xapi_activities::definition.eq(excluded(xapi_activities::definition)),
        xapi_activities::updated_at.eq(excluded(xapi_activities::updated_at)),
    );
    match &mut *conn {
        DbConnection::Postgres(pg) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(xapi_activities::table)
                    .values(chunk)
                    .on_conflict((xapi_activities::tenant_id, xapi_activities::activity_id))
                    .do_update()
                    .set(newer)
                    .execute(pg)?;
            }
        }
        // diesel writes SQLite's upsert one row at a time; SQLite's writers take turns anyway.
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                diesel::insert_into(xapi_activities::table)
                    .values(row)
                    .on_conflict((xapi_activities::tenant_id, xapi_activities::activity_id))
                    .do_update()
                    .set(newer)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}
