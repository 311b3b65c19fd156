//! `db::in_set` on SQLite and PostgreSQL: a filter by a set of values the caller holds matches
//! exactly those values — whatever characters they hold, however many there are, none when the
//! set is empty — in reads and in updates.

use diesel::prelude::*;
use lms_platform::db::{Db, in_set};
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
