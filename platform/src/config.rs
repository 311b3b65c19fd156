//! Layered configuration: built-in defaults < a TOML file < environment (`LMS__SECTION__KEY`).
//!
//! Each section is a typed struct whose fields are documented in `docs/configuration.md`.
//! A bad value fails at start with a message naming the key.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Loads `T` from `defaults` (TOML text), then `file` if given (or `lms.toml` in the working
/// directory when present), then `LMS__...` environment variables.
pub fn load<T: DeserializeOwned>(defaults: &str, file: Option<&Path>) -> anyhow::Result<T> {
    let mut builder = config::Config::builder()
        .add_source(config::File::from_str(defaults, config::FileFormat::Toml));
    builder = match file {
        Some(path) => {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            builder.add_source(config::File::from(path).format(config::FileFormat::Toml))
        }
        None => builder.add_source(config::File::with_name("lms.toml").required(false)),
    };
    let settings = builder
        .add_source(
            config::Environment::with_prefix("LMS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // The few list settings take comma-separated values from the environment.
                .list_separator(",")
                .with_list_parse_key("gateway.cors_origins"),
        )
        .build()
        .context("reading configuration")?;
    settings
        .try_deserialize()
        .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))
}

/// Token verification (see `auth`). Its `Debug` output hides the HS256 secret.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Development only: HS256 shared secret (at least 32 bytes).
    #[serde(default)]
    pub hs256_secret: String,
    /// Production: URL of the OIDC issuer's JWKS (RS256/ES256 keys), refreshed periodically.
    #[serde(default)]
    pub jwks_url: String,
    /// Production without network access to the issuer: a JWKS JSON file.
    #[serde(default)]
    pub jwks_file: String,
    /// Expected `iss`; not checked when empty.
    #[serde(default)]
    pub issuer: String,
    /// Expected `aud`; not checked when empty.
    #[serde(default)]
    pub audience: String,
    /// Claim holding the tenant id.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claim holding the role list.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Production: a file holding this component's own token (a JWT with the `service` role),
    /// presented when it calls other services; re-read when it changes. Not needed with
    /// `hs256_secret`, from which services mint their own.
    #[serde(default)]
    pub service_token_file: String,
    /// How often the JWKS URL is fetched again, in seconds.
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh_seconds: u64,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = if self.hs256_secret.is_empty() {
            ""
        } else {
            "<redacted>"
        };
        f.debug_struct("AuthConfig")
            .field("hs256_secret", &secret)
            .field("jwks_url", &self.jwks_url)
            .field("jwks_file", &self.jwks_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tenant_claim", &self.tenant_claim)
            .field("roles_claim", &self.roles_claim)
            .field("service_token_file", &self.service_token_file)
            .field("jwks_refresh_seconds", &self.jwks_refresh_seconds)
            .finish()
    }
}

fn default_tenant_claim() -> String {
    "tenant".into()
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_jwks_refresh() -> u64 {
    300
}

impl AuthConfig {
    pub fn is_configured(&self) -> bool {
        !self.hs256_secret.is_empty() || !self.jwks_url.is_empty() || !self.jwks_file.is_empty()
    }
}

/// Logs, traces and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `pretty` (local) or `json` (production).
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `info,pathway_service=debug`; `RUST_LOG` wins.
    pub log_level: String,
    /// Where Prometheus scrapes `/metrics`; empty disables the endpoint.
    pub metrics_listen: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The gRPC server of each component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// How long in-flight requests may take to finish after SIGTERM, in seconds.
    pub shutdown_grace_seconds: u64,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Longest a request may run when the caller set no shorter deadline, in seconds.
    pub request_timeout_seconds: u64,
}

/// One service's own settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// gRPC listen address, e.g. `0.0.0.0:50051`.
    pub listen: String,
    /// `postgres://...` or `sqlite://path/to/file.db`; empty under `lms up` means a SQLite file
    /// in the data directory.
    #[serde(default)]
    pub database_url: String,
    /// Database connections kept by this component.
    pub db_pool_size: u32,
}

impl ComponentConfig {
    pub fn listen_addr(&self, key: &str) -> anyhow::Result<std::net::SocketAddr> {
        self.listen.parse().map_err(|_| {
            anyhow::anyhow!(
                "invalid configuration: {key}.listen = {:?} is not an address like 0.0.0.0:50051",
                self.listen
            )
        })
    }
}
