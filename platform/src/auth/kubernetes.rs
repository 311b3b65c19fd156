//! Kubernetes service account tokens as service identities: a projected token (audience-bound,
//! rotated by the kubelet) of a trusted service account, from the cluster's issuer, verifies
//! into a principal with the `service` role only — whatever else its claims say, it never
//! carries a tenant role.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use super::{Principal, Role};
use crate::config::KubernetesConfig;
use crate::error::AppError;
use crate::ids::TenantId;

/// The tenant a service principal has until `x-lms-tenant` names the one it acts for.
const NO_TENANT: &str = "system";

/// The cluster issuer's keys and the accounts it vouches for.
#[derive(Clone)]
pub struct KubernetesIssuer {
    issuer: String,
    keys: Arc<RwLock<JwkSet>>,
    jwks_url: String,
    validation: Validation,
    trusted: Arc<HashSet<String>>,
}

impl KubernetesIssuer {
    /// Reads the issuer's keys now (a start fails when they cannot be read).
    pub async fn from_config(config: &KubernetesConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.audience.is_empty(),
            "invalid configuration: auth.kubernetes.audience must name the audience the \
             projected service account tokens are bound to"
        );
        anyhow::ensure!(
            !config.service_accounts.is_empty(),
            "invalid configuration: auth.kubernetes.service_accounts must name the trusted \
             service accounts"
        );
        let (keys, jwks_url) = if !config.jwks_file.is_empty() {
            let text = std::fs::read_to_string(&config.jwks_file).with_context(|| {
                format!("reading auth.kubernetes.jwks_file {}", config.jwks_file)
            })?;
            (super::verifier::parse_jwks(&text)?, String::new())
        } else {
            let url = if config.jwks_url.is_empty() {
                discover_jwks(&config.issuer).await?
            } else {
                config.jwks_url.clone()
            };
            (super::verifier::fetch_jwks(&url).await?, url)
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256, Algorithm::ES256];
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        let trusted = config
            .service_accounts
            .iter()
            .map(|account| {
                if account.starts_with("system:serviceaccount:") {
                    account.clone()
                } else {
                    format!("system:serviceaccount:{account}")
                }
            })
            .collect();
        Ok(Self {
            issuer: config.issuer.clone(),
            keys: Arc::new(RwLock::new(keys)),
            jwks_url,
            validation,
            trusted: Arc::new(trusted),
        })
    }

    /// Keeps the cluster's keys current (it rotates them).
    pub fn spawn_refresh(&self, every: Duration) {
        if self.jwks_url.is_empty() {
            return;
        }
        let (keys, url) = (self.keys.clone(), self.jwks_url.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match super::verifier::fetch_jwks(&url).await {
                    Ok(set) => *keys.write().unwrap_or_else(|p| p.into_inner()) = set,
                    Err(error) => {
                        tracing::warn!(%error, "cluster JWKS refresh failed; keeping old keys")
                    }
                }
            }
        });
    }

    /// Whether an (unverified) token says it comes from this issuer.
    pub fn issued(&self, claimed_issuer: Option<&str>) -> bool {
        claimed_issuer == Some(self.issuer.as_str())
    }

    /// Verifies a token of this issuer into a service principal, when its account is trusted.
    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        let unauthenticated =
            |why: String| AppError::Unauthenticated(format!("invalid token: {why}"));
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| unauthenticated("malformed".into()))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(unauthenticated("algorithm not accepted".into()));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let key = {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            super::verifier::jwks_key(&keys, header.kid.as_deref())
                .ok_or_else(|| unauthenticated("signed by an unknown cluster key".into()))?
        };
        let claims: Value = jsonwebtoken::decode(token, &key, &validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                unauthenticated(
                    match error.kind() {
                        ErrorKind::ExpiredSignature => "expired",
                        ErrorKind::InvalidAudience => "wrong audience",
                        ErrorKind::InvalidSignature => "bad signature",
                        _ => "rejected",
                    }
                    .into(),
                )
            })?
            .claims;
        let account = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !self.trusted.contains(account) {
            return Err(unauthenticated(format!(
                "service account {account:?} is not trusted (auth.kubernetes.service_accounts)"
            )));
        }
        Ok(Principal {
            subject: account.to_string(),
            tenant_id: TenantId::try_from(NO_TENANT.to_string())
                .map_err(|_| AppError::internal(anyhow::anyhow!("placeholder tenant")))?,
            roles: HashSet::from([Role::Service]),
            call: Default::default(),
        })
    }
}

/// The JWKS URL from the issuer's OIDC discovery document.
async fn discover_jwks(issuer: &str) -> anyhow::Result<String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let document: Value = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("the cluster issuer's discovery document {url}"))?
        .json()
        .await?;
    document
        .get("jwks_uri")
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("{url} names no jwks_uri"))
}

/// The `iss` a token claims, read without verifying it (to pick the keys to verify it with).
pub fn claimed_issuer(token: &str) -> Option<String> {
    super::unverified_claims(token)?
        .get("iss")?
        .as_str()
        .map(str::to_string)
}
