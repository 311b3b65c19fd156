//! The audit trail, against a real `lms up` (embedded SQLite, and each component on its own
//! PostgreSQL database): tenant A's people make one of every write the isolation matrix knows
//! (its seed, then each of its rows as A's own admin or learner), every call with a request id
//! of its own; then the trail, read through the gateway, must hold exactly one entry for each
//! write that succeeded — its RPC, its actor, its request id — and none for a read, a refused
//! write or a service's call. Another tenant's admin sees none of it; a learner may not read it.

use std::collections::{BTreeMap, BTreeSet};

use crate::matrix::{Caller, ISOLATION, Ids, fill, seed_tenant_a};
use crate::support::Lms;
use lms_platform::Role;
use lms_test_support::{Logged, TestBackend};
use serde_json::{Value, json};

/// Write RPCs this test does not make, each with why; any other write RPC the suite serves
/// must be made here, so a new write cannot go unaudited unnoticed.
const NOT_MADE_HERE: &[(&str, &str)] = &[
    (
        "lms.events.v1.EventConsumer/DeliverEvents",
        "service identities only: event effects are recorded where the person's write was made",
    ),
    (
        "lms.events.v1.DeadLetters/ReplayDeadLetters",
        "needs an event a destination rejected for good: platform/tests/outbox.rs replays one",
    ),
    (
        "lms.privacy.v1.PersonalDataService/ErasePersonalData",
        "erases learner@a, whom the rest of this test needs: privacy.rs checks its one entry",
    ),
    (
        "lms.records.v1.Cmi5Service/LaunchAssignableUnit",
        "needs a published cmi5 step: content_launches.rs launches one and checks the launch's one entry",
    ),
    (
        "lms.records.v1.Cmi5FetchService/FetchAuthToken",
        "public, with no caller to name: it hands out the credential of a launch, whose entry \
         content_launches.rs checks",
    ),
    (
        "lms.notification.v1.WebhookService/RedeliverWebhookDelivery",
        "needs an event sent to a webhook (notification-service/tests/webhooks.rs)",
    ),
];

/// The writes the matrix's seed and rows do not make (or make only where they fail): an HR
/// upload, a class deleted, an admin's and a learner's enrolment, answers saved and an essay
/// graded, evidence rejected, attendance marked. Returns the upload, made over HTTP (a
/// client stream), as the log would have it.
async fn more_writes(lms: &Lms, ids: &Ids) -> Logged {
    let admin = lms.token("a", Role::Admin);
    let learner = lms.token("a", Role::Learner);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();

    let request_id = uuid::Uuid::now_v7().to_string();
    let upload = json!({"people": [{"externalId": "dee@a", "displayName": "Dee", "email": "dee@a.example"}]});
    let response = lms
        .http
        .post(format!("{}/v1/people:upsert", lms.gateway))
        .bearer_auth(&admin)
        .header("x-request-id", &request_id)
        .json(&upload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let upsert = Logged {
        rpc: "lms.enrolment.v1.EnrolmentService/UpsertPeople".into(),
        request: upload,
        request_id,
        succeeded: true,
    };

    let class = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreateClass",
            json!({"class": {"code": "GONE-1", "name": "Cancelled", "term": "2026-autumn",
                              "startDate": "2026-09-01", "endDate": "2026-12-20"}}),
            &admin,
        )
        .await;
    lms.ok(
        "lms.enrolment.v1.EnrolmentService/DeleteClass",
        json!({"id": id(&class)}),
        &admin,
    )
    .await;
    let cy = lms
        .ok(
            "lms.enrolment.v1.EnrolmentService/CreatePerson",
            json!({"person": {"externalId": "cy@a", "displayName": "Cy", "email": "cy@a.example"}}),
            &admin,
        )
        .await;
    lms.ok(
        "lms.enrolment.v1.EnrolmentService/EnrolPerson",
        json!({"personId": id(&cy), "pathwayId": ids["pathway"]}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.records.v1.RecordsService/RejectEvidence",
        json!({"id": ids["evidence"], "reason": "Unsigned"}),
        &admin,
    )
    .await;
    let signed = lms
        .ok(
            "lms.records.v1.RecordsService/SubmitEvidence",
            json!({"enrolmentId": ids["enrolment"], "stepId": ids["external_step"],
                   "url": "https://files.a.example/medical-signed.pdf"}),
            &learner,
        )
        .await;
    lms.ok(
        "lms.records.v1.RecordsService/ApproveEvidence",
        json!({"id": id(&signed)}),
        &admin,
    )
    .await;

    // A pathway open to the Warehouse audience, with an essay: the learner joins it, answers,
    // and an instructor's grade follows.
    let essays = lms
        .ok(
            "lms.pathway.v1.PathwayService/CreatePathway",
            json!({"pathway": {"title": "Incident reports", "categoryId": ids["category"], "outcome": "TRAINING"}}),
            &admin,
        )
        .await;
    let essay = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateQuestion",
            json!({"bankId": ids["bank"], "question": {"text": "Describe a near miss.", "essay": {}}}),
            &admin,
        )
        .await;
    let assessment = lms
        .ok(
            "lms.assessment.v1.AssessmentService/CreateAssessment",
            json!({"assessment": {"title": "Report", "pathwayId": id(&essays),
                   "fixed": {"questionIds": [id(&essay)]}, "passMarkPercent": 50}}),
            &admin,
        )
        .await;
    lms.ok(
        "lms.pathway.v1.PathwayService/AddStep",
        json!({"pathwayId": id(&essays), "step": {"title": "Write", "required": true,
               "assessment": {"assessmentId": id(&assessment)}}}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.pathway.v1.PathwayService/PublishPathway",
        json!({"id": id(&essays)}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.enrolment.v1.EnrolmentService/CreateAssignment",
        json!({"assignment": {"pathwayId": id(&essays), "audienceId": ids["audience"], "requirement": "OPEN"}}),
        &admin,
    )
    .await;
    lms.eventually(
        "lms.enrolment.v1.EnrolmentService/SelfEnrol",
        json!({"pathwayId": id(&essays)}),
        &learner,
        |_| true,
    )
    .await;
    let attempt = lms
        .eventually(
            "lms.assessment.v1.AssessmentService/StartAttempt",
            json!({"assessmentId": id(&assessment)}),
            &learner,
            |_| true,
        )
        .await;
    let answer = json!([{"questionId": id(&essay), "answer": {"text": "A pallet slipped."}}]);
    lms.ok(
        "lms.assessment.v1.AssessmentService/SaveAnswers",
        json!({"attemptId": id(&attempt), "answers": answer}),
        &learner,
    )
    .await;
    lms.ok(
        "lms.assessment.v1.AssessmentService/SubmitAttempt",
        json!({"attemptId": id(&attempt), "answers": []}),
        &learner,
    )
    .await;
    lms.ok(
        "lms.assessment.v1.AssessmentService/GradeAnswer",
        json!({"attemptId": id(&attempt), "questionId": id(&essay), "points": 1}),
        &admin,
    )
    .await;

    // A session that has begun: the admin books the learner's seat (their earlier booking
    // given up) and marks the roster.
    let now = chrono::Utc::now();
    let session = lms
        .ok(
            "lms.records.v1.TrainingSessionService/CreateSession",
            json!({"session": {"pathwayId": ids["pathway"], "stepId": ids["training_step"],
                   "startTime": (now - chrono::Duration::hours(1)).to_rfc3339(),
                   "endTime": (now + chrono::Duration::hours(1)).to_rfc3339(),
                   "timeZone": "Europe/London", "location": "Yard", "capacity": 8}}),
            &admin,
        )
        .await;
    lms.ok(
        "lms.records.v1.TrainingSessionService/CancelBooking",
        json!({"id": ids["booking"], "reason": "Moved to today's session"}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.records.v1.TrainingSessionService/BookSession",
        json!({"sessionId": id(&session), "enrolmentId": ids["enrolment"]}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.records.v1.TrainingSessionService/MarkAttendance",
        json!({"sessionId": id(&session), "wholeRoster": "ATTENDED"}),
        &admin,
    )
    .await;
    upsert
}

/// Reads: RPCs whose names say they change nothing.
fn is_read(rpc: &str) -> bool {
    let method = rpc.rsplit('/').next().unwrap_or_default();
    [
        "Get", "List", "Check", "Preview", "Export", "Stream", "Verify", "Query", "Read",
    ]
    .iter()
    .any(|verb| method.starts_with(verb))
        || KEEPS_ITS_OWN_TRAIL.contains(&rpc)
}

/// Writes the audit trail leaves out (docs/security.md): an xAPI statement is immutable and
/// carries who sent it (`authority`, set by the store from the credentials) and when
/// (`stored`); xAPI documents are content's own working state (bookmarks, suspend data),
/// written at the content's pace, not changes anyone administers.
const KEEPS_ITS_OWN_TRAIL: [&str; 4] = [
    "lms.xapi.v1.LearningRecordStoreService/StoreStatements",
    "lms.xapi.v1.LearningRecordStoreService/StoreStatementsStream",
    "lms.xapi.v1.LearningRecordStoreService/WriteDocument",
    "lms.xapi.v1.LearningRecordStoreService/DeleteDocuments",
];

/// A write RPC called so that it changes nothing: a dry run, or a submit of an attempt that
/// was submitted before (it answers the first result).
fn changes_nothing(call: &Logged, earlier: &[Logged]) -> bool {
    call.request["dryRun"] == true
        || (call.rpc.ends_with("/SubmitAttempt")
            && earlier.iter().any(|before| {
                before.succeeded
                    && before.rpc == call.rpc
                    && before.request["attemptId"] == call.request["attemptId"]
            }))
}

/// Every entry of tenant `tenant`'s trail, read through the gateway page after page.
async fn trail(lms: &Lms, token: &str, query: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let url = format!(
            "{}/v1/auditEntries?pageSize=37&pageToken={page_token}{query}",
            lms.gateway
        );
        let response = lms.http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200, "the trail is read");
        let page: Value = response.json().await.unwrap();
        entries.extend(page["auditEntries"].as_array().cloned().unwrap_or_default());
        match page["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => page_token = next.to_string(),
            _ => return entries,
        }
    }
}

async fn every_write_leaves_exactly_one_entry(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let ids = seed_tenant_a(&lms).await;
    let upsert = more_writes(&lms, &ids).await;
    for (rpc, caller, _, template) in ISOLATION {
        if matches!(caller, Caller::Service) {
            continue;
        }
        let token = lms.token("a", caller.role());
        let _ = lms.rpc(rpc, fill(template, &ids), Some(&token)).await;
    }
    // The rows try GIFT imports and regrades as dry runs; one real run of each.
    let admin = lms.token("a", Role::Admin);
    lms.ok(
        "lms.assessment.v1.AssessmentService/ImportGift",
        serde_json::json!({"bankId": ids["bank"], "gift": "Loads travel low. {T}"}),
        &admin,
    )
    .await;
    lms.ok(
        "lms.assessment.v1.AssessmentService/RegradeQuestion",
        serde_json::json!({"id": ids["question"]}),
        &admin,
    )
    .await;
    // A person's own settings: the inbox, preferences, calendar feed; the tenant's templates.
    let learner = lms.token("a", Role::Learner);
    let writes = [
        (
            "NotificationService/MarkNotificationsRead",
            r#"{"all":true}"#,
            &learner,
        ),
        (
            "NotificationService/UpdateNotificationPreferences",
            r#"{"preferences":{"digest":true},"updateMask":"digest"}"#,
            &learner,
        ),
        (
            "NotificationService/SetTemplate",
            r#"{"template":{"kind":"ASSIGNED","locale":"de","subject":"Neu","body":"Hallo"}}"#,
            &admin,
        ),
        (
            "NotificationService/DeleteTemplate",
            r#"{"kind":"ASSIGNED","locale":"de"}"#,
            &admin,
        ),
    ];
    for (rpc, request, token) in writes {
        let rpc = format!("lms.notification.v1.{rpc}");
        lms.ok(&rpc, serde_json::from_str(request).unwrap(), token)
            .await;
    }
    for rpc in ["CreateCalendarFeed", "DeleteCalendarFeed"] {
        let rpc = format!("lms.records.v1.TrainingSessionService/{rpc}");
        lms.ok(&rpc, serde_json::json!({}), &learner).await;
    }
    lms.ok(
        "lms.xapi.v1.LrsForwardingService/UpdateLrsForwarding",
        json!({"forwarding": {"endpoint": "https://lrs.example.com/xapi/"}}),
        &admin,
    )
    .await;
    let mut calls = lms.logged();
    calls.push(upsert);
    let entries = trail(&lms, &admin, "").await;

    let mut by_request: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for entry in &entries {
        by_request
            .entry(entry["requestId"].as_str().unwrap_or_default())
            .or_default()
            .push(entry);
    }
    let mut wrong = Vec::new();
    let mut made = BTreeSet::new();
    for (i, call) in calls.iter().enumerate() {
        let found = by_request
            .remove(call.request_id.as_str())
            .unwrap_or_default();
        let writes = call.succeeded && !is_read(&call.rpc) && !changes_nothing(call, &calls[..i]);
        if writes {
            made.insert(call.rpc.clone());
        }
        match (writes, found.as_slice()) {
            (true, [entry]) if entry["action"] == call.rpc.as_str() => {}
            (false, []) => {}
            (_, found) => wrong.push(format!(
                "{} ({}): {} entries {:?}",
                call.rpc,
                if call.succeeded {
                    "succeeded"
                } else {
                    "failed"
                },
                found.len(),
                found
                    .iter()
                    .map(|e| e["action"].clone())
                    .collect::<Vec<_>>()
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "calls and their audit entries disagree:\n{}",
        wrong.join("\n")
    );
    assert!(
        by_request.is_empty(),
        "entries no call of this test made: {by_request:?}"
    );

    // Every write RPC the suite serves was made, or is listed with a reason.
    let excused: BTreeSet<&str> = NOT_MADE_HERE.iter().map(|(rpc, _)| *rpc).collect();
    let unmade: Vec<String> = lms
        .pool
        .services()
        .filter(|s| s.full_name().starts_with("lms."))
        .flat_map(|s| {
            s.methods()
                .map(|m| format!("{}/{}", s.full_name(), m.name()))
                .collect::<Vec<_>>()
        })
        .filter(|rpc| !is_read(rpc) && !made.contains(rpc) && !excused.contains(rpc.as_str()))
        .collect();
    assert!(
        unmade.is_empty(),
        "write RPCs this test never made: {unmade:?}"
    );

    // What an entry says: who, with which roles, the fields that changed.
    let renamed = entries
        .iter()
        .find(|e| e["action"] == "lms.pathway.v1.PathwayService/UpdateCategory")
        .expect("the category was renamed");
    assert_eq!(renamed["actor"], "admin@a");
    assert_eq!(renamed["actorRoles"], serde_json::json!(["admin"]));
    assert_eq!(
        renamed["resource"],
        format!("categories/{}", ids["category"])
    );
    assert_eq!(renamed["before"]["name"], "Safety");
    assert_eq!(renamed["after"]["name"], "Renamed");
    assert!(
        renamed["before"].get("description").is_none(),
        "only changed fields are kept: {renamed}"
    );
    let webhook = entries
        .iter()
        .find(|e| e["action"] == "lms.notification.v1.WebhookService/CreateWebhook")
        .expect("a webhook was made");
    assert!(
        !webhook.to_string().to_lowercase().contains("secret"),
        "a webhook's secret is never recorded: {webhook}"
    );

    // Filters: by actor, by resource and what is below it, by RPC, by time.
    let learner_entries = trail(&lms, &admin, "&actor=learner@a").await;
    assert!(!learner_entries.is_empty());
    assert!(learner_entries.iter().all(|e| e["actor"] == "learner@a"));
    let pathway = format!("pathways/{}", ids["pathway"]);
    let on_pathway = trail(&lms, &admin, &format!("&resource={pathway}")).await;
    assert!(on_pathway.len() >= 5, "{on_pathway:?}");
    assert!(on_pathway.iter().all(|e| {
        e["resource"] == pathway.as_str()
            || e["resource"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{pathway}/"))
    }));
    let renames = trail(&lms, &admin, "&action=UpdateCategory").await;
    assert_eq!(renames.len(), 1);
    let future = trail(&lms, &admin, "&startTime=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());

    // One CSV of the whole trail.
    let csv = lms
        .http
        .get(format!("{}/v1/auditEntries:export", lms.gateway))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rows.headers().unwrap().iter().collect::<Vec<_>>(),
        lms_platform::audit::CSV_HEADER
    );
    assert_eq!(rows.records().count(), entries.len());

    // Another tenant's admin sees nothing of A's; a learner may not read the trail; a bad
    // filter is refused with its field named.
    assert!(
        trail(&lms, &lms.token("b", Role::Admin), "")
            .await
            .is_empty()
    );
    let refused = lms
        .http
        .get(format!("{}/v1/auditEntries", lms.gateway))
        .bearer_auth(lms.token("a", Role::Learner))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let bad = lms
        .http
        .get(format!(
            "{}/v1/auditEntries?startTime=2026-02-01T00:00:00Z&endTime=2026-01-01T00:00:00Z",
            lms.gateway
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("end_time"));
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn every_write_leaves_exactly_one_entry() {
        super::every_write_leaves_exactly_one_entry(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn every_write_leaves_exactly_one_entry() {
        super::every_write_leaves_exactly_one_entry(TestBackend::Postgres).await;
    }
}
