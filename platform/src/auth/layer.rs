//! Every call to an LMS service is authenticated and authorised here, before its handler runs:
//! the bearer token is verified into a [`Principal`] (a service identity may name the tenant it
//! acts for), and the RPC's role policy is applied. Each service declares its policy once, as
//! one line per RPC ([`Policy`]); an RPC missing from it is refused, so a new RPC is closed
//! until someone says who may call it.

use std::task::{Context, Poll};

use futures::future::{BoxFuture, Either, Ready, ready};
use tonic::Status;
use tonic::server::NamedService;
use tower::Service;

use super::{Principal, Role, TENANT_HEADER, TokenVerifier};
use crate::access::{Access, Permission, ScopedPolicy};
use crate::ids::TenantId;

/// Which roles may call each RPC of a service: `("CreatePerson", &[Role::Admin])`.
pub type Policy = &'static [(&'static str, &'static [Role])];

/// A service behind token verification and its role policy.
#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    verifier: TokenVerifier,
    policy: Policy,
    /// RPCs a role binding can open to someone whose token role does not, and the decision
    /// point that knows the bindings.
    scoped: Option<(ScopedPolicy, Access)>,
}

/// What the door decided from the token alone.
enum Admission {
    Admitted(Principal),
    /// The token's roles do not open the RPC; a binding giving this permission somewhere would.
    IfBound(Principal, Permission, Status),
}

impl<S> Authorize<S> {
    pub fn new(inner: S, verifier: TokenVerifier, policy: Policy) -> Self {
        Self {
            inner,
            verifier,
            policy,
            scoped: None,
        }
    }

    /// Also admits, to the RPCs `scoped` names, a principal holding a binding with that RPC's
    /// permission on some scope; the use case then decides on the resource itself.
    pub fn with_bindings(mut self, scoped: ScopedPolicy, access: Access) -> Self {
        self.scoped = Some((scoped, access));
        self
    }

    #[cfg(test)]
    /// The caller, when their token lets them call the RPC named by `path` (`/pkg.Service/Method`).
    fn admit(&self, headers: &http::HeaderMap, path: &str) -> Result<Principal, Status> {
        match self.admit_by_token(headers, path)? {
            Admission::Admitted(principal) => Ok(principal),
            Admission::IfBound(_, _, refusal) => Err(refusal),
        }
    }

    fn admit_by_token(&self, headers: &http::HeaderMap, path: &str) -> Result<Admission, Status> {
        let principal = self.verified(headers)?;
        self.admit_principal(principal, headers, path)
    }

    /// The bearer token's principal (a service naming the tenant it acts for).
    fn verified(&self, headers: &http::HeaderMap) -> Result<Principal, Status> {
        let header = headers
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
        if let Some(tenant) = headers.get(TENANT_HEADER) {
            if !principal.has_role(Role::Service) {
                return Err(Status::permission_denied(format!(
                    "only a service identity may send {TENANT_HEADER}"
                )));
            }
            principal.tenant_id = tenant
                .to_str()
                .ok()
                .and_then(|t| TenantId::parse(t).ok())
                .ok_or_else(|| {
                    Status::invalid_argument(format!("{TENANT_HEADER} must hold a tenant id"))
                })?;
        }
        Ok(principal)
    }

    /// Applies the RPC's role policy to `principal`.
    fn admit_principal(
        &self,
        mut principal: Principal,
        headers: &http::HeaderMap,
        path: &str,
    ) -> Result<Admission, Status> {
        tracing::Span::current().record("enduser.id", principal.subject.as_str());
        let method = path.rsplit('/').next().unwrap_or_default();
        let roles = self
            .policy
            .iter()
            .find(|(name, _)| *name == method)
            .map(|(_, roles)| *roles)
            .ok_or_else(|| Status::permission_denied(format!("no role may call {method}")))?;
        principal.call = super::Call {
            rpc: path.trim_start_matches('/').to_string(),
            request_id: request_id(headers),
        };
        if let Err(refusal) = principal.require_any(roles) {
            let permission = self.scoped.as_ref().and_then(|(scoped, _)| {
                scoped
                    .iter()
                    .find(|(name, _)| *name == method)
                    .map(|(_, permission)| *permission)
            });
            return match permission {
                Some(permission) => Ok(Admission::IfBound(principal, permission, refusal.into())),
                None => Err(refusal.into()),
            };
        }
        Ok(Admission::Admitted(principal))
    }
}

/// The caller's `x-request-id`, when it is a plausible one (printable, at most 200 bytes):
/// an audit entry keeps it.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| id.len() <= 200 && id.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or_default()
        .to_string()
}

/// Checks that `policy` names exactly the RPCs of `service` (`lms.pathway.v1.PathwayService`)
/// in the suite's descriptors: what each service's tests assert, so an RPC added to a proto
/// gets a policy line in the same change.
pub fn check_policy(policy: Policy, service: &str) -> Result<(), String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(lms_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| e.to_string())?;
    let (package, name) = service
        .rsplit_once('.')
        .ok_or("a fully qualified service name")?;
    let methods: Vec<String> = set
        .file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| file.service.iter())
        .filter(|s| s.name() == name)
        .flat_map(|s| s.method.iter().map(|m| m.name().to_string()))
        .collect();
    if methods.is_empty() {
        return Err(format!("no service {service}"));
    }
    let named: Vec<&str> = policy.iter().map(|(method, _)| *method).collect();
    let missing: Vec<&String> = methods
        .iter()
        .filter(|m| !named.contains(&m.as_str()))
        .collect();
    let unknown: Vec<&&str> = named
        .iter()
        .filter(|n| !methods.iter().any(|m| m == **n))
        .collect();
    let mut sorted = named.clone();
    sorted.sort();
    sorted.dedup();
    if !missing.is_empty() || !unknown.is_empty() || sorted.len() != named.len() {
        return Err(format!(
            "{service}: RPCs without a policy {missing:?}, policies of no RPC {unknown:?}, or a duplicate line"
        ));
    }
    Ok(())
}

impl<S: NamedService> NamedService for Authorize<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, RB> Service<http::Request<B>> for Authorize<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<
        Either<S::Future, Ready<Result<S::Response, S::Error>>>,
        BoxFuture<'static, Result<S::Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // A principal a layer of this service established before this one (records-service's
        // LRS clients, by their own credentials) is taken as it is: a remote caller can send
        // headers, never extensions. The role policy applies to it all the same.
        let admission = match request.extensions_mut().remove::<Principal>() {
            Some(established) => {
                self.admit_principal(established, request.headers(), request.uri().path())
            }
            None => self.admit_by_token(request.headers(), request.uri().path()),
        };
        match admission {
            Ok(Admission::Admitted(principal)) => {
                request.extensions_mut().insert(principal);
                Either::Left(Either::Left(self.inner.call(request)))
            }
            Err(status) => Either::Left(Either::Right(ready(Ok(status.into_http())))),
            Ok(Admission::IfBound(principal, permission, refusal)) => {
                let access = match &self.scoped {
                    Some((_, access)) => access.clone(),
                    None => return Either::Left(Either::Right(ready(Ok(refusal.into_http())))),
                };
                // The ready service goes with the call; a fresh clone waits for the next.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Either::Right(Box::pin(async move {
                    match access.bound_anywhere(&principal, permission).await {
                        Ok(true) => {
                            request.extensions_mut().insert(principal);
                            inner.call(request).await
                        }
                        Ok(false) => Ok(refusal.into_http()),
                        Err(error) => Ok(Status::from(error).into_http()),
                    }
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = &[
        ("Read", &[Role::Learner, Role::Admin]),
        ("Write", &[Role::Admin]),
    ];

    async fn authorize() -> (Authorize<()>, crate::config::AuthConfig) {
        let config = crate::config::AuthConfig {
            hs256_secret: "0123456789abcdef0123456789abcdef".into(),
            tenant_claim: "tenant".into(),
            roles_claim: "roles".into(),
            ..Default::default()
        };
        let verifier = TokenVerifier::from_config(&config).await.unwrap();
        (Authorize::new((), verifier, POLICY), config)
    }

    fn headers(token: &str) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        headers
    }

    fn token(config: &crate::config::AuthConfig, role: Role) -> String {
        super::super::mint_hs256(
            &config.hs256_secret,
            "someone",
            "acme",
            &[role],
            std::time::Duration::from_secs(60),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn each_rpc_admits_only_its_roles() {
        let (authorize, config) = authorize().await;
        let learner = headers(&token(&config, Role::Learner));
        assert!(authorize.admit(&learner, "/x.v1.S/Read").is_ok());
        let refused = authorize.admit(&learner, "/x.v1.S/Write").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        let admin = headers(&token(&config, Role::Admin));
        assert!(authorize.admit(&admin, "/x.v1.S/Write").is_ok());
    }

    #[tokio::test]
    async fn an_rpc_without_a_policy_is_closed() {
        let (authorize, config) = authorize().await;
        let admin = headers(&token(&config, Role::Admin));
        let refused = authorize.admit(&admin, "/x.v1.S/Forgotten").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    }

    #[tokio::test]
    async fn no_token_is_unauthenticated() {
        let (authorize, _) = authorize().await;
        let refused = authorize
            .admit(&http::HeaderMap::new(), "/x.v1.S/Read")
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    }

    /// A directory in which "someone" administers the category "sales".
    struct OneBinding;

    impl crate::access::Directory for OneBinding {
        fn grants(
            &self,
            _tenant: TenantId,
            subject: String,
        ) -> BoxFuture<'static, crate::AppResult<Vec<crate::access::Grant>>> {
            use crate::access::{Grant, Scope, ScopedRole};
            let grants = if subject == "someone" {
                vec![Grant {
                    role: ScopedRole::Admin,
                    scope: Scope::Category("sales".into()),
                }]
            } else {
                Vec::new()
            };
            Box::pin(async move { Ok(grants) })
        }

        fn groups_holding(
            &self,
            _tenant: TenantId,
            _person: String,
            _groups: Vec<crate::access::Scope>,
        ) -> BoxFuture<'static, crate::AppResult<Vec<crate::access::Scope>>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    /// The gRPC status the door answered, or None when the call reached the service.
    async fn door(config: &crate::config::AuthConfig, role: Role, scoped: bool) -> Option<String> {
        use tower::ServiceExt;
        const SCOPED: ScopedPolicy = &[("Write", Permission::Administer)];
        let verifier = TokenVerifier::from_config(config).await.unwrap();
        let inner = tower::service_fn(|_request: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        });
        let mut authorize = Authorize::new(inner, verifier, POLICY);
        if scoped {
            let access = Access::new(std::sync::Arc::new(OneBinding), std::time::Duration::ZERO);
            authorize = authorize.with_bindings(SCOPED, access);
        }
        let mut request = http::Request::new(());
        *request.uri_mut() = "/x.v1.S/Write".parse().unwrap();
        *request.headers_mut() = headers(&token(config, role));
        let response = authorize.oneshot(request).await.unwrap();
        response
            .headers()
            .get("grpc-status")
            .map(|status| status.to_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn a_binding_opens_a_scoped_rpc_to_its_holder_only() {
        let (_, config) = authorize().await;
        // "someone" holds an admin binding: a learner token is let through to the use case.
        assert_eq!(door(&config, Role::Learner, true).await, None);
        // Without the service's scoped list, the token alone decides.
        assert_eq!(
            door(&config, Role::Learner, false).await.as_deref(),
            Some("7")
        );
        // A service identity never enters through a binding, whatever the directory says.
        assert_eq!(
            door(&config, Role::Service, true).await.as_deref(),
            Some("7")
        );
        // The token role still opens it without asking.
        assert_eq!(door(&config, Role::Admin, true).await, None);
    }
}
