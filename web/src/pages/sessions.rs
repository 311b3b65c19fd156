//! Training sessions: my bookings (with waitlist places) and the sessions I can book now.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

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
    let token = Some(visitor.token());
    let (sessions, learning) = tokio::join!(
        portal.api.get(token, "/v1/portal/sessions"),
        portal.api.get(token, "/v1/portal/learning"),
    );
    let (sessions, learning) = match (sessions, learning) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(error), _) | (_, Err(error)) => return portal.api_failure(visitor, uri, error),
    };
    // A session is booked on the learner's active enrolment in its pathway.
    let bookable: Vec<Value> = sessions["bookable"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|session| {
            let enrolment = learning["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|item| item["pathwayId"] == session["pathwayId"] && item["active"] == true)
                .map(|item| item["enrolmentId"].clone())
                .unwrap_or(Value::Null);
            json!({ "session": session, "enrolment_id": enrolment })
        })
        .collect();
    portal.page_with_status(
        visitor,
        status,
        "sessions.html",
        serde_json::json!({
            "bookings": &sessions["bookings"],
            "bookable": bookable,
            "error": error,
            "notice": super::notice(uri.query()),
        }),
    )
}

#[derive(Deserialize)]
pub struct BookForm {
    csrf: String,
    enrolment_id: String,
}

pub async fn book(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(session_id): Path<String>,
    Form(form): Form<BookForm>,
) -> Response {
    let visitor = match portal.form_sender(&headers, &form.csrf, "/sessions") {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let (Some(session), Some(enrolment)) = (segment(&session_id), segment(&form.enrolment_id))
    else {
        return portal.not_found(&visitor);
    };
    let path = format!("/v1/sessions/{session}/bookings");
    let body = json!({ "enrolmentId": enrolment });
    match portal.api.post(visitor.token(), &path, &body).await {
        Ok(booking) if booking["state"] == "WAITLISTED" => see_other("/sessions", "waitlisted"),
        Ok(_) => see_other("/sessions", "booked"),
        Err(error) if error.is_unauthenticated() => portal.to_sign_in("/sessions"),
        Err(error) => render(&portal, &visitor, &uri, Some(error.message), error.status).await,
    }
}

#[derive(Deserialize)]
pub struct CancelForm {
    csrf: String,
}

pub async fn cancel(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(booking_id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Response {
    let visitor = match portal.form_sender(&headers, &form.csrf, "/sessions") {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let Some(booking) = segment(&booking_id) else {
        return portal.not_found(&visitor);
    };
    let path = format!("/v1/bookings/{booking}:cancel");
    let body = json!({});
    match portal
        .submit(&visitor, &path, &body, "/sessions", "booking_cancelled")
        .await
    {
        Ok(response) => response,
        Err(error) => render(&portal, &visitor, &uri, Some(error.message), error.status).await,
    }
}
