//! Kubernetes service account tokens as service identities. A real OIDC provider process
//! stands in for the cluster's service account issuer: its tokens have the issuer, audience
//! and `system:serviceaccount:<namespace>:<name>` subject a projected token has. A trusted
//! account's token verifies as the `service` role only; an untrusted account, another issuer
//! and a wrong audience are refused.

mod oidc_provider;

use lms_platform::auth::TokenVerifier;
use lms_platform::config::{AuthConfig, KubernetesConfig};
use lms_platform::{AppError, Role};
use oidc_provider::{free_port, provider_installed, provider_with};

const TRUSTED: &str = "system:serviceaccount:lms:lms-records";
const INTRUDER: &str = "system:serviceaccount:lms:intruder";
const SECRET: &str = "a-client-secret-of-some-length";

/// A token for `account` from the issuer at `issuer`, for `audience` (client_secret_post:
/// service account names hold colons, which HTTP Basic cannot carry as they are).
async fn token(issuer: &str, account: &str, audience: &str) -> String {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", account)
        .append_pair("client_secret", SECRET)
        .append_pair("resource", audience)
        .finish();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_string()
}

fn accounts() -> serde_json::Value {
    // The trusted account's token even claims the admin role: it must not count.
    serde_json::json!([
        {"client_id": TRUSTED, "client_secret": SECRET, "roles": ["admin", "service"], "auth": "client_secret_post"},
        {"client_id": INTRUDER, "client_secret": SECRET, "roles": ["service"], "auth": "client_secret_post"},
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_service_accounts_are_services_and_nothing_else_is() {
    if !provider_installed() {
        return;
    }
    let cluster = provider_with(free_port(), 600, accounts()).await;
    let elsewhere = provider_with(free_port(), 600, accounts()).await;
    // People keep their usual tokens (HS256 here); the cluster's tokens are services.
    let verifier = TokenVerifier::from_config(&AuthConfig {
        hs256_secret: "a-development-secret-of-32-bytes!!".into(),
        tenant_claim: "tenant".into(),
        roles_claim: "roles".into(),
        jwks_refresh: std::time::Duration::from_secs(300),
        kubernetes: KubernetesConfig {
            issuer: cluster.issuer.clone(),
            audience: "urn:lms".into(),
            service_accounts: vec!["lms:lms-records".into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();

    let trusted = verifier
        .verify(&token(&cluster.issuer, TRUSTED, "urn:lms").await)
        .unwrap();
    assert_eq!(trusted.subject, TRUSTED);
    assert_eq!(
        trusted.roles,
        std::collections::HashSet::from([Role::Service]),
        "a service account is a service, never a tenant role"
    );

    let refused = |result: Result<lms_platform::Principal, AppError>, why: &str| match result {
        Err(AppError::Unauthenticated(message)) => {
            assert!(message.contains(why), "{message}")
        }
        other => panic!("expected UNAUTHENTICATED ({why}), got {other:?}"),
    };
    refused(
        verifier.verify(&token(&cluster.issuer, INTRUDER, "urn:lms").await),
        "not trusted",
    );
    refused(
        verifier.verify(&token(&cluster.issuer, TRUSTED, "urn:another-api").await),
        "wrong audience",
    );
    // Another issuer's token is not the cluster's: it goes to the people's keys, which refuse it.
    refused(
        verifier.verify(&token(&elsewhere.issuer, TRUSTED, "urn:lms").await),
        "algorithm not accepted",
    );
    // People's tokens still verify as before.
    let admin = lms_platform::auth::mint_hs256(
        "a-development-secret-of-32-bytes!!",
        "ada",
        "acme",
        &[Role::Admin],
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    assert!(verifier.verify(&admin).unwrap().has_role(Role::Admin));
}
