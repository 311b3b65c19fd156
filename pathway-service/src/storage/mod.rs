//! Storage: rows, queries, and their mapping to the domain. Every query filters on `tenant_id`.

pub mod categories;
pub mod pathways;
pub mod schema;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use schema::idempotency_keys;

/// The resource a create with this `request_id` already made, if any.
pub fn find_idempotent(
    conn: &mut DbConnection,
    tenant: &str,
    operation: &str,
    request_id: &str,
) -> Result<Option<String>, AppError> {
    Ok(idempotency_keys::table
        .filter(idempotency_keys::tenant_id.eq(tenant))
        .filter(idempotency_keys::operation.eq(operation))
        .filter(idempotency_keys::request_id.eq(request_id))
        .select(idempotency_keys::resource_id)
        .first::<String>(conn)
        .optional()?)
}

/// Remembers that the create `request_id` made `resource_id` (in the create's transaction).
pub fn record_idempotent(
    conn: &mut DbConnection,
    tenant: &str,
    operation: &str,
    request_id: &str,
    resource_id: &str,
    at: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::tenant_id.eq(tenant),
            idempotency_keys::operation.eq(operation),
            idempotency_keys::request_id.eq(request_id),
            idempotency_keys::resource_id.eq(resource_id),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Escapes LIKE wildcards in user text, for `LIKE ... ESCAPE '\'`.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends for ASCII.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}
