//! Production token verification: RS256/ES256 keys from a JWKS file or URL.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lms_platform::AppError;
use lms_platform::auth::TokenVerifier;
use lms_platform::config::AuthConfig;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
}

fn claims(exp_offset: i64) -> serde_json::Value {
    serde_json::json!({
        "sub": "ada@acme",
        "tenant": "acme",
        "roles": ["learner", "instructor"],
        "iss": "https://id.example.com",
        "aud": "lms",
        "exp": chrono::Utc::now().timestamp() + exp_offset,
    })
}

fn sign(
    algorithm: Algorithm,
    kid: Option<&str>,
    key: &EncodingKey,
    claims: &serde_json::Value,
) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap()
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(&fixture("ec256-private.pem")).unwrap()
}

fn file_config() -> AuthConfig {
    AuthConfig {
        jwks_file: format!("{FIXTURES}/jwks.json"),
        issuer: "https://id.example.com".into(),
        audience: "lms".into(),
        tenant_claim: "tenant".into(),
        roles_claim: "roles".into(),
        jwks_refresh: std::time::Duration::from_secs(300),
        ..Default::default()
    }
}

#[tokio::test]
async fn rs256_and_es256_tokens_from_the_jwks_verify() {
    let verifier = TokenVerifier::from_config(&file_config()).await.unwrap();
    let rsa = sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims(600));
    let principal = verifier.verify(&rsa).unwrap();
    assert_eq!(principal.subject, "ada@acme");
    assert_eq!(principal.tenant_id, "acme");
    assert!(principal.has_role(lms_platform::Role::Instructor));
    let ec = sign(Algorithm::ES256, Some("ec-1"), &ec_key(), &claims(600));
    assert_eq!(verifier.verify(&ec).unwrap().tenant_id, "acme");
}

#[tokio::test]
async fn wrong_issuer_audience_kid_or_expiry_is_refused() {
    let verifier = TokenVerifier::from_config(&file_config()).await.unwrap();
    let mut wrong_issuer = claims(600);
    wrong_issuer["iss"] = "https://evil.example.com".into();
    let mut wrong_audience = claims(600);
    wrong_audience["aud"] = "another-app".into();
    // A configured issuer must be named, not merely not contradicted.
    let mut no_issuer = claims(600);
    no_issuer.as_object_mut().unwrap().remove("iss");
    let mut not_yet_valid = claims(600);
    not_yet_valid["nbf"] = (chrono::Utc::now().timestamp() + 3600).into();
    for token in [
        sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &no_issuer),
        sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &not_yet_valid),
        sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &wrong_issuer),
        sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &wrong_audience),
        sign(Algorithm::RS256, Some("rsa-9"), &rsa_key(), &claims(600)),
        sign(Algorithm::RS256, Some("rsa-1"), &rsa_key(), &claims(-3600)),
        // Signed by the RSA key but claiming the EC key's kid.
        sign(Algorithm::RS256, Some("ec-1"), &rsa_key(), &claims(600)),
    ] {
        assert!(
            matches!(verifier.verify(&token), Err(AppError::Unauthenticated(_))),
            "accepted a bad token"
        );
    }
}

#[tokio::test]
async fn an_hmac_token_keyed_with_the_public_key_is_refused() {
    // The classic algorithm-confusion attack: HS256 with the RSA public key as the secret.
    let verifier = TokenVerifier::from_config(&file_config()).await.unwrap();
    let forged = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(&fixture("rsa-public.pem")),
        &claims(600),
    );
    assert!(matches!(
        verifier.verify(&forged),
        Err(AppError::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn keys_are_fetched_from_a_jwks_url() {
    // A one-route HTTP server on an ephemeral port stands in for the issuer.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let jwks = String::from_utf8(fixture("jwks.json")).unwrap();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { jwks }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = AuthConfig {
        jwks_file: String::new(),
        jwks_url: format!("http://{address}/.well-known/jwks.json"),
        ..file_config()
    };
    let verifier =
        tokio::time::timeout(Duration::from_secs(10), TokenVerifier::from_config(&config))
            .await
            .unwrap()
            .unwrap();
    let token = sign(Algorithm::ES256, Some("ec-1"), &ec_key(), &claims(600));
    assert_eq!(verifier.verify(&token).unwrap().subject, "ada@acme");

    let unreachable = AuthConfig {
        jwks_url: format!("http://{address}/missing"),
        ..config
    };
    assert!(TokenVerifier::from_config(&unreachable).await.is_err());
}

#[tokio::test]
async fn exactly_one_key_source_must_be_configured() {
    let both = AuthConfig {
        hs256_secret: "0123456789abcdef0123456789abcdef".into(),
        ..file_config()
    };
    assert!(TokenVerifier::from_config(&both).await.is_err());
    assert!(
        TokenVerifier::from_config(&AuthConfig::default())
            .await
            .is_err()
    );
}
