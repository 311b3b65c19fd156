//! The attachments of a store request: its parts as they arrive (hashed, and spooled to a
//! temporary file past the first 64 KiB), matched to its statements' attachments, and kept
//! part by part; and the hashes a page of statements names (to answer their raw data).

use std::fs::File;
use std::io::{Seek, SeekFrom};

use chrono::NaiveDateTime;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use lms_platform::db::DbConnection;
use lms_platform::error::FieldViolation;
use lms_platform::ids::TenantId;
use lms_platform::parts::each_part;
use lms_platform::{AppError, AppResult};

use crate::domain::xapi;
use crate::domain::xapi::attachments::{
    self, AttachmentData, AttachmentMeta, MAX_HELD_BYTES, Part, PartHasher, digest_matches,
};
use crate::storage::xapi_attachments as attachment_rows;
pub use crate::storage::xapi_attachments::StoredAttachment;

/// An attachment's bytes are kept, and answered, in parts of at most this size.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// A part of a store request, received whole.
pub struct ReceivedPart {
    /// Lowercase hex.
    pub sha2: String,
    pub content_type: String,
    pub size: u64,
    pub hash_matches: bool,
    body: PartBody,
}

enum PartBody {
    Held(Vec<u8>),
    Spooled(File),
}

impl ReceivedPart {
    /// A part given whole, in one message.
    pub fn whole(sha2: &str, content_type: String, content: Vec<u8>) -> Self {
        Self {
            sha2: sha2.to_ascii_lowercase(),
            content_type,
            size: content.len() as u64,
            hash_matches: digest_matches(sha2, &content),
            body: PartBody::Held(content),
        }
    }

    fn held(&self) -> Option<&[u8]> {
        match &self.body {
            PartBody::Held(bytes) => Some(bytes),
            PartBody::Spooled(_) => None,
        }
    }
}

/// A part's bytes as they stream in: hashed, held up to 64 KiB, past that spooled to an
/// unnamed temporary file (gone when closed).
pub struct PartSpool {
    sha2: String,
    content_type: String,
    hasher: PartHasher,
    size: u64,
    held: Vec<u8>,
    file: Option<tokio::fs::File>,
}

impl PartSpool {
    pub fn new(sha2: &str, content_type: String) -> Self {
        Self {
            sha2: sha2.to_ascii_lowercase(),
            content_type,
            hasher: PartHasher::new(sha2),
            size: 0,
            held: Vec::new(),
            file: None,
        }
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        if self.file.is_none() && self.held.len() + bytes.len() <= MAX_HELD_BYTES {
            self.held.extend_from_slice(bytes);
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let mut file = tokio::fs::File::from_std(tempfile::tempfile()?);
                file.write_all(&std::mem::take(&mut self.held)).await?;
                self.file.insert(file)
            }
        };
        file.write_all(bytes).await
    }

    pub async fn finish(self) -> std::io::Result<ReceivedPart> {
        let body = match self.file {
            Some(mut file) => {
                file.flush().await?;
                PartBody::Spooled(file.into_std().await)
            }
            None => PartBody::Held(self.held),
        };
        Ok(ReceivedPart {
            sha2: self.sha2,
            content_type: self.content_type,
            size: self.size,
            hash_matches: self.hasher.matches(),
            body,
        })
    }
}

/// Keeps each part not held yet, part by part, in the store's transaction.
pub(super) fn keep_parts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    parts: &[ReceivedPart],
    at: NaiveDateTime,
) -> AppResult<()> {
    for part in parts {
        let attachment = StoredAttachment {
            sha2: part.sha2.clone(),
            content_type: part.content_type.clone(),
            size: part.size as i64,
        };
        if !attachment_rows::insert(conn, tenant, &attachment, at)? {
            continue;
        }
        match &part.body {
            PartBody::Held(bytes) => {
                for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
                    attachment_rows::insert_chunk(conn, tenant, &part.sha2, seq as i32, chunk)?;
                }
            }
            PartBody::Spooled(file) => copy_spooled(conn, tenant, &part.sha2, file)?,
        }
    }
    Ok(())
}

/// Copies a spooled part into the store from its start (a transaction tried again reads it
/// again).
fn copy_spooled(
    conn: &mut DbConnection,
    tenant: &TenantId,
    sha2: &str,
    mut file: &File,
) -> AppResult<()> {
    let unreadable = |error: std::io::Error| {
        AppError::Internal(anyhow::anyhow!("reading a spooled part: {error}"))
    };
    file.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    each_part(
        &mut file,
        CHUNK_BYTES,
        |seq, part| attachment_rows::insert_chunk(conn, tenant, sha2, seq, part),
        unreadable,
    )?;
    Ok(())
}

/// The parts of a request against its statements' attachments (xAPI Communication 1.5.2).
pub(super) fn check_attachments(
    incoming: &[xapi::Incoming],
    parts: &[ReceivedPart],
) -> AppResult<()> {
    let statements: Vec<(String, &serde_json::Map<String, Value>, &[AttachmentMeta])> = incoming
        .iter()
        .enumerate()
        .map(|(index, s)| {
            (
                format!("statements[{index}]"),
                &s.document,
                s.checked.attachments.as_slice(),
            )
        })
        .collect();
    let parts: Vec<Part> = parts
        .iter()
        .map(|p| Part {
            sha2: &p.sha2,
            hash_matches: p.hash_matches,
            content: p.held(),
        })
        .collect();
    attachments::check_parts(&statements, &parts)
        .map_err(|violations| broken("the attachments do not match the statements", violations))
}

/// INVALID_ARGUMENT with every violation, each also named in the message.
pub(super) fn broken(what: &str, violations: Vec<FieldViolation>) -> AppError {
    AppError::InvalidArgument {
        message: format!(
            "{what}: {}",
            violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        violations,
    }
}

/// The SHA-2s the statements' attachments name, each once.
pub(super) fn hashes_of<'a>(documents: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let statements: Vec<Value> = documents
        .into_iter()
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .collect();
    hashes_in(&statements)
}

/// The SHA-2s these statements' attachments name, each once, in order.
pub fn hashes_in(statements: &[Value]) -> Vec<String> {
    let mut hashes: Vec<String> = statements
        .iter()
        .flat_map(|statement| {
            statement["attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["sha2"].as_str().map(str::to_ascii_lowercase))
                .collect::<Vec<_>>()
        })
        .collect();
    hashes.sort();
    hashes.dedup();
    hashes
}

/// The raw data held for these hashes, each whole (an answer in one message).
pub(super) fn load_whole(
    conn: &mut DbConnection,
    tenant: &TenantId,
    hashes: &[String],
) -> AppResult<Vec<AttachmentData>> {
    attachment_rows::stored(conn, tenant, hashes)?
        .into_iter()
        .map(|held| {
            let content = attachment_rows::content(conn, tenant, &held.sha2)?;
            Ok(AttachmentData {
                sha2: held.sha2,
                content_type: held.content_type,
                content,
            })
        })
        .collect()
}

impl super::RecordsApp {
    /// The attachments held that these statements (as answered) name, by hash: what a
    /// streamed answer sends after them.
    pub async fn held_attachments(
        &self,
        tenant: &TenantId,
        statements: &[Value],
    ) -> AppResult<Vec<StoredAttachment>> {
        let hashes = hashes_in(statements);
        let tenant = tenant.clone();
        self.db
            .read(move |conn| attachment_rows::stored(conn, &tenant, &hashes))
            .await
    }

    /// The `seq`th part of a held attachment's bytes; None past its last.
    pub async fn attachment_chunk(
        &self,
        tenant: &TenantId,
        sha2: &str,
        seq: i32,
    ) -> AppResult<Option<Vec<u8>>> {
        let (tenant, sha2) = (tenant.clone(), sha2.to_string());
        self.db
            .read(move |conn| attachment_rows::chunk(conn, &tenant, &sha2, seq))
            .await
    }
}
