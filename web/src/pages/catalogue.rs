//! The catalogue: pathways the learner may join by themselves, and joining one.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;
use serde_json::json;

use crate::Portal;
use crate::api::segment;
use crate::pages::{Visitor, see_other};

pub async fn list(State(portal): State<Arc<Portal>>, headers: HeaderMap, uri: Uri) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    render(&portal, &visitor, &uri, None, StatusCode::OK).await
}

async fn render(
    portal: &Portal,
    visitor: &Visitor,
    uri: &Uri,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    match portal
        .api
        .get(Some(visitor.token()), "/v1/portal/catalogue")
        .await
    {
        Ok(catalogue) => portal.page_with_status(
            visitor,
            status,
            "catalogue.html",
            serde_json::json!({ "entries": &catalogue["entries"], "error": error }),
        ),
        Err(error) => portal.api_failure(visitor, uri, error),
    }
}

#[derive(Deserialize)]
pub struct JoinForm {
    csrf: String,
}

pub async fn join(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(pathway_id): Path<String>,
    Form(form): Form<JoinForm>,
) -> Response {
    let visitor = match portal.form_sender(&headers, &form.csrf, "/catalogue") {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let Some(pathway) = segment(&pathway_id) else {
        return portal.not_found(&visitor);
    };
    let body = json!({ "pathwayId": pathway });
    match portal
        .api
        .post(visitor.token(), "/v1/enrolments:self", &body)
        .await
    {
        Ok(_) => {
            wait_until_visible(&portal, &visitor, pathway).await;
            see_other(&format!("/pathways/{pathway}"), "joined")
        }
        Err(error) if error.is_unauthenticated() => portal.to_sign_in("/catalogue"),
        Err(error) => render(&portal, &visitor, &uri, Some(error.message), error.status).await,
    }
}

/// The new enrolment reaches the learner's progress by an event, a moment after it is made:
/// the page it leads to waits for it (a few seconds at most) rather than saying "not found".
async fn wait_until_visible(portal: &Portal, visitor: &Visitor, pathway: &str) {
    let path = format!("/v1/portal/pathways/{pathway}");
    for _ in 0..50 {
        if portal.api.get(Some(visitor.token()), &path).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
