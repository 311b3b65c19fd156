//! A preparation never brings back the identity an erasure replaced while it was being made
//! (storage::notifications::prepared).

use diesel::prelude::*;
use lms_platform::ids::TenantId;
use lms_test_support::{TestBackend, TestDatabase};

use super::Decision;
use crate::domain::kind::Kind;
use crate::storage::notifications::{
    EMAIL_PENDING, PENDING, Prepared, READY, Row, decide_all, prepared_all,
};
use crate::storage::schema::notifications as n;

/// The row the app writes when it decides to tell `learner` of an assignment.
fn decided(learner: &str) -> Row {
    let decision = Decision {
        tenant: "a",
        kind: Kind::Assigned,
        dedup_key: format!("assigned:{learner}"),
        learner,
        for_manager: false,
        enrolment_id: "e1",
        pathway_id: "p1",
        mandatory: true,
        facts: serde_json::Map::new(),
    };
    super::decided(decision, chrono::Utc::now().naive_utc())
}

fn prepared_for(learner: &'static str) -> Prepared<'static> {
    Prepared {
        recipient: learner,
        subject: "New training assigned",
        body: "Hello Ada",
        state: READY,
        email_state: EMAIL_PENDING,
        email_to: "ada@a.example",
        note: "",
    }
}

async fn a_preparation_made_before_an_erasure_is_not_written_after_it(backend: TestBackend) {
    let Some(database) = TestDatabase::create(backend) else {
        return;
    };
    let db = crate::open_database(database.url.clone(), 2, true)
        .await
        .expect("a migrated database");
    let stored = db
        .write(|conn| {
            // Claimed by the worker (which writes its preparation only under its lease).
            let lease = Some(chrono::Utc::now().naive_utc() + chrono::Duration::minutes(2));
            let (mut ada, mut bob) = (decided("ada"), decided("bob"));
            (ada.lease_until, bob.lease_until) = (lease, lease);
            decide_all(conn, &[ada.clone(), bob.clone()])?;
            // The worker has read both rows and asked the directory; meanwhile Ada is erased.
            let tenant = TenantId::parse("a").expect("a tenant id");
            lms_platform::privacy::erase(
                conn,
                &tenant,
                &lms_platform::privacy::Person::by_id("ada"),
                "erased-1",
                &crate::storage::personal_data::TABLES,
            )?;
            prepared_all(
                conn,
                &[(&ada, prepared_for("ada")), (&bob, prepared_for("bob"))],
            )?;
            Ok(n::table
                .order(n::dedup_key)
                .select(Row::as_select())
                .load::<Row>(conn)?)
        })
        .await
        .expect("written");
    let (ada, bob) = (&stored[0], &stored[1]);
    assert_eq!(ada.learner, "erased-1");
    assert_eq!((ada.recipient.as_str(), ada.body.as_str()), ("", ""));
    assert_eq!(ada.email_to, "", "{ada:?}");
    assert_eq!(
        ada.state, PENDING,
        "prepared again later, for the pseudonym"
    );
    assert_eq!((bob.recipient.as_str(), bob.state.as_str()), ("bob", READY));
}

mod sqlite {
    #[tokio::test]
    async fn a_preparation_made_before_an_erasure_is_not_written_after_it() {
        super::a_preparation_made_before_an_erasure_is_not_written_after_it(
            super::TestBackend::Sqlite,
        )
        .await;
    }
}

mod postgres {
    #[tokio::test]
    async fn a_preparation_made_before_an_erasure_is_not_written_after_it() {
        super::a_preparation_made_before_an_erasure_is_not_written_after_it(
            super::TestBackend::Postgres,
        )
        .await;
    }
}
