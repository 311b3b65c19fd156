//! Scoped administration end to end, on SQLite and PostgreSQL: a person given a role on one
//! part of the tenant (scope A) acts there, and in another part (scope B) is refused exactly as
//! for something that does not exist — RPC by RPC, for every RPC a binding can open. A binding
//! opens nothing else (every other RPC answers its holder as it answers a plain learner); a
//! role gives only its own permissions; a removed binding stops working; bad bindings change
//! nothing; one tenant's bindings mean nothing in another.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lms_platform::Role;
use lms_test_support::TestBackend;
use serde_json::{Value, json};
use tonic::Code;

use crate::support::Lms;

const PATHWAYS: &str = "lms.pathway.v1.PathwayService";
const ENROLMENT: &str = "lms.enrolment.v1.EnrolmentService";
const BINDINGS: &str = "lms.enrolment.v1.RoleBindingService";
const RECORDS: &str = "lms.records.v1.RecordsService";
const ASSESSMENT: &str = "lms.assessment.v1.AssessmentService";
const NEVER: &str = "01900000-0000-7000-8000-000000000000";

/// The RPCs whose answer depends on the caller's bindings: the services' scoped policies, and
/// the records an instructor or reporting viewer of a group reads.
fn scoped_rpcs() -> BTreeSet<String> {
    let mut rpcs = BTreeSet::new();
    for (service, policy) in [
        (PATHWAYS, pathway_service::grpc::policy::SCOPED),
        (
            "lms.pathway.v1.ContentPackageService",
            pathway_service::grpc::policy::PACKAGES_SCOPED,
        ),
        (ENROLMENT, enrolment_service::grpc::policy::SCOPED),
        (ASSESSMENT, assessment_service::grpc::policy::SCOPED),
    ] {
        rpcs.extend(policy.iter().map(|(m, _)| format!("{service}/{m}")));
    }
    for rpc in [
        "ListProgress",
        "ListTranscript",
        "ExportTranscript",
        "ListCertifications",
        "StreamComplianceReport",
        "ExportComplianceReport",
    ] {
        rpcs.insert(format!("{RECORDS}/{rpc}"));
    }
    rpcs.insert(format!("{PATHWAYS}/GetPathway"));
    rpcs.insert(format!("{ASSESSMENT}/GetAttempt"));
    rpcs
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// A code and a message with `from` written as `to`: how an answer about B is compared with
/// the answer about an id that never existed.
async fn answer(lms: &Lms, rpc: &str, request: Value, token: &str) -> (Code, String) {
    match lms.rpc(rpc, request, Some(token)).await {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_string()),
    }
}

/// The tenant: two of everything, A and B, and the people holding bindings on A.
struct World {
    admin: String,
    ids: std::collections::HashMap<&'static str, String>,
}

impl World {
    fn id(&self, name: &str) -> &str {
        &self.ids[name]
    }
}

async fn person(lms: &Lms, admin: &str, external_id: &str, department: &str) -> String {
    let created = lms
        .ok(
            &format!("{ENROLMENT}/CreatePerson"),
            json!({"person": {"externalId": external_id, "displayName": external_id,
                   "email": format!("{external_id}@acme.example"), "department": department}}),
            admin,
        )
        .await;
    id(&created)
}

async fn bind(lms: &Lms, admin: &str, principal: &str, role: &str, scope: Value) -> String {
    let created = lms
        .ok(
            &format!("{BINDINGS}/CreateRoleBinding"),
            json!({"roleBinding": {"principal": principal, "role": role, "scope": scope}}),
            admin,
        )
        .await;
    id(&created)
}

/// A draft pathway in `category` with one content step.
async fn draft(lms: &Lms, admin: &str, title: &str, category: &str) -> (String, String) {
    let pathway = lms
        .ok(
            &format!("{PATHWAYS}/CreatePathway"),
            json!({"pathway": {"title": title, "categoryId": category, "outcome": "TRAINING"}}),
            admin,
        )
        .await;
    let with_step = lms
        .ok(
            &format!("{PATHWAYS}/AddStep"),
            json!({"pathwayId": id(&pathway), "step": {"title": "Read", "required": true,
                   "content": {"url": "https://learn.example.com/read", "mediaType": "DOCUMENT"}}}),
            admin,
        )
        .await;
    let step = with_step["steps"][0]["id"].as_str().unwrap().to_string();
    (id(&pathway), step)
}

async fn world(lms: &Lms) -> World {
    let admin = lms.auth.token("acme", "admin@acme", &[Role::Admin]);
    let mut ids = std::collections::HashMap::new();
    // Learners: lena on side A (Finance, audience A, class A), omar on side B.
    ids.insert("lena", person(lms, &admin, "lena", "Finance").await);
    ids.insert("omar", person(lms, &admin, "omar", "Operations").await);
    for holder in ["cara", "adam", "vera", "ivan", "gina", "all"] {
        person(lms, &admin, holder, "Staff").await;
    }
    for (name, side) in [("audience_a", "lena"), ("audience_b", "omar")] {
        let audience = lms
            .ok(
                &format!("{ENROLMENT}/CreateAudience"),
                json!({"audience": {"name": name, "kind": "STATIC"}}),
                &admin,
            )
            .await;
        lms.ok(
            &format!("{ENROLMENT}/AddAudienceMembers"),
            json!({"audienceId": id(&audience), "personIds": [ids[side]]}),
            &admin,
        )
        .await;
        ids.insert(name, id(&audience));
    }
    for (name, side) in [("class_a", "lena"), ("class_b", "omar")] {
        let class = lms
            .ok(
                &format!("{ENROLMENT}/CreateClass"),
                json!({"class": {"code": name, "name": name, "term": "2026-autumn",
                       "startDate": "2026-09-01", "endDate": "2026-12-20"}}),
                &admin,
            )
            .await;
        lms.ok(
            &format!("{ENROLMENT}/AddClassMembers"),
            json!({"classId": id(&class), "personIds": [ids[side]], "role": "STUDENT"}),
            &admin,
        )
        .await;
        ids.insert(name, id(&class));
    }
    // Categories: A with a child, B beside it.
    for (name, parent) in [
        ("cat_a", None),
        ("cat_b", None),
        ("cat_a_child", Some("cat_a")),
        ("cat_a_empty", Some("cat_a")),
    ] {
        let parent = parent.map(|p: &str| ids[p].clone()).unwrap_or_default();
        let category = lms
            .ok(
                &format!("{PATHWAYS}/CreateCategory"),
                json!({"category": {"name": name, "parentId": parent}}),
                &admin,
            )
            .await;
        ids.insert(name, id(&category));
    }
    for (name, category) in [("draft_a", "cat_a_child"), ("draft_b", "cat_b")] {
        let (pathway, step) = draft(lms, &admin, name, &ids[category].clone()).await;
        ids.insert(name, pathway);
        ids.insert(
            if name == "draft_a" {
                "step_a"
            } else {
                "step_b"
            },
            step,
        );
    }
    World { admin, ids }
}

/// An essay assessment on a published pathway both learners join; each submits an attempt
/// waiting for a grade. Returns (pathway, lena's attempt, omar's attempt, the question).
async fn attempts(lms: &Lms, world: &World) -> (String, String, String, String) {
    let admin = &world.admin;
    let pathway = lms
        .ok(
            &format!("{PATHWAYS}/CreatePathway"),
            json!({"pathway": {"title": "Incident reports", "categoryId": world.id("cat_a"),
                   "outcome": "TRAINING"}}),
            admin,
        )
        .await;
    let pathway = id(&pathway);
    let bank = lms
        .ok(
            &format!("{ASSESSMENT}/CreateQuestionBank"),
            json!({"bank": {"name": "Reports"}}),
            admin,
        )
        .await;
    let essay = lms
        .ok(
            &format!("{ASSESSMENT}/CreateQuestion"),
            json!({"bankId": id(&bank), "question": {"text": "Describe a near miss.", "essay": {}}}),
            admin,
        )
        .await;
    let assessment = lms
        .ok(
            &format!("{ASSESSMENT}/CreateAssessment"),
            json!({"assessment": {"title": "Report", "pathwayId": pathway,
                   "fixed": {"questionIds": [id(&essay)]}, "passMarkPercent": 50}}),
            admin,
        )
        .await;
    lms.ok(
        &format!("{PATHWAYS}/AddStep"),
        json!({"pathwayId": pathway, "step": {"title": "Write", "required": true,
               "assessment": {"assessmentId": id(&assessment)}}}),
        admin,
    )
    .await;
    lms.ok(
        &format!("{PATHWAYS}/PublishPathway"),
        json!({"id": pathway}),
        admin,
    )
    .await;
    let mut attempts = Vec::new();
    for learner in ["lena", "omar"] {
        lms.ok(
            &format!("{ENROLMENT}/EnrolPerson"),
            json!({"personId": world.id(learner), "pathwayId": pathway}),
            admin,
        )
        .await;
        let token = lms.auth.token("acme", learner, &[Role::Learner]);
        let attempt = lms
            .eventually(
                &format!("{ASSESSMENT}/StartAttempt"),
                json!({"assessmentId": id(&assessment)}),
                &token,
                |_| true,
            )
            .await;
        let answers = json!([{"questionId": id(&essay), "answer": {"text": "A pallet slipped."}}]);
        lms.ok(
            &format!("{ASSESSMENT}/SubmitAttempt"),
            json!({"attemptId": id(&attempt), "answers": answers}),
            &token,
        )
        .await;
        attempts.push(id(&attempt));
    }
    (
        pathway,
        attempts[0].clone(),
        attempts[1].clone(),
        id(&essay),
    )
}

/// One scoped RPC tried in A, in B, and on an id that never existed: A succeeds; B is refused
/// with exactly the answer the missing id gets (its id written as the missing one).
struct Case {
    rpc: String,
    holder: &'static str,
    in_a: Value,
    in_b: Value,
    b_id: String,
    never: Value,
}

/// A cmi5 course structure of one AU, for the import's case.
const CMI5_COURSE: &str = r#"<courseStructure xmlns="https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd">
<course id="https://vendor.example.com/c"><title><langstring>C</langstring></title></course>
<au id="https://vendor.example.com/c/au" moveOn="Completed"><title><langstring>AU</langstring></title>
<description><langstring>AU</langstring></description><url>https://vendor.example.com/c/au.html</url></au>
</courseStructure>"#;

fn case(
    rpc: &str,
    holder: &'static str,
    in_a: Value,
    in_b: Value,
    b_id: &str,
    never: Value,
) -> Case {
    Case {
        rpc: rpc.to_string(),
        holder,
        in_a,
        in_b,
        b_id: b_id.to_string(),
        never,
    }
}

/// The request for B with B's id replaced by one that never existed.
fn never(request: &Value, b_id: &str) -> Value {
    serde_json::from_str(&request.to_string().replace(b_id, NEVER)).unwrap()
}

async fn each_scoped_rpc_reaches_scope_a_and_not_scope_b(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let w = world(&lms).await;
    let admin = w.admin.clone();
    let (essays, lena_attempt, omar_attempt, essay) = attempts(&lms, &w).await;
    // The holders: a category admin, an audience admin, a department reporting viewer, a class
    // instructor and a class grader — each on side A only.
    bind(
        &lms,
        &admin,
        "cara",
        "SCOPED_ROLE_ADMIN",
        json!({"category": w.id("cat_a")}),
    )
    .await;
    bind(
        &lms,
        &admin,
        "adam",
        "SCOPED_ROLE_ADMIN",
        json!({"audience": w.id("audience_a")}),
    )
    .await;
    bind(
        &lms,
        &admin,
        "vera",
        "SCOPED_ROLE_REPORTING_VIEWER",
        json!({"department": "Finance"}),
    )
    .await;
    bind(
        &lms,
        &admin,
        "ivan",
        "SCOPED_ROLE_INSTRUCTOR",
        json!({"classId": w.id("class_a")}),
    )
    .await;
    bind(
        &lms,
        &admin,
        "gina",
        "SCOPED_ROLE_GRADER",
        json!({"classId": w.id("class_a")}),
    )
    .await;

    // Enrolments the audience admin withdraws and extends (made by the tenant admin).
    let (published, _) = draft(&lms, &admin, "Published", w.id("cat_b")).await;
    lms.ok(
        &format!("{PATHWAYS}/PublishPathway"),
        json!({"id": published}),
        &admin,
    )
    .await;
    let mut enrolments = std::collections::HashMap::new();
    for learner in ["lena", "omar"] {
        let enrolment = lms
            .ok(
                &format!("{ENROLMENT}/EnrolPerson"),
                json!({"personId": w.id(learner), "pathwayId": published}),
                &admin,
            )
            .await;
        enrolments.insert(learner, id(&enrolment));
    }
    let (lena_e, omar_e) = (enrolments["lena"].clone(), enrolments["omar"].clone());
    // A published pathway nobody is enrolled in yet.
    let (open, _) = draft(&lms, &admin, "Open", w.id("cat_b")).await;
    lms.ok(
        &format!("{PATHWAYS}/PublishPathway"),
        json!({"id": open}),
        &admin,
    )
    .await;
    let (draft_a, draft_b) = (w.id("draft_a").to_string(), w.id("draft_b").to_string());
    let (step_a, step_b) = (w.id("step_a").to_string(), w.id("step_b").to_string());
    let (cat_a, cat_b, child) = (
        w.id("cat_a").to_string(),
        w.id("cat_b").to_string(),
        w.id("cat_a_child").to_string(),
    );
    let later = "2030-01-01T00:00:00Z";
    let p = |m: &str| format!("{PATHWAYS}/{m}");
    let e = |m: &str| format!("{ENROLMENT}/{m}");
    let r = |m: &str| format!("{RECORDS}/{m}");
    let a = |m: &str| format!("{ASSESSMENT}/{m}");
    let step_in = |pathway: &str, step: &str| json!({"pathwayId": pathway, "step": {"id": step, "title": "Read again"}, "updateMask": "title"});
    let report = |department: &str| json!({"pathwayId": essays, "department": department});
    let mut cases = vec![
        // A category admin: categories and pathways of the subtree.
        case(
            &p("CreateCategory"),
            "cara",
            json!({"category": {"name": "New", "parentId": child}}),
            json!({"category": {"name": "New", "parentId": cat_b}}),
            &cat_b,
            json!({"category": {"name": "New", "parentId": NEVER}}),
        ),
        case(
            &p("UpdateCategory"),
            "cara",
            json!({"category": {"id": child, "name": "Renamed"}, "updateMask": "name"}),
            json!({"category": {"id": cat_b, "name": "Renamed"}, "updateMask": "name"}),
            &cat_b,
            json!({"category": {"id": NEVER, "name": "Renamed"}, "updateMask": "name"}),
        ),
        case(
            &p("GetPathway"),
            "cara",
            json!({"id": draft_a}),
            json!({"id": draft_b}),
            &draft_b,
            json!({"id": NEVER}),
        ),
        case(
            &p("CreatePathway"),
            "cara",
            json!({"pathway": {"title": "T", "categoryId": child, "outcome": "TRAINING"}}),
            json!({"pathway": {"title": "T", "categoryId": cat_b, "outcome": "TRAINING"}}),
            &cat_b,
            json!({"pathway": {"title": "T", "categoryId": NEVER, "outcome": "TRAINING"}}),
        ),
        case(
            &p("UpdatePathway"),
            "cara",
            json!({"pathway": {"id": draft_a, "title": "Renamed"}, "updateMask": "title"}),
            json!({"pathway": {"id": draft_b, "title": "Renamed"}, "updateMask": "title"}),
            &draft_b,
            json!({"pathway": {"id": NEVER, "title": "Renamed"}, "updateMask": "title"}),
        ),
        case(
            &p("UpdateStep"),
            "cara",
            step_in(&draft_a, &step_a),
            step_in(&draft_b, &step_b),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("ReorderSteps"),
            "cara",
            json!({"pathwayId": draft_a, "stepIds": [step_a]}),
            json!({"pathwayId": draft_b, "stepIds": [step_b]}),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("AddStep"),
            "cara",
            json!({"pathwayId": draft_a, "step": {"title": "More", "content": {"url": "https://learn.example.com/more", "mediaType": "DOCUMENT"}}}),
            json!({"pathwayId": draft_b, "step": {"title": "More", "content": {"url": "https://learn.example.com/more", "mediaType": "DOCUMENT"}}}),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("ImportCmi5Course"),
            "cara",
            json!({"pathwayId": draft_a, "courseStructure": CMI5_COURSE}),
            json!({"pathwayId": draft_b, "courseStructure": CMI5_COURSE}),
            &draft_b,
            Value::Null,
        ),
        case(
            "lms.pathway.v1.ContentPackageService/ImportCmi5Package",
            "cara",
            json!({"header": {"pathwayId": draft_a}, "chunk": crate::matrix::CMI5_PACKAGE, "end": true}),
            json!({"header": {"pathwayId": draft_b}, "chunk": crate::matrix::CMI5_PACKAGE, "end": true}),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("PublishPathway"),
            "cara",
            json!({"id": draft_a}),
            json!({"id": draft_b}),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("RemoveStep"),
            "cara",
            json!({"pathwayId": draft_a, "stepId": step_a}),
            json!({"pathwayId": draft_b, "stepId": step_b}),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("ArchivePathway"),
            "cara",
            json!({"id": draft_a}),
            json!({"id": draft_b}),
            &draft_b,
            Value::Null,
        ),
        case(
            &p("MoveCategory"),
            "cara",
            json!({"id": child, "newParentId": cat_a}),
            json!({"id": cat_b, "newParentId": cat_a}),
            &cat_b,
            Value::Null,
        ),
        case(
            &p("DeleteCategory"),
            "cara",
            json!({"id": w.id("cat_a_empty")}),
            json!({"id": cat_b}),
            &cat_b,
            Value::Null,
        ),
        // An audience admin: enrolments of the audience's people.
        case(
            &e("EnrolPerson"),
            "adam",
            json!({"personId": w.id("lena"), "pathwayId": open}),
            json!({"personId": w.id("omar"), "pathwayId": open}),
            w.id("omar"),
            Value::Null,
        ),
        case(
            &e("ExtendDueDate"),
            "adam",
            json!({"id": lena_e, "dueTime": later, "reason": "Leave"}),
            json!({"id": omar_e, "dueTime": later, "reason": "Leave"}),
            &omar_e,
            Value::Null,
        ),
        case(
            &e("WithdrawEnrolment"),
            "adam",
            json!({"id": lena_e, "reason": "Left"}),
            json!({"id": omar_e, "reason": "Left"}),
            &omar_e,
            Value::Null,
        ),
        // A reporting viewer of a department: its people's records and its report.
        case(
            &r("ListProgress"),
            "vera",
            json!({"learner": "lena"}),
            json!({"learner": "omar"}),
            "omar",
            Value::Null,
        ),
        case(
            &r("ListTranscript"),
            "vera",
            json!({"learner": "lena"}),
            json!({"learner": "omar"}),
            "omar",
            Value::Null,
        ),
        case(
            &r("ExportTranscript"),
            "ivan",
            json!({"learner": "lena"}),
            json!({"learner": "omar"}),
            "omar",
            Value::Null,
        ),
        case(
            &r("ListCertifications"),
            "ivan",
            json!({"learner": "lena"}),
            json!({"learner": "omar"}),
            "omar",
            Value::Null,
        ),
        case(
            &r("StreamComplianceReport"),
            "vera",
            report("Finance"),
            report("Operations"),
            "Operations",
            Value::Null,
        ),
        case(
            &r("ExportComplianceReport"),
            "vera",
            report("Finance"),
            report("Operations"),
            "Operations",
            Value::Null,
        ),
        // A grader of a class: its students' attempts.
        case(
            &a("GetAttempt"),
            "gina",
            json!({"id": lena_attempt}),
            json!({"id": omar_attempt}),
            &omar_attempt,
            Value::Null,
        ),
        case(
            &a("GradeAnswer"),
            "gina",
            json!({"attemptId": lena_attempt, "questionId": essay, "points": 1}),
            json!({"attemptId": omar_attempt, "questionId": essay, "points": 1}),
            &omar_attempt,
            Value::Null,
        ),
    ];
    for c in &mut cases {
        if c.never.is_null() {
            c.never = never(&c.in_b, &c.b_id);
        }
    }
    let covered: BTreeSet<String> = cases.iter().map(|c| c.rpc.clone()).collect();
    assert_eq!(
        covered,
        scoped_rpcs(),
        "every RPC a binding opens has its case"
    );

    // Listing: a category admin sees the drafts of a category they administer when they ask
    // for it with a status; of another category, and to a learner, only what is published.
    let drafts = |category: &str| json!({"categoryId": category, "status": "DRAFT"});
    let cara = lms.auth.token("acme", "cara", &[Role::Learner]);
    let lena = lms.auth.token("acme", "lena", &[Role::Learner]);
    let listed = |answer: Value| -> Vec<String> {
        answer["pathways"]
            .as_array()
            .map(|all| all.iter().map(id).collect())
            .unwrap_or_default()
    };
    let own = lms.ok(&p("ListPathways"), drafts(&child), &cara).await;
    assert_eq!(listed(own), vec![draft_a.clone()]);
    let beside = lms.ok(&p("ListPathways"), drafts(&cat_b), &cara).await;
    assert!(!listed(beside).contains(&draft_b));
    let learner = lms.ok(&p("ListPathways"), drafts(&child), &lena).await;
    assert!(listed(learner).is_empty());

    let mut wrong = Vec::new();
    for c in &cases {
        let token = lms.auth.token("acme", c.holder, &[Role::Learner]);
        let (b_code, b_text) = answer(&lms, &c.rpc, c.in_b.clone(), &token).await;
        let (never_code, never_text) = answer(&lms, &c.rpc, c.never.clone(), &token).await;
        if !matches!(b_code, Code::NotFound | Code::PermissionDenied)
            || (b_code, b_text.replace(&c.b_id, NEVER)) != (never_code, never_text.clone())
        {
            wrong.push(format!(
                "{} in B: {b_code:?} {b_text:?}; never existed: {never_code:?} {never_text:?}",
                c.rpc
            ));
        }
        let (a_code, a_text) = answer(&lms, &c.rpc, c.in_a.clone(), &token).await;
        if a_code != Code::Ok {
            wrong.push(format!("{} in A: {a_code:?} {a_text}", c.rpc));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // B is untouched: its category, draft and learner's enrolment are as they were.
    let b = lms
        .ok(&p("GetPathway"), json!({"id": draft_b}), &admin)
        .await;
    assert_eq!(b["title"], "draft_b");
    assert_eq!(b["steps"].as_array().unwrap().len(), 1);
    let omar = lms
        .ok(&e("GetEnrolment"), json!({"id": omar_e}), &admin)
        .await;
    assert_eq!(omar["status"], "ENROLMENT_ACTIVE", "{omar}");
    assert!(omar.get("dueTime").is_none(), "{omar}");
    let pending = lms
        .ok(&a("GetAttempt"), json!({"id": omar_attempt}), &admin)
        .await;
    assert_eq!(pending["status"], "AWAITING_GRADING", "{pending}");

    // The top of the tree is the tenant admins': a pathway without a category is outside every
    // category binding (answered as a missing one), and creating one there is refused.
    let loose = lms
        .ok(
            &p("CreatePathway"),
            json!({"pathway": {"title": "Loose", "outcome": "TRAINING"}}),
            &admin,
        )
        .await;
    let cara_token = lms.auth.token("acme", "cara", &[Role::Learner]);
    let rename =
        |pathway: &str| json!({"pathway": {"id": pathway, "title": "Mine"}, "updateMask": "title"});
    let (loose_code, loose_text) =
        answer(&lms, &p("UpdatePathway"), rename(&id(&loose)), &cara_token).await;
    let (never_code, never_text) =
        answer(&lms, &p("UpdatePathway"), rename(NEVER), &cara_token).await;
    assert_eq!(
        (loose_code, loose_text.replace(&id(&loose), NEVER)),
        (never_code, never_text)
    );
    let (code, _) = answer(
        &lms,
        &p("CreatePathway"),
        json!({"pathway": {"title": "Loose too", "outcome": "TRAINING"}}),
        &cara_token,
    )
    .await;
    assert_eq!(code, Code::PermissionDenied);

    // A role gives its own permissions only.
    let vera = lms.auth.token("acme", "vera", &[Role::Learner]);
    let gina = lms.auth.token("acme", "gina", &[Role::Learner]);
    let cara = lms.auth.token("acme", "cara", &[Role::Learner]);
    for (who, token, rpc, request) in [
        (
            "viewer",
            &vera,
            e("EnrolPerson"),
            json!({"personId": w.id("lena"), "pathwayId": essays}),
        ),
        (
            "viewer",
            &vera,
            a("GradeAnswer"),
            json!({"attemptId": lena_attempt, "questionId": essay, "points": 0}),
        ),
        (
            "viewer",
            &vera,
            p("UpdateCategory"),
            json!({"category": {"id": cat_a, "name": "X"}, "updateMask": "name"}),
        ),
        (
            "grader",
            &gina,
            r("ListProgress"),
            json!({"learner": "lena"}),
        ),
        (
            "category admin",
            &cara,
            r("ListProgress"),
            json!({"learner": "lena"}),
        ),
        (
            "category admin",
            &cara,
            e("EnrolPerson"),
            json!({"personId": w.id("lena"), "pathwayId": essays}),
        ),
    ] {
        let (code, text) = answer(&lms, &rpc, request, token).await;
        assert!(
            matches!(code, Code::PermissionDenied | Code::NotFound),
            "a {who} calling {rpc}: {code:?} {text}"
        );
    }
}

/// Every RPC no binding opens answers a person holding every kind of binding exactly as it
/// answers a plain learner.
async fn a_binding_opens_nothing_else(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let w = world(&lms).await;
    let admin = &w.admin;
    for (role, scope) in [
        ("SCOPED_ROLE_ADMIN", json!({"category": w.id("cat_a")})),
        ("SCOPED_ROLE_ADMIN", json!({"audience": w.id("audience_a")})),
        (
            "SCOPED_ROLE_REPORTING_VIEWER",
            json!({"department": "Finance"}),
        ),
        (
            "SCOPED_ROLE_INSTRUCTOR",
            json!({"classId": w.id("class_a")}),
        ),
        ("SCOPED_ROLE_GRADER", json!({"classId": w.id("class_a")})),
    ] {
        bind(&lms, admin, "all", role, scope).await;
    }
    let bound = lms.auth.token("acme", "all", &[Role::Learner]);
    let plain = lms.auth.token("acme", "lena", &[Role::Learner]);
    let scoped = scoped_rpcs();
    let pool = &lms.pool;
    let mut wrong = Vec::new();
    let mut tried = 0;
    for service in pool
        .services()
        .filter(|s| s.full_name().starts_with("lms."))
    {
        if service.full_name() == "lms.portal.v1.PortalService" {
            continue; // "my" pages: the caller's own, whatever they administer
        }
        for method in service.methods() {
            let rpc = format!("{}/{}", service.full_name(), method.name());
            if scoped.contains(&rpc) {
                continue;
            }
            for component in lms_test_support::Rpcs::components_of(service.full_name()) {
                let code = |answer: Result<Value, tonic::Status>| {
                    answer.err().map_or(Code::Ok, |s| s.code())
                };
                let as_bound = code(lms.call(component, &rpc, json!({}), Some(&bound)).await);
                let as_plain = code(lms.call(component, &rpc, json!({}), Some(&plain)).await);
                tried += 1;
                if as_bound != as_plain {
                    wrong.push(format!(
                        "{rpc} on {component}: {as_bound:?}, a learner {as_plain:?}"
                    ));
                }
            }
        }
    }
    assert!(tried > 100, "only {tried} calls");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Removing a binding ends what it gave at once, everywhere: in the directory in its own
/// transaction, and in every other service when enrolment-service's `RoleBindingChanged`
/// reaches it — here with a cache lifetime of five minutes, so nothing but the event can have
/// ended it.
async fn a_removed_binding_stops_working(backend: TestBackend) {
    let Some(lms) = Lms::start_with(backend, &[("LMS__AUTH__BINDINGS_CACHE_SECONDS", "300")]).await
    else {
        return;
    };
    let w = world(&lms).await;
    let admin = &w.admin;
    let (published, _) = draft(&lms, admin, "Published", w.id("cat_b")).await;
    lms.ok(
        &format!("{PATHWAYS}/PublishPathway"),
        json!({"id": published}),
        admin,
    )
    .await;
    let adam_binding = bind(
        &lms,
        admin,
        "adam",
        "SCOPED_ROLE_ADMIN",
        json!({"audience": w.id("audience_a")}),
    )
    .await;
    let cara_binding = bind(
        &lms,
        admin,
        "cara",
        "SCOPED_ROLE_ADMIN",
        json!({"category": w.id("cat_a")}),
    )
    .await;
    let vera_binding = bind(
        &lms,
        admin,
        "vera",
        "SCOPED_ROLE_REPORTING_VIEWER",
        json!({"department": "Finance"}),
    )
    .await;
    let adam = lms.auth.token("acme", "adam", &[Role::Learner]);
    let cara = lms.auth.token("acme", "cara", &[Role::Learner]);
    let vera = lms.auth.token("acme", "vera", &[Role::Learner]);
    let rename = |name: &str| json!({"category": {"id": w.id("cat_a_child"), "name": name}, "updateMask": "name"});
    let progress = json!({"learner": "lena"});
    // Each works, and its answer is now cached in pathway- and records-service.
    lms.ok(&format!("{PATHWAYS}/UpdateCategory"), rename("One"), &cara)
        .await;
    lms.ok(&format!("{RECORDS}/ListProgress"), progress.clone(), &vera)
        .await;
    let enrol = json!({"personId": w.id("lena"), "pathwayId": published});
    lms.ok(&format!("{ENROLMENT}/EnrolPerson"), enrol.clone(), &adam)
        .await;

    for binding in [&adam_binding, &cara_binding, &vera_binding] {
        lms.ok(
            &format!("{BINDINGS}/DeleteRoleBinding"),
            json!({"id": binding}),
            admin,
        )
        .await;
    }
    // The directory: at once.
    let (code, _) = answer(&lms, &format!("{ENROLMENT}/EnrolPerson"), enrol, &adam).await;
    assert_eq!(code, Code::PermissionDenied);
    // The others: as soon as the event arrives (its delivery, not the 300 s cache).
    for (rpc, request, token) in [
        (format!("{PATHWAYS}/UpdateCategory"), rename("Two"), &cara),
        (format!("{RECORDS}/ListProgress"), progress.clone(), &vera),
    ] {
        let started = Instant::now();
        loop {
            let (code, text) = answer(&lms, &rpc, request.clone(), token).await;
            if code == Code::PermissionDenied {
                break;
            }
            assert_eq!(code, Code::Ok, "{rpc}: {text}");
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{rpc}: the removed binding still works"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let bindings = lms
        .ok(&format!("{BINDINGS}/ListRoleBindings"), json!({}), admin)
        .await;
    assert!(bindings.get("roleBindings").is_none(), "{bindings}");
}

/// Bad bindings: the precise status, and nothing written.
async fn bad_bindings_are_refused_and_change_nothing(backend: TestBackend) {
    let Some(lms) = Lms::start(backend).await else {
        return;
    };
    let w = world(&lms).await;
    let admin = &w.admin;
    let other_tenant = lms.auth.token("globex", "admin@globex", &[Role::Admin]);
    let theirs = lms
        .ok(
            &format!("{PATHWAYS}/CreateCategory"),
            json!({"category": {"name": "Theirs"}}),
            &other_tenant,
        )
        .await;
    let create = format!("{BINDINGS}/CreateRoleBinding");
    let binding = |principal: &str, role: &str, scope: Value| json!({"roleBinding": {"principal": principal, "role": role, "scope": scope}});
    let admin_role = "SCOPED_ROLE_ADMIN";
    for (what, request, expected, field) in [
        (
            "an audience that does not exist",
            binding("cara", admin_role, json!({"audience": NEVER})),
            Code::NotFound,
            "",
        ),
        (
            "a class that does not exist",
            binding("cara", admin_role, json!({"classId": NEVER})),
            Code::NotFound,
            "",
        ),
        (
            "a category that does not exist",
            binding("cara", admin_role, json!({"category": NEVER})),
            Code::NotFound,
            "",
        ),
        (
            "another tenant's category",
            binding("cara", admin_role, json!({"category": id(&theirs)})),
            Code::NotFound,
            "",
        ),
        (
            "a department nobody works in",
            binding("cara", admin_role, json!({"department": "Nowhere"})),
            Code::NotFound,
            "",
        ),
        (
            "someone not in the directory",
            binding("stranger", admin_role, json!({"tenant": true})),
            Code::NotFound,
            "",
        ),
        (
            "no scope",
            binding("cara", admin_role, Value::Null),
            Code::InvalidArgument,
            "role_binding.scope",
        ),
        (
            "no role",
            binding("cara", "SCOPED_ROLE_UNSPECIFIED", json!({"tenant": true})),
            Code::InvalidArgument,
            "role_binding.role",
        ),
        (
            "a malformed audience id",
            binding("cara", admin_role, json!({"audience": "x"})),
            Code::InvalidArgument,
            "role_binding.scope.audience",
        ),
        (
            "tenant: false",
            binding("cara", admin_role, json!({"tenant": false})),
            Code::InvalidArgument,
            "role_binding.scope.tenant",
        ),
        (
            "no principal",
            binding("", admin_role, json!({"tenant": true})),
            Code::InvalidArgument,
            "role_binding.principal",
        ),
    ] {
        let status = lms.rpc(&create, request, Some(admin)).await.unwrap_err();
        assert_eq!(status.code(), expected, "{what}: {status:?}");
        assert!(!status.message().contains("SELECT"), "{what}: {status:?}");
        if !field.is_empty() {
            let details = tonic_types::StatusExt::get_error_details(&status);
            let violations = details
                .bad_request()
                .expect("field violations")
                .field_violations
                .clone();
            assert!(
                violations.iter().any(|v| v.field == field),
                "{what}: {violations:?}"
            );
        }
    }
    // A learner may not bind; twice the same binding is ALREADY_EXISTS.
    let learner = lms.auth.token("acme", "lena", &[Role::Learner]);
    let good = binding("cara", admin_role, json!({"category": w.id("cat_a")}));
    let status = lms
        .rpc(&create, good.clone(), Some(&learner))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let made = lms.ok(&create, good.clone(), admin).await;
    let status = lms.rpc(&create, good, Some(admin)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    // Only the one good binding exists.
    let list = lms
        .ok(&format!("{BINDINGS}/ListRoleBindings"), json!({}), admin)
        .await;
    let listed = list["roleBindings"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["principal"], "cara");
    assert_eq!(listed[0]["scope"]["category"], w.id("cat_a"));

    // Another tenant neither sees nor removes it, and its own "cara" gains nothing.
    for rpc in ["GetRoleBinding", "DeleteRoleBinding"] {
        let status = lms
            .rpc(
                &format!("{BINDINGS}/{rpc}"),
                json!({"id": id(&made)}),
                Some(&other_tenant),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{rpc}");
    }
    let theirs_list = lms
        .ok(
            &format!("{BINDINGS}/ListRoleBindings"),
            json!({}),
            &other_tenant,
        )
        .await;
    assert!(theirs_list.get("roleBindings").is_none(), "{theirs_list}");
    let globex_cara = lms.auth.token("globex", "cara", &[Role::Learner]);
    let status = lms
        .rpc(
            &format!("{PATHWAYS}/CreateCategory"),
            json!({"category": {"name": "X", "parentId": id(&theirs)}}),
            Some(&globex_cara),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    lms.ok(
        &format!("{BINDINGS}/GetRoleBinding"),
        json!({"id": id(&made)}),
        admin,
    )
    .await;
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_scoped_rpc_reaches_scope_a_and_not_scope_b() {
        super::each_scoped_rpc_reaches_scope_a_and_not_scope_b(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_binding_opens_nothing_else() {
        super::a_binding_opens_nothing_else(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_binding_stops_working() {
        super::a_removed_binding_stops_working(TestBackend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_bindings_are_refused_and_change_nothing() {
        super::bad_bindings_are_refused_and_change_nothing(TestBackend::Sqlite).await;
    }
}

mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_scoped_rpc_reaches_scope_a_and_not_scope_b() {
        super::each_scoped_rpc_reaches_scope_a_and_not_scope_b(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_binding_opens_nothing_else() {
        super::a_binding_opens_nothing_else(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_binding_stops_working() {
        super::a_removed_binding_stops_working(TestBackend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_bindings_are_refused_and_change_nothing() {
        super::bad_bindings_are_refused_and_change_nothing(TestBackend::Postgres).await;
    }
}
