//! Layered configuration: built-in defaults < a TOML file < environment (`LMS__SECTION__KEY`).
//!
//! Each section is a typed struct whose fields are documented in `docs/configuration.md`.
//! A bad value fails at start with a message naming the key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::db::DatabaseUrl;

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
                .with_list_parse_key("gateway.cors_origins")
                .with_list_parse_key("notification.webhooks.allowed_networks")
                .with_list_parse_key("records.forwarding.allowed_networks"),
        )
        .build()
        .context("reading configuration")?;
    settings
        .try_deserialize()
        .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))
}

/// Where a service is reached: `http://host:port` (or `https://`). The host may be a name that
/// resolves to several addresses (a headless Service); calls balance over all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    uri: http::Uri,
    port: u16,
}

impl Address {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let bad = || anyhow::anyhow!("{text:?} is not an address like http://host:port");
        let uri: http::Uri = text.parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?;
        anyhow::ensure!(
            scheme == "http" || scheme == "https",
            "{text:?}: the scheme must be http or https"
        );
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(bad)?;
        anyhow::ensure!(
            uri.path() == "/" || uri.path().is_empty(),
            "{text:?}: an address has no path"
        );
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let uri = format!("{scheme}://{host}:{port}")
            .parse()
            .map_err(|_| bad())?;
        Ok(Self { uri, port })
    }

    /// The address of a socket this process bound (`lms up`, tests).
    pub fn of_socket(socket: std::net::SocketAddr) -> Self {
        Self::parse(&format!("http://{socket}")).expect("a socket address is an address")
    }

    pub fn scheme(&self) -> &str {
        self.uri.scheme_str().unwrap_or("http")
    }

    /// The host as written (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host when it is an IP address rather than a name.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }

    /// `scheme://host:port`, the authority requests carry.
    pub fn origin(&self) -> anyhow::Result<http::Uri> {
        Ok(self.uri.clone())
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme(), self.host(), self.port)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Deserializes a number of seconds (whole or fractional, not negative) into a `Duration`, so
/// settings keep their `_seconds` keys while the code reads durations.
pub fn seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::time::Duration, D::Error> {
    struct Seconds;
    impl serde::de::Visitor<'_> for Seconds {
        type Value = std::time::Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a number of seconds, 0 or more")
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(std::time::Duration::from_secs(value))
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
            u64::try_from(value)
                .map(std::time::Duration::from_secs)
                .map_err(|_| E::custom(format!("{value} seconds: must be 0 or more")))
        }
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Self::Value, E> {
            std::time::Duration::try_from_secs_f64(value)
                .map_err(|_| E::custom(format!("{value} seconds: must be 0 or more")))
        }
        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
            match value.trim().parse::<f64>() {
                Ok(number) => self.visit_f64(number),
                Err(_) => Err(E::custom(format!("{value:?} is not a number of seconds"))),
            }
        }
    }
    deserializer.deserialize_any(Seconds)
}

/// Loads `T` from `defaults` alone, ignoring `lms.toml` and the environment (tools and tests
/// that set what they need themselves).
pub fn from_defaults<T: DeserializeOwned>(defaults: &str) -> anyhow::Result<T> {
    config::Config::builder()
        .add_source(config::File::from_str(defaults, config::FileFormat::Toml))
        .build()
        .context("reading configuration")?
        .try_deserialize()
        .map_err(|error| anyhow::anyhow!("invalid configuration: {error}"))
}

/// `[auth.client_credentials]`: how a component obtains its own service token (RFC 6749
/// §4.4). Used when `client_id` is set. The secret itself is in a file, never here.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCredentialsConfig {
    /// The token endpoint; or leave it empty and set `discovery_url`.
    #[serde(default)]
    pub token_url: String,
    /// The issuer's OIDC discovery document (`…/.well-known/openid-configuration`), whose
    /// `token_endpoint` is used.
    #[serde(default)]
    pub discovery_url: String,
    #[serde(default)]
    pub client_id: String,
    /// A file holding the client secret (mounted from a Secret; re-read on every renewal).
    #[serde(default)]
    pub client_secret_file: String,
    /// Instead of a secret (`private_key_jwt`, RFC 7523): a PEM file holding the client's RSA
    /// or EC private key, which signs a short assertion for each token request.
    #[serde(default)]
    pub private_key_file: String,
    /// The `kid` of that key at the provider, when it needs one.
    #[serde(default)]
    pub private_key_id: String,
    /// Space-separated scopes to ask for; none when empty.
    #[serde(default)]
    pub scope: String,
    /// RFC 8707 resource indicator (the API the token is for); not sent when empty.
    #[serde(default)]
    pub resource: String,
    /// `audience` parameter some providers expect instead; not sent when empty.
    #[serde(default)]
    pub audience: String,
}

/// `[auth.kubernetes]`: Kubernetes service account tokens accepted as service identities (the
/// chart mounts each component's projected token, which it presents as its
/// `service_token_file`). Used when `issuer` is set.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The cluster's service account issuer (`iss` of its tokens).
    #[serde(default)]
    pub issuer: String,
    /// The issuer's JWKS; empty: read from `<issuer>/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks_url: String,
    /// Instead of a URL: the JWKS as a file.
    #[serde(default)]
    pub jwks_file: String,
    /// The audience the projected tokens are bound to (required).
    #[serde(default)]
    pub audience: String,
    /// The service accounts trusted as LMS services, as `namespace:name` or
    /// `system:serviceaccount:namespace:name`.
    #[serde(default)]
    pub service_accounts: Vec<String>,
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
    /// Production: obtain this component's own token from the identity provider with OAuth2
    /// client credentials, renewed before it expires (preferred over `service_token_file`).
    #[serde(default)]
    pub client_credentials: ClientCredentialsConfig,
    /// Also accept Kubernetes service account tokens of trusted accounts as service
    /// identities (never as a tenant role).
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
    /// How often the JWKS URL is fetched again.
    #[serde(
        rename = "jwks_refresh_seconds",
        default = "default_jwks_refresh",
        deserialize_with = "seconds"
    )]
    pub jwks_refresh: Duration,
    /// How long a service keeps a person's role bindings (and whether a person is in their
    /// groups) before asking the directory again: the longest a removed binding keeps working
    /// outside enrolment-service (which forgets its own at once).
    #[serde(
        rename = "bindings_cache_seconds",
        default = "default_bindings_cache",
        deserialize_with = "seconds"
    )]
    pub bindings_cache: Duration,
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
            .field("client_credentials", &self.client_credentials)
            .field("kubernetes", &self.kubernetes)
            .field("jwks_refresh", &self.jwks_refresh)
            .field("bindings_cache", &self.bindings_cache)
            .finish()
    }
}

fn default_bindings_cache() -> Duration {
    crate::access::DEFAULT_CACHE_LIFETIME
}

fn default_tenant_claim() -> String {
    "tenant".into()
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_jwks_refresh() -> Duration {
    Duration::from_secs(300)
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
    #[serde(deserialize_with = "optional_socket")]
    pub metrics_listen: Option<SocketAddr>,
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
    /// How long in-flight requests may take to finish after SIGTERM.
    #[serde(rename = "shutdown_grace_seconds", deserialize_with = "seconds")]
    pub shutdown_grace: Duration,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// Longest a request may run when the caller set no shorter deadline.
    #[serde(rename = "request_timeout_seconds", deserialize_with = "seconds")]
    pub request_timeout: Duration,
}

/// One service's section: the keys every service has (where it listens, its database), and
/// the service's own keys (`S`, defined by the service). Read from one table, so the keys stay
/// side by side as `[enrolment] listen = …, max_deactivation_share = …`.
#[derive(Debug, Clone)]
pub struct ServiceSettings<S> {
    /// gRPC listen address, e.g. `0.0.0.0:50051`.
    pub listen: SocketAddr,
    /// `postgres://...` or `sqlite://path/to/file.db`; None (empty) under `lms up` means a
    /// SQLite file in the data directory.
    pub database_url: Option<DatabaseUrl>,
    /// Database connections kept by this component.
    pub db_pool_size: u32,
    /// The service's own keys.
    pub own: S,
}

/// The keys every service section has.
const SERVICE_KEYS: [&str; 3] = ["listen", "database_url", "db_pool_size"];

impl<'de, S: DeserializeOwned> Deserialize<'de> for ServiceSettings<S> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let mut common = serde_json::Map::new();
        for key in SERVICE_KEYS {
            if let Some(value) = table.remove(key) {
                common.insert(key.to_string(), value);
            }
        }
        #[derive(Deserialize)]
        struct Common {
            listen: String,
            #[serde(default)]
            database_url: String,
            db_pool_size: serde_json::Value,
        }
        let common: Common =
            serde_json::from_value(serde_json::Value::Object(common)).map_err(D::Error::custom)?;
        let listen = common.listen.parse().map_err(|_| {
            D::Error::custom(format!(
                "listen = {:?} is not an address like 0.0.0.0:50051",
                common.listen
            ))
        })?;
        let database_url = match common.database_url.as_str() {
            "" => None,
            url => Some(
                DatabaseUrl::parse(url)
                    .map_err(|error| D::Error::custom(format!("database_url: {error}")))?,
            ),
        };
        let db_pool_size = number(&common.db_pool_size)
            .filter(|size| (1..=1_000).contains(size))
            .ok_or_else(|| D::Error::custom("db_pool_size must be a number from 1 to 1000"))?
            as u32;
        let own =
            serde_json::from_value(serde_json::Value::Object(table)).map_err(D::Error::custom)?;
        Ok(Self {
            listen,
            database_url,
            db_pool_size,
            own,
        })
    }
}

/// A whole number given as a number or as text (environment variables arrive as text).
fn number(value: &serde_json::Value) -> Option<u64> {
    match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// An optional socket address: empty means none.
pub fn optional_socket<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!("{text:?} is not an address like 127.0.0.1:9464"))
    })
}

/// An optional service address: empty means none (the component is not deployed).
pub fn optional_address<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Address>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    Address::parse(text.trim())
        .map(Some)
        .map_err(serde::de::Error::custom)
}
