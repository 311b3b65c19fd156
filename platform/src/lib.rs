//! What every LMS service shares (DESIGN §4): layered config, telemetry and metrics, JWT
//! authentication and tenancy, diesel over SQLite and PostgreSQL, the error vocabulary and its
//! gRPC mapping, page tokens, and a server bootstrap that adds health, reflection, tracing, auth
//! and graceful shutdown to any tonic service.

pub mod access;
pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod db;
pub mod deadline;
pub mod egress;
pub mod error;
pub mod field_mask;
pub mod fingerprint;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod inbox;
pub mod outbox;
pub mod pagination;
pub mod parts;
pub mod privacy;
pub mod resource;
pub mod server;
pub mod telemetry;
pub mod text_enum;
pub mod validate;

pub use auth::{Principal, Role};
pub use error::{AppError, AppResult};
