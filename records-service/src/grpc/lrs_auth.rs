//! LRS clients at the door of `LearningRecordStoreService`: a request carrying HTTP Basic
//! credentials (`key:secret`, as xAPI content sends them) is checked against the tenant's LRS
//! clients and their scopes — or, for a `cmi5_` key, against the cmi5 launch session it
//! names — and goes on as that client's principal; the service's role policy
//! then applies as to any caller. Every other request (a bearer token) passes untouched.

use std::task::{Context, Poll};

use base64::Engine;
use futures::future::BoxFuture;
use lms_platform::auth::Call;
use tonic::Status;
use tower::{Layer, Service};

use crate::app::RecordsApp;
use crate::app::cmi5::SESSION_KEY;
use crate::app::xapi_clients::Scope;

#[derive(Clone)]
pub struct LrsClientsLayer {
    app: RecordsApp,
}

impl LrsClientsLayer {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

impl<S> Layer<S> for LrsClientsLayer {
    type Service = LrsClients<S>;

    fn layer(&self, inner: S) -> LrsClients<S> {
        LrsClients {
            inner,
            app: self.app.clone(),
        }
    }
}

#[derive(Clone)]
pub struct LrsClients<S> {
    inner: S,
    app: RecordsApp,
}

/// `key` and `secret` from `Basic base64(key:secret)`.
fn basic(headers: &http::HeaderMap) -> Option<Result<(String, String), Status>> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or(value.strip_prefix("basic "))?;
    let malformed = || Status::unauthenticated("authorization: Basic must hold base64(key:secret)");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    Some(
        decoded
            .and_then(|text| {
                let (key, secret) = text.split_once(':')?;
                Some((key.to_string(), secret.to_string()))
            })
            .ok_or_else(malformed),
    )
}

/// What the RPC needs of a client; None for an RPC no LRS client may call.
fn scope(path: &str) -> Option<Scope> {
    match path.rsplit('/').next()? {
        "StoreStatements" | "StoreStatementsStream" | "WriteDocument" | "DeleteDocuments" => {
            Some(Scope::Write)
        }
        "GetStatement"
        | "GetStatementStream"
        | "QueryStatements"
        | "QueryStatementsStream"
        | "GetDocument"
        | "ListDocumentIds"
        | "GetActivity"
        | "GetPerson" => Some(Scope::Read),
        _ => None,
    }
}

impl<S, B> Service<http::Request<B>> for LrsClients<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The ready service goes with the call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(credentials) = basic(request.headers()) else {
            return Box::pin(inner.call(request));
        };
        let app = self.app.clone();
        Box::pin(async move {
            let path = request.uri().path().to_string();
            let (key, secret) = match credentials {
                Ok(credentials) => credentials,
                Err(status) => return Ok(status.into_http()),
            };
            let Some(needs) = scope(&path) else {
                return Ok(Status::permission_denied(
                    "LRS clients only store and read statements and documents",
                )
                .into_http());
            };
            let call = Call {
                rpc: path.trim_start_matches('/').to_string(),
                request_id: String::new(),
            };
            // A cmi5 launch's credential (from its fetch URL) may read and write while its
            // session is open; what its content may do there is cmi5's (app::cmi5).
            let authenticated = match key.strip_prefix(SESSION_KEY) {
                Some(session) => {
                    app.authenticate_cmi5_session(session.to_string(), secret, call)
                        .await
                }
                None => app.authenticate_lrs_client(key, secret, needs, call).await,
            };
            match authenticated {
                Ok(principal) => {
                    request.headers_mut().remove("authorization");
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(error) => Ok(Status::from(error).into_http()),
            }
        })
    }
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for LrsClients<S> {
    const NAME: &'static str = S::NAME;
}
