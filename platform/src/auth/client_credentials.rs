//! OAuth2 client credentials (RFC 6749 §4.4): a component obtains its own service token from
//! the identity provider, renews it ahead of expiry (with jitter, so replicas do not renew in
//! step), retries with backoff while the provider is down, and keeps presenting the token it
//! holds for as long as that token is valid.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use serde::Deserialize;

use crate::config::ClientCredentialsConfig;
use crate::error::AppError;

/// A token is not presented in its last tenth of life (at most its last 5 s): the callee may
/// see it expired.
const MAX_EXPIRY_MARGIN: Duration = Duration::from_secs(5);
/// The longest wait between two attempts while the provider fails.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The token held now (with the moment it stops being presented), and what the last renewal
/// said.
#[derive(Default)]
struct Held {
    token: Option<(String, Instant)>,
    last_error: Option<String>,
}

/// A component's self-renewing service token. Cheap to clone: clones share the token and the
/// one renewal task.
#[derive(Clone)]
pub struct ClientCredentials {
    held: Arc<RwLock<Held>>,
}

/// What the token endpoint answers (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Discovery {
    token_endpoint: String,
}

impl ClientCredentials {
    /// Starts obtaining and renewing the token in the background (the first attempt right
    /// away). Calls made before the first token arrives answer UNAVAILABLE.
    pub fn start(config: &ClientCredentialsConfig, subject: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.token_url.is_empty() || !config.discovery_url.is_empty(),
            "invalid configuration: auth.client_credentials needs token_url or discovery_url"
        );
        anyhow::ensure!(
            config.client_secret_file.is_empty() != config.private_key_file.is_empty(),
            "invalid configuration: auth.client_credentials needs exactly one of \
             client_secret_file (the client secret, mounted from a Secret) and \
             private_key_file (private_key_jwt)"
        );
        let held = Arc::new(RwLock::new(Held::default()));
        let credentials = ClientCredentials { held: held.clone() };
        let config = config.clone();
        let subject = subject.to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        tokio::spawn(async move {
            renew_forever(http, config, subject, held).await;
        });
        Ok(credentials)
    }

    /// The token to present now; UNAVAILABLE (logged with the last renewal error) when none is
    /// valid.
    pub fn token(&self) -> Result<String, AppError> {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        match &held.token {
            Some((token, usable_until)) if Instant::now() < *usable_until => Ok(token.clone()),
            _ => {
                tracing::error!(
                    last_error = held.last_error.as_deref().unwrap_or("none yet"),
                    "no valid service token: the identity provider has not given one, or the \
                     one held expired while renewals failed"
                );
                Err(AppError::Unavailable(
                    "this service cannot authenticate to another one right now; retry".into(),
                ))
            }
        }
    }
}

/// Obtains a token, then renews it at about three quarters of its lifetime; after a failure,
/// tries again with a growing, jittered backoff.
async fn renew_forever(
    http: reqwest::Client,
    config: ClientCredentialsConfig,
    subject: String,
    held: Arc<RwLock<Held>>,
) {
    let metrics = crate::telemetry::metrics();
    let mut failures: u32 = 0;
    loop {
        let wait = match fetch(&http, &config).await {
            Ok((token, lifetime)) => {
                failures = 0;
                let margin = (lifetime / 10).min(MAX_EXPIRY_MARGIN);
                let usable_until = Instant::now() + lifetime - margin;
                metrics
                    .service_token_expiry
                    .set(chrono::Utc::now().timestamp() + lifetime.as_secs() as i64);
                tracing::info!(
                    component = %subject,
                    valid_seconds = lifetime.as_secs(),
                    "service token obtained from the identity provider"
                );
                let mut held = held.write().unwrap_or_else(|p| p.into_inner());
                held.token = Some((token, usable_until));
                held.last_error = None;
                jittered(lifetime.mul_f64(0.75))
            }
            Err(error) => {
                failures += 1;
                metrics.service_token_renewal_failures.inc();
                let mut held = held.write().unwrap_or_else(|p| p.into_inner());
                let valid_for = held
                    .token
                    .as_ref()
                    .map(|(_, expires)| expires.saturating_duration_since(Instant::now()))
                    .unwrap_or_default();
                tracing::warn!(
                    component = %subject,
                    error = %format!("{error:#}"),
                    attempt = failures,
                    valid_seconds = valid_for.as_secs(),
                    "service token renewal failed; the current token stays in use while it is valid"
                );
                held.last_error = Some(format!("{error:#}"));
                // 0.5 s, 1 s, 2 s, … up to 30 s.
                let backoff = Duration::from_millis(500) * (1 << failures.min(7).saturating_sub(1));
                jittered(backoff.min(MAX_BACKOFF))
            }
        };
        tokio::time::sleep(wait.max(Duration::from_millis(200))).await;
    }
}

/// `base` ± 10 %.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::rng().random_range(0.9..1.1))
}

/// One token request; the token and how long it lasts.
async fn fetch(
    http: &reqwest::Client,
    config: &ClientCredentialsConfig,
) -> anyhow::Result<(String, Duration)> {
    let token_url = if config.token_url.is_empty() {
        let discovery: Discovery = http
            .get(&config.discovery_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .with_context(|| format!("OIDC discovery at {}", config.discovery_url))?
            .json()
            .await
            .context("OIDC discovery document")?;
        discovery.token_endpoint
    } else {
        config.token_url.clone()
    };
    // Re-read each time: a rotated Secret takes effect without a restart.
    let client_auth = if config.private_key_file.is_empty() {
        let secret = std::fs::read_to_string(&config.client_secret_file)
            .with_context(|| format!("client_secret_file {}", config.client_secret_file))?;
        ClientAuth::Basic(secret.trim().to_string())
    } else {
        ClientAuth::Assertion(client_assertion(config, &token_url)?)
    };
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        for (key, value) in [
            ("scope", &config.scope),
            ("resource", &config.resource),
            ("audience", &config.audience),
        ] {
            if !value.is_empty() {
                form.append_pair(key, value);
            }
        }
        if let ClientAuth::Assertion(assertion) = &client_auth {
            form.append_pair("client_id", &config.client_id);
            form.append_pair(
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            );
            form.append_pair("client_assertion", assertion);
        }
        form.finish()
    };
    let mut request = http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let ClientAuth::Basic(secret) = &client_auth {
        request = request.basic_auth(&config.client_id, Some(secret));
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("token endpoint {token_url}"))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        anyhow::bail!("token endpoint {token_url} answered {status}: {body}");
    }
    let answer: TokenResponse = response.json().await.context("token response")?;
    anyhow::ensure!(
        !answer.access_token.is_empty(),
        "token response without a token"
    );
    // Without expires_in, the token's own exp decides; failing both, five minutes.
    let lifetime = answer
        .expires_in
        .map(Duration::from_secs)
        .or_else(|| jwt_lifetime(&answer.access_token))
        .unwrap_or(Duration::from_secs(300));
    Ok((answer.access_token, lifetime))
}

/// How the client proves itself to the token endpoint.
enum ClientAuth {
    /// HTTP Basic with the client secret (`client_secret_basic`).
    Basic(String),
    /// A signed assertion (`private_key_jwt`).
    Assertion(String),
}

/// A `private_key_jwt` assertion (RFC 7523 §3): issued by and about the client, for the token
/// endpoint, valid one minute, never reused.
fn client_assertion(config: &ClientCredentialsConfig, token_url: &str) -> anyhow::Result<String> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let pem = std::fs::read(&config.private_key_file)
        .with_context(|| format!("private_key_file {}", config.private_key_file))?;
    let (key, algorithm) = match EncodingKey::from_rsa_pem(&pem) {
        Ok(key) => (key, Algorithm::RS256),
        Err(_) => (
            EncodingKey::from_ec_pem(&pem).context("private_key_file holds no RSA or EC key")?,
            Algorithm::ES256,
        ),
    };
    let mut header = Header::new(algorithm);
    if !config.private_key_id.is_empty() {
        header.kid = Some(config.private_key_id.clone());
    }
    let now = chrono::Utc::now().timestamp();
    let jti: u128 = rand::rng().random();
    let claims = serde_json::json!({
        "iss": config.client_id,
        "sub": config.client_id,
        "aud": token_url,
        "jti": format!("{jti:032x}"),
        "iat": now,
        "exp": now + 60,
    });
    Ok(jsonwebtoken::encode(&header, &claims, &key)?)
}

/// The time left until a JWT's `exp`, read without verifying it (it is our own token).
fn jwt_lifetime(token: &str) -> Option<Duration> {
    let exp = super::unverified_claims(token)?.get("exp")?.as_i64()?;
    let left = exp - chrono::Utc::now().timestamp();
    (left > 0).then(|| Duration::from_secs(left as u64))
}
