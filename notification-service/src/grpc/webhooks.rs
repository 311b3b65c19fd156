//! `lms.notification.v1.WebhookService`: handlers check the request's shape and convert; the
//! use cases decide.

use lms_platform::AppError;
use lms_platform::auth::principal;
use lms_platform::field_mask::update_paths;
use lms_platform::resource::{etag, timestamp};
use lms_platform::validate::Violations;
use lms_proto::notification_v1 as pb;
use tonic::{Request, Response, Status};

use crate::app::{DeliveryView, NotificationApp, WebhookChange, WebhookView};

pub struct WebhookGrpc {
    app: NotificationApp,
}

impl WebhookGrpc {
    pub fn new(app: NotificationApp) -> Self {
        Self { app }
    }
}

/// The fields an update may change.
const UPDATABLE: &[&str] = &["url", "event_types", "description", "state"];

fn webhook(view: WebhookView) -> pb::Webhook {
    let state = if view.active {
        pb::WebhookState::Active
    } else {
        pb::WebhookState::Disabled
    };
    pb::Webhook {
        id: view.id,
        url: view.url,
        event_types: view.event_types,
        description: view.description,
        state: state as i32,
        disabled_reason: view.disabled_reason,
        previous_secret_expire_time: view.previous_secret_until.map(timestamp),
        last_success_time: view.last_success_at.map(timestamp),
        created_by: view.created_by,
        create_time: Some(timestamp(view.created_at)),
        update_time: Some(timestamp(view.updated_at)),
        etag: etag(view.revision),
    }
}

fn delivery(view: DeliveryView) -> pb::WebhookDelivery {
    let state = match view.state.as_str() {
        "pending" => pb::DeliveryState::Pending,
        "succeeded" => pb::DeliveryState::Succeeded,
        _ => pb::DeliveryState::Failed,
    };
    pb::WebhookDelivery {
        id: view.id,
        webhook_id: view.webhook_id,
        event_id: view.event_id,
        event_type: view.event_type,
        subject: view.subject,
        state: state as i32,
        attempts: view.attempts,
        last_status_code: view.last_status,
        last_latency_ms: view.last_latency_ms,
        last_error: view.last_error,
        create_time: Some(timestamp(view.created_at)),
        last_attempt_time: view.last_attempt_at.map(timestamp),
        next_attempt_time: view.next_attempt_at.map(timestamp),
    }
}

/// A webhook's state as a request gives it: Some(active), or INVALID_ARGUMENT.
fn active(field: &str, state: i32) -> Result<bool, AppError> {
    match pb::WebhookState::try_from(state) {
        Ok(pb::WebhookState::Active) => Ok(true),
        Ok(pb::WebhookState::Disabled) => Ok(false),
        _ => Err(AppError::invalid_field(
            field,
            "WEBHOOK_STATE_ACTIVE or WEBHOOK_STATE_DISABLED",
        )),
    }
}

fn id(field: &str, value: &str) -> Result<(), Status> {
    let mut v = Violations::new();
    v.id(field, value);
    Ok(v.finish()?)
}

#[tonic::async_trait]
impl pb::webhook_service_server::WebhookService for WebhookGrpc {
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::CreateWebhookResponse>, Status> {
        let who = principal(&request)?;
        let Some(given) = request.into_inner().webhook else {
            return Err(AppError::invalid_field("webhook", "required").into());
        };
        let change = WebhookChange {
            url: Some(given.url).filter(|url| !url.is_empty()),
            event_types: Some(given.event_types).filter(|types| !types.is_empty()),
            description: Some(given.description),
            active: match given.state {
                0 => None,
                state => Some(active("webhook.state", state)?),
            },
        };
        let (view, secret) = self.app.create_webhook(&who, change).await?;
        Ok(Response::new(pb::CreateWebhookResponse {
            webhook: Some(webhook(view)),
            secret,
        }))
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Result<Response<pb::Webhook>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        id("id", &req.id)?;
        Ok(Response::new(webhook(
            self.app.webhook(&who, &req.id).await?,
        )))
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let page = self
            .app
            .webhooks(&who, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: page.items.into_iter().map(webhook).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Result<Response<pb::Webhook>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let Some(given) = req.webhook else {
            return Err(AppError::invalid_field("webhook", "required").into());
        };
        id("webhook.id", &given.id)?;
        let paths = update_paths(req.update_mask.as_ref(), &given, UPDATABLE)?;
        let mut change = WebhookChange::default();
        for path in &paths {
            match path.as_str() {
                "url" => change.url = Some(given.url.clone()),
                "event_types" => change.event_types = Some(given.event_types.clone()),
                "description" => change.description = Some(given.description.clone()),
                _ => change.active = Some(active("webhook.state", given.state)?),
            }
        }
        let view = self
            .app
            .update_webhook(&who, &given.id, &given.etag, change)
            .await?;
        Ok(Response::new(webhook(view)))
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        id("id", &req.id)?;
        self.app.delete_webhook(&who, &req.id, &req.etag).await?;
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Result<Response<pb::RotateWebhookSecretResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        id("id", &req.id)?;
        let (view, secret) = self
            .app
            .rotate_webhook_secret(&who, &req.id, req.overlap_seconds)
            .await?;
        Ok(Response::new(pb::RotateWebhookSecretResponse {
            webhook: Some(webhook(view)),
            secret,
        }))
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        id("webhook_id", &req.webhook_id)?;
        let state = match pb::DeliveryState::try_from(req.state) {
            Ok(pb::DeliveryState::Unspecified) => None,
            Ok(pb::DeliveryState::Pending) => Some("pending"),
            Ok(pb::DeliveryState::Succeeded) => Some("succeeded"),
            Ok(pb::DeliveryState::Failed) => Some("failed"),
            Err(_) => {
                return Err(AppError::invalid_field("state", "name a delivery state").into());
            }
        };
        let page = self
            .app
            .webhook_deliveries(&who, &req.webhook_id, state, req.page_size, &req.page_token)
            .await?;
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries: page.items.into_iter().map(delivery).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn redeliver_webhook_delivery(
        &self,
        request: Request<pb::RedeliverWebhookDeliveryRequest>,
    ) -> Result<Response<pb::WebhookDelivery>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("webhook_id", &req.webhook_id);
        v.id("id", &req.id);
        v.finish()?;
        let view = self.app.redeliver(&who, &req.webhook_id, &req.id).await?;
        Ok(Response::new(delivery(view)))
    }
}
