//! Applying deliveries in batches (`inbox::consume_batch`) on real databases: each new event
//! once, in order, with a few statements per delivery; a batch that fails falls back to event
//! by event, so one bad event holds back no other.

use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use lms_platform::db::Db;
use lms_platform::ids::TenantId;
use lms_platform::inbox::{self, Delivered, EventError, processed_events};
use lms_platform::outbox;
use lms_test_support::{TestBackend, TestDatabase};

struct Suite {
    db: Db,
    _guard: TestDatabase,
}

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        let guard = TestDatabase::create(backend)?;
        let db = Db::connect(guard.url.clone(), 4).unwrap();
        db.migrate("inbox-test", outbox::migrations())
            .await
            .unwrap();
        Some(Suite { db, _guard: guard })
    }

    async fn processed(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .db
            .read(|conn| {
                Ok(processed_events::table
                    .select(processed_events::event_id)
                    .load(conn)?)
            })
            .await
            .unwrap();
        ids.sort();
        ids
    }
}

lms_test_support::on_both_databases!(Suite;
    a_batch_applies_each_new_event_once_in_order,
    a_failing_batch_falls_back_to_one_event_at_a_time,
    an_unreadable_event_is_rejected_and_the_rest_applied,
);

fn delivered(id: &str, payload: Result<&str, &str>) -> Delivered<String> {
    Delivered {
        id: id.into(),
        tenant_id: Some(TenantId::parse("acme").unwrap()),
        type_url: "type.googleapis.com/test.Event".into(),
        payload: payload.map(str::to_string).map_err(str::to_string),
    }
}

type Seen = Arc<Mutex<Vec<String>>>;

/// `apply_all` remembering what it was given (the batch path), and `apply_one` likewise.
fn recorders() -> (Seen, Seen) {
    (Arc::default(), Arc::default())
}

async fn a_batch_applies_each_new_event_once_in_order(s: Suite) {
    let (batches, singles) = recorders();
    let run = |events: Vec<Delivered<String>>| {
        let (batches, singles) = (batches.clone(), singles.clone());
        inbox::consume_batch(
            &s.db,
            events,
            move |_, events: &[(TenantId, String)]| {
                batches
                    .lock()
                    .unwrap()
                    .extend(events.iter().map(|(_, p)| p.clone()));
                Ok(())
            },
            move |_, _, payload: &String| {
                singles.lock().unwrap().push(payload.clone());
                Ok(())
            },
        )
    };
    let outcome = run(vec![
        delivered("e1", Ok("one")),
        delivered("e2", Ok("two")),
        delivered("e2", Ok("two again")),
        delivered("e3", Ok("three")),
    ])
    .await
    .unwrap();
    assert_eq!(outcome.acknowledged, ["e1", "e2", "e2", "e3"]);
    assert!(outcome.rejected.is_empty());
    assert_eq!(*batches.lock().unwrap(), ["one", "two", "three"]);
    // Delivered again with a new one: only the new one is applied.
    let outcome = run(vec![
        delivered("e1", Ok("one")),
        delivered("e4", Ok("four")),
    ])
    .await
    .unwrap();
    assert_eq!(outcome.acknowledged, ["e1", "e4"]);
    assert_eq!(*batches.lock().unwrap(), ["one", "two", "three", "four"]);
    assert!(singles.lock().unwrap().is_empty(), "no fallback was needed");
    assert_eq!(s.processed().await, ["e1", "e2", "e3", "e4"]);
}

async fn a_failing_batch_falls_back_to_one_event_at_a_time(s: Suite) {
    let (_, singles) = recorders();
    let one = singles.clone();
    let outcome = inbox::consume_batch(
        &s.db,
        vec![
            delivered("e1", Ok("good")),
            delivered("e2", Ok("bad")),
            delivered("e3", Ok("good")),
        ],
        // The batch fails (as when one of its events cannot be applied) ...
        |_, _: &[(TenantId, String)]| Err(EventError::Reject("one of them is bad".into())),
        // ... and one by one, only the bad one does.
        move |_, _, payload: &String| {
            one.lock().unwrap().push(payload.clone());
            if payload == "bad" {
                Err(EventError::Reject("bad payload".into()))
            } else {
                Ok(())
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.acknowledged, ["e1", "e3"]);
    assert_eq!(outcome.rejected.len(), 1);
    assert_eq!(outcome.rejected[0].event_id, "e2");
    assert_eq!(outcome.rejected[0].reason, "bad payload");
    assert_eq!(
        s.processed().await,
        ["e1", "e3"],
        "the failed batch left nothing behind; the bad event is not marked processed"
    );
}

async fn an_unreadable_event_is_rejected_and_the_rest_applied(s: Suite) {
    let (batches, _) = recorders();
    let all = batches.clone();
    let outcome = inbox::consume_batch(
        &s.db,
        vec![
            delivered("e1", Ok("fine")),
            delivered("e2", Err("unreadable payload")),
        ],
        move |_, events: &[(TenantId, String)]| {
            all.lock()
                .unwrap()
                .extend(events.iter().map(|(_, p)| p.clone()));
            Ok(())
        },
        |_, _, _: &String| Ok(()),
    )
    .await
    .unwrap();
    assert_eq!(outcome.acknowledged, ["e1"]);
    assert_eq!(outcome.rejected[0].event_id, "e2");
    assert_eq!(outcome.rejected[0].reason, "unreadable payload");
    assert_eq!(s.processed().await, ["e1"]);
}
