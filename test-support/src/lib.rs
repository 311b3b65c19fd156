//! What the suite's tests share (DESIGN §7): real databases and real gRPC on ephemeral ports.
//!
//! - [`TestDatabase`]: a throwaway SQLite file or PostgreSQL database (cloned from a migrated
//!   template) per test.
//! - [`TestAuth`] and [`bearer`]: tokens for any tenant, subject and roles.
//! - [`TestSuite`]: the components a test needs, built by the same topology as `lms up`.
//! - [`fixtures`]: a published pathway, a tenant with people.
//! - [`HostsEntry`]: a name with several addresses (replicas) for the length of a test.
//! - [`Rpcs`]: any RPC of the suite by name with a proto3 JSON request.
//! - [`on_both_databases!`]: each test once on SQLite and once on PostgreSQL.

mod auth;
mod database;
pub mod fixtures;
mod hosts;
mod ports;
mod rpcs;
mod suite;

pub use auth::{TestAuth, bearer};
pub use database::{POSTGRES_ENV, TestBackend, TestDatabase, postgres_server};
pub use hosts::HostsEntry;
pub use lms_topology::Component;
pub use ports::port_for_a_child;
pub use rpcs::{Logged, Rpcs};
pub use suite::TestSuite;

/// Runs each named test twice: on SQLite (`sqlite::name`) and on PostgreSQL
/// (`postgres::name`, skipped outside CI when `LMS_TEST_DATABASE_URL` is unset). Each test is an
/// `async fn name(suite: S)` in the calling module, where `S::start(TestBackend)` is an
/// `async fn` returning `Option<S>`.
///
/// ```ignore
/// lms_test_support::on_both_databases!(Suite; creates_a_thing, refuses_bad_input);
/// ```
#[macro_export]
macro_rules! on_both_databases {
    ($suite:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let suite = super::$suite::start($crate::TestBackend::Sqlite)
                        .await
                        .expect("SQLite is always available");
                    super::$name(suite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(suite) =
                        super::$suite::start($crate::TestBackend::Postgres).await
                    {
                        super::$name(suite).await;
                    }
                }
            )*
        }
    };
}
