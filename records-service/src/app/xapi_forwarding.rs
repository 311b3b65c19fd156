//! Forwarding a tenant's statements to another LRS through the outbox: the setting, the
//! events written beside the statements they carry, and the outbox destination that sends
//! them (`external-lrs`: retried with backoff, refusals kept as dead letters).

use std::sync::Arc;

use chrono::NaiveDateTime;
use lms_platform::db::{Db, DbConnection};
use lms_platform::egress::Destinations;
use lms_platform::ids::TenantId;
use lms_platform::outbox::{self, EventSink};
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, audit};
use serde_json::Value;

use super::RecordsApp;
use crate::clients::external_lrs::{Destination, ExternalLrsSink, Lookup};
use crate::events;
use crate::storage::xapi_forwarding::{self as rows, ForwardingRow};
use crate::storage::xapi_statements::NewStatement;

/// The outbox destination's name (its deliveries, dead letters and metrics).
pub const DESTINATION: &str = "external-lrs";

/// A forwarding setting as an admin gives it (the password: None keeps the one set).
pub struct ForwardingUpdate {
    pub endpoint: String,
    pub username: String,
    pub password: Option<String>,
    pub enabled: bool,
}

/// The setting as read back: never the password.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarding {
    pub endpoint: String,
    pub username: String,
    pub enabled: bool,
    pub updated_at: Option<NaiveDateTime>,
    pub updated_by: String,
}

impl From<ForwardingRow> for Forwarding {
    fn from(row: ForwardingRow) -> Self {
        Forwarding {
            endpoint: row.endpoint,
            username: row.username,
            enabled: row.enabled,
            updated_at: Some(row.updated_at),
            updated_by: row.updated_by,
        }
    }
}

impl RecordsApp {
    pub async fn get_lrs_forwarding(&self, who: &Principal) -> AppResult<Forwarding> {
        let tenant = who.tenant_id.to_string();
        let found = self
            .db
            .read_one(move |conn| rows::get(conn, &tenant))
            .await?;
        Ok(found.map(Forwarding::from).unwrap_or(Forwarding {
            endpoint: String::new(),
            username: String::new(),
            enabled: false,
            updated_at: None,
            updated_by: String::new(),
        }))
    }

    pub async fn update_lrs_forwarding(
        &self,
        who: &Principal,
        update: ForwardingUpdate,
    ) -> AppResult<Forwarding> {
        let who = who.clone();
        let destinations = self.forwarding_destinations.clone();
        self.db
            .write(move |conn| {
                let tenant = who.tenant_id.to_string();
                let before = rows::get(conn, &tenant)?;
                if !update.endpoint.is_empty() {
                    destinations
                        .check_url(&update.endpoint)
                        .map_err(|why| AppError::invalid_field("forwarding.endpoint", why))?;
                }
                let password = match (&update.password, &before) {
                    (Some(given), _) => given.clone(),
                    (None, Some(before)) => before.password.clone(),
                    (None, None) => String::new(),
                };
                if update.enabled && !update.username.is_empty() && password.is_empty() {
                    return Err(AppError::invalid_field(
                        "forwarding.password",
                        "is required with a username",
                    ));
                }
                let row = ForwardingRow {
                    tenant_id: tenant,
                    endpoint: update.endpoint,
                    username: update.username,
                    password,
                    enabled: update.enabled,
                    updated_at: now(),
                    updated_by: who.subject.clone(),
                };
                rows::put(conn, &row)?;
                let after = Forwarding::from(row);
                let change = match before {
                    Some(before) => audit::Change::updated(
                        "lrsForwarding",
                        &described(&before.into()),
                        &described(&after),
                    )?,
                    None => audit::Change::created("lrsForwarding", &described(&after))?,
                };
                audit::record(conn, &who, change)?;
                Ok(after)
            })
            .await
    }
}

/// What the audit trail keeps of the setting (never the password).
fn described(forwarding: &Forwarding) -> Value {
    serde_json::json!({
        "endpoint": forwarding.endpoint,
        "username": forwarding.username,
        "enabled": forwarding.enabled,
    })
}

/// Writes an outbox event per newly stored statement, in the transaction storing them, when
/// the tenant forwards its statements.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    tenant: &TenantId,
    stored: &[NewStatement],
) -> AppResult<()> {
    if stored.is_empty() || !rows::enabled(conn, tenant)? {
        return Ok(());
    }
    let events = stored
        .iter()
        .map(|s| events::statement_stored(&s.id, &s.document))
        .collect();
    outbox::enqueue(conn, tenant, events)
}

/// The outbox destination sending statements to each tenant's other store, which it reads
/// from the tenant's setting when it sends.
pub fn sink(db: Db, destinations: Arc<Destinations>) -> anyhow::Result<Arc<dyn EventSink>> {
    let lookup: Lookup = Arc::new(move |tenant: String| {
        let db = db.clone();
        Box::pin(async move {
            let found = db
                .read_one(move |conn| rows::get(conn, &tenant))
                .await
                .map_err(|e| e.to_string())?;
            Ok(found.filter(|s| s.enabled).map(|s| Destination {
                endpoint: s.endpoint,
                username: s.username,
                password: s.password,
            }))
        })
    });
    Ok(Arc::new(ExternalLrsSink::new(
        DESTINATION,
        lookup,
        destinations,
    )?))
}
