//! The reference Learning Portal: what a learner and a certificate checker use in a browser.
//!
//! Server-rendered HTML (MiniJinja templates compiled into the binary) with progressive
//! enhancement: every flow works without JavaScript; a few lines of script add the attempt's
//! countdown and save answers as they change. The pages are a client of the suite like any
//! other frontend: each one calls the gateway's public REST and portal API with the signed-in
//! person's own token (in process, through the same edge layers a remote client passes), never
//! a service directly. Sign-in is OpenID Connect (authorisation code with PKCE); the session
//! is a sealed cookie, so any gateway replica serves any request. `docs/portal.md` describes
//! the pages.

mod api;
mod assets;
mod auth;
mod i18n;
mod oidc;
mod pages;
mod render;
mod session;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use lms_platform::auth::TokenVerifier;
use serde::Deserialize;

pub use session::SESSION_KEY_BYTES;

/// `[web]`: this component's defaults (documented in `docs/configuration.md`).
pub const DEFAULTS: &str = r#"
[web]
enabled = true
public_url = ""
oidc_issuer = ""
oidc_client_id = ""
oidc_client_secret_file = ""
oidc_scopes = "openid profile"
oidc_resource = ""
session_key_file = ""
session_hours = 8
dev_sign_in = false
"#;

/// `[web]`: the Learning Portal the gateway serves at `/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Serve the portal at all (false: the gateway answers only its API).
    pub enabled: bool,
    /// The address browsers use (`https://learn.example.com`): the OIDC redirect address
    /// is built from it, and an `https` address makes the cookies `Secure`. Empty: the
    /// gateway's own `http://` listen address (development).
    pub public_url: String,
    /// The OpenID Connect issuer people sign in with (its discovery document is read from
    /// `<issuer>/.well-known/openid-configuration`). Empty: no OIDC sign-in.
    pub oidc_issuer: String,
    pub oidc_client_id: String,
    /// A file holding the client secret (confidential clients); empty for a public client,
    /// which PKCE alone protects.
    pub oidc_client_secret_file: String,
    pub oidc_scopes: String,
    /// The resource indicator (RFC 8707) asked for, so the access token is for the suite
    /// (the audience `auth.audience` expects); empty: none asked.
    pub oidc_resource: String,
    /// A file holding the key that seals session cookies (at least 32 bytes). Every gateway
    /// replica needs the same one. Empty under `lms up`: one is generated in the data
    /// directory.
    pub session_key_file: String,
    /// The longest a session lasts, whatever the token's own lifetime.
    pub session_hours: u64,
    /// The development sign-in (pick a tenant and a person, no password). Only `lms up` may
    /// turn it on; `lms serve` refuses to start with it.
    pub dev_sign_in: bool,
}

impl Default for Settings {
    fn default() -> Self {
        lms_platform::config::from_defaults::<Section>(DEFAULTS)
            .map(|s| s.web)
            .unwrap_or_else(|_| unreachable!("the built-in defaults parse"))
    }
}

#[derive(Deserialize)]
struct Section {
    web: Settings,
}

/// What the development sign-in needs: the secret development tokens are signed with.
#[derive(Clone)]
pub struct DevSignIn {
    pub hs256_secret: String,
}

/// Everything a page handler reaches.
struct Portal {
    api: api::Api,
    pages: render::Pages,
    sealer: session::Sealer,
    oidc: Option<oidc::Oidc>,
    verifier: TokenVerifier,
    dev: Option<DevSignIn>,
    /// Cookies carry `Secure` and the `__Host-` prefix (public address on https).
    secure: bool,
    /// The address browsers use, for links that leave the browser (a printed certificate).
    public_url: String,
    session_ttl: Duration,
}

/// The gateway's whole application with the portal's pages in front of `api` (which answers
/// every path the portal does not).
pub fn router(
    settings: &Settings,
    listen: std::net::SocketAddr,
    session_key: Vec<u8>,
    verifier: TokenVerifier,
    dev: Option<DevSignIn>,
    api: Router,
) -> anyhow::Result<Router> {
    if !settings.enabled {
        return Ok(api);
    }
    let public_url = if settings.public_url.is_empty() {
        format!("http://{listen}")
    } else {
        settings.public_url.trim_end_matches('/').to_string()
    };
    let parsed = url::Url::parse(&public_url).context("web.public_url is not a URL")?;
    let secure = parsed.scheme() == "https";
    let oidc = if settings.oidc_issuer.is_empty() {
        None
    } else {
        Some(oidc::Oidc::new(settings, &public_url)?)
    };
    if oidc.is_none() && dev.is_none() {
        tracing::warn!(
            "the Learning Portal is not served: no sign-in is configured (web.oidc_issuer)"
        );
        return Ok(api);
    }
    let portal = Arc::new(Portal {
        api: api::Api::new(api.clone()),
        pages: render::Pages::new()?,
        sealer: session::Sealer::new(&session_key)?,
        oidc,
        verifier,
        dev,
        secure,
        public_url,
        session_ttl: Duration::from_secs(settings.session_hours.clamp(1, 24 * 7) * 3600),
    });
    let pages = Router::new()
        .route("/", get(pages::learning::my_learning))
        .route("/pathways/{pathway_id}", get(pages::pathway::show))
        .route(
            "/pathways/{pathway_id}/steps/{step_id}/complete",
            post(pages::pathway::complete_step),
        )
        .route(
            "/pathways/{pathway_id}/steps/{step_id}/launch",
            post(pages::pathway::launch_step),
        )
        .route(
            "/pathways/{pathway_id}/steps/{step_id}/evidence",
            post(pages::pathway::submit_evidence),
        )
        .route(
            "/assessments/{assessment_id}/attempts",
            post(pages::attempt::start),
        )
        .route(
            "/attempts/{attempt_id}",
            get(pages::attempt::show).post(pages::attempt::save),
        )
        .route("/sessions", get(pages::sessions::list))
        .route("/sessions/{session_id}/book", post(pages::sessions::book))
        .route(
            "/bookings/{booking_id}/cancel",
            post(pages::sessions::cancel),
        )
        .route("/transcript", get(pages::records::transcript))
        .route("/transcript.csv", get(pages::records::transcript_csv))
        .route("/certificates", get(pages::records::certificates))
        .route(
            "/certificates/{certification_id}",
            get(pages::records::certificate),
        )
        .route("/team", get(pages::team::my_team))
        .route("/notifications", get(pages::inbox::list))
        .route("/notifications/read", post(pages::inbox::mark_read))
        .route("/catalogue", get(pages::catalogue::list))
        .route("/catalogue/{pathway_id}/join", post(pages::catalogue::join))
        .route("/verify", get(pages::verify::verify))
        .route("/signin", get(auth::sign_in_page))
        .route("/auth/oidc", get(auth::start_oidc))
        .route("/auth/callback", get(auth::callback))
        .route("/auth/dev", post(auth::dev_sign_in))
        .route("/signout", post(auth::sign_out))
        .route("/static/{file}", get(assets::serve))
        .with_state(portal)
        .layer(axum::middleware::from_fn(render::security_headers));
    Ok(pages.fallback_service(api))
}

/// Reads the key that seals session cookies from `path`.
pub fn read_session_key(path: &str) -> anyhow::Result<Vec<u8>> {
    let key = std::fs::read(PathBuf::from(path))
        .with_context(|| format!("reading web.session_key_file {path}"))?;
    let key = String::from_utf8_lossy(&key).trim().as_bytes().to_vec();
    anyhow::ensure!(
        key.len() >= SESSION_KEY_BYTES,
        "web.session_key_file {path} holds fewer than {SESSION_KEY_BYTES} bytes"
    );
    Ok(key)
}
