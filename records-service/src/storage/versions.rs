//! The cache of published pathway versions (immutable, fetched once from pathway-service).

use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::pathway_versions;
use crate::domain::pathway::PathwaySnapshot;

pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &str,
    version: i32,
) -> Result<Option<PathwaySnapshot>, AppError> {
    let text: Option<String> = pathway_versions::table
        .filter(pathway_versions::tenant_id.eq(tenant))
        .filter(pathway_versions::pathway_id.eq(pathway_id))
        .filter(pathway_versions::version.eq(version))
        .select(pathway_versions::snapshot)
        .first(conn)
        .optional()?;
    text.map(|t| serde_json::from_str(&t).map_err(AppError::internal))
        .transpose()
}

/// Whether a published version is cached (without reading it).
pub fn exists(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &str,
    version: i32,
) -> Result<bool, AppError> {
    Ok(diesel::select(diesel::dsl::exists(
        pathway_versions::table
            .filter(pathway_versions::tenant_id.eq(tenant))
            .filter(pathway_versions::pathway_id.eq(pathway_id))
            .filter(pathway_versions::version.eq(version)),
    ))
    .get_result(conn)?)
}

/// Caches a published version (immutable: a second store of the same version is a no-op).
/// Call inside a write transaction: the version's lock makes two stores at once (an event
/// batch and a CheckStep fetching the same version) one insert and one no-op.
pub fn store(
    conn: &mut DbConnection,
    tenant: &TenantId,
    snapshot: &PathwaySnapshot,
) -> Result<(), AppError> {
    lms_platform::db::lock_until_commit(
        conn,
        &format!(
            "records/pathway_version/{tenant}/{}/{}",
            snapshot.pathway_id, snapshot.version
        ),
    )?;
    if exists(conn, tenant, &snapshot.pathway_id, snapshot.version)? {
        return Ok(());
    }
    diesel::insert_into(pathway_versions::table)
        .values((
            pathway_versions::tenant_id.eq(tenant),
            pathway_versions::pathway_id.eq(&snapshot.pathway_id),
            pathway_versions::version.eq(snapshot.version),
            pathway_versions::snapshot
                .eq(serde_json::to_string(snapshot).map_err(AppError::internal)?),
            pathway_versions::fetched_at.eq(lms_platform::resource::now()),
        ))
        .execute(conn)?;
    Ok(())
}
