//! Workers claiming from one queue at once — replicas, or the periodic sender beside a run an
//! operator started — on SQLite and PostgreSQL: every notification and every webhook delivery
//! is claimed by exactly one worker, and no claim fails (a deadlock between two claims once
//! failed a sender run on PostgreSQL).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use futures::future::BoxFuture;
use lms_platform::AppError;
use lms_platform::db::Db;
use lms_test_support::{TestBackend, TestDatabase};
use notification_service::storage::notifications::{self, Prepared, Row, Work};
use notification_service::storage::schema::notifications as n;
use notification_service::storage::schema::webhook_deliveries as d;
use notification_service::storage::webhook_deliveries::{self, Attempted, Delivery};
use notification_service::storage::webhooks::{self, Webhook};

const TENANTS: [&str; 2] = ["tenant-a", "tenant-b"];
const PER_TENANT: usize = 100;
const WORKERS: usize = 8;
const BATCH: i64 = 20;

fn at() -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_800_000_000, 0)
        .unwrap()
        .naive_utc()
}

/// A worker's clock: `at()`, or two minutes later for a worker whose clock runs ahead (or an
/// operator's run at a later `now`), to which every lease the others take has run out.
fn clock(late: bool) -> NaiveDateTime {
    if late {
        at() + Duration::minutes(2)
    } else {
        at()
    }
}

/// A lease no other claim shares: a minute after `now`, plus a counter's microseconds.
fn unique_lease(now: NaiveDateTime, counter: &AtomicI64) -> NaiveDateTime {
    now + Duration::minutes(1) + Duration::microseconds(counter.fetch_add(1, Ordering::Relaxed))
}

fn notification(tenant: &str, n: usize) -> Row {
    Row {
        tenant_id: tenant.into(),
        id: format!("n-{n:05}"),
        dedup_key: format!("key-{n:05}"),
        kind: "assigned".into(),
        learner: "ada".into(),
        for_manager: false,
        recipient: String::new(),
        enrolment_id: String::new(),
        pathway_id: String::new(),
        mandatory: false,
        facts: "{}".into(),
        subject: String::new(),
        body: String::new(),
        state: notifications::PENDING.into(),
        email_state: notifications::EMAIL_NONE.into(),
        email_to: String::new(),
        attempts: 0,
        // All due at the same instant: the claims' order among them is the database's choice.
        next_attempt_at: at() - Duration::minutes(5),
        lease_until: None,
        last_error: String::new(),
        created_at: at() - Duration::minutes(5),
        read_at: None,
    }
}

fn webhook(tenant: &str) -> Webhook {
    Webhook {
        tenant_id: tenant.into(),
        id: "hook".into(),
        url: "http://127.0.0.1:9/".into(),
        event_types: "*".into(),
        description: String::new(),
        state: webhooks::ACTIVE.into(),
        disabled_reason: String::new(),
        secret: "secret".into(),
        previous_secret: String::new(),
        previous_secret_until: None,
        last_success_at: None,
        created_by: "admin".into(),
        created_at: at(),
        updated_at: at(),
        revision: 1,
    }
}

fn delivery(tenant: &str, n: usize) -> Delivery {
    Delivery {
        tenant_id: tenant.into(),
        id: format!("d-{n:05}"),
        webhook_id: "hook".into(),
        event_id: format!("event-{n:05}"),
        event_type: "lms.enrolment.v1.EnrolmentCreated".into(),
        // One aggregate each, so every delivery is first in line for its own.
        aggregate_id: format!("enrolment-{n:05}"),
        payload: "{}".into(),
        state: webhook_deliveries::PENDING.into(),
        attempts: 0,
        next_attempt_at: at() - Duration::minutes(5),
        lease_until: None,
        last_status: 0,
        last_latency_ms: 0,
        last_error: String::new(),
        last_attempt_at: None,
        created_at: at() - Duration::minutes(5),
    }
}

/// A database with notification-service's tables (PostgreSQL skipped outside CI when absent).
struct Queue {
    _guard: TestDatabase,
    db: Db,
}

impl Queue {
    async fn start(backend: TestBackend) -> Option<Queue> {
        let guard = TestDatabase::create(backend)?;
        let db = notification_service::open_database(guard.url.clone(), WORKERS as u32 + 2, true)
            .await
            .unwrap();
        Some(Queue { _guard: guard, db })
    }
}

/// What one worker claimed, as (tenant, id), whether its clock ran late, and every error a
/// claim returned.
#[derive(Default)]
struct Claimed {
    rows: Vec<(String, String)>,
    late: Vec<(String, String)>,
    errors: Vec<AppError>,
}

/// A claim of up to `BATCH` rows at `now` until the lease: the rows' (tenant, id).
type Claim = fn(
    Db,
    NaiveDateTime,
    NaiveDateTime,
) -> BoxFuture<'static, Result<Vec<(String, String)>, AppError>>;

/// Runs `WORKERS` workers, the first `late` of them on the late clock, each claiming with
/// `claim` until twenty claims in a row find nothing.
async fn claim_all(db: &Db, late: usize, claim: Claim) -> Claimed {
    let leases = Arc::new(AtomicI64::new(0));
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (db, leases, late) = (db.clone(), leases.clone(), worker < late);
        workers.push(tokio::spawn(async move {
            let mut claimed = Claimed::default();
            let mut idle_rounds = 0;
            while idle_rounds < 20 {
                let now = clock(late);
                match claim(db.clone(), now, unique_lease(now, &leases)).await {
                    Ok(rows) if rows.is_empty() => {
                        idle_rounds += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    Ok(rows) => {
                        idle_rounds = 0;
                        if late {
                            claimed.late.extend(rows.iter().cloned());
                        }
                        claimed.rows.extend(rows);
                    }
                    Err(error) => claimed.errors.push(error),
                }
            }
            claimed
        }));
    }
    let mut all = Claimed::default();
    for worker in workers {
        let claimed = worker.await.unwrap();
        all.rows.extend(claimed.rows);
        all.late.extend(claimed.late);
        all.errors.extend(claimed.errors);
    }
    all
}

/// No claim failed, every row was claimed, and none twice by `once` (every worker's claims
/// when all share a clock; the late workers' when some run late — to them every other lease
/// has run out, so they may take a row again, but no one takes theirs).
fn assert_claims(what: &str, claimed: &Claimed, once: &[(String, String)]) {
    assert!(
        claimed.errors.is_empty(),
        "{what}: claims failed: {:?}",
        claimed.errors
    );
    let mut times: HashMap<&(String, String), usize> = HashMap::new();
    for row in once {
        *times.entry(row).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: claimed more than once: {twice:?}"
    );
    let all: HashSet<&(String, String)> = claimed.rows.iter().collect();
    assert_eq!(
        all.len(),
        TENANTS.len() * PER_TENANT,
        "{what}: every row claimed"
    );
}

fn claim_notifications(
    db: Db,
    now: NaiveDateTime,
    lease: NaiveDateTime,
) -> BoxFuture<'static, Result<Vec<(String, String)>, AppError>> {
    Box::pin(async move {
        let rows = db
            .write(move |conn| notifications::claim(conn, Work::Prepare, now, lease, BATCH))
            .await?;
        let claimed = rows
            .iter()
            .map(|r| (r.tenant_id.clone(), r.id.clone()))
            .collect();
        // Then prepared, as the sender does, in one transaction for the batch — last claimed
        // first, so its row locks are taken in another order than the claim's.
        db.write(move |conn| {
            let done = Prepared {
                recipient: "ada",
                subject: "Assigned",
                body: "You have been assigned a pathway.",
                state: notifications::READY,
                email_state: notifications::EMAIL_NONE,
                email_to: "",
                note: "",
            };
            let batch: Vec<(&Row, Prepared<'_>)> = rows.iter().rev().map(|r| (r, done)).collect();
            notifications::prepared_all(conn, &batch)
        })
        .await?;
        Ok(claimed)
    })
}

fn claim_deliveries(
    db: Db,
    now: NaiveDateTime,
    lease: NaiveDateTime,
) -> BoxFuture<'static, Result<Vec<(String, String)>, AppError>> {
    Box::pin(async move {
        let rows = db
            .write(move |conn| webhook_deliveries::claim(conn, now, lease, BATCH))
            .await?;
        let claimed = rows
            .iter()
            .map(|r| (r.tenant_id.clone(), r.id.clone()))
            .collect();
        // Then delivered, as the sender records each attempt.
        for row in rows {
            db.write(move |conn| {
                let outcome = Attempted {
                    state: webhook_deliveries::SUCCEEDED,
                    status: 204,
                    latency_ms: 1,
                    error: "",
                    at: now,
                    next_attempt_at: now,
                };
                webhook_deliveries::attempted(conn, &row, &outcome)
            })
            .await?;
        }
        Ok(claimed)
    })
}

async fn queue_notifications(db: &Db) {
    db.write(|conn| {
        for tenant in TENANTS {
            let rows: Vec<Row> = (0..PER_TENANT).map(|i| notification(tenant, i)).collect();
            notifications::decide_all(conn, &rows)?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

async fn queue_deliveries(db: &Db) {
    db.write(|conn| {
        for tenant in TENANTS {
            webhooks::insert(conn, &webhook(tenant))?;
            let rows: Vec<Delivery> = (0..PER_TENANT).map(|i| delivery(tenant, i)).collect();
            webhook_deliveries::enqueue(conn, &rows)?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

async fn workers_claim_each_notification_once(queue: Queue) {
    queue_notifications(&queue.db).await;
    let claimed = claim_all(&queue.db, 0, claim_notifications).await;
    assert_claims("notifications", &claimed, &claimed.rows);
    let pending: i64 = queue
        .db
        .read(|conn| {
            Ok(n::table
                .filter(n::state.eq(notifications::PENDING))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(pending, 0, "every notification prepared");
}

async fn workers_on_other_clocks_claim_notifications_without_failing(queue: Queue) {
    queue_notifications(&queue.db).await;
    let claimed = claim_all(&queue.db, WORKERS / 2, claim_notifications).await;
    assert_claims("notifications", &claimed, &claimed.late);
}

async fn workers_claim_each_webhook_delivery_once(queue: Queue) {
    queue_deliveries(&queue.db).await;
    let claimed = claim_all(&queue.db, 0, claim_deliveries).await;
    assert_claims("webhook deliveries", &claimed, &claimed.rows);
}

async fn workers_on_other_clocks_claim_webhook_deliveries_without_failing(queue: Queue) {
    queue_deliveries(&queue.db).await;
    let claimed = claim_all(&queue.db, WORKERS / 2, claim_deliveries).await;
    assert_claims("webhook deliveries", &claimed, &claimed.late);
}

/// A worker whose lease ran out — another worker took its rows and finished them — writes
/// nothing when it finishes: neither a preparation, nor a failure, nor a delivery attempt
/// (each would make a finished row pending again, or undo its outcome).
async fn a_worker_whose_lease_ran_out_writes_nothing(queue: Queue) {
    // Five of each, so the second claim takes the same five as the first.
    queue
        .db
        .write(|conn| {
            let tenant = TENANTS[0];
            let rows: Vec<Row> = (0..5).map(|i| notification(tenant, i)).collect();
            notifications::decide_all(conn, &rows)?;
            webhooks::insert(conn, &webhook(tenant))?;
            let rows: Vec<Delivery> = (0..5).map(|i| delivery(tenant, i)).collect();
            webhook_deliveries::enqueue(conn, &rows)?;
            Ok(())
        })
        .await
        .unwrap();
    let counter = AtomicI64::new(0);
    let (slow, fast) = (
        unique_lease(clock(false), &counter),
        unique_lease(clock(true), &counter),
    );
    let db = &queue.db;
    let claim = |now, lease| {
        db.write(move |conn| {
            let notifications = notifications::claim(conn, Work::Prepare, now, lease, 5)?;
            let deliveries = webhook_deliveries::claim(conn, now, lease, 5)?;
            Ok((notifications, deliveries))
        })
    };
    let (slow_rows, slow_deliveries) = claim(clock(false), slow).await.unwrap();
    // The slow worker's lease has run out for the one whose clock is two minutes on.
    let (fast_rows, fast_deliveries) = claim(clock(true), fast).await.unwrap();
    let ids = |rows: &[Row]| {
        let mut ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&slow_rows), ids(&fast_rows), "taken over");
    assert_eq!(slow_rows.len(), 5);
    assert_eq!(fast_deliveries.len(), 5);
    let prepared = |subject: &'static str| Prepared {
        recipient: "ada",
        subject,
        body: "",
        state: notifications::READY,
        email_state: notifications::EMAIL_NONE,
        email_to: "",
        note: "",
    };
    let attempt = |state: &'static str| Attempted {
        state,
        status: 200,
        latency_ms: 1,
        error: "",
        at: clock(true),
        next_attempt_at: clock(true),
    };
    db.write(move |conn| {
        let done: Vec<_> = fast_rows
            .iter()
            .map(|r| (r, prepared("by the fast one")))
            .collect();
        notifications::prepared_all(conn, &done)?;
        for row in &fast_deliveries {
            webhook_deliveries::attempted(conn, row, &attempt(webhook_deliveries::SUCCEEDED))?;
        }
        // Then the slow one finishes, late.
        let done: Vec<_> = slow_rows
            .iter()
            .map(|r| (r, prepared("by the slow one")))
            .collect();
        notifications::prepared_all(conn, &done)?;
        notifications::prepared(conn, &slow_rows[0], prepared("by the slow one"))?;
        notifications::failed(conn, &slow_rows[1], "too late")?;
        notifications::retry_at(conn, &slow_rows[2], at(), "too late")?;
        for row in &slow_deliveries {
            webhook_deliveries::attempted(conn, row, &attempt(webhook_deliveries::PENDING))?;
        }
        webhook_deliveries::release(conn, &slow_deliveries[0])?;
        Ok(())
    })
    .await
    .unwrap();
    let (subjects, states) = db
        .read(move |conn| {
            let subjects: Vec<(String, String, Option<NaiveDateTime>)> = n::table
                .filter(n::state.ne(notifications::PENDING))
                .select((n::subject, n::state, n::lease_until))
                .load(conn)?;
            let states: Vec<String> = d::table
                .filter(d::state.ne(webhook_deliveries::PENDING))
                .select(d::state)
                .load(conn)?;
            Ok((subjects, states))
        })
        .await
        .unwrap();
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    for (subject, state, lease) in subjects {
        assert_eq!(
            (subject.as_str(), state.as_str(), lease),
            ("by the fast one", notifications::READY, None)
        );
    }
    assert_eq!(states, vec![webhook_deliveries::SUCCEEDED.to_string(); 5]);
}

lms_test_support::on_both_databases!(Queue;
    a_worker_whose_lease_ran_out_writes_nothing,
    workers_claim_each_notification_once,
    workers_on_other_clocks_claim_notifications_without_failing,
    workers_claim_each_webhook_delivery_once,
    workers_on_other_clocks_claim_webhook_deliveries_without_failing,
);

/// The reminder scan on PostgreSQL, where replicas scan at once: rows one scan holds are
/// skipped by another at once, neither waited for (a deadlock over their order, or a due-date
/// change overwritten with a plan made from the old one) nor taken twice.
mod postgres_scans {
    use std::sync::Barrier;

    use notification_service::storage::tracked::{self, Tracked};

    use super::*;

    fn tracked(n: usize) -> Tracked {
        Tracked {
            tenant_id: TENANTS[0].into(),
            enrolment_id: format!("enrolment-{n}"),
            person_id: format!("person-{n}"),
            learner: format!("learner-{n}"),
            pathway_id: "pathway".into(),
            mandatory: true,
            due_at: Some(at() + Duration::days(7)),
            state: tracked::OPEN.into(),
            revision: 1,
            next_reminder_at: Some(at() - Duration::minutes(n as i64)),
            next_stage: 0,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reminder_scan_skips_what_another_holds() {
        let Some(queue) = Queue::start(TestBackend::Postgres).await else {
            return;
        };
        let db = queue.db;
        db.write(|conn| {
            for n in 0..5 {
                tracked::save(conn, &tracked(n))?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let (held, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let first = {
            let (db, held, release) = (db.clone(), held.clone(), release.clone());
            tokio::spawn(async move {
                db.write(move |conn| {
                    let due = tracked::due(conn, at(), 3)?;
                    held.wait();
                    release.wait();
                    Ok(due)
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || held.wait())
            .await
            .unwrap();
        let second = db.write(|conn| tracked::due(conn, at(), 5)).await.unwrap();
        tokio::task::spawn_blocking(move || release.wait())
            .await
            .unwrap();
        let first = first.await.unwrap().unwrap();
        let ids = |rows: &[Tracked]| {
            let mut ids: Vec<String> = rows.iter().map(|r| r.enrolment_id.clone()).collect();
            ids.sort();
            ids
        };
        // Soonest first: the first scan took the three due longest ago.
        assert_eq!(ids(&first), ["enrolment-2", "enrolment-3", "enrolment-4"]);
        assert_eq!(ids(&second), ["enrolment-0", "enrolment-1"]);
    }
}
