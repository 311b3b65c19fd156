//! A tenant's templates: the shipped defaults, the tenant's own per kind and locale (checked
//! before they are saved), and previews.

use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, audit};

use super::NotificationApp;
use crate::domain::kind::Kind;
use crate::domain::template::{self, Text};
use crate::storage::templates::{self as stored, Stored};

/// A template in force or on offer.
#[derive(Debug, Clone)]
pub struct TemplateView {
    pub kind: Kind,
    pub locale: String,
    pub text: Text,
    pub shipped: bool,
    pub updated_at: Option<chrono::NaiveDateTime>,
}

impl NotificationApp {
    /// Every kind's shipped template, then the tenant's own.
    pub async fn templates(&self, who: &Principal) -> AppResult<Vec<TemplateView>> {
        let tenant = who.tenant_id.clone();
        let own = self.db.read(move |conn| stored::all(conn, &tenant)).await?;
        let mut all: Vec<TemplateView> = Kind::ALL
            .iter()
            .map(|kind| TemplateView {
                kind: *kind,
                locale: "en".into(),
                text: template::shipped(*kind),
                shipped: true,
                updated_at: None,
            })
            .collect();
        all.extend(own.into_iter().filter_map(|s| {
            Some(TemplateView {
                kind: Kind::parse(&s.kind)?,
                locale: s.locale,
                text: Text {
                    subject: s.subject,
                    body: s.body,
                },
                shipped: false,
                updated_at: Some(s.updated_at),
            })
        }));
        Ok(all)
    }

    /// Saves the tenant's template for `kind` and `locale` once it passes the checks.
    pub async fn set_template(
        &self,
        who: &Principal,
        kind: Kind,
        locale: String,
        text: Text,
    ) -> AppResult<TemplateView> {
        refuse_problems(kind, &text)?;
        let row = Stored {
            tenant_id: who.tenant_id.to_string(),
            kind: kind.as_str().to_string(),
            locale: locale.clone(),
            subject: text.subject.clone(),
            body: text.body.clone(),
            updated_at: now(),
            updated_by: who.subject.clone(),
        };
        let updated_at = row.updated_at;
        let who = who.clone();
        self.db
            .write(move |conn| {
                let before = stored::all(conn, &who.tenant_id)?
                    .into_iter()
                    .find(|t| t.kind == row.kind && t.locale == row.locale);
                stored::save(conn, &row)?;
                let resource = format!("templates/{}/{}", row.kind, row.locale);
                let text = |t: &Stored| serde_json::json!({ "subject": t.subject, "body": t.body });
                let change = match before {
                    Some(before) => audit::Change::updated(resource, &text(&before), &text(&row))?,
                    None => audit::Change::created(resource, &text(&row))?,
                };
                audit::record(conn, &who, change)
            })
            .await?;
        Ok(TemplateView {
            kind,
            locale,
            text,
            shipped: false,
            updated_at: Some(updated_at),
        })
    }

    /// Removes the tenant's template: NOT_FOUND when it has none for that kind and locale.
    pub async fn delete_template(
        &self,
        who: &Principal,
        kind: Kind,
        locale: String,
    ) -> AppResult<()> {
        let tenant = who.tenant_id.clone();
        let key = format!("{} template for {locale}", kind.as_str());
        let who = who.clone();
        let deleted = self
            .db
            .write(move |conn| {
                let before = stored::all(conn, &tenant)?
                    .into_iter()
                    .find(|t| t.kind == kind.as_str() && t.locale == locale);
                let deleted = stored::delete(conn, &tenant, kind.as_str(), &locale)?;
                if let (true, Some(before)) = (deleted, before) {
                    let resource = format!("templates/{}/{locale}", kind.as_str());
                    let text =
                        serde_json::json!({ "subject": before.subject, "body": before.body });
                    audit::record(conn, &who, audit::Change::deleted(resource, &text)?)?;
                }
                Ok(deleted)
            })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(AppError::NotFound(format!(
                "no {key} (the shipped one applies)"
            )))
        }
    }

    /// Renders `text` (or the template in force for `locale`) with example values.
    pub async fn preview(
        &self,
        who: &Principal,
        kind: Kind,
        locale: &str,
        text: Option<Text>,
    ) -> AppResult<Text> {
        let text = match text {
            Some(text) => {
                refuse_problems(kind, &text)?;
                text
            }
            None => {
                self.template_for(who.tenant_id.as_str(), kind, locale)
                    .await?
            }
        };
        let values = template::example_values(kind, &self.config.portal_url);
        template::render(&text, &values).map_err(|why| AppError::invalid_field("template", why))
    }
}

/// INVALID_ARGUMENT with one violation per problem (`template.subject`, `template.body`).
fn refuse_problems(kind: Kind, text: &Text) -> AppResult<()> {
    let problems = template::check(kind, text);
    if problems.is_empty() {
        return Ok(());
    }
    let mut v = lms_platform::validate::Violations::new();
    for problem in problems {
        v.add(format!("template.{}", problem.field), problem.description);
    }
    v.finish()
}
