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

/// The `google.rpc.ErrorInfo` reason of an error body.
fn reason(error: &Value) -> &str {
    error["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        .and_then(|d| d["reason"].as_str())
        .unwrap_or_else(|| panic!("no ErrorInfo: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_google_rpc_status_bodies_with_reasons_and_the_request_id() {
    let suite = Suite::start();
    let admin = suite.token("admin@acme", "admin");
    let url = |path: &str| format!("{}{path}", suite.base);

    // A query parameter of the wrong type names its field as the proto spells it.
    let response = suite
        .http
        .get(url("/v1/pathways?pageSize=abc"))
        .bearer_auth(&admin)
        .header("x-request-id", "req-abc-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-request-id"], "req-abc-1");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], 3, "{error}");
    assert_eq!(error["status"], "INVALID_ARGUMENT");
    assert_eq!(error["requestId"], "req-abc-1");
    assert_eq!(
        error["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        error["details"][0]["fieldViolations"][0]["field"],
        "page_size"
    );
    assert_eq!(reason(&error), "INVALID_ARGUMENT");
    let request_info = error["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RequestInfo")
        .expect("RequestInfo");
    assert_eq!(request_info["requestId"], "req-abc-1");

    // An unknown enum value is refused with the values it may take.
    let (status, error) = suite
        .call(Method::GET, "/v1/pathways?status=NOPE", Some(&admin), None)
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["details"][0]["fieldViolations"][0]["field"], "status");

    // 413, 414 and 415: JSON bodies with their own reasons.
    let too_large = suite
        .http
        .post(url("/v1/categories"))
        .bearer_auth(&admin)
        .json(&json!({"name": "x".repeat(70_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_large.status(), 413);
    assert_eq!(
        reason(&too_large.json().await.unwrap()),
        "PAYLOAD_TOO_LARGE"
    );
    let too_long = suite
        .http
        .get(url(&format!(
            "/v1/pathways?pageToken={}",
            "a".repeat(9_000)
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 414);
    assert_eq!(reason(&too_long.json().await.unwrap()), "URI_TOO_LONG");
    let not_json = suite
        .http
        .post(url("/v1/categories"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    assert_eq!(
        reason(&not_json.json().await.unwrap()),
        "UNSUPPORTED_MEDIA_TYPE"
    );

    // A missing token has its own reason; so has an unknown route.
    let (status, error) = suite.call(Method::GET, "/v1/pathways", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(reason(&error), "TOKEN_MISSING");
    let (status, error) = suite
        .call(Method::GET, "/v1/nothing/here", Some(&admin), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(reason(&error), "ROUTE_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_etags_and_writes_take_if_match() {
    let suite = Suite::start();
    let admin = suite.token("admin@acme", "admin");
    let url = |path: &str| format!("{}{path}", suite.base);
    let pathway = suite
        .ok(
            Method::POST,
            "/v1/pathways",
            &admin,
            json!({"title": "Forklift", "outcome": "TRAINING"}),
        )
        .await;
    let path = format!("/v1/pathways/{}", id(&pathway));

    let read = suite
        .http
        .get(url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let etag = read.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = read.json().await.unwrap();
    assert_eq!(
        etag,
        body["etag"].as_str().unwrap(),
        "the header is the body's etag"
    );

    // Nothing changed: 304 without a body.
    let unchanged = suite
        .http
        .get(url(&path))
        .bearer_auth(&admin)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    // A write with the current etag succeeds and moves it on.
    let patched = suite
        .http
        .patch(url(&path))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({"title": "Forklift I"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let new_etag = patched.headers()["etag"].to_str().unwrap().to_string();
    assert_ne!(new_etag, etag);

    // The old etag is stale now: 412, and nothing changes.
    let stale = suite
        .http
        .patch(url(&path))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({"title": "Lost update"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let error: Value = stale.json().await.unwrap();
    assert_eq!(reason(&error), "ETAG_MISMATCH", "{error}");
    assert_eq!(suite.get(&path, &admin).await["title"], "Forklift I");

    // The same stale etag in the body is the gRPC answer: 409 ABORTED.
    let (status, error) = suite
        .call(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"title": "Lost update", "etag": etag})),
        )
        .await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(reason(&error), "ETAG_MISMATCH");

    // A delete takes If-Match too (the request's own etag).
    let category = suite
        .ok(
            Method::POST,
            "/v1/categories",
            &admin,
            json!({"name": "Yard"}),
        )
        .await;
    let category_path = format!("/v1/categories/{}", id(&category));
    let category_etag = category["etag"].as_str().unwrap().to_string();
    suite
        .ok(
            Method::PATCH,
            &category_path,
            &admin,
            json!({"name": "Yard 2"}),
        )
        .await;
    let delete = |etag: String| {
        suite
            .http
            .delete(url(&category_path))
            .bearer_auth(&admin)
            .header("if-match", etag)
            .send()
    };
    assert_eq!(delete(category_etag).await.unwrap().status(), 412);
    let current = suite.get(&category_path, &admin).await["etag"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(delete(current).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_exports_are_text_csv_downloads_and_grpc_web_text_works() {
    let suite = Suite::start();
    let admin = suite.token("admin@acme", "admin");
    let ada = suite.token("ada", "learner");
    let url = |path: &str| format!("{}{path}", suite.base);
    let pathway = id(&suite
        .ok(
            Method::POST,
            "/v1/pathways",
            &admin,
            json!({"title": "Fire safety", "outcome": "COMPLIANCE"}),
        )
        .await);
    suite
        .ok(
            Method::POST,
            &format!("/v1/pathways/{pathway}/steps"),
            &admin,
            json!({"title": "Read", "required": true, "content": {"url": "https://learn.example.com/fire", "mediaType": "DOCUMENT"}}),
        )
        .await;
    suite
        .ok(
            Method::POST,
            &format!("/v1/pathways/{pathway}:publish"),
            &admin,
            json!({}),
        )
        .await;
    let person = id(&suite
        .ok(
            Method::POST,
            "/v1/people",
            &admin,
            json!({"externalId": "ada", "displayName": "Ada"}),
        )
        .await);
    suite
        .ok(
            Method::POST,
            "/v1/enrolments",
            &admin,
            json!({"personId": person, "pathwayId": pathway}),
        )
        .await;
    suite
        .eventually(&format!("/v1/compliance/{pathway}"), &admin, |v| {
            v.as_str()
                .unwrap_or_default()
                .contains("\"learner\":\"ada\"")
        })
        .await;

    let download = |path: String, token: String| {
        let request = suite.http.get(url(&path)).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let compliance = download(format!("/v1/compliance/{pathway}:export"), admin.clone()).await;
    assert_eq!(compliance.status(), 200);
    assert_eq!(
        compliance.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        compliance.headers()["content-disposition"],
        "attachment; filename=\"compliance-report.csv\""
    );
    let text = compliance.text().await.unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("learner,state,percent,due,completed,certification_expires,enrolment_id")
    );
    assert!(
        lines.next().unwrap().starts_with("ada,NOT_STARTED,0.00,"),
        "{text}"
    );

    let transcript = download("/v1/transcript:export".into(), ada.clone()).await;
    assert_eq!(transcript.status(), 200);
    assert_eq!(
        transcript.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = transcript.text().await.unwrap();
    assert!(text.starts_with("source,title,"), "{text}");
    assert!(text.contains("Fire safety"), "{text}");

    // Refused before any row: a JSON error, not a CSV.
    let refused = download(format!("/v1/compliance/{pathway}:export"), ada.clone()).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.headers()["content-type"], "application/json");

    // gRPC-Web text mode (base64 frames), as browsers without binary support send it.
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let answer = suite
        .http
        .post(url("/lms.pathway.v1.PathwayService/ListCategories"))
        .bearer_auth(&admin)
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(engine.encode([0u8, 0, 0, 0, 0]))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc-web-text"),
        "{:?}",
        answer.headers()
    );
    let body = answer.text().await.unwrap();
    // The answer is base64 too: its frames decoded hold the trailers with grpc-status 0.
    let mut decoded = Vec::new();
    for part in body.split_inclusive('=') {
        decoded.extend(engine.decode(part.trim()).unwrap_or_default());
    }
    if decoded.is_empty() {
        decoded = engine.decode(body.trim()).unwrap();
    }
    assert!(
        String::from_utf8_lossy(&decoded).contains("grpc-status:0"),
        "{body:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_says_what_a_client_written_from_it_needs() {
    let suite = Suite::start();
    let document: Value = suite
        .http
        .get(format!("{}/openapi.json", suite.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    let operations: Vec<(&String, &String, &Value)> = paths
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .unwrap()
                .iter()
                .map(move |(method, operation)| (path, method, operation))
        })
        .collect();
    // Every operation is described, from the proto's comments.
    let undescribed: Vec<String> = operations
        .iter()
        .filter(|(_, _, op)| {
            op["summary"].as_str().unwrap_or_default().len() < 10
                || !op["description"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("gRPC: `/lms.")
        })
        .map(|(path, method, _)| format!("{method} {path}"))
        .collect();
    assert!(undescribed.is_empty(), "undescribed: {undescribed:?}");
    let parameter = |path: &str, method: &str, name: &str| -> Option<Value> {
        paths[path][method]["parameters"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
    };
    // The query parameters of routes that take a body.
    for path in ["/v1/pathways/{pathway_id}", "/v1/people/{person_id}"] {
        assert!(parameter(path, "patch", "updateMask").is_some(), "{path}");
    }
    assert!(parameter("/v1/pathways", "post", "requestId").is_some());
    assert!(parameter("/v1/categories", "post", "parentId").is_some());
    // A blank optional parameter is not given, whatever its type (`?pageSize=` from a form):
    // the document says so, and the gateway answers as without it.
    let page_size = parameter("/v1/webhooks", "get", "pageSize").expect("pageSize");
    assert_eq!(page_size["allowEmptyValue"], true, "{page_size}");
    let blank = suite
        .call(
            Method::GET,
            "/v1/categories?pageSize=&pageToken=",
            Some(&suite.token("admin@acme", "admin")),
            None,
        )
        .await;
    assert_eq!(blank.0, 200, "{blank:?}");
    // Bounds the service holds: the verification code is 16 characters.
    let code = parameter("/v1/verify/{verification_code}", "get", "verification_code")
        .expect("the code's path parameter");
    assert_eq!(code["schema"]["minLength"], 16, "{code}");
    assert_eq!(code["schema"]["maxLength"], 16);
    let schemas = &document["components"]["schemas"];
    let category = &schemas["lms.pathway.v1.Category"]["properties"];
    assert_eq!(category["name"]["maxLength"], 200, "{category}");
    assert!(
        category["name"]["description"]
            .as_str()
            .unwrap()
            .contains("unique among siblings")
    );
    // Choice ids are the author's ("a", "b"), not UUIDs.
    let choice_id = &schemas["lms.assessment.v1.Choice"]["properties"]["id"];
    assert!(
        !choice_id.to_string().contains("uuid")
            && !choice_id.to_string().contains("[0-9a-fA-F]{8}"),
        "{choice_id}"
    );
    // A required enum does not offer the value the service refuses.
    let outcome = schemas["lms.pathway.v1.Pathway"]["properties"]["outcome"].to_string();
    assert!(outcome.contains("CERTIFICATION"), "{outcome}");
    assert!(!outcome.contains("UNSPECIFIED"), "{outcome}");
}
