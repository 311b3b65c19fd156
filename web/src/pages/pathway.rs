//! A pathway as the learner takes it: every step with its state and, where it cannot be taken
//! now, the reason in words; the actions of the steps that can (open and mark content done,
//! acknowledge a policy, start an assessment, submit evidence, book a session).

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Portal;
use crate::api::segment;
use crate::i18n;
use crate::pages::Visitor;

pub async fn show(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(pathway_id): Path<String>,
) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    render(&portal, &visitor, &uri, &pathway_id, Problem::default()).await
}

/// A form that was refused, shown again on the page with what was typed.
#[derive(Default)]
pub struct Problem {
    pub step_id: String,
    pub message: String,
    pub description: String,
    pub url: String,
    pub status: Option<StatusCode>,
}

pub async fn render(
    portal: &Portal,
    visitor: &Visitor,
    uri: &Uri,
    pathway_id: &str,
    problem: Problem,
) -> Response {
    let Some(id) = segment(pathway_id) else {
        return portal.not_found(visitor);
    };
    let mine = match portal
        .api
        .get(Some(visitor.token()), &format!("/v1/portal/pathways/{id}"))
        .await
    {
        Ok(mine) => mine,
        Err(error) => return portal.api_failure(visitor, uri, error),
    };
    let progress = &mine["progress"];
    let defined = mine["version"]["pathway"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let titles: Vec<(String, String)> = progress["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["stepId"].as_str().unwrap_or_default().to_string(),
                s["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let steps: Vec<Value> = progress["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| {
            let id = step["stepId"].as_str().unwrap_or_default();
            let definition = defined
                .iter()
                .find(|d| d["id"] == id)
                .cloned()
                .unwrap_or(Value::Null);
            json!({
                "progress": step,
                "definition": definition,
                "reason": reason_in_words(visitor.locale, step, &titles),
            })
        })
        .collect();
    let context = serde_json::json!({
        "progress": progress,
        "pathway": &mine["version"]["pathway"],
        "steps": steps,
        "notice": super::notice(uri.query()),
        "problem": serde_json::json!({
            "step_id": problem.step_id,
            "message": problem.message,
            "description": problem.description,
            "url": problem.url,
        }),
    });
    portal.page_with_status(
        visitor,
        problem.status.unwrap_or(StatusCode::OK),
        "pathway.html",
        context,
    )
}

/// Why a step cannot simply be taken, in the reader's language. The API words it in English
/// (naming steps by their titles); other languages word it from the reason's code, except a
/// reviewer's own words, which are shown as written.
fn reason_in_words(locale: &str, step: &Value, titles: &[(String, String)]) -> String {
    let reason = step["reason"].as_str().unwrap_or_default();
    let english = step["reasonText"].as_str().unwrap_or_default().to_string();
    if locale == i18n::LOCALES[0] || reason.is_empty() || reason == "RESUBMIT_EVIDENCE" {
        return english;
    }
    let steps: Vec<String> = step["unlockedBy"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|id| {
            titles
                .iter()
                .find(|(step_id, _)| step_id == id)
                .map(|(_, title)| format!("« {title} »"))
                .unwrap_or_default()
        })
        .collect();
    let steps = match steps.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!(
            "{}{}{last}",
            rest.join(", "),
            i18n::text(locale, "list.and", &[])
        ),
        _ => steps.join(""),
    };
    let key = format!("reason.{reason}");
    let text = i18n::text(locale, &key, &[("steps", steps)]);
    if text == key { english } else { text }
}

#[derive(Deserialize)]
pub struct StepForm {
    csrf: String,
    enrolment_id: String,
    #[serde(default)]
    acknowledged: Option<String>,
    #[serde(default)]
    kind: String,
}

/// Marks a content step done, or acknowledges a policy (which needs the box ticked).
pub async fn complete_step(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path((pathway_id, step_id)): Path<(String, String)>,
    Form(form): Form<StepForm>,
) -> Response {
    let back = format!("/pathways/{}", segment(&pathway_id).unwrap_or_default());
    let visitor = match portal.form_sender(&headers, &form.csrf, &back) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let (Some(enrolment), Some(step)) = (segment(&form.enrolment_id), segment(&step_id)) else {
        return portal.not_found(&visitor);
    };
    if form.kind == "acknowledgement" && form.acknowledged.as_deref() != Some("yes") {
        let problem = Problem {
            step_id: step_id.clone(),
            message: i18n::text(visitor.locale, "pathway.tick_to_acknowledge", &[]),
            status: Some(StatusCode::UNPROCESSABLE_ENTITY),
            ..Problem::default()
        };
        return render(&portal, &visitor, &uri, &pathway_id, problem).await;
    }
    let body = json!({ "stepId": step, "kind": "STEP_COMPLETED" });
    let path = format!("/v1/progress/{enrolment}:recordActivity");
    match portal
        .submit(&visitor, &path, &body, &back, "step_done")
        .await
    {
        Ok(response) => response,
        Err(error) => {
            let problem = Problem {
                step_id,
                message: error.message,
                status: Some(error.status),
                ..Problem::default()
            };
            render(&portal, &visitor, &uri, &pathway_id, problem).await
        }
    }
}

#[derive(Deserialize)]
pub struct LaunchForm {
    csrf: String,
    enrolment_id: String,
}

/// Launches cmi5 content: the browser goes on to the AU's launch URL (cmi5 8.1: a redirect of
/// the current window suits either launch method), and the AU sends the learner back here.
pub async fn launch_step(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path((pathway_id, step_id)): Path<(String, String)>,
    Form(form): Form<LaunchForm>,
) -> Response {
    let back = format!("/pathways/{}", segment(&pathway_id).unwrap_or_default());
    let visitor = match portal.form_sender(&headers, &form.csrf, &back) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let (Some(enrolment), Some(step)) = (segment(&form.enrolment_id), segment(&step_id)) else {
        return portal.not_found(&visitor);
    };
    let path = format!("/v1/enrolments/{enrolment}/steps/{step}:launch");
    let body = json!({ "returnUrl": format!("{}{back}", portal.public_url) });
    match portal.api.post(visitor.token(), &path, &body).await {
        Ok(launch) => match launch["launchUrl"].as_str() {
            Some(url) => Redirect::to(url).into_response(),
            None => portal.not_found(&visitor),
        },
        Err(error) if error.is_unauthenticated() => portal.to_sign_in(&back),
        Err(error) => {
            let problem = Problem {
                step_id,
                message: error.message,
                status: Some(error.status),
                ..Problem::default()
            };
            render(&portal, &visitor, &uri, &pathway_id, problem).await
        }
    }
}

#[derive(Deserialize)]
pub struct EvidenceForm {
    csrf: String,
    enrolment_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    url: String,
}

/// Evidence for an external step; refused evidence comes back with what was typed.
pub async fn submit_evidence(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path((pathway_id, step_id)): Path<(String, String)>,
    Form(form): Form<EvidenceForm>,
) -> Response {
    let back = format!("/pathways/{}", segment(&pathway_id).unwrap_or_default());
    let visitor = match portal.form_sender(&headers, &form.csrf, &back) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let (Some(enrolment), Some(step)) = (segment(&form.enrolment_id), segment(&step_id)) else {
        return portal.not_found(&visitor);
    };
    let body = json!({
        "stepId": step,
        "description": form.description.trim(),
        "url": form.url.trim(),
    });
    let path = format!("/v1/progress/{enrolment}:submitEvidence");
    match portal
        .submit(&visitor, &path, &body, &back, "evidence_sent")
        .await
    {
        Ok(response) => response,
        Err(error) => {
            let detail = error
                .violations
                .iter()
                .map(|(field, why)| format!("{field}: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            let problem = Problem {
                step_id,
                message: if detail.is_empty() {
                    error.message
                } else {
                    detail
                },
                description: form.description,
                url: form.url,
                status: Some(error.status),
            };
            render(&portal, &visitor, &uri, &pathway_id, problem).await
        }
    }
}
