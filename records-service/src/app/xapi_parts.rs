//! The attachments of a store request: its parts matched to its statements' attachments,
//! and the hashes a page of statements names (to answer their raw data).

use serde_json::Value;

use lms_platform::error::FieldViolation;
use lms_platform::{AppError, AppResult};

use crate::domain::xapi;
use crate::domain::xapi::attachments::{self, AttachmentData, AttachmentMeta, Part};

/// The parts of a request against its statements' attachments (xAPI Communication 1.5.2).
pub(super) fn check_attachments(
    incoming: &[xapi::Incoming],
    parts: &[AttachmentData],
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
            content: &p.content,
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
    let mut hashes: Vec<String> = documents
        .into_iter()
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
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
