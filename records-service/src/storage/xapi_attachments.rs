//! Attachments' raw data, once per tenant and SHA-2: what each is (`xapi_attachments`) and
//! its bytes in parts (`xapi_attachment_chunks`), written and read one part at a time.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::{DbConnection, in_set};
use lms_platform::ids::TenantId;

use super::schema::xapi_attachment_chunks as chunks;
use super::schema::xapi_attachments as attachments;

/// An attachment the store holds: its SHA-2 (lowercase hex), media type and size.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub struct StoredAttachment {
    pub sha2: String,
    pub content_type: String,
    pub size: i64,
}

/// Names an attachment before its parts are written; false when it is held already (the
/// same hash is the same data), and then its parts are not written again.
pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    attachment: &StoredAttachment,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    let row = (
        attachments::tenant_id.eq(tenant.as_str()),
        attachments::sha2.eq(&attachment.sha2),
        attachments::content_type.eq(&attachment.content_type),
        attachments::size.eq(attachment.size),
        attachments::stored_at.eq(at),
    );
    let inserted = match &mut *conn {
        DbConnection::Postgres(pg) => diesel::insert_into(attachments::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::insert_or_ignore_into(attachments::table)
            .values(row)
            .execute(sqlite)?,
    };
    Ok(inserted == 1)
}

/// The `seq`th part (from 0) of an attachment's bytes.
pub fn insert_chunk(
    conn: &mut DbConnection,
    tenant: &TenantId,
    sha2: &str,
    seq: i32,
    data: &[u8],
) -> Result<(), AppError> {
    diesel::insert_into(chunks::table)
        .values((
            chunks::tenant_id.eq(tenant.as_str()),
            chunks::sha2.eq(sha2),
            chunks::seq.eq(seq),
            chunks::data.eq(data),
        ))
        .execute(conn)?;
    Ok(())
}

/// The attachments held among these hashes, by hash.
pub fn stored(
    conn: &mut DbConnection,
    tenant: &TenantId,
    hashes: &[String],
) -> Result<Vec<StoredAttachment>, AppError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(attachments::table
        .filter(attachments::tenant_id.eq(tenant.as_str()))
        .filter(in_set(conn, "xapi_attachments.sha2", hashes))
        .order(attachments::sha2.asc())
        .select(StoredAttachment::as_select())
        .load(conn)?)
}

/// The `seq`th part of an attachment's bytes; None past its last.
pub fn chunk(
    conn: &mut DbConnection,
    tenant: &TenantId,
    sha2: &str,
    seq: i32,
) -> Result<Option<Vec<u8>>, AppError> {
    Ok(chunks::table
        .filter(chunks::tenant_id.eq(tenant.as_str()))
        .filter(chunks::sha2.eq(sha2))
        .filter(chunks::seq.eq(seq))
        .select(chunks::data)
        .first(conn)
        .optional()?)
}

/// An attachment's bytes whole, for an answer that carries them in one message.
pub fn content(
    conn: &mut DbConnection,
    tenant: &TenantId,
    sha2: &str,
) -> Result<Vec<u8>, AppError> {
    let parts: Vec<Vec<u8>> = chunks::table
        .filter(chunks::tenant_id.eq(tenant.as_str()))
        .filter(chunks::sha2.eq(sha2))
        .order(chunks::seq.asc())
        .select(chunks::data)
        .load(conn)?;
    Ok(parts.concat())
}

/// Forgets an attachment and its bytes.
pub fn delete(conn: &mut DbConnection, tenant: &TenantId, sha2: &str) -> Result<(), AppError> {
    diesel::delete(chunks::table)
        .filter(chunks::tenant_id.eq(tenant.as_str()))
        .filter(chunks::sha2.eq(sha2))
        .execute(conn)?;
    diesel::delete(attachments::table)
        .filter(attachments::tenant_id.eq(tenant.as_str()))
        .filter(attachments::sha2.eq(sha2))
        .execute(conn)?;
    Ok(())
}
