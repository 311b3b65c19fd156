//! A person's data, against a real `lms up` (embedded SQLite, and each component on its own
//! PostgreSQL database): tenant A's learner, who has one of everything, is exported in one
//! call with every service's section; then erased — their identity gone from every service
//! and from the audit trail, their learning kept under a pseudonym; a second erasure, a
//! stranger, another tenant's admin and a learner are each refused precisely; an erasure cut
//! short is completed by asking again. The Learning Record Store is part of it: the statements
//! naming them (content's, the learner record's) and the documents kept for them.

use lms_platform::Role;
use lms_test_support::TestBackend;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::matrix::seed_tenant_a;
use crate::support::{Lms, call};

async fn export(lms: &Lms, person: &str, token: &str) -> (StatusCode, Value) {
    let path = format!("/v1/personalData/{person}");
    call(lms, reqwest::Method::GET, &path, token, None).await
}

async fn erase(lms: &Lms, person: &str, token: &str, reason: &str) -> (StatusCode, Value) {
    let path = format!("/v1/personalData/{person}:erase");
    let body = json!({ "reason": reason });
    call(lms, reqwest::Method::POST, &path, token, Some(body)).await
}

/// Erases `person` again until the call is refused (400, "was erased at"): each call before
/// that must complete an erasure (`erasedBefore`), replacing what an event in flight wrote.
async fn erase_until_refused(lms: &Lms, person: &str, token: &str) {
    for attempt in 0.. {
        let (status, answer) = erase(lms, person, token, "again").await;
        if status == StatusCode::BAD_REQUEST {
            assert!(answer.to_string().contains("was erased at"), "{answer}");
            return;
        }
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["erasedBefore"], true, "{answer}");
        assert!(attempt < 50, "an erasure never finished: {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// An xAPI request through the gateway with an admin's token; the status and the JSON body.
async fn xapi(lms: &Lms, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = lms
        .http
        .request(method, format!("{}/xapi{path}", lms.gateway))
        .bearer_auth(lms.token("a", Role::Admin))
        .header("X-Experience-API-Version", "1.0.3");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn account(name: &str) -> Value {
    json!({"objectType": "Agent", "account": {"homePage": "urn:lms:tenant:a", "name": name}})
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Content reports about the learner: a statement naming them as actor (with their display
/// name) and in a team, one about somebody else, a State and an Agent Profile document.
/// Answers the two statements' ids.
async fn content_reports_about_the_learner(lms: &Lms) -> (String, String) {
    let mut actor = account("learner@a");
    actor["name"] = json!("Ada Lovelace");
    let about = json!({
        "actor": actor,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "http://example.com/simulations/forklift"},
        "context": {"team": {"objectType": "Group", "member": [account("learner@a")]}},
    });
    let other = json!({
        "actor": {"mbox": "mailto:someone@example.com", "name": "Someone"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
        "object": {"id": "http://example.com/simulations/forklift"},
    });
    let (status, ids) = xapi(
        lms,
        reqwest::Method::POST,
        "/statements",
        Some(json!([about, other])),
    )
    .await;
    assert_eq!(status, 200, "{ids}");
    let agent = enc(&account("learner@a").to_string());
    let state = format!(
        "/activities/state?activityId={}&agent={agent}&stateId=bookmark",
        enc("http://example.com/simulations/forklift")
    );
    let (status, _) = xapi(lms, reqwest::Method::PUT, &state, Some(json!({"page": 3}))).await;
    assert_eq!(status, 204);
    let profile = format!("/agents/profile?agent={agent}&profileId=preferences");
    let (status, _) = xapi(
        lms,
        reqwest::Method::PUT,
        &profile,
        Some(json!({"lang": "en"})),
    )
    .await;
    assert_eq!(status, 204);
    (
        ids[0].as_str().unwrap().into(),
        ids[1].as_str().unwrap().into(),
    )
}

/// A second address of the learner's, which the directory never had: their request names it.
const HOME_ADDRESS: &str = "ada.lovelace@home.example";

/// Content that knows the learner by email only: a statement naming them by the directory's
/// address (`mbox`, and as instructor in another case), one by the SHA-1 of their home address
/// (`mbox_sha1sum`), one by that other case alone, and a State document kept for the first.
/// Answers the three statements' ids.
async fn content_knows_them_by_email(lms: &Lms) -> Vec<String> {
    let by_mbox = json!({"objectType": "Agent", "mbox": "mailto:ada@a.example", "name": "Ada L."});
    let sha1 = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("mailto:{HOME_ADDRESS}").as_bytes(),
    );
    let sha1: String = sha1.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let verb = json!({"id": "http://adlnet.gov/expapi/verbs/experienced"});
    let object = json!({"id": "http://example.com/apps/mobile-safety"});
    let (status, ids) = xapi(
        lms,
        reqwest::Method::POST,
        "/statements",
        Some(json!([
            // Her instructor's address too, in another case: still hers.
            {"actor": by_mbox, "verb": verb, "object": object,
             "context": {"instructor": {"mbox": "mailto:Ada@A.example"}}},
            {"actor": {"mbox_sha1sum": sha1}, "verb": verb, "object": object},
            // Found only through the first, which shows this case to be hers.
            {"actor": {"mbox": "mailto:Ada@A.example", "name": "Ada"}, "verb": verb, "object": object},
        ])),
    )
    .await;
    assert_eq!(status, 200, "{ids}");
    let state = format!(
        "/activities/state?activityId={}&agent={}&stateId=bookmark",
        enc("http://example.com/apps/mobile-safety"),
        enc(&json!({"mbox": "mailto:ada@a.example"}).to_string())
    );
    let (status, _) = xapi(lms, reqwest::Method::PUT, &state, Some(json!({"page": 7}))).await;
    assert_eq!(status, 204);
    (0..3).map(|i| ids[i].as_str().unwrap().into()).collect()
}

/// After the erasure: the statements that knew them by email name the pseudonym's account
/// instead, nothing is found by those addresses, and the document kept for one is gone.
async fn the_store_no_longer_knows_their_addresses(lms: &Lms, pseudonym: &str, ids: &[String]) {
    for id in ids {
        let (status, statement) = xapi(
            lms,
            reqwest::Method::GET,
            &format!("/statements?statementId={id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{statement}");
        let actor = statement["actor"].as_object().unwrap();
        assert_eq!(
            actor["account"],
            json!({"homePage": "urn:lms:tenant:a", "name": pseudonym}),
            "{statement}"
        );
        for gone in ["mbox", "mbox_sha1sum", "name"] {
            assert!(!actor.contains_key(gone), "{statement}");
        }
    }
    let agent = enc(&json!({"mbox": "mailto:ada@a.example"}).to_string());
    let (status, found) = xapi(
        lms,
        reqwest::Method::GET,
        &format!("/statements?agent={agent}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["statements"], json!([]), "{found}");
    // The address in the other case no longer finds anything either: its keys moved too.
    let other_case = enc(&json!({"mbox": "mailto:Ada@A.example"}).to_string());
    let (status, found) = xapi(
        lms,
        reqwest::Method::GET,
        &format!("/statements?agent={other_case}&related_agents=true"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["statements"], json!([]), "{found}");
    let state = format!(
        "/activities/state?activityId={}&agent={agent}&stateId=bookmark",
        enc("http://example.com/apps/mobile-safety"),
    );
    let (status, _) = xapi(lms, reqwest::Method::GET, &state, None).await;
    assert_eq!(
        status, 404,
        "the document kept for their address is deleted"
    );
}

/// After the erasure: the store answers nothing for the person, their statements under the
/// pseudonym without their name, their documents gone, somebody else's statement unchanged.
async fn the_store_no_longer_names_them(lms: &Lms, pseudonym: &str, about: &str, other: &str) {
    let by = |who: &str| format!("/statements?agent={}", enc(&account(who).to_string()));
    let (status, found) = xapi(lms, reqwest::Method::GET, &by("learner@a"), None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["statements"], json!([]), "{found}");
    let (status, found) = xapi(
        lms,
        reqwest::Method::GET,
        &(by(pseudonym) + "&limit=500"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let theirs = found["statements"].as_array().unwrap();
    let reported = theirs
        .iter()
        .find(|s| s["id"] == about)
        .expect("content's statement");
    assert_eq!(reported["actor"]["account"]["name"], pseudonym);
    assert!(reported["actor"].get("name").is_none(), "{reported}");
    assert_eq!(
        reported["context"]["team"]["member"][0]["account"]["name"],
        pseudonym
    );
    assert!(
        theirs.len() > 1,
        "the learner record's statements moved with the person: {found}"
    );
    let text = found.to_string();
    assert!(
        !text.contains("learner@a") && !text.contains("Ada Lovelace"),
        "{text}"
    );
    // By agent and verb too (the keys such a query walks moved with them).
    let experienced = enc("http://adlnet.gov/expapi/verbs/experienced");
    let old = format!("{}&verb={experienced}", by("learner@a"));
    let (_, old) = xapi(lms, reqwest::Method::GET, &old, None).await;
    assert_eq!(old["statements"], json!([]), "{old}");
    let new = format!("{}&verb={experienced}", by(pseudonym));
    let (_, new) = xapi(lms, reqwest::Method::GET, &new, None).await;
    let experienced_by_them = new["statements"].as_array().unwrap();
    assert!(
        experienced_by_them.iter().any(|s| s["id"] == about),
        "{new}"
    );
    let (status, kept) = xapi(
        lms,
        reqwest::Method::GET,
        &format!("/statements?statementId={other}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(kept["actor"]["name"], "Someone");
    let agent = enc(&account("learner@a").to_string());
    let profile = format!("/agents/profile?agent={agent}&profileId=preferences");
    let (status, _) = xapi(lms, reqwest::Method::GET, &profile, None).await;
    assert_eq!(status, 404, "the person's documents are deleted");
}

/// The section of `service` in an export.
fn section<'a>(data: &'a Value, service: &str) -> &'a Value {
    data["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == service)
        .map(|s| &s["data"])
        .unwrap_or_else(|| panic!("no {service} section in {data}"))
}

async fn a_person_is_exported_in_one_call_and_erased_everywhere(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let ids = seed_tenant_a(&lms).await;
    let admin = lms.token("a", Role::Admin);
    let (about, other) = content_reports_about_the_learner(&lms).await;
    let by_email = content_knows_them_by_email(&lms).await;

    // One call: every service's section, the person looked for by the directory's address
    // and the one their request names too.
    let (status, data) = export(
        &lms,
        &format!("learner@a?emailAddresses={HOME_ADDRESS}"),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{data}");
    assert_eq!(
        data["emailAddresses"],
        json!([HOME_ADDRESS, "ada@a.example"])
    );
    let directory = section(&data, "enrolment-service");
    assert_eq!(directory["people"][0]["email"], "ada@a.example");
    assert!(!directory["enrolments"].as_array().unwrap().is_empty());
    let records = section(&data, "records-service");
    for table in [
        "enrolments",
        "activities",
        "certifications",
        "evidence",
        "session_bookings",
    ] {
        assert!(
            records[table].is_array(),
            "records-service {table}: {records}"
        );
    }
    assert!(section(&data, "assessment-service")["attempts"].is_array());
    section(&data, "pathway-service");
    section(&data, "notification-service");
    // The store's part: the statements naming them (content's and the learner record's),
    // not somebody else's, and their documents with their content.
    let statements = records["xapi_statements"].as_array().expect("statements");
    assert!(
        statements.iter().any(|s| s["id"] == about.as_str()),
        "{records}"
    );
    assert!(
        statements
            .iter()
            .any(|s| s["statement"]["context"]["registration"].is_string())
    );
    assert!(statements.iter().all(|s| s["id"] != other.as_str()));
    for id in &by_email {
        assert!(
            statements.iter().any(|s| s["id"] == id.as_str()),
            "known by email: {records}"
        );
    }
    let documents = records["xapi_documents"].as_array().expect("documents");
    // Two kept for their account, two for the directory's address (the seed's and content's).
    assert_eq!(documents.len(), 4, "{documents:?}");
    assert!(
        documents
            .iter()
            .any(|d| d["content"]["text"] == r#"{"page":3}"#),
        "{records}"
    );

    // Refusals: a stranger, another tenant's admin, a learner, no reason.
    let (status, _) = export(&lms, "nobody@a", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = export(&lms, "learner@a", &lms.token("b", Role::Admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's person");
    let (status, _) = erase(&lms, "learner@a", &lms.token("b", Role::Admin), "DSR-1").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's person");
    let (status, _) = export(&lms, "learner@a", &lms.token("a", Role::Learner)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) = erase(&lms, "learner@a", &admin, "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer.to_string().contains("reason"), "{answer}");
    let (status, _) = erase(&lms, "nobody@a", &admin, "DSR-0").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let chosen = json!({"reason": "DSR-1", "pseudonym": "erased-mine"});
    let path = "/v1/personalData/learner@a:erase";
    let (status, answer) = call(&lms, reqwest::Method::POST, path, &admin, Some(chosen)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the directory chooses: {answer}"
    );
    assert!(answer.to_string().contains("pseudonym"), "{answer}");
    // Nineteen addresses of the caller's are taken (with the directory's, twenty: what every
    // service takes, and what an answer may list to be sent again); twenty are not.
    let nineteen: Vec<String> = (0..19).map(|i| format!("old{i}@home.example")).collect();
    let query = nineteen
        .iter()
        .map(|a| format!("emailAddresses={a}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, answer) = export(&lms, &format!("learner@a?{query}"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["emailAddresses"].as_array().unwrap().len(), 20);
    let twenty = format!("learner@a?{query}&emailAddresses=one.more@home.example");
    let (status, answer) = export(&lms, &twenty, &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer.to_string().contains("with the directory's own"),
        "{answer}"
    );
    // Another person's address, in whatever case.
    let (status, answer) = export(&lms, "learner@a?emailAddresses=BOB@A.example", &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer.to_string().contains("another person's address"),
        "{answer}"
    );
    let bobs = json!({"reason": "DSR-1", "emailAddresses": ["bob@a.example"]});
    let (status, answer) = call(&lms, reqwest::Method::POST, path, &admin, Some(bobs)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let not_an_address = json!({"reason": "DSR-1", "emailAddresses": ["mailto:ada@a.example"]});
    let (status, answer) = call(
        &lms,
        reqwest::Method::POST,
        path,
        &admin,
        Some(not_an_address),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer.to_string().contains("email_addresses[0]"),
        "{answer}"
    );

    // The erasure, of the address their request names too.
    let request = json!({"reason": "DSR-1", "emailAddresses": [HOME_ADDRESS]});
    let (status, erased) = call(&lms, reqwest::Method::POST, path, &admin, Some(request)).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(
        erased["emailAddresses"],
        json!([HOME_ADDRESS, "ada@a.example"])
    );
    let pseudonym = erased["pseudonym"].as_str().unwrap().to_string();
    assert!(pseudonym.starts_with("erased-"), "{pseudonym}");
    assert_eq!(erased["sections"].as_array().unwrap().len(), 5, "{erased}");
    for service in ["enrolment-service", "records-service", "assessment-service"] {
        let rows = erased["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == service)
            .map(|s| s["rows"].as_str().unwrap_or("0").parse::<i64>().unwrap())
            .unwrap();
        assert!(rows > 0, "{service} erased nothing: {erased}");
    }

    // The directory no longer knows them.
    let (status, _) = export(&lms, "learner@a", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let certifications = lms
        .ok(
            "lms.records.v1.RecordsService/ListCertifications",
            json!({"learner": pseudonym}),
            &admin,
        )
        .await;
    assert_eq!(
        certifications["certifications"][0]["id"],
        ids["certification"].as_str()
    );

    // The audit trail: no entry names them; the erasure is one entry, with its reason.
    let (status, trail) = call(
        &lms,
        reqwest::Method::GET,
        "/v1/auditEntries?pageSize=500",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let text = trail.to_string();
    for identity in ["learner@a", "ada@a.example", "\"Ada\""] {
        assert!(!text.contains(identity), "the trail still holds {identity}");
    }
    let erasures: Vec<&Value> = trail["auditEntries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "lms.privacy.v1.PersonalDataService/ErasePersonalData")
        .collect();
    assert_eq!(erasures.len(), 1, "{erasures:?}");
    assert_eq!(erasures[0]["actor"], "admin@a");
    assert_eq!(erasures[0]["after"]["reason"], "DSR-1");

    // Twice: refused, saying when (once any event about them still in flight is replaced).
    erase_until_refused(&lms, "learner@a", &admin).await;

    // Nothing names them any more (an event in flight at the erasure — their "assigned"
    // notification being sent — may have named them again until the repeated erasure above);
    // their learning stays, under the pseudonym.
    let (status, left) = export(&lms, &pseudonym, &admin).await;
    assert_eq!(status, StatusCode::OK, "{left}");
    assert!(
        !left.to_string().contains("learner@a")
            && !left.to_string().contains("ada@a.example")
            && !left.to_string().contains("Ada Lovelace"),
        "{left}"
    );
    assert!(
        section(&left, "records-service")["xapi_statements"].is_array(),
        "{left}"
    );
    the_store_no_longer_names_them(&lms, &pseudonym, &about, &other).await;
    the_store_no_longer_knows_their_addresses(&lms, &pseudonym, &by_email).await;
    let person = &section(&left, "enrolment-service")["people"][0];
    assert_eq!(person["email"], "");
    assert_eq!(person["display_name"], "Erased person");

    // Cut short: the directory erased bob@a, the other services never heard; asking again
    // completes it (his enrolment in records-service). Events about him still in flight (his
    // "assigned" notification) may name him afterwards: asking again replaces that too, until
    // nothing is left and the call is refused.
    lms.ok(
        "lms.enrolment.v1.EnrolmentService/EnrolPerson",
        json!({"personId": ids["other_person"], "pathwayId": ids["pathway"]}),
        &admin,
    )
    .await;
    lms.eventually(
        "lms.records.v1.RecordsService/ListProgress",
        json!({"learner": "bob@a"}),
        &admin,
        |v| v["progress"].as_array().is_some_and(|p| !p.is_empty()),
    )
    .await;
    lms.call(
        "enrolment-service",
        "lms.privacy.v1.PersonalDataService/ErasePersonalData",
        json!({"person": "bob@a", "reason": "DSR-2"}),
        Some(&admin),
    )
    .await
    .unwrap();
    let (status, completed) = erase(&lms, "bob@a", &admin, "DSR-2").await;
    assert_eq!(status, StatusCode::OK, "{completed}");
    assert_eq!(completed["erasedBefore"], true);
    erase_until_refused(&lms, "bob@a", &admin).await;
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn a_person_is_exported_in_one_call_and_erased_everywhere() {
        super::a_person_is_exported_in_one_call_and_erased_everywhere(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn a_person_is_exported_in_one_call_and_erased_everywhere() {
        super::a_person_is_exported_in_one_call_and_erased_everywhere(TestBackend::Postgres).await;
    }
}
