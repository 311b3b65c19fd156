//! The audit trail's storage on SQLite and PostgreSQL: what one write records, the filters an
//! administrator reads it with, and that the database itself keeps it append-only.

use std::collections::HashSet;

use diesel::RunQueryDsl;
use lms_platform::audit::{self, Change, Filter};
use lms_platform::auth::Call;
use lms_platform::db::{Db, DbConnection};
use lms_platform::ids::TenantId;
use lms_platform::{Principal, Role};
use lms_test_support::{TestBackend, TestDatabase};
use serde_json::json;

struct Suite {
    db: Db,
    _guard: TestDatabase,
}

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        let guard = TestDatabase::create(backend)?;
        let db = Db::connect(guard.url.clone(), 4).unwrap();
        db.migrate("audit-test", audit::migrations()).await.unwrap();
        Some(Suite { db, _guard: guard })
    }
}

fn person(tenant: &str, subject: &str, role: Role, rpc: &str) -> Principal {
    Principal {
        subject: subject.into(),
        tenant_id: TenantId::parse(tenant).unwrap(),
        roles: HashSet::from([role]),
        call: Call {
            rpc: format!("lms.pathway.v1.PathwayService/{rpc}"),
            request_id: format!("req-{rpc}-{subject}"),
        },
    }
}

async fn record(db: &Db, who: Principal, change: Change) {
    db.write(move |conn| audit::record(conn, &who, change))
        .await
        .unwrap();
}

async fn list(db: &Db, tenant: &str, filter: Filter) -> Vec<audit::Entry> {
    let tenant = TenantId::parse(tenant).unwrap();
    db.read(move |conn| audit::list(conn, &tenant, &filter, None, 100))
        .await
        .unwrap()
}

/// Runs one raw statement, as someone with the database's credentials would.
fn raw(conn: &mut DbConnection, sql: &str) -> Result<usize, diesel::result::Error> {
    match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(sql).execute(pg),
        DbConnection::Sqlite(sqlite) => diesel::sql_query(sql).execute(sqlite),
    }
}

async fn an_entry_says_who_did_what_to_which_resource(suite: Suite) {
    let admin = person("acme", "admin@acme", Role::Admin, "UpdateCategory");
    let change = Change::updated(
        "categories/1",
        &json!({"name": "Safety", "order": 1}),
        &json!({"name": "Safe work", "order": 1}),
    )
    .unwrap();
    record(&suite.db, admin, change).await;
    // A service's write is the effect of a person's, recorded where that was made.
    let service = person("acme", "records-service", Role::Service, "AddStep");
    let change = Change::created("pathways/1", &json!({"title": "x"})).unwrap();
    record(&suite.db, service, change).await;

    let entries = list(&suite.db, "acme", Filter::default()).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.actor, "admin@acme");
    assert_eq!(entry.actor_roles, "admin");
    assert_eq!(entry.action, "lms.pathway.v1.PathwayService/UpdateCategory");
    assert_eq!(entry.resource, "categories/1");
    assert_eq!(entry.request_id, "req-UpdateCategory-admin@acme");
    assert_eq!(entry.before_json.as_deref(), Some(r#"{"name":"Safety"}"#));
    assert_eq!(entry.after_json.as_deref(), Some(r#"{"name":"Safe work"}"#));
    assert!(
        list(&suite.db, "globex", Filter::default())
            .await
            .is_empty()
    );
}

async fn filters_find_an_actor_a_resource_with_what_is_below_it_and_an_rpc(suite: Suite) {
    let resources = [
        "pathways/1",
        "pathways/1/steps/9",
        "pathways/10",
        "categories/1",
    ];
    for (i, resource) in resources.iter().enumerate() {
        let subject = if i % 2 == 0 { "ann@acme" } else { "bob@acme" };
        let rpc = if i < 2 {
            "UpdatePathway"
        } else {
            "CreateCategory"
        };
        let who = person("acme", subject, Role::Admin, rpc);
        record(
            &suite.db,
            who,
            Change::created(*resource, &json!({})).unwrap(),
        )
        .await;
    }
    let filter = |actor: &str, resource: &str, action: &str| Filter {
        actor: actor.into(),
        resource: resource.into(),
        action: action.into(),
        ..Filter::default()
    };
    let resources_of = |entries: Vec<audit::Entry>| -> Vec<String> {
        entries.into_iter().map(|e| e.resource).collect()
    };
    assert_eq!(
        resources_of(list(&suite.db, "acme", filter("", "pathways/1", "")).await),
        ["pathways/1/steps/9", "pathways/1"],
        "a resource and what is below it, newest first; not pathways/10"
    );
    assert_eq!(
        resources_of(list(&suite.db, "acme", filter("bob@acme", "", "")).await),
        ["categories/1", "pathways/1/steps/9"]
    );
    assert_eq!(
        list(&suite.db, "acme", filter("", "", "UpdatePathway"))
            .await
            .len(),
        2
    );
    // The RPC filter is a name, not a pattern.
    assert!(
        list(&suite.db, "acme", filter("", "", "%"))
            .await
            .is_empty()
    );
    let full = "lms.pathway.v1.PathwayService/CreateCategory";
    assert_eq!(list(&suite.db, "acme", filter("", "", full)).await.len(), 2);
    let later = Filter {
        start: Some(chrono::Utc::now().naive_utc() + chrono::Duration::hours(1)),
        ..Filter::default()
    };
    assert!(list(&suite.db, "acme", later).await.is_empty());
}

async fn the_database_refuses_to_change_or_remove_an_entry(suite: Suite) {
    let admin = person("acme", "admin@acme", Role::Admin, "DeleteCategory");
    record(
        &suite.db,
        admin,
        Change::deleted("categories/1", &json!({"name": "Safety"})).unwrap(),
    )
    .await;
    for sql in [
        "UPDATE audit_entries SET actor = 'someone else'",
        "DELETE FROM audit_entries",
    ] {
        let refused = suite
            .db
            .write(move |conn| Ok(raw(conn, sql)))
            .await
            .unwrap();
        let error = refused.expect_err(sql).to_string();
        assert!(error.contains("append-only"), "{sql}: {error}");
    }
    if suite.db.backend() == lms_platform::db::Backend::Postgres {
        let refused = suite
            .db
            .write(|conn| Ok(raw(conn, "TRUNCATE audit_entries")))
            .await
            .unwrap();
        assert!(refused.is_err(), "TRUNCATE is refused");
    }
    let entries = list(&suite.db, "acme", Filter::default()).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "admin@acme");
}

async fn an_erasure_rewrites_a_person_and_nothing_else_may(suite: Suite) {
    let learner = person("acme", "ada@acme", Role::Learner, "RecordActivity");
    let done = json!({"learner": "ada@acme", "note": "ada@acme's step, and ada@acme.example"});
    record(
        &suite.db,
        learner,
        Change::acted("enrolments/1", &done).unwrap(),
    )
    .await;
    let admin = person("acme", "admin@acme", Role::Admin, "UpdatePerson");
    let moved = Change::updated(
        "people/2",
        &json!({"manager": "ada@acme"}),
        &json!({"manager": "bob"}),
    );
    record(&suite.db, admin, moved.unwrap()).await;
    let other_tenant = person("globex", "ada@acme", Role::Learner, "RecordActivity");
    let theirs = Change::acted("enrolments/9", &json!({"learner": "ada@acme"})).unwrap();
    record(&suite.db, other_tenant, theirs).await;

    let tenant = TenantId::parse("acme").unwrap();
    let changed = suite
        .db
        .write(move |conn| audit::pseudonymise(conn, &tenant, "ada@acme", "erased-1"))
        .await
        .unwrap();
    assert_eq!(changed, 3, "one actor and two entries' fields");
    let entries = list(&suite.db, "acme", Filter::default()).await;
    let text = format!("{entries:?}");
    assert!(!text.contains("\"ada@acme\""), "{text}");
    assert!(text.contains("erased-1"), "{text}");
    // Only whole JSON strings are the person's id: the note keeps its words.
    assert!(text.contains("ada@acme's step"), "{text}");
    // Another tenant's entries are theirs.
    let globex = list(&suite.db, "globex", Filter::default()).await;
    assert_eq!(globex[0].actor, "ada@acme");
    // The permit lasted only as long as the rewrite.
    let refused = suite
        .db
        .write(|conn| Ok(raw(conn, "UPDATE audit_entries SET actor = 'x'")))
        .await
        .unwrap();
    assert!(
        refused.is_err(),
        "after the erasure, the trail is append-only again"
    );
}

lms_test_support::on_both_databases!(
    Suite;
    an_erasure_rewrites_a_person_and_nothing_else_may,
    an_entry_says_who_did_what_to_which_resource,
    filters_find_an_actor_a_resource_with_what_is_below_it_and_an_rpc,
    the_database_refuses_to_change_or_remove_an_entry,
);
