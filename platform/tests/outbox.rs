//! The transactional outbox on real databases (SQLite, and PostgreSQL with
//! `LMS_TEST_DATABASE_URL`), delivering over real gRPC.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lms_platform::AppError;
use lms_platform::client::{ClientConfig, Peer};
use lms_platform::config::Address;
use lms_platform::db::Db;
use lms_platform::outbox::{
    self, Delivery, Dispatcher, DispatcherConfig, EventSink, GrpcEventSink, NewEvent, Rejection,
};
use lms_proto::events_v1 as pb;
use lms_test_support::{TestAuth, TestBackend, TestDatabase};

async fn database(backend: TestBackend) -> Option<(TestDatabase, Db)> {
    let test_db = TestDatabase::create(backend)?;
    let db = Db::connect(test_db.url.clone(), 4).unwrap();
    db.migrate("outbox-test", outbox::migrations())
        .await
        .unwrap();
    // A replay of dead letters is an administrator's write: it is recorded in the audit trail.
    db.migrate("outbox-test", lms_platform::audit::migrations())
        .await
        .unwrap();
    Some((test_db, db))
}

fn acme() -> lms_platform::ids::TenantId {
    lms_platform::ids::TenantId::parse("acme").unwrap()
}

fn event(aggregate: &str) -> NewEvent {
    // Any message works as a payload; an Event inside an Event keeps the test self-contained.
    NewEvent::new(
        aggregate,
        &pb::DeliverEventsResponse {
            acknowledged: vec![aggregate.to_string()],
            ..Default::default()
        },
    )
}

/// A consumer that remembers what it applied, and can be told to fail, or to reject the events
/// of some aggregates for good.
#[derive(Default, Clone)]
struct Consumer {
    name: &'static str,
    applied: Arc<Mutex<Vec<pb::Event>>>,
    failing: Arc<Mutex<bool>>,
    rejecting: Arc<Mutex<HashSet<String>>>,
    /// The event types it subscribes to; None: all.
    types: Option<Vec<String>>,
}

impl Consumer {
    fn named(name: &'static str) -> Self {
        Consumer {
            name,
            ..Default::default()
        }
    }

    fn aggregates(&self) -> Vec<String> {
        let applied = self.applied.lock().unwrap();
        applied.iter().map(|e| e.aggregate_id.clone()).collect()
    }
}

impl EventSink for Consumer {
    fn destination(&self) -> &str {
        if self.name.is_empty() {
            "consumer"
        } else {
            self.name
        }
    }

    fn subscribed_types(&self) -> Option<Vec<String>> {
        self.types.clone()
    }

    fn deliver(&self, events: Vec<pb::Event>) -> outbox::BoxFuture<Result<Delivery, String>> {
        let consumer = self.clone();
        Box::pin(async move {
            if *consumer.failing.lock().unwrap() {
                return Err("consumer unavailable".into());
            }
            let rejecting = consumer.rejecting.lock().unwrap().clone();
            let (rejected, applied): (Vec<_>, Vec<_>) = events
                .into_iter()
                .partition(|e| rejecting.contains(&e.aggregate_id));
            let acknowledged = applied.iter().map(|e| e.id.clone()).collect();
            consumer.applied.lock().unwrap().extend(applied);
            Ok(Delivery {
                acknowledged,
                rejected: rejected
                    .into_iter()
                    .map(|e| Rejection::new(e.id, format!("no such enrolment {}", e.aggregate_id)))
                    .collect(),
            })
        })
    }
}

/// One destination.
fn sinks(sink: impl EventSink) -> Vec<Arc<dyn EventSink>> {
    vec![Arc::new(sink)]
}

fn fast() -> DispatcherConfig {
    DispatcherConfig {
        batch_size: 50,
        idle_poll: Duration::from_millis(10),
        first_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
    }
}

/// A migrated outbox database for one test.
struct Suite {
    db: Db,
    _guard: TestDatabase,
}

impl Suite {
    async fn start(backend: TestBackend) -> Option<Suite> {
        let (guard, db) = database(backend).await?;
        Some(Suite { db, _guard: guard })
    }
}

lms_test_support::on_both_databases!(
    Suite;
    events_exist_only_when_their_transaction_commits,
    every_event_is_delivered_once_even_when_the_consumer_was_down,
    events_are_delivered_over_grpc_with_their_payload,
    a_recovered_destination_gets_the_backlog_without_waiting_out_backoffs,
    a_destination_that_fails_and_returns_gets_its_backlog_at_once,
    a_running_dispatcher_delivers_batch_after_batch_once_each_in_order,
    a_dead_destination_holds_back_no_other,
    each_destination_is_sent_only_the_types_it_subscribes_to,
    events_are_queued_as_they_are_written_once_routes_are_published,
    rejected_events_are_dead_letters_until_replayed,
);

async fn events_exist_only_when_their_transaction_commits(suite: Suite) {
    let db = suite.db.clone();
    let rolled_back = db
        .write(|conn| {
            outbox::enqueue(conn, &acme(), vec![event("a"), event("b")])?;
            Err::<(), _>(AppError::FailedPrecondition("the change failed".into()))
        })
        .await;
    assert!(rolled_back.is_err());
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
    // A batch larger than one insert statement.
    let many: Vec<NewEvent> = (0..250).map(|i| event(&format!("agg-{i}"))).collect();
    db.write(move |conn| outbox::enqueue(conn, &acme(), many))
        .await
        .unwrap();
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 250);
}

async fn every_event_is_delivered_once_even_when_the_consumer_was_down(suite: Suite) {
    let db = suite.db.clone();
    let events: Vec<NewEvent> = (0..120).map(|i| event(&format!("agg-{i}"))).collect();
    db.write(move |conn| outbox::enqueue(conn, &acme(), events))
        .await
        .unwrap();
    let consumer = Consumer::default();
    *consumer.failing.lock().unwrap() = true;
    let dispatcher = Dispatcher::new(db.clone(), sinks(consumer.clone()), fast(), "test");
    assert_eq!(
        dispatcher.dispatch_once().await.unwrap(),
        0,
        "nothing settles while down"
    );
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 120);

    *consumer.failing.lock().unwrap() = false;
    let mut settled = 0;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        settled += dispatcher.dispatch_once().await.unwrap();
        if settled == 120 {
            break;
        }
    }
    assert_eq!(settled, 120);
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 0);
    let applied = consumer.applied.lock().unwrap();
    let ids: HashSet<_> = applied.iter().map(|e| e.id.clone()).collect();
    assert_eq!(
        applied.len(),
        120,
        "no event delivered twice after acknowledgement"
    );
    assert_eq!(ids.len(), 120);
    // Offered in write order.
    let aggregates: Vec<_> = applied.iter().map(|e| e.aggregate_id.clone()).collect();
    let expected: Vec<_> = (0..120).map(|i| format!("agg-{i}")).collect();
    assert_eq!(aggregates, expected);
}

/// The running dispatcher writes one batch's outcome while it reads and offers the next (the
/// next read leaves out the batch being written): a backlog of 1 000 events, and 200 more
/// written while it drains, each reach the destination exactly once, in write order.
async fn a_running_dispatcher_delivers_batch_after_batch_once_each_in_order(suite: Suite) {
    let db = suite.db.clone();
    let first: Vec<NewEvent> = (0..1_000).map(|i| event(&format!("agg-{i:04}"))).collect();
    db.write(move |conn| outbox::enqueue(conn, &acme(), first))
        .await
        .unwrap();
    let consumer = Consumer::default();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(
        Dispatcher::new(db.clone(), sinks(consumer.clone()), fast(), "test").run(shutdown.clone()),
    );
    let more: Vec<NewEvent> = (1_000..1_200)
        .map(|i| event(&format!("agg-{i:04}")))
        .collect();
    db.write(move |conn| outbox::enqueue(conn, &acme(), more))
        .await
        .unwrap();
    for _ in 0..600 {
        if outbox::pending_count(&db).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Long enough for a second offer of anything not marked delivered.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
    let expected: Vec<String> = (0..1_200).map(|i| format!("agg-{i:04}")).collect();
    assert_eq!(consumer.aggregates(), expected, "each once, in write order");
}

/// A gRPC consumer that deduplicates by event id, as real consumers must.
#[derive(Default, Clone)]
struct GrpcConsumer {
    seen: Arc<Mutex<HashSet<String>>>,
    tokens: Arc<Mutex<Vec<String>>>,
}

#[tonic::async_trait]
impl pb::event_consumer_server::EventConsumer for GrpcConsumer {
    async fn deliver_events(
        &self,
        request: tonic::Request<pb::DeliverEventsRequest>,
    ) -> Result<tonic::Response<pb::DeliverEventsResponse>, tonic::Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.tokens.lock().unwrap().push(token);
        let mut acknowledged = Vec::new();
        let mut rejected = Vec::new();
        for event in request.into_inner().events {
            let decodable = event.payload.as_ref().is_some_and(|any| {
                any.type_url == "type.googleapis.com/lms.events.v1.DeliverEventsResponse"
                    && prost::Message::decode(any.value.as_slice())
                        .map(|m: pb::DeliverEventsResponse| {
                            m.acknowledged == [event.aggregate_id.clone()]
                        })
                        .unwrap_or(false)
            });
            if decodable {
                self.seen.lock().unwrap().insert(event.id.clone());
                acknowledged.push(event.id);
            } else {
                rejected.push(event.id);
            }
        }
        Ok(tonic::Response::new(pb::DeliverEventsResponse {
            acknowledged,
            rejections: rejected
                .iter()
                .map(|id| pb::Rejection {
                    event_id: id.clone(),
                    reason: "not the payload this consumer reads".into(),
                })
                .collect(),
            rejected,
        }))
    }
}

async fn events_are_delivered_over_grpc_with_their_payload(suite: Suite) {
    let db = suite.db.clone();
    let consumer = GrpcConsumer::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(pb::event_consumer_server::EventConsumerServer::new(
                consumer.clone(),
            ))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let auth = TestAuth::default();
    let peer = Peer::new(
        "the consumer",
        &Address::of_socket(address),
        auth.service_credentials("outbox-test"),
        &ClientConfig::default(),
    )
    .unwrap();
    db.write(|conn| outbox::enqueue(conn, &acme(), vec![event("x"), event("y")]))
        .await
        .unwrap();
    let sink = GrpcEventSink::new(peer);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(
        Dispatcher::new(db.clone(), sinks(sink), fast(), "grpc").run(shutdown.clone()),
    );
    for _ in 0..200 {
        if outbox::pending_count(&db).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
    assert_eq!(consumer.seen.lock().unwrap().len(), 2);
    // Each delivery carries this service's own identity.
    let verifier = auth.verifier().await;
    let tokens = consumer.tokens.lock().unwrap().clone();
    assert!(!tokens.is_empty());
    for token in tokens {
        let principal = verifier
            .verify(token.trim_start_matches("Bearer "))
            .unwrap();
        assert_eq!(principal.subject, "outbox-test");
        assert!(principal.has_role(lms_platform::Role::Service));
    }
}

/// A new leader publishing other routes waits for the transactions that read the old ones —
/// but not for ever: while one stays open it gives up (so writers queued behind its lock
/// request are let go), and the running leader tries again until it has published. Only then
/// does it deliver, and what is written after reaches the destination added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_publishes_its_routes_once_the_old_routes_readers_are_done() {
    let Some((_guard, db)) = database(TestBackend::Postgres).await else {
        return;
    };
    let records = || Consumer::named("records");
    let earlier = Dispatcher::new(db.clone(), sinks(records()), fast(), "routes");
    earlier.publish_routes().await.unwrap();
    // A writer that read the earlier routes stays open until released.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (opened, open) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let db = db.clone();
        tokio::spawn(async move {
            db.write(move |conn| {
                outbox::enqueue(conn, &acme(), vec![event("held")])?;
                let _ = opened.send(());
                let _ = released.recv();
                Ok(())
            })
            .await
        })
    };
    open.await.unwrap();
    let (records_now, notifications) = (records(), Consumer::named("notifications"));
    let both: Vec<Arc<dyn EventSink>> = vec![
        Arc::new(records_now.clone()),
        Arc::new(notifications.clone()),
    ];
    let leader = Dispatcher::new(db.clone(), both.clone(), fast(), "routes");
    let started = std::time::Instant::now();
    assert!(
        leader.publish_routes().await.is_err(),
        "gives up while a reader of the old routes is open"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Running, the leader keeps trying; released, the writer commits and the routes go out.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running =
        tokio::spawn(Dispatcher::new(db.clone(), both, fast(), "routes").run(shutdown.clone()));
    // Longer than one attempt's lock timeout (2 s): it has given up at least once.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        records_now.aggregates().is_empty(),
        "nothing delivered before it published"
    );
    release.send(()).unwrap();
    writer.await.unwrap().unwrap();
    // It delivers once it has published: "held" (queued by the routes it read) to records.
    for _ in 0..1_000 {
        if !records_now.aggregates().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(records_now.aggregates(), ["held"]);
    db.write(|conn| outbox::enqueue(conn, &acme(), vec![event("after")]))
        .await
        .unwrap();
    for _ in 0..1_000 {
        if notifications.aggregates().contains(&"after".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(
        notifications.aggregates(),
        ["after"],
        "queued by the new routes"
    );
}

#[tokio::test]
async fn only_one_dispatcher_delivers_per_postgres_database() {
    let Some((_guard, db)) = database(TestBackend::Postgres).await else {
        return;
    };
    db.write(|conn| outbox::enqueue(conn, &acme(), vec![event("only-once")]))
        .await
        .unwrap();
    let consumer = Consumer::default();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let first = tokio::spawn(
        Dispatcher::new(db.clone(), sinks(consumer.clone()), fast(), "leader")
            .run(shutdown.clone()),
    );
    let second = tokio::spawn(
        Dispatcher::new(db.clone(), sinks(consumer.clone()), fast(), "leader")
            .run(shutdown.clone()),
    );
    for _ in 0..200 {
        if outbox::pending_count(&db).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    first.await.unwrap();
    second.await.unwrap();
    assert_eq!(consumer.applied.lock().unwrap().len(), 1);
}

/// The session holding the outbox lock dies (its connection dropped, as when PostgreSQL was cut
/// off under load): the dispatcher notices before its next batch and stops delivering, so the
/// replica that takes the lock next is the only one delivering. Before, the first kept going
/// and events were delivered by both.
#[tokio::test]
async fn a_dispatcher_whose_lock_session_dies_stops_delivering() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let Some((guard, db)) = database(TestBackend::Postgres).await else {
        return;
    };
    let enqueue = |name: String| {
        let db = db.clone();
        async move {
            db.write(move |conn| outbox::enqueue(conn, &acme(), vec![event(&name)]))
                .await
                .unwrap();
        }
    };
    let (first_consumer, second_consumer) = (Consumer::default(), Consumer::default());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let first = tokio::spawn(
        Dispatcher::new(db.clone(), sinks(first_consumer.clone()), fast(), "fenced")
            .run(shutdown.clone()),
    );
    enqueue("before".into()).await;
    for _ in 0..500 {
        if first_consumer.applied.lock().unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        first_consumer.applied.lock().unwrap().len(),
        1,
        "the first leads"
    );

    // The lock's session ends; the first dispatcher's other connections live on.
    let mut admin = diesel::PgConnection::establish(&guard.url.to_config_string()).unwrap();
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .unwrap();
    let second = tokio::spawn(
        Dispatcher::new(db.clone(), sinks(second_consumer.clone()), fast(), "fenced")
            .run(shutdown.clone()),
    );
    for n in 0..50 {
        enqueue(format!("after-{n}")).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..500 {
        if outbox::pending_count(&db).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    first.await.unwrap();
    second.await.unwrap();
    let ids = |consumer: &Consumer| -> HashSet<String> {
        consumer
            .applied
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.id.clone())
            .collect()
    };
    let (by_first, by_second) = (ids(&first_consumer), ids(&second_consumer));
    let both: Vec<_> = by_first.intersection(&by_second).collect();
    assert!(both.is_empty(), "{} events delivered by both", both.len());
    assert_eq!(by_first.len() + by_second.len(), 51, "every event once");
}

/// A destination that comes back gets the whole backlog at once: the events that were waiting
/// out their backoff become due with the first delivery that succeeds (before, each waited its
/// own backoff: after a 40 s outage the backlog arrived 24 s after the consumer was back).
async fn a_recovered_destination_gets_the_backlog_without_waiting_out_backoffs(suite: Suite) {
    let db = suite.db.clone();
    let events: Vec<NewEvent> = (0..3).map(|i| event(&format!("late-{i}"))).collect();
    db.write(move |conn| outbox::enqueue(conn, &acme(), events))
        .await
        .unwrap();
    let consumer = Consumer::default();
    let dispatcher = Dispatcher::new(db.clone(), sinks(consumer.clone()), fast(), "test");
    assert_eq!(dispatcher.fan_out_once().await.unwrap(), 3, "queued");
    // Two of them failed often while the destination was down: an hour to their next attempt.
    db.write(|conn| {
        use diesel::RunQueryDsl;
        let later = (chrono::Utc::now() + chrono::Duration::hours(1)).naive_utc();
        let sql = "UPDATE outbox_deliveries SET attempts = 9, next_attempt_at = $1 \
                   WHERE event_id IN (SELECT id FROM outbox_events WHERE aggregate_id <> 'late-0')";
        let sqlite_sql = sql.replace("$1", "?");
        match conn {
            lms_platform::db::DbConnection::Postgres(pg) => diesel::sql_query(sql)
                .bind::<diesel::sql_types::Timestamp, _>(later)
                .execute(pg)?,
            lms_platform::db::DbConnection::Sqlite(sqlite) => diesel::sql_query(sqlite_sql)
                .bind::<diesel::sql_types::Timestamp, _>(later)
                .execute(sqlite)?,
        };
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1, "the due one");
    assert_eq!(
        dispatcher.dispatch_once().await.unwrap(),
        2,
        "the rest at once, not in an hour"
    );
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
}

/// The same when the destination fails while this dispatcher delivers: what failed waits out
/// its backoff (an hour here) only until a delivery reaches the destination again. (The
/// dispatcher looks for such waiting deliveries only after a failure, not after every batch:
/// that visit of the whole queue was a third of a backlog's drain time; issue 22.)
async fn a_destination_that_fails_and_returns_gets_its_backlog_at_once(suite: Suite) {
    let db = suite.db.clone();
    let consumer = Consumer::default();
    let hour = Duration::from_secs(3600);
    let patient = DispatcherConfig {
        first_backoff: hour,
        max_backoff: hour,
        ..fast()
    };
    let dispatcher = Dispatcher::new(db.clone(), sinks(consumer.clone()), patient, "test");
    let enqueue = |names: &[&str]| {
        let events: Vec<NewEvent> = names.iter().map(|name| event(name)).collect();
        db.write(move |conn| outbox::enqueue(conn, &acme(), events))
    };
    enqueue(&["before"]).await.unwrap();
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1, "delivered");
    *consumer.failing.lock().unwrap() = true;
    enqueue(&["during-1", "during-2"]).await.unwrap();
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 0, "failed");
    assert_eq!(
        dispatcher.dispatch_once().await.unwrap(),
        0,
        "waiting out the hour"
    );
    *consumer.failing.lock().unwrap() = false;
    enqueue(&["after"]).await.unwrap();
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1, "the due one");
    assert_eq!(
        dispatcher.dispatch_once().await.unwrap(),
        2,
        "the rest at once, not in an hour"
    );
    assert_eq!(
        consumer.aggregates(),
        ["before", "after", "during-1", "during-2"]
    );
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
}

/// Every event goes to each destination with its own delivery state: while one destination is
/// down the other gets everything, and the one that was down gets everything it missed once it
/// is back, once each, in write order.
async fn a_dead_destination_holds_back_no_other(suite: Suite) {
    let db = suite.db.clone();
    let (records, notifications) = (Consumer::named("records"), Consumer::named("notifications"));
    *notifications.failing.lock().unwrap() = true;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sinks: Vec<Arc<dyn EventSink>> =
        vec![Arc::new(records.clone()), Arc::new(notifications.clone())];
    let running =
        tokio::spawn(Dispatcher::new(db.clone(), sinks, fast(), "two").run(shutdown.clone()));
    let expected: Vec<String> = (0..30).map(|i| format!("agg-{i}")).collect();
    for chunk in expected.chunks(10) {
        let events: Vec<NewEvent> = chunk.iter().map(|a| event(a)).collect();
        db.write(move |conn| outbox::enqueue(conn, &acme(), events))
            .await
            .unwrap();
    }
    let arrived = |consumer: &Consumer, count: usize| {
        let consumer = consumer.clone();
        async move {
            for _ in 0..500 {
                if consumer.applied.lock().unwrap().len() >= count {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    };
    assert!(
        arrived(&records, 30).await,
        "records got every event while notifications was down"
    );
    assert!(notifications.applied.lock().unwrap().is_empty());
    // records-service has them once the dispatcher has written its acknowledgement, a moment
    // after records applied them: then exactly notifications' 30 wait.
    let mut pending = 0;
    for _ in 0..500 {
        pending = outbox::pending_count(&db).await.unwrap();
        if pending <= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pending, 30, "30 wait for notifications");

    *notifications.failing.lock().unwrap() = false;
    assert!(
        arrived(&notifications, 30).await,
        "the backlog reached notifications"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(records.aggregates(), expected, "once each, in write order");
    assert_eq!(
        notifications.aggregates(),
        expected,
        "once each, in write order"
    );
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
}

/// An event its destination rejects for good is kept as a dead letter with the destination's
/// reason, listed to the tenant's administrators over `lms.events.v1.DeadLetters`, and
/// delivered again when replayed.
async fn rejected_events_are_dead_letters_until_replayed(suite: Suite) {
    use pb::dead_letters_client::DeadLettersClient;
    use tonic::Code;
    let db = suite.db.clone();
    let consumer = Consumer::named("records");
    consumer.rejecting.lock().unwrap().insert("poison".into());
    let events = vec![event("fine-1"), event("poison"), event("fine-2")];
    db.write(move |conn| outbox::enqueue(conn, &acme(), events))
        .await
        .unwrap();
    let dispatcher = Dispatcher::new(db.clone(), sinks(consumer.clone()), fast(), "dead");
    assert_eq!(
        dispatcher.dispatch_once().await.unwrap(),
        3,
        "all three settled"
    );
    assert_eq!(consumer.aggregates(), ["fine-1", "fine-2"]);
    assert_eq!(
        outbox::pending_count(&db).await.unwrap(),
        0,
        "a dead letter is not pending"
    );

    // The service behind token verification and its policy, as every producer serves it.
    let auth = TestAuth::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(lms_platform::auth::Authorize::new(
                outbox::DeadLettersGrpc::server(db.clone()),
                auth.verifier().await,
                outbox::DEAD_LETTERS_POLICY,
            ))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let client = DeadLettersClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let list = |token: String| {
        let mut client = client.clone();
        async move {
            client
                .list_dead_letters(lms_test_support::bearer(
                    &token,
                    pb::ListDeadLettersRequest::default(),
                ))
                .await
                .map(|r| r.into_inner().dead_letters)
        }
    };
    let letters = list(auth.admin("acme")).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].aggregate_id, "poison");
    assert_eq!(letters[0].destination, "records");
    assert_eq!(letters[0].reason, "no such enrolment poison");
    assert_eq!(letters[0].attempts, 1);
    assert!(letters[0].reject_time.is_some());
    assert!(
        list(auth.admin("globex")).await.unwrap().is_empty(),
        "another tenant sees none"
    );
    assert_eq!(
        list(auth.learner("acme")).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    let replay = |request: pb::ReplayDeadLettersRequest| {
        let mut client = client.clone();
        let token = auth.admin("acme");
        async move {
            client
                .replay_dead_letters(lms_test_support::bearer(&token, request))
                .await
                .map(|r| r.into_inner().replayed)
        }
    };
    let neither = replay(pb::ReplayDeadLettersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(neither.code(), Code::InvalidArgument);
    let unknown = replay(pb::ReplayDeadLettersRequest {
        event_ids: vec![
            letters[0].event_id.clone(),
            uuid::Uuid::now_v7().to_string(),
        ],
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let mut other_tenant = client.clone();
    let theirs = other_tenant
        .replay_dead_letters(lms_test_support::bearer(
            &auth.admin("globex"),
            pb::ReplayDeadLettersRequest {
                event_ids: vec![letters[0].event_id.clone()],
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        theirs.code(),
        Code::NotFound,
        "another tenant cannot replay it"
    );
    assert_eq!(
        list(auth.admin("acme")).await.unwrap().len(),
        1,
        "nothing replayed"
    );

    // Rejected again while the cause remains: back in the list with the new attempt counted.
    let named = pb::ReplayDeadLettersRequest {
        event_ids: vec![letters[0].event_id.clone()],
        ..Default::default()
    };
    assert_eq!(replay(named).await.unwrap(), 1);
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1);
    let again = list(auth.admin("acme")).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);

    // The cause fixed (the consumer now knows the enrolment): replaying delivers it.
    consumer.rejecting.lock().unwrap().clear();
    let all = pb::ReplayDeadLettersRequest {
        all: true,
        ..Default::default()
    };
    assert_eq!(replay(all).await.unwrap(), 1);
    assert_eq!(dispatcher.dispatch_once().await.unwrap(), 1);
    assert_eq!(consumer.aggregates(), ["fine-1", "fine-2", "poison"]);
    assert!(list(auth.admin("acme")).await.unwrap().is_empty());
}

/// Once the leading dispatcher has published where events go, an event is queued for its
/// destinations in the transaction that writes it (no queuing pass is left to do), and only
/// then: a rolled-back write queues nothing. An event written before any routes were published
/// is queued by the dispatcher's pass. A new leader's routes replace the old ones.
async fn events_are_queued_as_they_are_written_once_routes_are_published(suite: Suite) {
    use prost::Name;
    let db = suite.db.clone();
    db.write(|conn| outbox::enqueue(conn, &acme(), vec![event("early")]))
        .await
        .unwrap();
    let everything = Consumer::named("records");
    let picky = Consumer {
        types: Some(vec![pb::DeliverEventsResponse::type_url()]),
        ..Consumer::named("notifications")
    };
    let both: Vec<Arc<dyn EventSink>> = vec![Arc::new(everything.clone()), Arc::new(picky.clone())];
    let dispatcher = Dispatcher::new(db.clone(), both, fast(), "routes");
    dispatcher.publish_routes().await.unwrap();

    let rolled_back = db
        .write(|conn| {
            outbox::enqueue(conn, &acme(), vec![event("undone")])?;
            Err::<(), _>(AppError::FailedPrecondition("the change failed".into()))
        })
        .await;
    assert!(rolled_back.is_err());
    let other = NewEvent::new("other", &pb::Rejection::default());
    let events = vec![event("wanted"), other];
    db.write(move |conn| outbox::enqueue(conn, &acme(), events))
        .await
        .unwrap();
    // "early" unqueued (counted once), then three deliveries of the two written after.
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 4);
    assert_eq!(
        dispatcher.fan_out_once().await.unwrap(),
        1,
        "only the early one"
    );
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 5);
    assert_eq!(dispatcher.fan_out_once().await.unwrap(), 0);
    for sink in [&everything, &picky] {
        assert!(dispatcher.deliver_batch(sink).await.unwrap() > 0);
    }
    assert_eq!(everything.aggregates(), ["early", "wanted", "other"]);
    assert_eq!(picky.aggregates(), ["early", "wanted"]);
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);

    // Another leader, delivering to records-service only, publishes its own routes.
    let records_only = Consumer::named("records");
    let next = Dispatcher::new(db.clone(), sinks(records_only.clone()), fast(), "routes");
    next.publish_routes().await.unwrap();
    db.write(|conn| outbox::enqueue(conn, &acme(), vec![event("later")]))
        .await
        .unwrap();
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 1, "one delivery");
    assert_eq!(next.dispatch_once().await.unwrap(), 1);
    assert_eq!(records_only.aggregates(), ["later"]);
}

/// A destination is queued only the event types it subscribes to (what it reads); the others
/// are not sent to it, so they can neither pile up nor become dead letters there.
async fn each_destination_is_sent_only_the_types_it_subscribes_to(suite: Suite) {
    use prost::Name;
    let db = suite.db.clone();
    let everything = Consumer::named("records");
    let picky = Consumer {
        types: Some(vec![pb::DeliverEventsResponse::type_url()]),
        ..Consumer::named("notifications")
    };
    let other = NewEvent::new("other", &pb::Rejection::default());
    let events = vec![event("wanted"), other];
    db.write(move |conn| outbox::enqueue(conn, &acme(), events))
        .await
        .unwrap();
    let sinks: Vec<Arc<dyn EventSink>> =
        vec![Arc::new(everything.clone()), Arc::new(picky.clone())];
    let dispatcher = Dispatcher::new(db.clone(), sinks, fast(), "types");
    assert_eq!(
        dispatcher.dispatch_once().await.unwrap(),
        3,
        "two deliveries and one"
    );
    assert_eq!(everything.aggregates(), ["wanted", "other"]);
    assert_eq!(picky.aggregates(), ["wanted"]);
    assert_eq!(outbox::pending_count(&db).await.unwrap(), 0);
}
