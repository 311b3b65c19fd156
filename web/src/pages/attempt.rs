//! Taking an assessment: start (or resume) an attempt, answer with the time left shown (the
//! server's deadline), answers saved with every "Save" — and, with JavaScript, as they change —
//! then submit and see the result as the assessment's feedback policy allows.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};

use crate::Portal;
use crate::api::segment;
use crate::i18n;
use crate::pages::pathway::{Problem, render as render_pathway};
use crate::pages::see_other;

/// The form's fields, in order (a multiple choice repeats its name).
fn fields(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn start(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(assessment_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let pathway_id = segment(field(&form, "pathway_id"))
        .unwrap_or_default()
        .to_string();
    let back = format!("/pathways/{pathway_id}");
    let visitor = match portal.form_sender(&headers, field(&form, "csrf"), &back) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let Some(assessment) = segment(&assessment_id) else {
        return portal.not_found(&visitor);
    };
    let path = format!("/v1/assessments/{assessment}/attempts");
    match portal.api.post(visitor.token(), &path, &json!({})).await {
        Ok(attempt) => {
            let id = attempt["id"].as_str().unwrap_or_default();
            see_other(
                &format!("/attempts/{id}?pathway={pathway_id}"),
                "attempt_open",
            )
        }
        Err(error) if error.is_unauthenticated() => portal.to_sign_in(&back),
        Err(error) => {
            let problem = Problem {
                step_id: field(&form, "step_id").to_string(),
                message: error.message,
                status: Some(error.status),
                ..Problem::default()
            };
            render_pathway(&portal, &visitor, &uri, &pathway_id, problem).await
        }
    }
}

pub async fn show(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(attempt_id): Path<String>,
) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let Some(id) = segment(&attempt_id) else {
        return portal.not_found(&visitor);
    };
    let attempt = match portal
        .api
        .get(Some(visitor.token()), &format!("/v1/attempts/{id}"))
        .await
    {
        Ok(attempt) => attempt,
        Err(error) => return portal.api_failure(&visitor, &uri, error),
    };
    let pathway_id = uri
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "pathway"))
        .and_then(|(_, v)| segment(&v).map(str::to_string))
        .unwrap_or_default();
    attempt_page(
        &portal,
        &visitor,
        &uri,
        attempt,
        &pathway_id,
        None,
        StatusCode::OK,
    )
}

fn attempt_page(
    portal: &Portal,
    visitor: &super::Visitor,
    uri: &Uri,
    attempt: Value,
    pathway_id: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let saved = saved_answers(&attempt);
    let seconds_left = attempt["deadline"]
        .as_str()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map(|d| (d.timestamp() - chrono::Utc::now().timestamp()).max(0));
    let results: BTreeMap<String, Value> = attempt["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["questionId"].as_str().unwrap_or_default().to_string(),
                r.clone(),
            )
        })
        .collect();
    portal.page_with_status(
        visitor,
        status,
        "attempt.html",
        serde_json::json!({
            "attempt": attempt,
            "saved": saved,
            "results": results,
            "seconds_left": seconds_left,
            "clock": seconds_left.map(|s| format!("{}:{:02}", s / 60, s % 60)),
            "pathway_id": pathway_id,
            "error": error,
            "notice": super::notice(uri.query()),
        }),
    )
}

/// What the learner saved, per question, in the form the template fills its fields from.
fn saved_answers(attempt: &Value) -> BTreeMap<String, Value> {
    attempt["answers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let answer = &a["answer"];
            let positions: BTreeMap<String, usize> = answer["order"]["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, id)| id.as_str().map(|id| (id.to_string(), i + 1)))
                .collect();
            let saved = json!({
                "ids": answer["choices"]["ids"],
                "true_false": answer["trueFalse"].as_bool().map(|b| b.to_string()),
                "text": answer["text"].as_str().map(str::to_string)
                    .or_else(|| answer["number"].as_f64().map(|n| n.to_string())),
                "pairs": answer["matches"]["pairs"],
                "positions": positions,
            });
            (
                a["questionId"].as_str().unwrap_or_default().to_string(),
                saved,
            )
        })
        .collect()
}

/// The answers in the form, as the API takes them; a number that is not one is refused here
/// with the question's title (`strict`), or kept as the text typed (to show the form again).
fn answers(
    attempt: &Value,
    form: &[(String, String)],
    locale: &str,
    strict: bool,
) -> Result<Vec<Value>, String> {
    let mut answers = Vec::new();
    for q in attempt["questions"].as_array().into_iter().flatten() {
        let id = q["questionId"].as_str().unwrap_or_default();
        let name = format!("q.{id}");
        let values: Vec<&str> = form
            .iter()
            .filter(|(k, v)| *k == name && !v.trim().is_empty())
            .map(|(_, v)| v.as_str())
            .collect();
        let answer = match q["kind"].as_str().unwrap_or_default() {
            "single_choice" | "multiple_choice" if !values.is_empty() => {
                json!({ "choices": { "ids": values } })
            }
            "true_false" if !values.is_empty() => json!({ "trueFalse": values[0] == "true" }),
            "short_text" | "essay" if !values.is_empty() => json!({ "text": values[0] }),
            "numeric" if !values.is_empty() => {
                match values[0].trim().replace(',', ".").parse::<f64>() {
                    Ok(n) if n.is_finite() => json!({ "number": n }),
                    _ if !strict => json!({ "text": values[0] }),
                    _ => {
                        let title = q["title"].as_str().or(q["text"].as_str()).unwrap_or(id);
                        return Err(i18n::text(
                            locale,
                            "attempt.not_a_number",
                            &[("question", title.to_string())],
                        ));
                    }
                }
            }
            "matching" => {
                let prefix = format!("m.{id}.");
                let pairs: BTreeMap<&str, &str> = form
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?, v.as_str())))
                    .filter(|(_, v)| !v.is_empty())
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                json!({ "matches": { "pairs": pairs } })
            }
            "ordering" => {
                let prefix = format!("o.{id}.");
                let mut items: Vec<(u32, &str)> = form
                    .iter()
                    .filter_map(|(k, v)| Some((v.trim().parse().ok()?, k.strip_prefix(&prefix)?)))
                    .collect();
                if items.is_empty() {
                    continue;
                }
                items.sort();
                json!({ "order": { "ids": items.into_iter().map(|(_, id)| id).collect::<Vec<_>>() } })
            }
            _ => continue,
        };
        answers.push(json!({ "questionId": id, "answer": answer }));
    }
    Ok(answers)
}

/// Saves the answers; with `action=submit` submits the attempt; `action=autosave` (the
/// page's script) answers 204 rather than a page.
pub async fn save(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Path(attempt_id): Path<String>,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let pathway_id = segment(field(&form, "pathway_id"))
        .unwrap_or_default()
        .to_string();
    let Some(id) = segment(&attempt_id).map(str::to_string) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let here = format!("/attempts/{id}?pathway={pathway_id}");
    let visitor = match portal.form_sender(&headers, field(&form, "csrf"), &here) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let action = field(&form, "action");
    let attempt = match portal
        .api
        .get(Some(visitor.token()), &format!("/v1/attempts/{id}"))
        .await
    {
        Ok(attempt) => attempt,
        Err(error) => return portal.api_failure(&visitor, &uri, error),
    };
    // A refused form is shown again with what the learner typed, not what was last saved.
    let refuse = |mut attempt: Value, message: String, status: StatusCode| {
        if action == "autosave" {
            return (status, message).into_response();
        }
        if let Ok(typed) = answers(&attempt, &form, visitor.locale, false) {
            attempt["answers"] = Value::Array(typed);
        }
        attempt_page(
            &portal,
            &visitor,
            &uri,
            attempt,
            &pathway_id,
            Some(message),
            status,
        )
    };
    let answers = match answers(&attempt, &form, visitor.locale, true) {
        Ok(answers) => answers,
        Err(message) => return refuse(attempt, message, StatusCode::UNPROCESSABLE_ENTITY),
    };
    if !answers.is_empty() {
        let path = format!("/v1/attempts/{id}:saveAnswers");
        if let Err(error) = portal
            .api
            .post(visitor.token(), &path, &json!({ "answers": answers }))
            .await
        {
            if error.is_unauthenticated() {
                return portal.to_sign_in(&here);
            }
            return refuse(attempt, error.message, error.status);
        }
    }
    match action {
        "autosave" => StatusCode::NO_CONTENT.into_response(),
        "submit" => {
            let path = format!("/v1/attempts/{id}:submit");
            let body = json!({});
            match portal
                .submit(&visitor, &path, &body, &here, "attempt_submitted")
                .await
            {
                Ok(response) => response,
                Err(error) => refuse(attempt, error.message, error.status),
            }
        }
        _ => see_other(&here, "answers_saved"),
    }
}
