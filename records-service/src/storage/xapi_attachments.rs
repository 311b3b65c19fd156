//! Attachments' raw data, once per tenant and SHA-2.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::{DbConnection, in_set};
use lms_platform::ids::TenantId;

use super::schema::xapi_attachments as attachments;
use crate::domain::xapi::attachments::AttachmentData;

#[derive(Queryable, Selectable)]
#[diesel(table_name = attachments)]
struct AttachmentRow {
    sha2: String,
    content_type: String,
    content: Vec<u8>,
}

/// Keeps raw data not held yet (the same hash is the same data).
pub fn keep(
    conn: &mut DbConnection,
    tenant: &TenantId,
    parts: &[AttachmentData],
    at: NaiveDateTime,
) -> Result<(), AppError> {
    for part in parts {
        let row = (
            attachments::tenant_id.eq(tenant.as_str()),
            attachments::sha2.eq(part.sha2.to_ascii_lowercase()),
            attachments::content_type.eq(&part.content_type),
            attachments::content.eq(&part.content),
            attachments::stored_at.eq(at),
        );
        match &mut *conn {
            DbConnection::Postgres(pg) => diesel::insert_into(attachments::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConnection::Sqlite(sqlite) => diesel::insert_or_ignore_into(attachments::table)
                .values(row)
                .execute(sqlite)?,
        };
    }
    Ok(())
}

/// The raw data held for these hashes.
pub fn load(
    conn: &mut DbConnection,
    tenant: &TenantId,
    hashes: &[String],
) -> Result<Vec<AttachmentData>, AppError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<AttachmentRow> = attachments::table
        .filter(attachments::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_attachments.sha2", hashes))
        .order(attachments::sha2.asc())
        .select(AttachmentRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| AttachmentData {
            sha2: row.sha2,
            content_type: row.content_type,
            content: row.content,
        })
        .collect())
}
