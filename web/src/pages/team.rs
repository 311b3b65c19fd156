//! My team (managers): the people who report to me — directly, or everyone below me — with
//! their learning, who is overdue, and the team's totals. The suite decides who is on it: the
//! directory's reporting lines as they stand now.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use http::{HeaderMap, Uri};
use serde::Deserialize;

use crate::Portal;

#[derive(Deserialize, Default)]
pub struct TeamQuery {
    #[serde(default)]
    everyone: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

pub async fn my_team(
    State(portal): State<Arc<Portal>>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<TeamQuery>,
) -> Response {
    let visitor = match portal.signed_in(&headers, &uri) {
        Ok(visitor) => visitor,
        Err(response) => return *response,
    };
    let everyone = query.everyone.is_some();
    let path = {
        let mut path = form_urlencoded::Serializer::new(String::from("/v1/portal/team?"));
        path.append_pair("wholeSubtree", if everyone { "true" } else { "false" });
        if let Some(page) = query.page.as_deref().filter(|p| !p.is_empty()) {
            path.append_pair("pageToken", page);
        }
        path.finish()
    };
    let team = match portal.api.get(Some(visitor.token()), &path).await {
        Ok(team) => team,
        Err(error) => return portal.api_failure(&visitor, &uri, error),
    };
    let members = team["members"].as_array().cloned().unwrap_or_default();
    let sum = |field: &str| -> i64 { members.iter().map(|m| m[field].as_i64().unwrap_or(0)).sum() };
    let overdue_people = members
        .iter()
        .filter(|m| m["overdue"].as_i64().unwrap_or(0) > 0)
        .count();
    let next = team["nextPageToken"].as_str().unwrap_or_default();
    let next_page = (!next.is_empty()).then(|| {
        let mut link = form_urlencoded::Serializer::new(String::from("/team?"));
        if everyone {
            link.append_pair("everyone", "1");
        }
        link.append_pair("page", next).finish()
    });
    portal.page(
        &visitor,
        "team.html",
        serde_json::json!({
            "members": members,
            "everyone": everyone,
            "total": team["totalSize"].as_i64().unwrap_or(0),
            "totals": {
                "overdue_people": overdue_people,
                "overdue": sum("overdue"),
                "in_progress": sum("inProgress"),
                "not_started": sum("notStarted"),
                "completed": sum("completed"),
            },
            "next_page": next_page,
            "first_page": query.page.is_some(),
        }),
    )
}
