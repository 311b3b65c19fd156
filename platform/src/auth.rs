//! Identity: every call carries `authorization: Bearer <JWT>`, verified here into a [`Principal`].
//!
//! Two key sources:
//! - development: an HS256 shared secret (`auth.hs256_secret`, or the secret `lms up` generates);
//! - production: the RS256/ES256 keys of an OIDC issuer, from a JWKS URL (refreshed
//!   periodically) or a JWKS file. Only asymmetric algorithms are accepted from a JWKS, so a token
//!   signed with a public key as an HMAC secret is refused.
//!
//! The tenant and the roles come from the token's claims (names configurable), never from a
//! request field.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;
use tonic::{Request, Status};

use crate::config::AuthConfig;
use crate::error::AppError;

/// Shortest HS256 secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Instructor,
    Learner,
    /// Another LMS service calling with its own identity.
    Service,
}

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "instructor" => Some(Role::Instructor),
            "learner" => Some(Role::Learner),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Instructor => "instructor",
            Role::Learner => "learner",
            Role::Service => "service",
        }
    }
}

/// Who is calling, for which tenant, with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub tenant_id: String,
    pub roles: HashSet<Role>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// `PERMISSION_DENIED` unless the principal holds one of `allowed`.
    pub fn require_any(&self, allowed: &[Role]) -> Result<(), AppError> {
        if allowed.iter().any(|role| self.has_role(*role)) {
            Ok(())
        } else {
            let names: Vec<_> = allowed.iter().map(|r| r.as_str()).collect();
            Err(AppError::PermissionDenied(format!(
                "this call needs one of the roles: {}",
                names.join(", ")
            )))
        }
    }
}

/// The principal that the auth interceptor attached to a request.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

enum Keys {
    Hs256(DecodingKey),
    Jwks(JwkSet),
}

/// Verifies bearer tokens. Cheap to clone; JWKS refreshes are seen by every clone.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<RwLock<Keys>>,
    validation: Validation,
    tenant_claim: String,
    roles_claim: String,
}

const JWKS_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

impl TokenVerifier {
    /// Builds a verifier from config; a JWKS URL is fetched now (and refreshed in the
    /// background by [`TokenVerifier::spawn_jwks_refresh`]).
    pub async fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let sources = [
            !config.hs256_secret.is_empty(),
            !config.jwks_url.is_empty(),
            !config.jwks_file.is_empty(),
        ];
        anyhow::ensure!(
            sources.iter().filter(|s| **s).count() == 1,
            "invalid configuration: set exactly one of auth.hs256_secret, auth.jwks_url, auth.jwks_file"
        );
        let (keys, algorithms) = if !config.hs256_secret.is_empty() {
            anyhow::ensure!(
                config.hs256_secret.len() >= MIN_SECRET_BYTES,
                "invalid configuration: auth.hs256_secret must be at least {MIN_SECRET_BYTES} bytes"
            );
            (
                Keys::Hs256(DecodingKey::from_secret(config.hs256_secret.as_bytes())),
                vec![Algorithm::HS256],
            )
        } else if !config.jwks_file.is_empty() {
            let text = std::fs::read_to_string(&config.jwks_file)
                .with_context(|| format!("reading auth.jwks_file {}", config.jwks_file))?;
            (
                Keys::Jwks(parse_jwks(&text).context("auth.jwks_file")?),
                JWKS_ALGORITHMS.to_vec(),
            )
        } else {
            (
                Keys::Jwks(fetch_jwks(&config.jwks_url).await?),
                JWKS_ALGORITHMS.to_vec(),
            )
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        // A configured issuer or audience must be present in the token, not merely match
        // when present.
        let mut required = vec!["exp", "sub"];
        if config.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&[&config.issuer]);
            required.push("iss");
        }
        if config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&[&config.audience]);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        Ok(Self {
            keys: Arc::new(RwLock::new(keys)),
            validation,
            tenant_claim: config.tenant_claim.clone(),
            roles_claim: config.roles_claim.clone(),
        })
    }

    /// Keeps the keys of a JWKS URL current, so issuer key rotation needs no restart.
    pub fn spawn_jwks_refresh(&self, config: &AuthConfig) {
        if config.jwks_url.is_empty() {
            return;
        }
        let keys = self.keys.clone();
        let url = config.jwks_url.clone();
        let every = config.jwks_refresh.max(Duration::from_secs(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match fetch_jwks(&url).await {
                    Ok(set) => *keys.write().unwrap_or_else(|p| p.into_inner()) = Keys::Jwks(set),
                    Err(error) => tracing::warn!(%error, "JWKS refresh failed; keeping old keys"),
                }
            }
        });
    }

    /// Verifies a bearer token and reads its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        let unauthenticated =
            |why: &str| AppError::Unauthenticated(format!("invalid token: {why}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed"))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(unauthenticated("algorithm not accepted"));
        }
        // jsonwebtoken checks every accepted algorithm against the key's family, so each
        // token is checked against its own (already allowed) algorithm only.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims: Value = {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            let key = match &*keys {
                Keys::Hs256(key) => key.clone(),
                Keys::Jwks(set) => jwks_key(set, header.kid.as_deref())
                    .ok_or_else(|| unauthenticated("signed by an unknown key"))?,
            };
            jsonwebtoken::decode::<Value>(token, &key, &validation)
                .map_err(|error| {
                    use jsonwebtoken::errors::ErrorKind;
                    match error.kind() {
                        ErrorKind::ExpiredSignature => unauthenticated("expired"),
                        ErrorKind::InvalidSignature => unauthenticated("bad signature"),
                        ErrorKind::InvalidAlgorithm => unauthenticated("algorithm not accepted"),
                        ErrorKind::InvalidIssuer => unauthenticated("wrong issuer"),
                        ErrorKind::InvalidAudience => unauthenticated("wrong audience"),
                        ErrorKind::MissingRequiredClaim(claim) => {
                            AppError::Unauthenticated(format!("invalid token: missing {claim}"))
                        }
                        _ => unauthenticated("rejected"),
                    }
                })?
                .claims
        };
        self.principal_from_claims(&claims)
    }

    fn principal_from_claims(&self, claims: &Value) -> Result<Principal, AppError> {
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| AppError::Unauthenticated("invalid token: bad sub".into()))?;
        let tenant_id = claims
            .get(&self.tenant_claim)
            .and_then(Value::as_str)
            .filter(|t| valid_tenant_id(t))
            .ok_or_else(|| {
                AppError::Unauthenticated(format!(
                    "invalid token: claim {} must hold a tenant id (1..64 of A-Z a-z 0-9 - _)",
                    self.tenant_claim
                ))
            })?;
        let roles = match claims.get(&self.roles_claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter_map(Role::parse)
                .collect(),
            // Some issuers put a space-separated list in one string.
            Some(Value::String(list)) => list.split_whitespace().filter_map(Role::parse).collect(),
            _ => HashSet::new(),
        };
        Ok(Principal {
            subject: subject.to_string(),
            tenant_id: tenant_id.to_string(),
            roles,
        })
    }
}

fn valid_tenant_id(tenant: &str) -> bool {
    !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn jwks_key(set: &JwkSet, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        // Without a kid, only an unambiguous single-key set can be used.
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    DecodingKey::from_jwk(jwk).ok()
}

fn parse_jwks(text: &str) -> anyhow::Result<JwkSet> {
    let set: JwkSet = serde_json::from_str(text).context("not a JWKS document")?;
    anyhow::ensure!(!set.keys.is_empty(), "the JWKS holds no keys");
    Ok(set)
}

async fn fetch_jwks(url: &str) -> anyhow::Result<JwkSet> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let text = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("fetching auth.jwks_url {url}"))?
        .text()
        .await?;
    parse_jwks(&text).with_context(|| format!("auth.jwks_url {url}"))
}

/// The tonic interceptor: verifies the bearer token and attaches the [`Principal`].
pub fn interceptor(verifier: TokenVerifier) -> Interceptor {
    Interceptor { verifier }
}

#[derive(Clone)]
pub struct Interceptor {
    verifier: TokenVerifier,
}

impl tonic::service::Interceptor for Interceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| Status::unauthenticated("missing authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or(value.strip_prefix("bearer "))
            })
            .ok_or_else(|| Status::unauthenticated("authorization must be Bearer <token>"))?;
        let mut principal = self.verifier.verify(token.trim())?;
        // A service acts for the tenant whose request caused its call; only the `service`
        // role may say which (see `ServiceCredentials`).
        if let Some(tenant) = request.metadata().get(TENANT_HEADER) {
            if !principal.has_role(Role::Service) {
                return Err(Status::permission_denied(format!(
                    "only a service identity may send {TENANT_HEADER}"
                )));
            }
            let tenant = tenant
                .to_str()
                .ok()
                .filter(|t| valid_tenant_id(t))
                .ok_or_else(|| {
                    Status::invalid_argument(format!("{TENANT_HEADER} must hold a tenant id"))
                })?;
            principal.tenant_id = tenant.to_string();
        }
        tracing::Span::current().record("enduser.id", principal.subject.as_str());
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

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
}

impl ServiceCredentials {
    /// Credentials for `subject` (e.g. `enrolment-service`) from the auth settings: the HS256
    /// secret when one is configured, otherwise `auth.service_token_file`.
    pub fn from_config(config: &AuthConfig, subject: &str) -> anyhow::Result<Self> {
        if !config.hs256_secret.is_empty() {
            return Ok(ServiceCredentials::Hs256 {
                secret: config.hs256_secret.clone(),
                subject: subject.to_string(),
            });
        }
        anyhow::ensure!(
            !config.service_token_file.is_empty(),
            "invalid configuration: auth.service_token_file must name the file holding this \
             service's token (a JWT with the `service` role from the issuer), because it calls \
             other services"
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
    pub fn token(&self, tenant: &str) -> Result<String, AppError> {
        match self {
            ServiceCredentials::Hs256 { secret, subject } => mint_hs256(
                secret,
                subject,
                tenant,
                &[Role::Service],
                Duration::from_secs(300),
            )
            .map_err(AppError::internal),
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
    pub fn authorize<T>(&self, request: &mut Request<T>, tenant: &str) -> Result<(), AppError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    async fn hs256_verifier() -> TokenVerifier {
        TokenVerifier::from_config(&AuthConfig {
            hs256_secret: SECRET.into(),
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_minted_token_verifies_into_its_principal() {
        let verifier = hs256_verifier().await;
        let token = mint_hs256(
            SECRET,
            "ada",
            "acme",
            &[Role::Admin],
            Duration::from_secs(60),
        )
        .unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert_eq!(principal.subject, "ada");
        assert_eq!(principal.tenant_id, "acme");
        assert!(principal.is_admin());
    }

    #[tokio::test]
    async fn a_token_signed_with_another_secret_is_refused() {
        let verifier = hs256_verifier().await;
        let token = mint_hs256(
            "another-secret-another-secret-xx",
            "ada",
            "acme",
            &[Role::Admin],
            Duration::from_secs(60),
        )
        .unwrap();
        assert!(matches!(
            verifier.verify(&token),
            Err(AppError::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn an_expired_token_is_refused() {
        let verifier = hs256_verifier().await;
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"sub": "ada", "tenant": "acme", "roles": ["admin"], "exp": now - 3600});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        let err = verifier.verify(&token).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }

    #[tokio::test]
    async fn a_token_without_tenant_is_refused() {
        let verifier = hs256_verifier().await;
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({"sub": "ada", "roles": ["admin"], "exp": now + 60});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(matches!(
            verifier.verify(&token),
            Err(AppError::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn short_secrets_are_refused_at_start() {
        let result = TokenVerifier::from_config(&AuthConfig {
            hs256_secret: "short".into(),
            ..Default::default()
        })
        .await;
        assert!(result.is_err());
    }

    #[test]
    fn unknown_roles_are_ignored() {
        assert_eq!(Role::parse("superuser"), None);
        assert_eq!(Role::parse("learner"), Some(Role::Learner));
    }
}
