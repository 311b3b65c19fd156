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

mod client_credentials;
mod credentials;
mod kubernetes;
mod layer;
mod verifier;

use std::collections::HashSet;

use tonic::{Request, Status};

use crate::error::AppError;
use crate::ids::TenantId;
pub(crate) use crate::ids::valid_tenant_id;

pub use client_credentials::ClientCredentials;
pub use credentials::{
    MIN_SECRET_BYTES, ServiceCredentials, TENANT_HEADER, generate_secret, mint_hs256,
};
pub use layer::{Authorize, Policy, check_policy};
pub use verifier::TokenVerifier;

/// A JWT's claims read without verifying it: only to pick the keys that will verify it, or to
/// read the lifetime of a token already verified or obtained by this process itself.
pub fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

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
    pub tenant_id: TenantId,
    pub roles: HashSet<Role>,
    /// The call this principal is making: what the audit trail records of a write.
    pub call: Call,
}

/// The RPC being called and the request id it came with (`x-request-id`; empty without one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Call {
    /// `lms.pathway.v1.PathwayService/UpdateCategory`.
    pub rpc: String,
    pub request_id: String,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the principal holds any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        roles.iter().any(|role| self.has_role(*role))
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
