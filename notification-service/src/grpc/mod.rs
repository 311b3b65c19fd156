//! `lms.notification.v1.NotificationService`: handlers check the request's shape and convert;
//! the use cases decide.

pub mod convert;
pub mod events;
pub mod policy;
pub mod webhooks;

use lms_platform::auth::principal;
use lms_platform::field_mask::update_paths;
use lms_platform::validate::Violations;
use lms_proto::notification_v1 as pb;
use tonic::{Request, Response, Status};

use crate::app::NotificationApp;
use crate::domain::template::Text;

/// The most ids one MarkNotificationsRead names.
const MAX_IDS: usize = 500;

pub struct NotificationGrpc {
    app: NotificationApp,
}

impl NotificationGrpc {
    pub fn new(app: NotificationApp) -> Self {
        Self { app }
    }
}

fn locale(v: &mut Violations, field: &str, value: &str, required: bool) {
    if value.is_empty() {
        if required {
            v.add(field, "required: a language tag such as en or de-CH");
        }
    } else if !convert::valid_locale(value) {
        v.add(field, "a language tag such as en or de-CH");
    }
}

#[tonic::async_trait]
impl pb::notification_service_server::NotificationService for NotificationGrpc {
    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let page = self
            .app
            .inbox(&who, req.unread_only, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page.items.into_iter().map(convert::notification).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn get_unread_count(
        &self,
        request: Request<pb::GetUnreadCountRequest>,
    ) -> Result<Response<pb::GetUnreadCountResponse>, Status> {
        let who = principal(&request)?;
        let unread = self.app.unread_count(&who).await?;
        Ok(Response::new(pb::GetUnreadCountResponse {
            unread: i32::try_from(unread).unwrap_or(i32::MAX),
        }))
    }

    async fn mark_notifications_read(
        &self,
        request: Request<pb::MarkNotificationsReadRequest>,
    ) -> Result<Response<pb::MarkNotificationsReadResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        if req.ids.is_empty() && !req.all {
            v.add("ids", "name the notifications to mark read, or set all");
        }
        if !req.ids.is_empty() && req.all {
            v.add("all", "either name notifications or set all, not both");
        }
        if req.ids.len() > MAX_IDS {
            v.add("ids", format!("at most {MAX_IDS} a call"));
        }
        for (i, id) in req.ids.iter().enumerate().take(MAX_IDS) {
            v.id(&format!("ids[{i}]"), id);
        }
        v.finish()?;
        let ids = (!req.all).then_some(req.ids);
        let marked = self.app.mark_read(&who, ids).await?;
        Ok(Response::new(pb::MarkNotificationsReadResponse {
            marked: marked as i32,
        }))
    }

    async fn get_notification_preferences(
        &self,
        request: Request<pb::GetNotificationPreferencesRequest>,
    ) -> Result<Response<pb::NotificationPreferences>, Status> {
        let who = principal(&request)?;
        let preferences = self.app.preferences(&who).await?;
        Ok(Response::new(convert::preferences(preferences)))
    }

    async fn update_notification_preferences(
        &self,
        request: Request<pb::UpdateNotificationPreferencesRequest>,
    ) -> Result<Response<pb::NotificationPreferences>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let Some(preferences) = req.preferences else {
            return Err(lms_platform::AppError::invalid_field("preferences", "required").into());
        };
        let paths = update_paths(req.update_mask.as_ref(), &preferences, &["muted", "digest"])?;
        let muted = if paths.iter().any(|p| p == "muted") {
            let mut kinds = Vec::new();
            for (i, value) in preferences.muted.iter().enumerate() {
                let kind = convert::kind_from_pb(&format!("preferences.muted[{i}]"), *value)?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            Some(kinds)
        } else {
            None
        };
        let digest = paths
            .iter()
            .any(|p| p == "digest")
            .then_some(preferences.digest);
        let saved = self.app.update_preferences(&who, muted, digest).await?;
        Ok(Response::new(convert::preferences(saved)))
    }

    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        let who = principal(&request)?;
        let templates = self.app.templates(&who).await?;
        Ok(Response::new(pb::ListTemplatesResponse {
            templates: templates.into_iter().map(convert::template).collect(),
        }))
    }

    async fn set_template(
        &self,
        request: Request<pb::SetTemplateRequest>,
    ) -> Result<Response<pb::Template>, Status> {
        let who = principal(&request)?;
        let Some(template) = request.into_inner().template else {
            return Err(lms_platform::AppError::invalid_field("template", "required").into());
        };
        let kind = convert::kind_from_pb("template.kind", template.kind)?;
        let mut v = Violations::new();
        locale(&mut v, "template.locale", &template.locale, true);
        v.finish()?;
        let text = Text {
            subject: template.subject,
            body: template.body,
        };
        let saved = self
            .app
            .set_template(&who, kind, template.locale, text)
            .await?;
        Ok(Response::new(convert::template(saved)))
    }

    async fn delete_template(
        &self,
        request: Request<pb::DeleteTemplateRequest>,
    ) -> Result<Response<pb::DeleteTemplateResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind = convert::kind_from_pb("kind", req.kind)?;
        let mut v = Violations::new();
        locale(&mut v, "locale", &req.locale, true);
        v.finish()?;
        self.app.delete_template(&who, kind, req.locale).await?;
        Ok(Response::new(pb::DeleteTemplateResponse {}))
    }

    async fn preview_template(
        &self,
        request: Request<pb::PreviewTemplateRequest>,
    ) -> Result<Response<pb::PreviewTemplateResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind = convert::kind_from_pb("kind", req.kind)?;
        let mut v = Violations::new();
        locale(&mut v, "locale", &req.locale, false);
        if let Some(template) = &req.template {
            // A template's own kind and locale may be left out; given, they must agree.
            if template.kind != 0 && convert::kind_from_pb("template.kind", template.kind)? != kind
            {
                v.add("template.kind", "must be the request's kind (or left out)");
            }
            if !template.locale.is_empty() && template.locale != req.locale {
                v.add(
                    "template.locale",
                    "must be the request's locale (or left out)",
                );
            }
        }
        v.finish()?;
        let text = req.template.map(|t| Text {
            subject: t.subject,
            body: t.body,
        });
        let locale = if req.locale.is_empty() {
            "en"
        } else {
            &req.locale
        };
        let rendered = self.app.preview(&who, kind, locale, text).await?;
        Ok(Response::new(pb::PreviewTemplateResponse {
            subject: rendered.subject,
            body: rendered.body,
        }))
    }
}
