//! `Db::read` on SQLite and PostgreSQL: one read-only snapshot per call (on PostgreSQL opened
//! by a single `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`), which a failing read leaves
//! behind cleanly — the same pooled connection reads and writes again.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use lms_platform::AppError;
use lms_platform::db::{Backend, Db};
use lms_test_support::{TestBackend, TestDatabase};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(db: &Db) -> i64 {
    db.read(|conn| {
        Ok(diesel::sql_query("SELECT COUNT(*) AS n FROM notes")
            .get_result::<Count>(conn)?
            .n)
    })
    .await
    .unwrap()
}

async fn reads_are_snapshots_that_leave_the_connection_clean(backend: TestBackend) {
    let Some(guard) = TestDatabase::create(backend) else {
        return;
    };
    // One connection: every call below reuses it.
    let db = Db::connect(guard.url.clone(), 1).unwrap();
    db.write(|conn| {
        diesel::sql_query("CREATE TABLE notes (id BIGINT PRIMARY KEY)").execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count(&db).await, 0);

    // A read that fails (an unknown table) rolls back and hands the connection back usable.
    let failed = db
        .read(|conn| {
            diesel::sql_query("SELECT COUNT(*) AS n FROM missing").get_result::<Count>(conn)?;
            Ok(())
        })
        .await;
    assert!(failed.is_err());
    db.write(|conn| {
        diesel::sql_query("INSERT INTO notes (id) VALUES (1)").execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(count(&db).await, 1);

    // On PostgreSQL a read cannot write: its transaction is READ ONLY.
    let written = db
        .read(|conn| {
            diesel::sql_query("INSERT INTO notes (id) VALUES (2)").execute(conn)?;
            Ok(())
        })
        .await;
    if db.backend() == Backend::Postgres {
        assert!(matches!(written, Err(AppError::Internal(_))), "{written:?}");
        assert_eq!(count(&db).await, 1);
    }
    // Reads inside a read see one snapshot and nest nothing: many in a row stay clean.
    for _ in 0..20 {
        count(&db).await;
    }
    db.write(|conn| {
        diesel::sql_query("INSERT INTO notes (id) VALUES (3)").execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();
    assert!(count(&db).await >= 2);
}

mod sqlite {
    #[tokio::test]
    async fn reads_are_snapshots_that_leave_the_connection_clean() {
        super::reads_are_snapshots_that_leave_the_connection_clean(super::TestBackend::Sqlite)
            .await;
    }
}

mod postgres {
    #[tokio::test]
    async fn reads_are_snapshots_that_leave_the_connection_clean() {
        super::reads_are_snapshots_that_leave_the_connection_clean(super::TestBackend::Postgres)
            .await;
    }
}
