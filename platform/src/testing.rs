//! Test support shared by every service's integration tests (feature `testing`).
//!
//! - [`TestDatabase`]: a throwaway database per test — a SQLite file in a temporary directory,
//!   or a fresh PostgreSQL database created on the server named by `LMS_TEST_DATABASE_URL` and
//!   dropped when the test ends.
//! - [`TestAuth`]: an HS256 verifier and tokens for any tenant, subject and roles.
//! - [`bearer`]: a request carrying a token.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::Role;
use crate::auth::{TokenVerifier, mint_hs256};
use crate::config::{AuthConfig, ServerConfig};
use crate::db::DatabaseUrl;

/// The variable naming a PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres` (the maintenance database to connect to).
pub const POSTGRES_ENV: &str = "LMS_TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database, or `None` when PostgreSQL is asked for but not configured (outside CI;
    /// under `CI=true` a missing server fails the test instead of skipping it).
    pub fn create(backend: TestBackend) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = DatabaseUrl::sqlite(&dir.path().join("test.db"));
                Some(TestDatabase {
                    url,
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            TestBackend::Postgres => {
                let admin_url = match std::env::var(POSTGRES_ENV) {
                    Ok(url) if !url.is_empty() => url,
                    _ => {
                        assert!(
                            std::env::var("CI").is_err(),
                            "{POSTGRES_ENV} must be set in CI: PostgreSQL tests may not be skipped"
                        );
                        eprintln!("skipped: set {POSTGRES_ENV} to run PostgreSQL tests");
                        return None;
                    }
                };
                let name = format!("lms_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("connecting to {POSTGRES_ENV}: {e}"));
                admin
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("creating a test database");
                let url = replace_database(&admin_url, &name);
                Some(TestDatabase {
                    url: DatabaseUrl::parse(&url).expect("a PostgreSQL URL"),
                    _dir: None,
                    postgres: Some((admin_url, name)),
                })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// The URL with its database name replaced.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{database}{query}", &base[..scheme_end + slash]),
        None => format!("{base}/{database}{query}"),
    }
}

/// Tokens and a verifier sharing one HS256 secret.
#[derive(Clone)]
pub struct TestAuth {
    secret: String,
}

impl Default for TestAuth {
    fn default() -> Self {
        Self {
            secret: "test-secret-test-secret-test-secret".into(),
        }
    }
}

impl TestAuth {
    pub fn config(&self) -> AuthConfig {
        AuthConfig {
            hs256_secret: self.secret.clone(),
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            jwks_refresh_seconds: 300,
            ..Default::default()
        }
    }

    pub async fn verifier(&self) -> TokenVerifier {
        TokenVerifier::from_config(&self.config())
            .await
            .expect("a test verifier")
    }

    pub fn token(&self, tenant: &str, subject: &str, roles: &[Role]) -> String {
        mint_hs256(
            &self.secret,
            subject,
            tenant,
            roles,
            Duration::from_secs(3600),
        )
        .expect("a test token")
    }

    /// The identity a service under test uses to call another one.
    pub fn service_credentials(&self, subject: &str) -> crate::auth::ServiceCredentials {
        crate::auth::ServiceCredentials::Hs256 {
            secret: self.secret.clone(),
            subject: subject.to_string(),
        }
    }

    pub fn admin(&self, tenant: &str) -> String {
        self.token(tenant, &format!("admin@{tenant}"), &[Role::Admin])
    }

    pub fn learner(&self, tenant: &str) -> String {
        self.token(tenant, &format!("learner@{tenant}"), &[Role::Learner])
    }
}

/// Server settings for tests.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        shutdown_grace_seconds: 5,
        max_message_bytes: 4 * 1024 * 1024,
        request_timeout_seconds: 30,
    }
}

/// A service serving on an ephemeral loopback port for one test; it stops when dropped.
pub struct RunningService {
    pub channel: tonic::transport::Channel,
    /// `http://127.0.0.1:<port>`, for services under test that call this one.
    pub url: String,
    pub auth: TestAuth,
    shutdown: tokio_util::sync::CancellationToken,
}

impl RunningService {
    /// Starts the graceful shutdown now (health turns NOT_SERVING).
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Binds `127.0.0.1:0`, runs `serve(listener, verifier, server config, shutdown)` in the
/// background with a verifier for [`TestAuth`]'s tokens, and connects a channel to it.
pub async fn start_service<F, Fut>(serve: F) -> RunningService
where
    F: FnOnce(
        tokio::net::TcpListener,
        TokenVerifier,
        ServerConfig,
        tokio_util::sync::CancellationToken,
    ) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let auth = TestAuth::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an ephemeral port");
    let address = listener.local_addr().expect("a bound address");
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(serve(
        listener,
        auth.verifier().await,
        server_config(),
        shutdown.clone(),
    ));
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("the server accepts connections");
    RunningService {
        channel,
        url: format!("http://{address}"),
        auth,
        shutdown,
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("an ASCII token"),
    );
    request
}

/// Runs each named test twice: on SQLite (`sqlite::name`) and on PostgreSQL
/// (`postgres::name`, skipped outside CI when `LMS_TEST_DATABASE_URL` is unset). Each test is an
/// `async fn name(suite: S)` in the calling module, where `S::start(TestBackend)` is an
/// `async fn` returning `Option<S>`.
///
/// ```ignore
/// lms_platform::on_both_databases!(Suite; creates_a_thing, refuses_bad_input);
/// ```
#[macro_export]
macro_rules! on_both_databases {
    ($suite:ident; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let suite = super::$suite::start($crate::testing::TestBackend::Sqlite)
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
                        super::$suite::start($crate::testing::TestBackend::Postgres).await
                    {
                        super::$name(suite).await;
                    }
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
