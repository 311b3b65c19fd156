//! Pathway versions as progress is computed from them, kept parsed in memory.
//!
//! A published version never changes (pathway-service publishes a new version instead, and
//! `storage::versions::store` never overwrites one), so a kept snapshot is never stale and
//! nothing needs to invalidate it: entries leave only when the cache is full (least recently
//! used first). The key holds the tenant, so one tenant's version is never served to another.
//! A version the database does not hold yet is not remembered.

use std::sync::Arc;

use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use crate::domain::pathway::PathwaySnapshot;
use crate::storage::versions;

/// Versions kept per records-service process (a 3-step version is about 2 kB parsed).
const CAPACITY: u64 = 20_000;

#[derive(Clone)]
pub struct Snapshots {
    parsed: moka::sync::Cache<(TenantId, String, i32), Arc<PathwaySnapshot>>,
}

impl Default for Snapshots {
    fn default() -> Self {
        Self {
            parsed: moka::sync::Cache::new(CAPACITY),
        }
    }
}

impl Snapshots {
    /// The version's snapshot, read from the database (and kept) when not kept yet; None
    /// when records-service has not cached the version yet.
    pub fn get(
        &self,
        conn: &mut DbConnection,
        tenant: &TenantId,
        pathway_id: &str,
        version: i32,
    ) -> AppResult<Option<Arc<PathwaySnapshot>>> {
        let key = (tenant.clone(), pathway_id.to_string(), version);
        if let Some(kept) = self.parsed.get(&key) {
            return Ok(Some(kept));
        }
        let Some(snapshot) = versions::get(conn, tenant, pathway_id, version)? else {
            return Ok(None);
        };
        let snapshot = Arc::new(snapshot);
        self.parsed.insert(key, snapshot.clone());
        Ok(Some(snapshot))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;
    use lms_test_support::{TestBackend, TestDatabase};

    /// A one-step version of `pathway` titled `title`.
    fn version(pathway: &str, title: &str) -> PathwaySnapshot {
        serde_json::from_value(serde_json::json!({
            "pathway_id": pathway, "version": 1, "title": title, "sequential": true,
            "completion": "AllRequired", "steps": [],
        }))
        .expect("a snapshot")
    }

    async fn kept_per_tenant_never_stale_and_misses_not_remembered(backend: TestBackend) {
        let Some(database) = TestDatabase::create(backend) else {
            return;
        };
        let db = crate::open_database(database.url.clone(), 2, true)
            .await
            .expect("a migrated database");
        let (a, b) = (
            TenantId::parse("tenant-a").unwrap(),
            TenantId::parse("tenant-b").unwrap(),
        );
        let (for_a, for_b) = (a.clone(), b.clone());
        db.write(move |conn| {
            versions::store(conn, &for_a, &version("p1", "A's induction"))?;
            versions::store(conn, &for_b, &version("p1", "B's induction"))
        })
        .await
        .expect("stored");

        let snapshots = Snapshots::default();
        let read = |tenant: TenantId, pathway: &'static str| {
            let (db, snapshots) = (db.clone(), snapshots.clone());
            async move {
                db.read(move |conn| snapshots.get(conn, &tenant, pathway, 1))
                    .await
                    .expect("read")
                    .map(|s| s.title.clone())
            }
        };
        // Two tenants' versions with the same pathway id and number stay apart.
        assert_eq!(
            read(a.clone(), "p1").await.as_deref(),
            Some("A's induction")
        );
        assert_eq!(
            read(b.clone(), "p1").await.as_deref(),
            Some("B's induction")
        );

        // Kept: answered without the database (the rows are gone; a version never changes).
        db.write(|conn| {
            diesel::sql_query("DELETE FROM pathway_versions").execute(conn)?;
            Ok(())
        })
        .await
        .expect("deleted");
        assert_eq!(
            read(a.clone(), "p1").await.as_deref(),
            Some("A's induction")
        );
        assert_eq!(
            read(b.clone(), "p1").await.as_deref(),
            Some("B's induction")
        );

        // A version not cached yet is not remembered as missing: once stored, it is found.
        assert_eq!(read(a.clone(), "p2").await, None);
        let for_a = a.clone();
        db.write(move |conn| versions::store(conn, &for_a, &version("p2", "Later")))
            .await
            .expect("stored");
        assert_eq!(read(a, "p2").await.as_deref(), Some("Later"));
    }

    #[tokio::test]
    async fn sqlite_kept_per_tenant_never_stale_and_misses_not_remembered() {
        kept_per_tenant_never_stale_and_misses_not_remembered(TestBackend::Sqlite).await;
    }

    #[tokio::test]
    async fn postgres_kept_per_tenant_never_stale_and_misses_not_remembered() {
        kept_per_tenant_never_stale_and_misses_not_remembered(TestBackend::Postgres).await;
    }
}
