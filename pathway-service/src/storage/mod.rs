//! Storage: rows, queries, and their mapping to the domain. Every query filters on `tenant_id`.

pub mod categories;
pub mod packages;
pub mod pathways;
pub mod personal_data;
pub mod schema;

pub use lms_platform::db::{like_pattern, lower};
