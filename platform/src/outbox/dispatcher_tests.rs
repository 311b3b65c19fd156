//! The dispatcher's own tests (the outbox's behaviour end to end is in tests/outbox.rs).
use super::*;
use lms_test_support::{TestBackend, TestDatabase};

#[test]
fn backoff_doubles_up_to_the_cap() {
    let config = DispatcherConfig::default();
    assert_eq!(backoff(&config, 1), chrono::Duration::seconds(1));
    assert_eq!(backoff(&config, 4), chrono::Duration::seconds(8));
    assert_eq!(backoff(&config, 40), chrono::Duration::seconds(10));
}

/// The running dispatcher reads the next batch while the last one's outcome is written:
/// the read leaves out that batch, whose deliveries are not marked yet.
async fn the_next_read_leaves_out_the_batch_being_recorded(backend: TestBackend) {
    let Some(guard) = TestDatabase::create(backend) else {
        return;
    };
    // The test support's URL type is the library's as other crates see it.
    let url = crate::db::DatabaseUrl::parse(&guard.url.to_config_string()).unwrap();
    let db = Db::connect(url, 2).unwrap();
    db.migrate("outbox-test", super::super::migrations())
        .await
        .unwrap();
    let tenant = crate::ids::TenantId::parse("acme").unwrap();
    let events: Vec<super::super::NewEvent> = (0..3)
        .map(|i| super::super::NewEvent {
            aggregate_id: format!("agg-{i}"),
            payload: prost_types::Any::default(),
        })
        .collect();
    db.write(move |conn| super::super::enqueue(conn, &tenant, events))
        .await
        .unwrap();
    let sink = Named("consumer");
    let sinks: Vec<Arc<dyn EventSink>> = vec![Arc::new(sink)];
    let dispatcher = Dispatcher::new(db, sinks, DispatcherConfig::default(), "test");
    assert_eq!(dispatcher.fan_out_once().await.unwrap(), 3);
    let all = dispatcher.due("consumer", Vec::new()).await.unwrap();
    let aggregates = |rows: &[PendingRow]| -> Vec<String> {
        rows.iter().map(|row| row.aggregate_id.clone()).collect()
    };
    assert_eq!(aggregates(&all), ["agg-0", "agg-1", "agg-2"]);
    let being_recorded = vec![all[0].id.clone(), all[2].id.clone()];
    let next = dispatcher.due("consumer", being_recorded).await.unwrap();
    assert_eq!(aggregates(&next), ["agg-1"]);
}

/// A destination that is never called.
struct Named(&'static str);

impl EventSink for Named {
    fn destination(&self) -> &str {
        self.0
    }

    fn deliver(
        &self,
        _: Vec<pb::Event>,
    ) -> super::super::BoxFuture<Result<super::super::Delivery, String>> {
        Box::pin(async { Err("not called".to_string()) })
    }
}

mod sqlite {
    #[tokio::test]
    async fn the_next_read_leaves_out_the_batch_being_recorded() {
        super::the_next_read_leaves_out_the_batch_being_recorded(super::TestBackend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test]
    async fn the_next_read_leaves_out_the_batch_being_recorded() {
        super::the_next_read_leaves_out_the_batch_being_recorded(super::TestBackend::Postgres)
            .await;
    }
}
