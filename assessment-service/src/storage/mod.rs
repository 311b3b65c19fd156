//! Storage: rows, queries, and their mapping to the domain. Every query filters on `tenant_id`.
//! Question definitions, assessment settings and attempt contents are JSON documents in text
//! columns: they are read and written whole, never queried inside.

pub mod attempts;
pub mod banks;
pub mod personal_data;
pub mod schema;

use lms_platform::AppError;

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(AppError::internal)
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, AppError> {
    serde_json::from_str(text).map_err(AppError::internal)
}
