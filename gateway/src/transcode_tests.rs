//! Tests of `transcode`: requests built from path, query and body, and the refusals.
use super::*;
use crate::routes::{Found, find, routes};
use http::Method;
use prost_reflect::DescriptorPool;

fn table() -> Vec<Route> {
    let pool = DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET).unwrap();
    routes(&pool, crate::EXPOSED_SERVICES).unwrap()
}

fn build(
    routes: &[Route],
    method: Method,
    path: &str,
    query: Option<&str>,
    body: &str,
) -> Result<Value, ApiError> {
    let Found::Route(route, bound) = find(routes, &method, path) else {
        panic!("no route for {path}");
    };
    let message = request_message(route, bound, query, &Bytes::from(body.to_string()))?;
    Ok(serde_json::from_slice(&to_json(&message).unwrap()).unwrap())
}

#[test]
fn path_query_and_body_fill_the_request() {
    let routes = table();
    let json = build(
        &routes,
        Method::POST,
        "/v1/progress/e1:recordActivity",
        None,
        r#"{"stepId": "s1", "kind": "STEP_COMPLETED", "enrolment_id": "ignored"}"#,
    )
    .unwrap();
    assert_eq!(json["enrolmentId"], "e1", "the path wins");
    assert_eq!(json["kind"], "STEP_COMPLETED");
    let list = build(
        &routes,
        Method::GET,
        "/v1/pathways",
        Some("pageSize=5&page_token=abc"),
        "",
    )
    .unwrap();
    assert_eq!(
        (list["pageSize"].clone(), list["pageToken"].clone()),
        (5.into(), "abc".into())
    );
    let nested = build(
        &routes,
        Method::PATCH,
        "/v1/manualRecords/m1",
        Some(""),
        r#"{"record": {"title": "First aid"}, "updateMask": "title", "reason": "typo"}"#,
    )
    .unwrap();
    assert_eq!(nested["record"]["id"], "m1");
    assert_eq!(nested["updateMask"], "title");
}

#[test]
fn a_nested_path_field_keeps_the_rest_of_the_body() {
    let routes = table();
    // body: "person"
    let person = build(
        &routes,
        Method::PATCH,
        "/v1/people/p1",
        None,
        r#"{"displayName": "Ada L", "department": "Ops", "id": "ignored"}"#,
    )
    .unwrap();
    assert_eq!(person["person"]["id"], "p1", "the path wins");
    assert_eq!(person["person"]["displayName"], "Ada L");
    assert_eq!(person["person"]["department"], "Ops");
    // body: "*"
    let record = build(
        &routes,
        Method::PATCH,
        "/v1/manualRecords/m1",
        None,
        r#"{"record": {"title": "First aid", "hours": 2}, "updateMask": "title,hours"}"#,
    )
    .unwrap();
    assert_eq!(record["record"]["id"], "m1");
    assert_eq!(record["record"]["title"], "First aid");
    assert_eq!(record["record"]["hours"], 2.0);
    // A leaf given in the body under its proto name still loses to the path.
    let activity = build(
        &routes,
        Method::POST,
        "/v1/progress/e1:recordActivity",
        None,
        r#"{"step_id": "s1", "enrolment_id": "ignored"}"#,
    )
    .unwrap();
    assert_eq!(
        (activity["enrolmentId"].clone(), activity["stepId"].clone()),
        ("e1".into(), "s1".into())
    );
}

#[test]
fn empty_query_parameters_are_not_given() {
    // `?status=&outcome=&pageSize=` is what a form with blank filters sends: no filter.
    let routes = table();
    let json = build(
        &routes,
        Method::GET,
        "/v1/pathways",
        Some("status=&outcome=&pageSize=&query=&outcome=TRAINING"),
        "",
    )
    .unwrap();
    assert_eq!(json["outcome"], "TRAINING");
    assert_eq!(json["status"], "PATHWAY_STATUS_UNSPECIFIED");
    assert_eq!(
        (json["pageSize"].clone(), json["query"].clone()),
        (0.into(), "".into())
    );
}

#[test]
fn client_mistakes_are_invalid_argument() {
    let routes = table();
    for (method, path, query, body) in [
        (
            Method::POST,
            "/v1/progress/e1:recordActivity",
            None,
            "{not json",
        ),
        (
            Method::POST,
            "/v1/progress/e1:recordActivity",
            None,
            r#"{"nope": 1}"#,
        ),
        (
            Method::POST,
            "/v1/progress/e1:recordActivity",
            None,
            r#"{"kind": 42.5}"#,
        ),
        (
            Method::POST,
            "/v1/progress/e1:recordActivity",
            None,
            "[1, 2]",
        ),
        (Method::GET, "/v1/pathways", Some("pageSize=many"), ""),
        (Method::GET, "/v1/pathways", Some("whatever=1"), ""),
        (Method::GET, "/v1/pathways", None, r#"{"a": 1}"#),
    ] {
        let error = build(&routes, method, path, query, body).unwrap_err();
        assert_eq!(
            error.code,
            Code::InvalidArgument,
            "{path} {body}: {error:?}"
        );
    }
}

#[test]
fn a_patch_without_a_mask_names_the_fields_its_body_gives() {
    let routes = table();
    let person = build(
        &routes,
        Method::PATCH,
        "/v1/people/p1",
        None,
        r#"{"displayName": "Ada L", "department": ""}"#,
    )
    .unwrap();
    assert_eq!(person["updateMask"], "department,displayName");
    let record = build(
        &routes,
        Method::PATCH,
        "/v1/manualRecords/m1",
        None,
        r#"{"record": {"hours": 0}, "reason": "typo"}"#,
    )
    .unwrap();
    assert_eq!(
        record["updateMask"], "hours",
        "the path's id is not counted"
    );
    let empty = build(&routes, Method::PATCH, "/v1/people/p1", None, "{}").unwrap();
    assert_eq!(
        empty["updateMask"],
        Value::Null,
        "nothing to change, no mask"
    );
}

#[test]
fn a_mask_in_either_spelling_is_read() {
    let routes = table();
    for query in [
        "updateMask=job_title,displayName",
        "update_mask=jobTitle,display_name",
    ] {
        let person = build(
            &routes,
            Method::PATCH,
            "/v1/people/p1",
            Some(query),
            r#"{"jobTitle": "Nurse", "displayName": "Ada"}"#,
        )
        .unwrap();
        let mask = person["updateMask"].as_str().unwrap();
        assert!(
            mask == "jobTitle,displayName" || mask == "displayName,jobTitle",
            "{query}: {mask}"
        );
    }
    let record = build(
        &routes,
        Method::PATCH,
        "/v1/manualRecords/m1",
        None,
        r#"{"record": {"completeTime": "2026-01-01T00:00:00Z"}, "update_mask": "complete_time", "reason": "x"}"#,
    )
    .unwrap();
    assert_eq!(record["updateMask"], "completeTime");
}
