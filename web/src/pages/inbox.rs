//! The notification inbox: newest first, unread marked, all marked read in one go.

use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, Uri};
use serde::Deserialize;
use serde_json::json;

use crate::Portal;
use crate::pages::see_other;

pub async fn list(State(portal): State<Arc<Portal>>, headers: HeaderMap, uri: Uri) -> Response {
    let shown = ("notifications", "notifications");
    portal
        .api_page(
            &headers,
            &uri,
            "/v1/notifications?pageSize=50",
            "inbox.html",
            shown,
        )
        .await
}

#[derive(Deserialize)]
pub struct ReadForm {
    csrf: String,
}

pub async fn mark_read(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<ReadForm>,
) -> Response {
    let visitor = match portal.form_sender(&headers, &form.csrf, "/notifications") {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    match portal
        .api
        .post(
            visitor.token(),
            "/v1/notifications:markRead",
            &json!({ "all": true }),
        )
        .await
    {
        Ok(_) => see_other("/notifications", "all_read"),
        Err(error) => portal.api_failure(&visitor, &uri, error),
    }
}
