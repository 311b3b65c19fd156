//! Pages from templates: MiniJinja with HTML auto-escaping, the templates compiled into the
//! binary, words from the locale catalogues (`t("key", name=value)`), dates in the reader's
//! language; and the headers every portal response carries.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use http::{HeaderValue, StatusCode};
use minijinja::value::Kwargs;
use minijinja::{Environment, State, Value};

use crate::i18n;

/// Every template, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("learning.html", include_str!("../templates/learning.html")),
    ("pathway.html", include_str!("../templates/pathway.html")),
    ("attempt.html", include_str!("../templates/attempt.html")),
    ("sessions.html", include_str!("../templates/sessions.html")),
    (
        "transcript.html",
        include_str!("../templates/transcript.html"),
    ),
    (
        "certificates.html",
        include_str!("../templates/certificates.html"),
    ),
    (
        "certificate.html",
        include_str!("../templates/certificate.html"),
    ),
    ("inbox.html", include_str!("../templates/inbox.html")),
    (
        "catalogue.html",
        include_str!("../templates/catalogue.html"),
    ),
    ("team.html", include_str!("../templates/team.html")),
    ("verify.html", include_str!("../templates/verify.html")),
    ("signin.html", include_str!("../templates/signin.html")),
    ("error.html", include_str!("../templates/error.html")),
];

pub struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub fn new() -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| anyhow::anyhow!("template {name}: {e}"))?;
        }
        env.add_function("t", translate);
        env.add_filter("date", |state: &State, value: Value| {
            format_time(state, value, false)
        });
        env.add_filter("datetime", |state: &State, value: Value| {
            format_time(state, value, true)
        });
        env.add_filter("whole", |value: f64| format!("{}", value.round() as i64));
        // Points and scores: 2 rather than 2.0, 1.5 as it is.
        env.add_filter("num", |value: f64| {
            if value.fract() == 0.0 {
                format!("{}", value as i64)
            } else {
                format!("{value:.2}").trim_end_matches('0').to_string()
            }
        });
        Ok(Self { env })
    }

    /// `name` rendered with `context`, answered with `status`.
    pub fn render(&self, status: StatusCode, name: &str, context: Value) -> Response {
        let rendered = self
            .env
            .get_template(name)
            .and_then(|template| template.render(context));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(error) => {
                tracing::error!(template = name, error = %error, "a portal page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html("<!doctype html><title>Error</title><p>This page could not be shown."),
                )
                    .into_response()
            }
        }
    }
}

/// `t("key", name=value, ...)`: the text of `key` in the page's locale.
fn translate(state: &State, key: &str, args: Kwargs) -> Result<String, minijinja::Error> {
    let locale = locale_of(state);
    let mut values = Vec::new();
    for name in args.args() {
        let value: Value = args.get(name)?;
        values.push((name, value.to_string()));
    }
    Ok(i18n::text(&locale, key, &values))
}

fn locale_of(state: &State) -> String {
    state
        .lookup("locale")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| i18n::LOCALES[0].to_string())
}

/// An RFC 3339 time (as the API gives it) as `27 Nov 2026` or `27 Nov 2026, 14:05 UTC`, the
/// month in the page's language; anything else as it came.
fn format_time(state: &State, value: Value, with_time: bool) -> String {
    let Some(text) = value.as_str() else {
        return String::new();
    };
    let Ok(time) = DateTime::parse_from_rfc3339(text) else {
        return text.to_string();
    };
    let time = time.with_timezone(&Utc);
    let locale = locale_of(state);
    let month = i18n::text(&locale, &format!("month.{}", time.month()), &[]);
    let day = format!("{} {month} {}", time.day(), time.year());
    if with_time {
        format!("{day}, {} UTC", time.format("%H:%M"))
    } else {
        day
    }
}

/// Headers on every portal response: a content security policy that admits only the
/// portal's own scripts and styles, no framing, no MIME sniffing, no referrer leaving the
/// site, and no caching of pages holding personal data.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let html = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
        headers.insert(
            http::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        );
    }
    if !is_asset {
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
    }
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_file_is_compiled_in() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        for entry in std::fs::read_dir(folder).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().to_string();
            assert!(
                super::TEMPLATES.iter().any(|(known, _)| *known == name),
                "templates/{name} is not in TEMPLATES"
            );
        }
        super::Pages::new().expect("every template parses");
    }
}
