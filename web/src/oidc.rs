//! OpenID Connect sign-in as a relying party: the authorisation code flow with PKCE (S256),
//! `state` against forged callbacks and `nonce` against replayed ID tokens. The provider's
//! metadata and keys are read from its discovery document on first use (and the keys again
//! when a token names one not seen yet). The ID token is verified (signature by the provider's
//! keys, issuer, audience, expiry, nonce) before its access token is trusted for a session;
//! the access token itself is then verified by the suite's own token verifier, as every
//! service verifies it.
//!
//! Written on `reqwest` and `jsonwebtoken`, which the suite already uses to fetch and verify
//! JWKS-signed tokens, rather than a dedicated OIDC crate that would bring a second HTTP
//! client and a second crypto stack into the build.

use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::Settings;

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

pub struct Oidc {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    scopes: String,
    resource: String,
    pub redirect_uri: String,
    http: reqwest::Client,
    metadata: OnceCell<Metadata>,
    keys: RwLock<Option<JwkSet>>,
}

/// What a completed sign-in yields.
pub struct Tokens {
    pub access_token: String,
    /// The person's name from the ID token (`name`, else `preferred_username`), if any.
    pub name: Option<String>,
}

impl Oidc {
    pub fn new(settings: &Settings, public_url: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !settings.oidc_client_id.is_empty(),
            "web.oidc_client_id is required with web.oidc_issuer"
        );
        let client_secret = if settings.oidc_client_secret_file.is_empty() {
            None
        } else {
            let path = &settings.oidc_client_secret_file;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading web.oidc_client_secret_file {path}"))?;
            Some(text.trim().to_string())
        };
        Ok(Self {
            issuer: settings.oidc_issuer.trim_end_matches('/').to_string(),
            client_id: settings.oidc_client_id.clone(),
            client_secret,
            scopes: settings.oidc_scopes.clone(),
            resource: settings.oidc_resource.clone(),
            redirect_uri: format!("{public_url}/auth/callback"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            metadata: OnceCell::new(),
            keys: RwLock::new(None),
        })
    }

    async fn metadata(&self) -> anyhow::Result<&Metadata> {
        self.metadata
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let metadata: Metadata = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .with_context(|| format!("reading {url}"))?
                    .json()
                    .await
                    .with_context(|| format!("{url} is not a discovery document"))?;
                // OIDC Discovery §4.3: the issuer in the document is the one configured.
                anyhow::ensure!(
                    metadata.issuer.trim_end_matches('/') == self.issuer,
                    "{url} names issuer {} rather than {}",
                    metadata.issuer,
                    self.issuer
                );
                Ok(metadata)
            })
            .await
    }

    /// Where to send the browser to sign in.
    pub async fn authorize_url(
        &self,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> anyhow::Result<String> {
        let metadata = self.metadata().await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .context("the provider's authorization_endpoint is not a URL")?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", &self.redirect_uri)
                .append_pair("scope", &self.scopes)
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", &pkce_challenge(pkce_verifier))
                .append_pair("code_challenge_method", "S256");
            if !self.resource.is_empty() {
                query.append_pair("resource", &self.resource);
            }
        }
        Ok(url.into())
    }

    /// Trades the callback's code for tokens and verifies the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> anyhow::Result<Tokens> {
        let metadata = self.metadata().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", pkce_verifier),
            ("client_id", self.client_id.as_str()),
        ];
        if !self.resource.is_empty() {
            form.push(("resource", self.resource.as_str()));
        }
        let mut request = self.http.post(&metadata.token_endpoint).form(&form);
        if let Some(secret) = &self.client_secret {
            request = request.basic_auth(&self.client_id, Some(secret));
        }
        let response = request.send().await.context("calling the token endpoint")?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success(),
            "the token endpoint answered {status}: {}",
            body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no reason given")
        );
        let access_token = body["access_token"]
            .as_str()
            .context("the token endpoint gave no access_token")?
            .to_string();
        let id_token = body["id_token"]
            .as_str()
            .context("the token endpoint gave no id_token")?;
        let claims = self.verify_id_token(metadata, id_token).await?;
        anyhow::ensure!(
            claims["nonce"].as_str() == Some(nonce),
            "the ID token's nonce is not this sign-in's"
        );
        let name = claims["name"]
            .as_str()
            .or(claims["preferred_username"].as_str())
            .map(str::to_string);
        Ok(Tokens { access_token, name })
    }

    async fn verify_id_token(&self, metadata: &Metadata, token: &str) -> anyhow::Result<Value> {
        let header = jsonwebtoken::decode_header(token).context("the ID token is malformed")?;
        // Asymmetric algorithms only: a provider's public key never verifies as an HMAC.
        anyhow::ensure!(
            matches!(
                header.alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::ES256
                    | Algorithm::ES384
                    | Algorithm::EdDSA
            ),
            "the ID token's algorithm {:?} is not accepted",
            header.alg
        );
        let key = match self.key(header.kid.as_deref()) {
            Some(key) => key,
            None => {
                self.refresh_keys(metadata).await?;
                self.key(header.kid.as_deref())
                    .context("the ID token is signed by a key the provider does not publish")?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[metadata.issuer.as_str()]);
        validation.set_audience(&[self.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .context("the ID token does not verify")?;
        Ok(data.claims)
    }

    fn key(&self, kid: Option<&str>) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let set = keys.as_ref()?;
        let jwk = match kid {
            Some(kid) => set.find(kid)?,
            None if set.keys.len() == 1 => &set.keys[0],
            None => return None,
        };
        DecodingKey::from_jwk(jwk).ok()
    }

    async fn refresh_keys(&self, metadata: &Metadata) -> anyhow::Result<()> {
        let set: JwkSet = self
            .http
            .get(&metadata.jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .context("reading the provider's keys")?
            .json()
            .await
            .context("the provider's jwks_uri is not a JWKS document")?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(set);
        Ok(())
    }
}

/// RFC 7636 S256: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            super::pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
