//! LRS clients: Basic credentials an admin gives content, apps and tools, each allowed to
//! write statements, read them, or both; and checking them on each request.

use std::collections::HashSet;

use lms_platform::auth::Call;
use lms_platform::ids::TenantId;
use lms_platform::resource::now;
use lms_platform::{AppError, AppResult, Principal, Role, audit};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::RecordsApp;
use crate::domain::secrets::{matches, new_secret, secret_hash};
use crate::storage::xapi_clients::{self as rows, ClientRow};

pub use rows::ClientRow as LrsClient;

/// The subject an LRS client acts as (its statements' authority names it).
pub fn subject_of(key: &str) -> String {
    format!("lrs-client:{key}")
}

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl RecordsApp {
    /// A new client and its secret (shown once).
    pub async fn create_lrs_client(
        &self,
        who: &Principal,
        name: String,
        can_read: bool,
        can_write: bool,
    ) -> AppResult<(LrsClient, String)> {
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::invalid_field(
                "name",
                "must be 1 to 200 characters",
            ));
        }
        if !can_read && !can_write {
            return Err(AppError::invalid_field(
                "can_read",
                "a client must be allowed to read or to write (or both)",
            ));
        }
        let suffix: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let secret = new_secret();
        let client = ClientRow {
            key: format!("lrs_{suffix}"),
            tenant_id: who.tenant_id.to_string(),
            name,
            secret_hash: secret_hash(&secret),
            can_read,
            can_write,
            created_at: now(),
            created_by: who.subject.clone(),
        };
        let (row, who) = (client.clone(), who.clone());
        self.db
            .write(move |conn| {
                rows::insert(conn, &row)?;
                let resource = format!("lrsClients/{}", row.key);
                audit::record(
                    conn,
                    &who,
                    audit::Change::created(resource, &described(&row))?,
                )
            })
            .await?;
        Ok((client, secret))
    }

    pub async fn list_lrs_clients(&self, who: &Principal) -> AppResult<Vec<LrsClient>> {
        let tenant = who.tenant_id.clone();
        self.db
            .read_one(move |conn| rows::list(conn, &tenant))
            .await
    }

    /// Deletes a client: its next request is refused.
    pub async fn delete_lrs_client(&self, who: &Principal, key: String) -> AppResult<()> {
        let who = who.clone();
        self.db
            .write(move |conn| {
                let gone = rows::delete(conn, &who.tenant_id, &key)?
                    .ok_or_else(|| AppError::NotFound(format!("no LRS client {key}")))?;
                let resource = format!("lrsClients/{key}");
                audit::record(
                    conn,
                    &who,
                    audit::Change::deleted(resource, &described(&gone))?,
                )
            })
            .await
    }

    /// The principal a client's Basic credentials stand for, when they are right and its
    /// scopes allow `needs`: the `service` role within its own tenant, so the store's role
    /// policy admits it to the statement RPCs only (see `grpc::lrs_auth`).
    pub async fn authenticate_lrs_client(
        &self,
        key: String,
        secret: String,
        needs: Scope,
        call: Call,
    ) -> AppResult<Principal> {
        let lookup = key.clone();
        let found = self
            .db
            .read_one(move |conn| rows::by_key(conn, &lookup))
            .await?;
        let client = found
            .filter(|client| matches(&secret, &client.secret_hash))
            .ok_or_else(|| {
                AppError::Unauthenticated("unknown LRS client key or wrong secret".into())
            })?;
        let allowed = match needs {
            Scope::Read => client.can_read,
            Scope::Write => client.can_write,
        };
        if !allowed {
            return Err(AppError::PermissionDenied(format!(
                "this LRS client may not {}",
                match needs {
                    Scope::Read => "read statements",
                    Scope::Write => "store statements",
                }
            )));
        }
        let tenant_id = TenantId::parse(&client.tenant_id)?;
        Ok(Principal {
            subject: subject_of(&client.key),
            tenant_id,
            roles: HashSet::from([Role::Service]),
            call,
        })
    }
}

/// What the audit trail keeps of a client (never its secret's hash).
fn described(client: &ClientRow) -> serde_json::Value {
    serde_json::json!({
        "key": client.key,
        "name": client.name,
        "can_read": client.can_read,
        "can_write": client.can_write,
    })
}
