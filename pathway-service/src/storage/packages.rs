//! cmi5 course packages: the package rows, their files, and the files' bytes in parts.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::{content_package_chunks, content_package_files, content_packages};
use crate::domain::package::ContentPackage;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = content_packages)]
struct PackageRow {
    tenant_id: String,
    id: String,
    access_key: String,
    pathway_id: String,
    file_count: i32,
    total_bytes: i64,
    imported_at: NaiveDateTime,
    imported_by: String,
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    package: &ContentPackage,
) -> Result<(), AppError> {
    diesel::insert_into(content_packages::table)
        .values(PackageRow {
            tenant_id: tenant.as_str().to_string(),
            id: package.id.clone(),
            access_key: package.access_key.clone(),
            pathway_id: package.pathway_id.clone(),
            file_count: package.file_count,
            total_bytes: package.total_bytes,
            imported_at: package.imported_at,
            imported_by: package.imported_by.clone(),
        })
        .execute(conn)?;
    Ok(())
}

/// A file of a package, named before its bytes are written.
pub fn insert_file(
    conn: &mut DbConnection,
    tenant: &TenantId,
    access_key: &str,
    path: &str,
    content_type: &str,
    size: i64,
) -> Result<(), AppError> {
    diesel::insert_into(content_package_files::table)
        .values((
            content_package_files::access_key.eq(access_key),
            content_package_files::path.eq(path),
            content_package_files::tenant_id.eq(tenant.as_str()),
            content_package_files::content_type.eq(content_type),
            content_package_files::size.eq(size),
        ))
        .execute(conn)?;
    Ok(())
}

/// The `seq`th part of a file's bytes (from 0).
pub fn insert_chunk(
    conn: &mut DbConnection,
    tenant: &TenantId,
    access_key: &str,
    path: &str,
    seq: i32,
    data: &[u8],
) -> Result<(), AppError> {
    diesel::insert_into(content_package_chunks::table)
        .values((
            content_package_chunks::access_key.eq(access_key),
            content_package_chunks::path.eq(path),
            content_package_chunks::seq.eq(seq),
            content_package_chunks::tenant_id.eq(tenant.as_str()),
            content_package_chunks::data.eq(data),
        ))
        .execute(conn)?;
    Ok(())
}

/// A file as a reader finds it by the package's key, in whichever tenant (the key is the
/// credential): its tenant, media type and size.
pub struct FoundFile {
    pub tenant: TenantId,
    pub content_type: String,
    pub size: i64,
}

pub fn find_file(
    conn: &mut DbConnection,
    access_key: &str,
    path: &str,
) -> Result<Option<FoundFile>, AppError> {
    let found = content_package_files::table
        .filter(content_package_files::access_key.eq(access_key))
        .filter(content_package_files::path.eq(path))
        .select((
            content_package_files::tenant_id,
            content_package_files::content_type,
            content_package_files::size,
        ))
        .first::<(TenantId, String, i64)>(conn)
        .optional()?;
    Ok(found.map(|(tenant, content_type, size)| FoundFile {
        tenant,
        content_type,
        size,
    }))
}

/// The `seq`th part of a file's bytes; None past its last.
pub fn chunk(
    conn: &mut DbConnection,
    tenant: &TenantId,
    access_key: &str,
    path: &str,
    seq: i32,
) -> Result<Option<Vec<u8>>, AppError> {
    Ok(content_package_chunks::table
        .filter(content_package_chunks::tenant_id.eq(tenant.as_str()))
        .filter(content_package_chunks::access_key.eq(access_key))
        .filter(content_package_chunks::path.eq(path))
        .filter(content_package_chunks::seq.eq(seq))
        .select(content_package_chunks::data)
        .first::<Vec<u8>>(conn)
        .optional()?)
}
