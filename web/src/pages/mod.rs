//! The pages, one module per screen, and what every page does: find out who is asking (or
//! send them to sign in and back), check the form's CSRF token, and turn an API failure into
//! words on the page.

pub mod attempt;
pub mod catalogue;
pub mod inbox;
pub mod learning;
pub mod pathway;
pub mod records;
pub mod sessions;
pub mod team;
pub mod verify;

use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde::Serialize;
use serde_json::Value;

use crate::Portal;
use crate::api::ApiError;
use crate::i18n;
use crate::session::{self, Session};

/// Who is asking, in which language, with which CSRF token.
pub struct Visitor {
    pub locale: &'static str,
    pub csrf: String,
    /// The CSRF cookie to set: the visitor had none yet.
    new_csrf: bool,
    pub session: Option<Session>,
}

impl Visitor {
    /// The signed-in person's token (pages that need one have checked there is a session).
    pub fn token(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.token.as_str())
    }
}

/// What a template sees of the person signed in.
#[derive(Serialize)]
struct User<'a> {
    name: &'a str,
    tenant: &'a str,
    instructor: bool,
    manager: bool,
}

impl Portal {
    /// The visitor, signed in or not.
    pub fn visitor(&self, headers: &HeaderMap) -> Visitor {
        let names = session::cookie_names(self.secure);
        let locale = i18n::negotiate(
            headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        let (csrf, new_csrf) = match session::cookie(headers, names.csrf) {
            Some(token) if token.len() >= 32 => (token.to_string(), false),
            _ => (self.sealer.random_token(), true),
        };
        let session = session::cookie(headers, names.session)
            .and_then(|sealed| self.sealer.open::<Session>("session", sealed))
            .filter(Session::is_current);
        Visitor {
            locale,
            csrf,
            new_csrf,
            session,
        }
    }

    /// The signed-in visitor, or the way to sign in and come back to `uri`.
    pub fn signed_in(&self, headers: &HeaderMap, uri: &Uri) -> Result<Visitor, Box<Response>> {
        let visitor = self.visitor(headers);
        if visitor.session.is_some() {
            Ok(visitor)
        } else {
            Err(Box::new(self.to_sign_in(
                uri.path_and_query().map_or("/", |p| p.as_str()),
            )))
        }
    }

    /// A signed-in visitor whose form carries their CSRF token; else the refusal (or the
    /// way to sign in, returning to `back`).
    pub fn form_sender(
        &self,
        headers: &HeaderMap,
        csrf: &str,
        back: &str,
    ) -> Result<Visitor, Box<Response>> {
        let visitor = self.visitor(headers);
        if !visitor.new_csrf && session::same_secret(&visitor.csrf, csrf) {
            if visitor.session.is_some() {
                return Ok(visitor);
            }
            return Err(Box::new(self.to_sign_in(back)));
        }
        Err(Box::new(self.error_page(
            &visitor,
            StatusCode::FORBIDDEN,
            "error.csrf",
            String::new(),
        )))
    }

    /// A page showing one API answer: for the signed-in visitor, GET `api_path` and render
    /// `template` with the answer's `field` as `name` (and any notice the page was sent).
    pub async fn api_page(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        api_path: &str,
        template: &str,
        (field, name): (&str, &str),
    ) -> Response {
        let visitor = match self.signed_in(headers, uri) {
            Ok(visitor) => visitor,
            Err(response) => return *response,
        };
        match self.api.get(Some(visitor.token()), api_path).await {
            Ok(answer) => {
                let mut context = serde_json::Map::new();
                context.insert(name.to_string(), answer[field].clone());
                context.insert("notice".into(), notice(uri.query()).into());
                self.page(&visitor, template, Value::Object(context))
            }
            Err(error) => self.api_failure(&visitor, uri, error),
        }
    }

    /// Off to sign in, then back to `return_to`.
    pub fn to_sign_in(&self, return_to: &str) -> Response {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish();
        Redirect::to(&format!("/signin?{query}")).into_response()
    }

    /// `template` for `visitor`, with `context` and the page's common values.
    pub fn page(&self, visitor: &Visitor, template: &str, context: Value) -> Response {
        self.page_with_status(visitor, StatusCode::OK, template, context)
    }

    pub fn page_with_status(
        &self,
        visitor: &Visitor,
        status: StatusCode,
        template: &str,
        context: Value,
    ) -> Response {
        let user = visitor.session.as_ref().map(|s| User {
            name: &s.name,
            tenant: &s.tenant,
            instructor: s.roles.iter().any(|r| r == "instructor" || r == "admin"),
            manager: s.manager,
        });
        let common = serde_json::json!({
            "locale": visitor.locale,
            "csrf": &visitor.csrf,
            "user": user,
        });
        let mut context = context;
        if let (Some(page), Value::Object(common)) = (context.as_object_mut(), common) {
            page.extend(common);
        }
        let mut response = self.pages.render(
            status,
            template,
            minijinja::Value::from(minijinja::value::Serde(&context)),
        );
        self.with_csrf_cookie(visitor, &mut response);
        response
    }

    pub fn with_csrf_cookie(&self, visitor: &Visitor, response: &mut Response) {
        if visitor.new_csrf {
            let names = session::cookie_names(self.secure);
            let cookie = session::set_cookie(
                names.csrf,
                &visitor.csrf,
                60 * 60 * 24,
                "Strict",
                self.secure,
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response
                    .headers_mut()
                    .append(http::header::SET_COOKIE, value);
            }
        }
    }

    /// An error in words: `key` from the catalogue, then `detail` (the suite's own message).
    pub fn error_page(
        &self,
        visitor: &Visitor,
        status: StatusCode,
        key: &str,
        detail: String,
    ) -> Response {
        self.page_with_status(
            visitor,
            status,
            "error.html",
            serde_json::json!({ "message_key": key, "detail": detail, "status": status.as_u16() }),
        )
    }

    /// The page for a path or id that names nothing.
    pub fn not_found(&self, visitor: &Visitor) -> Response {
        self.error_page(
            visitor,
            StatusCode::NOT_FOUND,
            "error.not_found",
            String::new(),
        )
    }

    /// A form's change sent to the API: on success, on to `back` with `notice`; a token no
    /// longer accepted, off to sign in and back; a refusal is the caller's to show with the form.
    pub async fn submit(
        &self,
        visitor: &Visitor,
        api_path: &str,
        body: &Value,
        back: &str,
        notice: &str,
    ) -> Result<Response, ApiError> {
        match self.api.post(visitor.token(), api_path, body).await {
            Ok(_) => Ok(see_other(back, notice)),
            Err(error) if error.is_unauthenticated() => Ok(self.to_sign_in(back)),
            Err(error) => Err(error),
        }
    }

    /// What a page shows when the API refused: sign in again when the token is no longer
    /// good, else the refusal in words.
    pub fn api_failure(&self, visitor: &Visitor, uri: &Uri, error: ApiError) -> Response {
        if error.is_unauthenticated() {
            return self.to_sign_in(uri.path_and_query().map_or("/", |p| p.as_str()));
        }
        let key = match error.status {
            StatusCode::NOT_FOUND => "error.not_found",
            StatusCode::FORBIDDEN => "error.forbidden",
            StatusCode::TOO_MANY_REQUESTS => "error.busy",
            s if s.is_server_error() => "error.unavailable",
            _ => "error.refused",
        };
        let status = if error.status.is_server_error() {
            StatusCode::BAD_GATEWAY
        } else {
            error.status
        };
        self.error_page(visitor, status, key, error.message)
    }
}

/// The page to show after a form was handled: `path` with a notice for the reader.
pub fn see_other(path: &str, notice: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}notice={notice}")).into_response()
}

/// A notice a page was sent (`?notice=`), when it is one the catalogue has words for.
pub fn notice(query: Option<&str>) -> Option<String> {
    let value = query
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "notice"))
        .map(|(_, v)| v.into_owned())?;
    value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_')
        .then(|| format!("notice.{value}"))
}
