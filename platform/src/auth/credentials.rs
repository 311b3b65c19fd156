//! How a service proves its own identity when it calls another one, and development tokens.

use crate::ids::TenantId;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::Request;

use super::{Role, valid_tenant_id};
use crate::config::AuthConfig;
use crate::error::AppError;

/// Shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The metadata key in which a service names the tenant it acts for.
pub const TENANT_HEADER: &str = "x-lms-tenant";

/// How a service proves its own identity when it calls another service (DESIGN §4).
///
/// The calls carry a token with the `service` role and name the tenant they act for in
/// [`TENANT_HEADER`], which the callee honours for service identities only.
#[derive(Clone)]
pub enum ServiceCredentials {
    /// Development: a short-lived HS256 token minted per call with the shared secret.
    Hs256 { secret: String, subject: String },
    /// Production: a token the OIDC issuer gave this service, kept fresh in a file by whatever
    /// fetches it (a client-credentials sidecar, a projected Secret); re-read when it changes.
    TokenFile {
        path: std::path::PathBuf,
        cached: Arc<RwLock<Option<(std::time::SystemTime, String)>>>,
    },
    /// Production: a token this component obtains itself from the identity provider (OAuth2
    /// client credentials) and renews before it expires.
    ClientCredentials(super::client_credentials::ClientCredentials),
}

impl ServiceCredentials {
    /// Credentials for `subject` (e.g. `enrolment-service`) from the auth settings: the HS256
    /// secret when one is configured, otherwise client credentials when
    /// `auth.client_credentials.client_id` is set (a renewal task starts), otherwise
    /// `auth.service_token_file`. Build them once per component and clone them.
    pub fn from_config(config: &AuthConfig, subject: &str) -> anyhow::Result<Self> {
        if !config.hs256_secret.is_empty() {
            return Ok(ServiceCredentials::Hs256 {
                secret: config.hs256_secret.clone(),
                subject: subject.to_string(),
            });
        }
        if !config.client_credentials.client_id.is_empty() {
            return Ok(ServiceCredentials::ClientCredentials(
                super::client_credentials::ClientCredentials::start(
                    &config.client_credentials,
                    subject,
                )?,
            ));
        }
        anyhow::ensure!(
            !config.service_token_file.is_empty(),
            "invalid configuration: this service calls other services, so it needs its own token: \
             set auth.client_credentials (client_id, client_secret_file, token_url or \
             discovery_url), or auth.service_token_file naming the file holding a JWT with the \
             `service` role from the issuer"
        );
        let credentials = ServiceCredentials::TokenFile {
            path: config.service_token_file.clone().into(),
            cached: Arc::new(RwLock::new(None)),
        };
        let token = std::fs::read_to_string(&config.service_token_file)
            .with_context(|| format!("auth.service_token_file {}", config.service_token_file))?;
        anyhow::ensure!(
            !token.trim().is_empty(),
            "auth.service_token_file {} is empty",
            config.service_token_file
        );
        Ok(credentials)
    }

    /// The bearer token to present for `tenant`.
    pub fn token(&self, tenant: &TenantId) -> Result<String, AppError> {
        match self {
            ServiceCredentials::Hs256 { secret, subject } => mint_hs256(
                secret,
                subject,
                tenant,
                &[Role::Service],
                Duration::from_secs(300),
            )
            .map_err(AppError::internal),
            ServiceCredentials::ClientCredentials(credentials) => credentials.token(),
            ServiceCredentials::TokenFile { path, cached } => {
                // The file's path and the OS error go to the log, not to the caller whose
                // request needed the token.
                let unavailable = |why: String| {
                    tracing::error!(reason = %why, "the service token file cannot be read");
                    AppError::Unavailable(
                        "this service cannot authenticate to another one right now; retry".into(),
                    )
                };
                let modified = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .map_err(|e| unavailable(format!("{}: {e}", path.display())))?;
                if let Some((at, token)) = &*cached.read().unwrap_or_else(|p| p.into_inner())
                    && *at == modified
                {
                    return Ok(token.clone());
                }
                let token = std::fs::read_to_string(path)
                    .map_err(|e| unavailable(format!("{}: {e}", path.display())))?
                    .trim()
                    .to_string();
                if token.is_empty() {
                    return Err(unavailable(format!("{} is empty", path.display())));
                }
                *cached.write().unwrap_or_else(|p| p.into_inner()) =
                    Some((modified, token.clone()));
                Ok(token)
            }
        }
    }

    /// Adds this service's token and the tenant it acts for to an outgoing request.
    pub fn authorize<T>(
        &self,
        request: &mut Request<T>,
        tenant: &TenantId,
    ) -> Result<(), AppError> {
        let token = self.token(tenant)?;
        let metadata = request.metadata_mut();
        metadata.insert(
            "authorization",
            format!("Bearer {token}")
                .parse()
                .map_err(|_| AppError::internal(anyhow::anyhow!("token is not header text")))?,
        );
        metadata.insert(
            TENANT_HEADER,
            tenant
                .parse()
                .map_err(|_| AppError::internal(anyhow::anyhow!("tenant is not header text")))?,
        );
        Ok(())
    }
}

/// Mints an HS256 token (development and tests): what `lms token` prints.
pub fn mint_hs256(
    secret: &str,
    subject: &str,
    tenant_id: &str,
    roles: &[Role],
    ttl: Duration,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        secret.len() >= MIN_SECRET_BYTES,
        "the signing secret must be at least {MIN_SECRET_BYTES} bytes"
    );
    anyhow::ensure!(
        valid_tenant_id(tenant_id),
        "tenant must be 1..64 characters of A-Z a-z 0-9 - _"
    );
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": subject,
        "tenant": tenant_id,
        "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "iat": now,
        "exp": now + ttl.as_secs() as i64,
    });
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// A new random development secret (hex, 64 characters).
pub fn generate_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
