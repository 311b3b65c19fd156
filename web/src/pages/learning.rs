//! My learning: everything the learner is enrolled on, mandatory first, overdue and due dates
//! marked, with progress.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, Uri};
use serde_json::Value;

use crate::Portal;

pub async fn my_learning(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let learning = match portal
        .api
        .get(Some(visitor.token()), "/v1/portal/learning")
        .await
    {
        Ok(learning) => learning,
        Err(error) => return portal.api_failure(&visitor, &uri, error),
    };
    let items = learning["items"].as_array().cloned().unwrap_or_default();
    // The API orders by urgency (overdue, then due date); mandatory items come first here,
    // each group keeping that order.
    let (mandatory, other): (Vec<Value>, Vec<Value>) = items
        .into_iter()
        .partition(|item| item["requirement"] == "MANDATORY");
    portal.page(
        &visitor,
        "learning.html",
        serde_json::json!({
            "mandatory": mandatory,
            "other": other,
            "counts": serde_json::json!({
                "overdue": learning["overdue"].as_i64().unwrap_or(0),
                "in_progress": learning["inProgress"].as_i64().unwrap_or(0),
                "not_started": learning["notStarted"].as_i64().unwrap_or(0),
                "completed": learning["completed"].as_i64().unwrap_or(0),
            }),
            "unread": learning["unreadNotifications"].as_i64(),
            "notice": super::notice(uri.query()),
        }),
    )
}
