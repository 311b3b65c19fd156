//! A tenant's own templates.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::schema::notification_templates as t;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct Stored {
    pub tenant_id: String,
    pub kind: String,
    pub locale: String,
    pub subject: String,
    pub body: String,
    pub updated_at: NaiveDateTime,
    pub updated_by: String,
}

pub fn all(conn: &mut DbConnection, tenant: &TenantId) -> AppResult<Vec<Stored>> {
    Ok(t::table
        .filter(t::tenant_id.eq(tenant.as_str()))
        .order((t::kind.asc(), t::locale.asc()))
        .select(Stored::as_select())
        .load(conn)?)
}

/// The tenant's template for `kind` in the first of `locales` it has one for.
pub fn best(
    conn: &mut DbConnection,
    tenant: &str,
    kind: &str,
    locales: &[String],
) -> AppResult<Option<Stored>> {
    let found: Vec<Stored> = t::table
        .filter(t::tenant_id.eq(tenant))
        .filter(t::kind.eq(kind))
        .filter(t::locale.eq_any(locales))
        .select(Stored::as_select())
        .load(conn)?;
    Ok(locales
        .iter()
        .find_map(|locale| found.iter().find(|s| &s.locale == locale).cloned()))
}

pub fn save(conn: &mut DbConnection, row: &Stored) -> AppResult<()> {
    let key = t::table
        .filter(t::tenant_id.eq(&row.tenant_id))
        .filter(t::kind.eq(&row.kind))
        .filter(t::locale.eq(&row.locale));
    let updated = diesel::update(key)
        .set((
            t::subject.eq(&row.subject),
            t::body.eq(&row.body),
            t::updated_at.eq(row.updated_at),
            t::updated_by.eq(&row.updated_by),
        ))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(t::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Removes it; whether there was one.
pub fn delete(
    conn: &mut DbConnection,
    tenant: &TenantId,
    kind: &str,
    locale: &str,
) -> AppResult<bool> {
    let deleted = diesel::delete(
        t::table
            .filter(t::tenant_id.eq(tenant.as_str()))
            .filter(t::kind.eq(kind))
            .filter(t::locale.eq(locale)),
    )
    .execute(conn)?;
    Ok(deleted > 0)
}
