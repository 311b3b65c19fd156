//! The certification scheduler's announcements are made from a copy read before the write
//! that marks them: a certification revoked in between is not announced from the
//! stale copy (storage::certifications::mark_announced, mark_expired_announced), on SQLite
//! and PostgreSQL.

use chrono::{Duration, NaiveDateTime};
use lms_platform::db::Db;
use lms_platform::ids::{EnrolmentId, PathwayId, TenantId};
use lms_test_support::{TestBackend, TestDatabase};
use records_service::domain::certification::Certification;
use records_service::storage::certifications as stored;

struct Store {
    _guard: TestDatabase,
    db: Db,
}

impl Store {
    async fn start(backend: TestBackend) -> Option<Store> {
        let guard = TestDatabase::create(backend)?;
        let db = records_service::open_database(guard.url.clone(), 2, true)
            .await
            .unwrap();
        Some(Store { _guard: guard, db })
    }
}

fn at() -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_800_000_000, 0)
        .unwrap()
        .naive_utc()
}

fn certification(n: usize) -> Certification {
    Certification {
        id: format!("certification-{n}"),
        tenant_id: TenantId::parse("a").unwrap(),
        learner: format!("learner-{n}"),
        pathway_id: PathwayId::generate(),
        pathway_title: "Forklift".into(),
        pathway_version: 1,
        enrolment_id: EnrolmentId::generate(),
        cycle: 1,
        completed_at: at() - Duration::days(400),
        issued_at: at() - Duration::days(400),
        // Expired two days ago (the first an hour earlier: read first), so due for both
        // announcements.
        expires_at: Some(at() - Duration::days(2) + Duration::hours(n as i64)),
        window_days: 30,
        grace_days: 0,
        verification_code: format!("code-{n}"),
        revoked_at: None,
        revoke_reason: String::new(),
        revoked_by: String::new(),
        expiring_announced_at: None,
    }
}

async fn a_certification_revoked_after_the_scan_read_it_is_not_announced(store: Store) {
    let db = store.db;
    let outcome = db
        .write(|conn| {
            for n in 0..2 {
                stored::insert(conn, &certification(n))?;
            }
            let expiring = stored::due_for_announcement(conn, at(), 10)?;
            let expired = stored::due_for_expiry(conn, at(), 10)?;
            assert_eq!((expiring.len(), expired.len()), (2, 2));
            // Between the scan's read and its write: certification-0 is revoked.
            let tenant = TenantId::parse("a").unwrap();
            stored::revoke(conn, &tenant, "certification-0", at(), "fraud", "admin")?;
            let mut marked = Vec::new();
            for read in expiring.iter().chain(&expired) {
                marked.push((read.id.clone(), stored::mark_announced(conn, read, at())?));
            }
            marked.push((
                "expired".into(),
                stored::mark_expired_announced(conn, &expired[1], at())?,
            ));
            marked.push((
                "expired, revoked".into(),
                stored::mark_expired_announced(conn, &expired[0], at())?,
            ));
            Ok(marked)
        })
        .await
        .unwrap();
    assert_eq!(
        outcome,
        [
            ("certification-0".to_string(), false),
            ("certification-1".to_string(), true),
            ("certification-0".to_string(), false),
            ("certification-1".to_string(), false),
            ("expired".to_string(), true),
            ("expired, revoked".to_string(), false),
        ]
    );
}

lms_test_support::on_both_databases!(Store;
    a_certification_revoked_after_the_scan_read_it_is_not_announced,
);
