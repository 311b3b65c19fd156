//! The rules of categories and pathways, free of gRPC and of storage so they can be tested alone.

pub mod category;
pub mod cmi5;
pub mod package;
pub mod pathway;
pub mod step;
#[cfg(test)]
mod tests;

/// Text limits, stated in the proto comments too.
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_URL_CHARS: usize = 2048;
/// Longest estimated duration of a pathway or a step, in minutes.
pub const MAX_MINUTES: i64 = 100_000;

pub use lms_platform::resource::{Audit, check_etag, etag, now};
