//! Bearer tokens verified into a [`Principal`]: HS256 with a shared secret (development), or
//! RS256/ES256 against an OIDC issuer's JWKS (production).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::{MIN_SECRET_BYTES, Principal, Role};
use crate::config::AuthConfig;
use crate::error::AppError;
use crate::ids::TenantId;

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
    /// Kubernetes service account tokens of trusted accounts, when configured.
    kubernetes: Option<super::kubernetes::KubernetesIssuer>,
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
        let kubernetes = if config.kubernetes.issuer.is_empty() {
            None
        } else {
            Some(super::kubernetes::KubernetesIssuer::from_config(&config.kubernetes).await?)
        };
        Ok(Self {
            keys: Arc::new(RwLock::new(keys)),
            validation,
            tenant_claim: config.tenant_claim.clone(),
            roles_claim: config.roles_claim.clone(),
            kubernetes,
        })
    }

    /// Keeps the keys of a JWKS URL current, so issuer key rotation needs no restart.
    pub fn spawn_jwks_refresh(&self, config: &AuthConfig) {
        if let Some(kubernetes) = &self.kubernetes {
            kubernetes.spawn_refresh(config.jwks_refresh.max(Duration::from_secs(10)));
        }
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
        // A token that says it is the cluster's is verified with the cluster's keys, and only
        // ever as a service identity.
        if let Some(kubernetes) = &self.kubernetes
            && kubernetes.issued(super::kubernetes::claimed_issuer(token).as_deref())
        {
            return kubernetes.verify(token);
        }
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
            .and_then(|t| TenantId::parse(t).ok())
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
            tenant_id,
            roles,
            call: Default::default(),
        })
    }
}

pub(super) fn jwks_key(set: &JwkSet, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        // Without a kid, only an unambiguous single-key set can be used.
        None if set.keys.len() == 1 => &set.keys[0],
        None => return None,
    };
    DecodingKey::from_jwk(jwk).ok()
}

pub(super) fn parse_jwks(text: &str) -> anyhow::Result<JwkSet> {
    let set: JwkSet = serde_json::from_str(text).context("not a JWKS document")?;
    anyhow::ensure!(!set.keys.is_empty(), "the JWKS holds no keys");
    Ok(set)
}

pub(super) async fn fetch_jwks(url: &str) -> anyhow::Result<JwkSet> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::mint_hs256;
    use jsonwebtoken::{EncodingKey, Header};

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
