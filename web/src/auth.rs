//! Signing in and out: OpenID Connect (authorisation code with PKCE) and, under `lms up`
//! only, the development sign-in. A session begins only with a token the suite's own
//! verifier accepts, and lasts no longer than that token.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use lms_platform::Role;
use serde::Deserialize;

use crate::Portal;
use crate::pages::Visitor;
use crate::session::{self, Session, SignIn};

/// How long a sign-in may take at the identity provider.
const SIGN_IN_SECONDS: i64 = 600;

#[derive(Deserialize, Default)]
pub struct ReturnTo {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    signed_out: Option<String>,
}

/// Only a path of this portal: never another site (an open redirect), never `//host`.
fn local_path(path: &str) -> String {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(char::is_control);
    if local { path.to_string() } else { "/".into() }
}

pub async fn sign_in_page(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(query): Query<ReturnTo>,
) -> Response {
    let visitor = portal.visitor(&headers);
    sign_in_form(&portal, &visitor, &query, StatusCode::OK, None)
}

fn sign_in_form(
    portal: &Portal,
    visitor: &Visitor,
    query: &ReturnTo,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    portal.page_with_status(
        visitor,
        status,
        "signin.html",
        serde_json::json!({
            "return_to": local_path(&query.return_to),
            "return_query": form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", &local_path(&query.return_to))
                .finish(),
            "oidc": portal.oidc.is_some(),
            "dev": portal.dev.is_some(),
            "signed_out": query.signed_out.is_some(),
            "error": error,
        }),
    )
}

/// Leaves for the identity provider, remembering (sealed, in a short-lived cookie) what the
/// callback must find: state, nonce, PKCE verifier and where to return.
pub async fn start_oidc(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(query): Query<ReturnTo>,
) -> Response {
    let visitor = portal.visitor(&headers);
    let Some(oidc) = &portal.oidc else {
        return portal.not_found(&visitor);
    };
    let sign_in = SignIn {
        state: portal.sealer.random_token(),
        nonce: portal.sealer.random_token(),
        pkce_verifier: portal.sealer.random_token(),
        return_to: local_path(&query.return_to),
        expires: chrono::Utc::now().timestamp() + SIGN_IN_SECONDS,
    };
    let url = match oidc
        .authorize_url(&sign_in.state, &sign_in.nonce, &sign_in.pkce_verifier)
        .await
    {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "the identity provider cannot be reached");
            return portal.error_page(
                &visitor,
                StatusCode::BAD_GATEWAY,
                "error.idp_unavailable",
                String::new(),
            );
        }
    };
    let names = session::cookie_names(portal.secure);
    // Lax: the provider's redirect back is a top-level navigation from its site.
    let cookie = session::set_cookie(
        names.sign_in,
        &portal.sealer.seal("sign-in", &sign_in),
        SIGN_IN_SECONDS,
        "Lax",
        portal.secure,
    );
    let mut response = Redirect::to(&url).into_response();
    append_cookie(&mut response, &cookie);
    response
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The identity provider sends the browser back here with a code (or an error).
pub async fn callback(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Query(callback): Query<Callback>,
) -> Response {
    let visitor = portal.visitor(&headers);
    let names = session::cookie_names(portal.secure);
    let pending = session::cookie(&headers, names.sign_in)
        .and_then(|sealed| portal.sealer.open::<SignIn>("sign-in", sealed))
        .filter(|s| s.expires > chrono::Utc::now().timestamp());
    let refuse = |detail: String| {
        let query = ReturnTo::default();
        let mut response = sign_in_form(
            &portal,
            &visitor,
            &query,
            StatusCode::BAD_REQUEST,
            Some(detail),
        );
        append_cookie(
            &mut response,
            &session::set_cookie(names.sign_in, "", 0, "Lax", portal.secure),
        );
        response
    };
    let (Some(oidc), Some(pending)) = (&portal.oidc, pending) else {
        return refuse(
            "no sign-in was in progress, or it took too long; please start again".into(),
        );
    };
    if let Some(error) = callback.error {
        return refuse(format!(
            "the identity provider refused: {}",
            callback.error_description.unwrap_or(error)
        ));
    }
    let state_matches = callback
        .state
        .as_deref()
        .is_some_and(|s| session::same_secret(s, &pending.state));
    let (Some(code), true) = (callback.code, state_matches) else {
        return refuse("the answer from the identity provider does not match this sign-in".into());
    };
    let tokens = match oidc
        .exchange(&code, &pending.pkce_verifier, &pending.nonce)
        .await
    {
        Ok(tokens) => tokens,
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "an OIDC sign-in failed");
            return refuse(format!("{error:#}"));
        }
    };
    match start_session(
        &portal,
        tokens.access_token,
        tokens.name,
        &pending.return_to,
    )
    .await
    {
        Ok(mut response) => {
            append_cookie(
                &mut response,
                &session::set_cookie(names.sign_in, "", 0, "Lax", portal.secure),
            );
            response
        }
        Err(why) => refuse(why),
    }
}

#[derive(Deserialize)]
pub struct DevForm {
    csrf: String,
    tenant: String,
    person: String,
    role: String,
    #[serde(default)]
    return_to: String,
}

/// `lms up`'s development sign-in: a token for any tenant and person, signed with the
/// development secret. Without development mode the route answers 404.
pub async fn dev_sign_in(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Form(form): Form<DevForm>,
) -> Response {
    let visitor = portal.visitor(&headers);
    let Some(dev) = &portal.dev else {
        return portal.not_found(&visitor);
    };
    if !session::same_secret(&visitor.csrf, &form.csrf) {
        return portal.error_page(&visitor, StatusCode::FORBIDDEN, "error.csrf", "".into());
    }
    let query = ReturnTo {
        return_to: form.return_to.clone(),
        signed_out: None,
    };
    let role = match form.role.as_str() {
        "learner" => vec![Role::Learner],
        "instructor" => vec![Role::Learner, Role::Instructor],
        "admin" => vec![Role::Learner, Role::Admin],
        _ => {
            return sign_in_form(
                &portal,
                &visitor,
                &query,
                StatusCode::BAD_REQUEST,
                Some("role: choose learner, instructor or admin".into()),
            );
        }
    };
    let person = form.person.trim();
    if person.is_empty() || person.len() > 128 {
        return sign_in_form(
            &portal,
            &visitor,
            &query,
            StatusCode::BAD_REQUEST,
            Some("person: give the person's id in the directory (1–128 characters)".into()),
        );
    }
    let token = match lms_platform::auth::mint_hs256(
        &dev.hs256_secret,
        person,
        form.tenant.trim(),
        &role,
        portal.session_ttl,
    ) {
        Ok(token) => token,
        Err(error) => {
            return sign_in_form(
                &portal,
                &visitor,
                &query,
                StatusCode::BAD_REQUEST,
                Some(format!("tenant: {error}")),
            );
        }
    };
    match start_session(&portal, token, None, &form.return_to).await {
        Ok(response) => response,
        Err(why) => sign_in_form(
            &portal,
            &visitor,
            &query,
            StatusCode::BAD_REQUEST,
            Some(why),
        ),
    }
}

/// A session for `token`, once the suite's verifier accepts it; then on to `return_to`.
async fn start_session(
    portal: &Portal,
    token: String,
    name: Option<String>,
    return_to: &str,
) -> Result<Response, String> {
    let principal = portal
        .verifier
        .verify(&token)
        .map_err(|e| format!("the suite does not accept this sign-in's token: {e}"))?;
    let now = chrono::Utc::now().timestamp();
    // The token was verified just above, so its `exp` is there and in the future.
    let token_expires = lms_platform::auth::unverified_claims(&token)
        .and_then(|claims| claims["exp"].as_i64())
        .unwrap_or(now);
    let expires = token_expires.min(now + portal.session_ttl.as_secs() as i64);
    // Whether anyone reports to them, as the directory says now (for the "My team" link).
    let manager = portal
        .api
        .get(Some(&token), "/v1/team?pageSize=1")
        .await
        .is_ok_and(|team| team["members"].as_array().is_some_and(|m| !m.is_empty()));
    let session = Session {
        manager,
        name: name.unwrap_or_else(|| principal.subject.clone()),
        subject: principal.subject,
        tenant: principal.tenant_id.to_string(),
        roles: principal
            .roles
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        token,
        expires,
    };
    let names = session::cookie_names(portal.secure);
    let cookie = session::set_cookie(
        names.session,
        &portal.sealer.seal("session", &session),
        (expires - now).max(0),
        "Lax",
        portal.secure,
    );
    let mut response = Redirect::to(&local_path(return_to)).into_response();
    append_cookie(&mut response, &cookie);
    Ok(response)
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

/// Ends the session here (the identity provider's own session is its to end).
pub async fn sign_out(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> Response {
    let visitor = portal.visitor(&headers);
    if !session::same_secret(&visitor.csrf, &form.csrf) {
        return portal.error_page(&visitor, StatusCode::FORBIDDEN, "error.csrf", "".into());
    }
    let names = session::cookie_names(portal.secure);
    let mut response = Redirect::to("/signin?signed_out=1").into_response();
    append_cookie(
        &mut response,
        &session::set_cookie(names.session, "", 0, "Lax", portal.secure),
    );
    response
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response
            .headers_mut()
            .append(http::header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/pathways/1?x=2"), "/pathways/1?x=2");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
