//! The verbs' canonical displays (`xapi_verbs`): the language maps statements give a verb,
//! gathered, shown in place of a statement's own `display` in `canonical` format.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel::upsert::excluded;
use lms_platform::db::DbConnection;
use lms_platform::error::AppError;
use lms_platform::ids::TenantId;

use super::schema::xapi_verbs;

/// Id → JSON text.
pub type Texts = HashMap<String, String>;

/// What the store keeps for these activities and verbs: (activity id → definition JSON,
/// verb id → display JSON). One statement for both, since every store of statements asks
/// (the learner record's own with each step completion).
pub fn definitions_and_displays(
    conn: &mut DbConnection,
    tenant: &TenantId,
    activities: &[String],
    verbs: &[String],
) -> Result<(Texts, Texts), AppError> {
    #[derive(QueryableByName)]
    struct Kept {
        #[diesel(sql_type = Bool)]
        verb: bool,
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        text: String,
    }
    if activities.is_empty() && verbs.is_empty() {
        return Ok(Default::default());
    }
    // Each set bound as one JSON array, probed through the primary key (see `db::in_set`).
    let (activities, verbs) = (json_array(activities), json_array(verbs));
    let sql = match conn {
        DbConnection::Postgres(_) => {
            "SELECT false AS verb, activity_id AS id, definition AS text FROM xapi_activities \
             WHERE tenant_id = $1 AND activity_id IN (SELECT jsonb_array_elements_text($2::jsonb)) \
             UNION ALL \
             SELECT true, verb_id, display FROM xapi_verbs \
             WHERE tenant_id = $1 AND verb_id IN (SELECT jsonb_array_elements_text($3::jsonb))"
        }
        DbConnection::Sqlite(_) => {
            "SELECT 0 AS verb, activity_id AS id, definition AS text FROM xapi_activities \
             WHERE tenant_id = ?1 AND activity_id IN (SELECT value FROM json_each(?2)) \
             UNION ALL \
             SELECT 1, verb_id, display FROM xapi_verbs \
             WHERE tenant_id = ?1 AND verb_id IN (SELECT value FROM json_each(?3))"
        }
    };
    let kept: Vec<Kept> = diesel::sql_query(sql)
        .bind::<Text, _>(tenant.as_str())
        .bind::<Text, _>(activities)
        .bind::<Text, _>(verbs)
        .load(conn)?;
    let (mut definitions, mut displays) = (HashMap::new(), HashMap::new());
    for row in kept {
        let into = if row.verb {
            &mut displays
        } else {
            &mut definitions
        };
        into.insert(row.id, row.text);
    }
    Ok((definitions, displays))
}

fn json_array(ids: &[String]) -> String {
    serde_json::Value::from(ids.to_vec()).to_string()
}

/// Keeps these displays (verb id → display JSON, in id order), replacing the stored ones, as
/// `xapi_documents::keep_definitions` keeps activities' definitions (an upsert; id order keeps
/// two such transactions from waiting on each other's rows in opposite orders).
pub fn keep_displays(
    conn: &mut DbConnection,
    tenant: &TenantId,
    displays: &[(String, String)],
    at: NaiveDateTime,
) -> Result<(), AppError> {
    let newer = (
        xapi_verbs::display.eq(excluded(xapi_verbs::display)),
        xapi_verbs::updated_at.eq(excluded(xapi_verbs::updated_at)),
    );
    for (id, display) in displays {
        let row = (
            xapi_verbs::tenant_id.eq(tenant.as_str()),
            xapi_verbs::verb_id.eq(id.as_str()),
            xapi_verbs::display.eq(display.as_str()),
            xapi_verbs::updated_at.eq(at),
        );
        let upsert = diesel::insert_into(xapi_verbs::table)
            .values(row)
            .on_conflict((xapi_verbs::tenant_id, xapi_verbs::verb_id))
            .do_update()
            .set(newer);
        lms_platform::execute_on_backend!(&mut *conn, upsert)?;
    }
    Ok(())
}
