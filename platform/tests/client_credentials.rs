//! A component obtains its own service token with OAuth2 client credentials from a real OIDC
//! provider process (panva/oidc-provider, `tests/oidc/provider.mjs`), renews it before it
//! expires, keeps using it while the provider is down, and says so cleanly once it has none.

mod oidc_provider;

use std::time::{Duration, Instant};

use oidc_provider::{SECRET, free_port, provider, provider_installed};

use lms_platform::AppError;
use lms_platform::Role;
use lms_platform::auth::{ServiceCredentials, TokenVerifier};
use lms_platform::config::{AuthConfig, ClientCredentialsConfig};
use lms_platform::ids::TenantId;

fn credentials_config(issuer: &str, secret_file: &std::path::Path) -> AuthConfig {
    AuthConfig {
        client_credentials: ClientCredentialsConfig {
            discovery_url: format!("{issuer}/.well-known/openid-configuration"),
            client_id: "records-service".into(),
            client_secret_file: secret_file.display().to_string(),
            resource: "urn:lms".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn tenant() -> TenantId {
    TenantId::try_from("acme".to_string()).unwrap()
}

/// Waits (up to `within`) until the credentials hold a token different from `not`.
async fn next_token(
    credentials: &ServiceCredentials,
    not: Option<&str>,
    within: Duration,
) -> String {
    let started = Instant::now();
    loop {
        if let Ok(token) = credentials.token(&tenant())
            && Some(token.as_str()) != not
        {
            return token;
        }
        assert!(started.elapsed() < within, "no new token within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn renewal_failures() -> u64 {
    lms_platform::telemetry::metrics()
        .service_token_renewal_failures
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_obtains_renews_and_outlives_an_outage_of_its_token_provider() {
    if !provider_installed() {
        return;
    }
    let port = free_port();
    let ttl = 12;
    let provider_process = provider(port, ttl).await;
    let issuer = provider_process.issuer.clone();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let credentials = ServiceCredentials::from_config(
        &credentials_config(&issuer, &secret_file),
        "records-service",
    )
    .unwrap();

    // The token it obtains is a service identity the suite's verifier accepts.
    let first = next_token(&credentials, None, Duration::from_secs(10)).await;
    let obtained = Instant::now();
    let verifier = TokenVerifier::from_config(&AuthConfig {
        jwks_url: format!("{issuer}/jwks"),
        issuer: issuer.clone(),
        audience: "urn:lms".into(),
        tenant_claim: "tenant".into(),
        roles_claim: "roles".into(),
        jwks_refresh: Duration::from_secs(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let principal = verifier.verify(&first).unwrap();
    assert_eq!(principal.subject, "records-service");
    assert!(principal.has_role(Role::Service));

    // The provider goes away for longer than one renewal interval (three quarters of the
    // 12 s lifetime): renewals fail, the token it holds stays in use while it is valid.
    drop(provider_process);
    let failures_before = renewal_failures();
    tokio::time::sleep(Duration::from_millis(10_000).saturating_sub(obtained.elapsed())).await;
    assert!(
        renewal_failures() > failures_before,
        "renewal was attempted"
    );
    assert_eq!(credentials.token(&tenant()).unwrap(), first);

    // Back: the next attempt (backoff of at most a few seconds) brings a fresh token.
    let provider_process = provider(port, ttl).await;
    let second = next_token(&credentials, Some(&first), Duration::from_secs(10)).await;
    let obtained_again = Instant::now();
    assert_ne!(second, first);

    // With the provider up, the next token comes ahead of the expiry of the one held (at about
    // three quarters of its lifetime), so calls never see a gap.
    let third = next_token(&credentials, Some(&second), Duration::from_secs(ttl)).await;
    let renewed = Instant::now();
    assert!(
        renewed < obtained_again + Duration::from_secs(ttl) - Duration::from_secs(1),
        "renewed {:?} after the previous token, its lifetime being {ttl} s",
        renewed - obtained_again
    );
    assert_ne!(third, second);

    // Down for good: once the token's lifetime is over, calls fail cleanly as UNAVAILABLE.
    drop(provider_process);
    tokio::time::sleep(Duration::from_secs(ttl + 1).saturating_sub(renewed.elapsed())).await;
    match credentials.token(&tenant()) {
        Err(AppError::Unavailable(message)) => {
            assert!(message.contains("cannot authenticate"), "{message}")
        }
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_client_secret_gets_no_token() {
    if !provider_installed() {
        return;
    }
    let provider_process = provider(free_port(), 60).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, "not-the-secret").unwrap();
    let credentials = ServiceCredentials::from_config(
        &credentials_config(&provider_process.issuer, &secret_file),
        "records-service",
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(matches!(
        credentials.token(&tenant()),
        Err(AppError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_jwt_client_obtains_its_token_without_a_secret() {
    if !provider_installed() {
        return;
    }
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let public_keys: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{fixtures}/jwks.json")).unwrap())
            .unwrap();
    let rsa_only: Vec<_> = public_keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kty"] == "RSA")
        .cloned()
        .collect();
    let clients = serde_json::json!([{
        "client_id": "records-service",
        "auth": "private_key_jwt",
        "jwks": {"keys": rsa_only},
        "roles": ["service"],
    }]);
    let provider_process = oidc_provider::provider_with(free_port(), 60, clients).await;
    let config = AuthConfig {
        client_credentials: ClientCredentialsConfig {
            token_url: format!("{}/token", provider_process.issuer),
            client_id: "records-service".into(),
            private_key_file: format!("{fixtures}/rsa-private.pem"),
            private_key_id: "rsa-1".into(),
            resource: "urn:lms".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let credentials = ServiceCredentials::from_config(&config, "records-service").unwrap();
    let token = next_token(&credentials, None, Duration::from_secs(10)).await;
    assert_eq!(token.split('.').count(), 3, "a JWT");
}
