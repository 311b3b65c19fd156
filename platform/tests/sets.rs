//! `db::in_set` on SQLite and PostgreSQL: a filter by a set of values the caller holds matches
//! exactly those values — whatever characters they hold, however many there are, none when the
//! set is empty — in reads and in updates. And on PostgreSQL, `db::lock_unheld` takes only the
//! rows no other transaction holds, without waiting; a deadlock PostgreSQL breaks is ABORTED
//! (retry), not INTERNAL.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::{Db, in_set, lock_unheld};
use lms_test_support::{TestBackend, TestDatabase};

diesel::table! {
    notes (id) {
        id -> Text,
        seen -> Bool,
    }
}

async fn ids_of(db: &Db, wanted: Vec<String>) -> Vec<String> {
    db.read(move |conn| {
        let of_ids = in_set(conn, "notes.id", &wanted);
        Ok(notes::table
            .filter(of_ids)
            .select(notes::id)
            .order(notes::id)
            .load(conn)?)
    })
    .await
    .unwrap()
}

async fn a_set_filter_matches_exactly_its_values(backend: TestBackend) {
    let Some(guard) = TestDatabase::create(backend) else {
        return;
    };
    let db = Db::connect(guard.url.clone(), 2).unwrap();
    // Quotes, a backslash, JSON's own syntax, non-ASCII: bound as data, never as SQL or JSON.
    let odd = [
        "it's",
        "a\\b",
        "\"quoted\"",
        "[1, {}]",
        "Zoë 日本",
        "x' OR '1'='1",
    ];
    let mut all: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
    all.extend((0..2_500).map(|n| format!("id-{n:05}")));
    let rows = all.clone();
    db.write(move |conn| {
        diesel::sql_query("CREATE TABLE notes (id TEXT PRIMARY KEY, seen BOOLEAN NOT NULL)")
            .execute(conn)?;
        for chunk in rows.chunks(1_000) {
            let values: Vec<_> = chunk
                .iter()
                .map(|id| (notes::id.eq(id), notes::seen.eq(false)))
                .collect();
            lms_platform::execute_on_backend!(
                &mut *conn,
                diesel::insert_into(notes::table).values(values)
            )?;
        }
        Ok(())
    })
    .await
    .unwrap();

    let mut wanted: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
    wanted.push("missing".into());
    let mut expected: Vec<String> = odd.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(ids_of(&db, wanted).await, expected, "the odd ones, exactly");
    assert!(
        ids_of(&db, Vec::new()).await.is_empty(),
        "nothing for no values"
    );
    let many: Vec<String> = (0..2_500)
        .step_by(2)
        .map(|n| format!("id-{n:05}"))
        .collect();
    assert_eq!(ids_of(&db, many.clone()).await, many, "1 250 of 2 506");

    // In an update: only the rows named change.
    let named = vec!["it's".to_string(), "id-00007".to_string()];
    let changed = db
        .write(move |conn| {
            let of_ids = in_set(conn, "notes.id", &named);
            Ok(diesel::update(notes::table.filter(of_ids))
                .set(notes::seen.eq(true))
                .execute(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(changed, 2);
    let seen: Vec<String> = db
        .read(|conn| {
            Ok(notes::table
                .filter(notes::seen)
                .select(notes::id)
                .order(notes::id)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(seen, ["id-00007", "it's"]);
}

diesel::table! {
    jobs (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        taken -> Bool,
    }
}

/// A PostgreSQL database holding jobs a, b and c of tenant t (None outside CI without one).
async fn jobs() -> Option<(TestDatabase, Db)> {
    let guard = TestDatabase::create(TestBackend::Postgres)?;
    let db = Db::connect(guard.url.clone(), 4).unwrap();
    db.write(|conn| {
        diesel::sql_query(
            "CREATE TABLE jobs (tenant_id TEXT, id TEXT, taken BOOLEAN NOT NULL, \
             PRIMARY KEY (tenant_id, id))",
        )
        .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO jobs VALUES ('t','a',false),('t','b',false),('t','c',false)",
        )
        .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    Some((guard, db))
}

mod postgres_locks {
    use super::*;

    /// While one transaction holds a and b, another asking for b and c gets c at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rows_another_transaction_holds_are_skipped_not_waited_for() {
        let Some((_guard, db)) = jobs().await else {
            return;
        };
        let (held, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let holder = {
            let (db, held, release) = (db.clone(), held.clone(), release.clone());
            tokio::spawn(async move {
                db.write(move |conn| {
                    let mine = lock_unheld(conn, "jobs", "t", &["a", "b"])?;
                    held.wait();
                    release.wait();
                    Ok(mine)
                })
                .await
            })
        };
        let asker = tokio::task::spawn_blocking(move || held.wait());
        asker.await.unwrap();
        let started = Instant::now();
        let got = db
            .write(|conn| lock_unheld(conn, "jobs", "t", &["b", "c", "missing"]))
            .await
            .unwrap();
        let waited = started.elapsed();
        tokio::task::spawn_blocking(move || release.wait())
            .await
            .unwrap();
        assert_eq!(holder.await.unwrap().unwrap(), ["a", "b"]);
        assert_eq!(got, ["c"], "b is held by the other transaction");
        assert!(
            waited < Duration::from_secs(5),
            "took {waited:?}: it waited"
        );
        // Another tenant's row of the same id is never taken.
        let other = db
            .write(|conn| lock_unheld(conn, "jobs", "u", &["a"]))
            .await
            .unwrap();
        assert!(other.is_empty());
    }

    /// Two transactions each update a row the other then updates: PostgreSQL fails one of
    /// them, and that one is ABORTED (the caller retries), not INTERNAL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadlock_is_aborted_for_a_retry() {
        let Some((_guard, db)) = jobs().await else {
            return;
        };
        let both_hold_one = Arc::new(Barrier::new(2));
        let crossing = |first: &'static str, second: &'static str| {
            let (db, both_hold_one) = (db.clone(), both_hold_one.clone());
            tokio::spawn(async move {
                db.write(move |conn| {
                    let take = |conn: &mut lms_platform::db::DbConnection, id: &str| {
                        diesel::update(jobs::table.filter(jobs::id.eq(id)))
                            .set(jobs::taken.eq(true))
                            .execute(conn)
                    };
                    take(conn, first)?;
                    both_hold_one.wait();
                    take(conn, second)?;
                    Ok(())
                })
                .await
            })
        };
        let (one, other) = (crossing("a", "b"), crossing("b", "a"));
        let outcomes = [one.await.unwrap(), other.await.unwrap()];
        let aborted = outcomes
            .iter()
            .filter(|outcome| matches!(outcome, Err(AppError::Aborted(_))))
            .count();
        assert_eq!(aborted, 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    }
}

mod sqlite {
    #[tokio::test]
    async fn a_set_filter_matches_exactly_its_values() {
        super::a_set_filter_matches_exactly_its_values(super::TestBackend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test]
    async fn a_set_filter_matches_exactly_its_values() {
        super::a_set_filter_matches_exactly_its_values(super::TestBackend::Postgres).await;
    }
}
