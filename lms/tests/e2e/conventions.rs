//! The conventions REST clients expect, through `lms up`'s gateway: AIP-134 updates (a PATCH
//! changes what its body gives), errors as `google.rpc.Status`, HTTP preconditions, CSV
//! downloads.

use reqwest::Method;
use serde_json::{Value, json};

use super::gateway::Suite;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_changes_what_its_body_gives_and_nothing_else() {
    let suite = Suite::start();
    let admin = suite.token("admin@acme", "admin");

    // A category's parent may be given inside the category, as a REST client writes it.
    let root = id(&suite
        .ok(
            Method::POST,
            "/v1/categories",
            &admin,
            json!({"name": "Safety"}),
        )
        .await);
    let child = suite
        .ok(
            Method::POST,
            "/v1/categories",
            &admin,
            json!({"name": "Cranes", "parentId": root}),
        )
        .await;
    assert_eq!(child["parentId"], root.as_str(), "{child}");
    assert_eq!(child["depth"], 1);

    let pathway = suite
        .ok(
            Method::POST,
            "/v1/pathways",
            &admin,
            json!({"title": "Crane basics", "outcome": "TRAINING", "description": "Lifting safely",
                   "tags": ["cranes", "yard"], "categoryId": id(&child)}),
        )
        .await;
    let path = format!("/v1/pathways/{}", id(&pathway));
    let renamed = suite
        .ok(
            Method::PATCH,
            &path,
            &admin,
            json!({"title": "Crane basics II"}),
        )
        .await;
    assert_eq!(renamed["title"], "Crane basics II");
    assert_eq!(renamed["description"], "Lifting safely", "{renamed}");
    assert_eq!(renamed["tags"], json!(["cranes", "yard"]));
    assert_eq!(renamed["categoryId"], id(&child).as_str());

    // A field present with its empty value is cleared; an explicit mask in snake_case works.
    let cleared = suite
        .ok(Method::PATCH, &path, &admin, json!({"description": ""}))
        .await;
    assert_eq!(cleared["description"], "");
    assert_eq!(cleared["tags"], json!(["cranes", "yard"]));
    let masked = suite
        .ok(
            Method::PATCH,
            &format!("{path}?updateMask=estimated_duration_minutes"),
            &admin,
            json!({"estimatedDurationMinutes": 90, "title": "ignored: not in the mask"}),
        )
        .await;
    assert_eq!(masked["estimatedDurationMinutes"], 90);
    assert_eq!(masked["title"], "Crane basics II");
    let (status, error) = suite
        .call(
            Method::PATCH,
            &format!("{path}?updateMask=colour"),
            Some(&admin),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("\"colour\" is not a field of Pathway"),
        "{error}"
    );

    let person = suite
        .ok(
            Method::POST,
            "/v1/people",
            &admin,
            json!({"externalId": "ada", "displayName": "Ada", "email": "ada@acme.example",
                   "department": "Ops", "jobTitle": "Nurse", "hireDate": "2024-02-01"}),
        )
        .await;
    let renamed = suite
        .ok(
            Method::PATCH,
            &format!("/v1/people/{}", id(&person)),
            &admin,
            json!({"displayName": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(renamed["displayName"], "Ada Lovelace");
    for (field, kept) in [
        ("email", "ada@acme.example"),
        ("department", "Ops"),
        ("jobTitle", "Nurse"),
        ("hireDate", "2024-02-01"),
    ] {
        assert_eq!(renamed[field], kept, "{field}: {renamed}");
    }
}
