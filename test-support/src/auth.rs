//! Tokens for any tenant, subject and roles, signed with the secret the suite under test
//! verifies.

use std::time::Duration;

use lms_platform::Role;
use lms_platform::auth::{ServiceCredentials, TokenVerifier, mint_hs256};
use lms_platform::config::AuthConfig;

/// Tokens and a verifier sharing one HS256 secret.
#[derive(Clone)]
pub struct TestAuth {
    secret: String,
}

impl Default for TestAuth {
    fn default() -> Self {
        Self {
            secret: "test-secret-test-secret-test-secret".into(),
        }
    }
}

impl TestAuth {
    pub fn config(&self) -> AuthConfig {
        AuthConfig {
            hs256_secret: self.secret.clone(),
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            jwks_refresh: Duration::from_secs(300),
            ..Default::default()
        }
    }

    pub async fn verifier(&self) -> TokenVerifier {
        TokenVerifier::from_config(&self.config())
            .await
            .expect("a test verifier")
    }

    pub fn token(&self, tenant: &str, subject: &str, roles: &[Role]) -> String {
        mint_hs256(
            &self.secret,
            subject,
            tenant,
            roles,
            Duration::from_secs(3600),
        )
        .expect("a test token")
    }

    /// The identity a component under test uses to call another one.
    pub fn service_credentials(&self, subject: &str) -> ServiceCredentials {
        ServiceCredentials::Hs256 {
            secret: self.secret.clone(),
            subject: subject.to_string(),
        }
    }

    pub fn admin(&self, tenant: &str) -> String {
        self.token(tenant, &format!("admin@{tenant}"), &[Role::Admin])
    }

    pub fn learner(&self, tenant: &str) -> String {
        self.token(tenant, &format!("learner@{tenant}"), &[Role::Learner])
    }

    pub fn service(&self, tenant: &str) -> String {
        self.token(tenant, "test-service", &[Role::Service])
    }
}

/// `message` with `authorization: Bearer <token>`.
pub fn bearer<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("an ASCII token"),
    );
    request
}
