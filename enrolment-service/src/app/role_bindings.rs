//! Scoped administration: tenant admins give people roles on parts of the tenant; the
//! decision point of every service reads them (the directory's own, here, at once).

use std::sync::Arc;

use lms_platform::access::{BoxFuture, Directory, Grant, Reach, Scope, ScopedRole};
use lms_platform::db::Db;
use lms_platform::ids::TenantId;
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::now;
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, audit, idempotency, outbox};

use super::EnrolmentApp;
use crate::domain::role_binding::{MAX_BINDINGS_PER_PRINCIPAL, RoleBinding};
use crate::events;
use crate::storage::role_bindings as rows;
use crate::storage::{audiences as audience_rows, classes as class_rows, people as people_rows};

/// What a new binding says: who, which role, where.
pub struct NewBinding {
    pub principal: String,
    pub role: ScopedRole,
    pub scope: Scope,
}

impl EnrolmentApp {
    pub async fn create_role_binding(
        &self,
        who: &Principal,
        new: NewBinding,
        request_id: Option<String>,
    ) -> AppResult<RoleBinding> {
        let tenant = who.tenant_id.clone();
        // A category lives in pathway-service: asked before the transaction.
        if let Scope::Category(id) = &new.scope {
            self.catalog
                .require_category(&tenant, id)
                .await
                .map_err(|error| scope_missing(error, "category", id))?;
        }
        let binding = RoleBinding {
            id: new_id(),
            principal: new.principal,
            role: new.role,
            scope: new.scope,
            created_at: now(),
            created_by: who.subject.clone(),
        };
        let principal = binding.principal.clone();
        let author = who.clone();
        let created = self
            .db
            .write(move |conn| {
                let request_id = request_id.clone();
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateRoleBinding",
                    request_id.as_deref(),
                    |conn, id| rows::get(conn, &tenant, id),
                    |conn| {
                        require_scope(conn, &tenant, &binding)?;
                        if rows::exists(conn, &tenant, &binding)? {
                            return Err(AppError::AlreadyExists(format!(
                                "{} already holds {} on this scope",
                                binding.principal,
                                binding.role.as_str()
                            )));
                        }
                        if rows::count_of(conn, &tenant, &binding.principal)?
                            >= MAX_BINDINGS_PER_PRINCIPAL
                        {
                            return Err(AppError::FailedPrecondition(format!(
                                "{} already holds {MAX_BINDINGS_PER_PRINCIPAL} bindings, the most one person may",
                                binding.principal
                            )));
                        }
                        rows::insert(conn, &tenant, &binding)?;
                        outbox::enqueue(
                            conn,
                            &tenant,
                            vec![events::role_binding_changed(&binding, false)],
                        )?;
                        let resource = format!("roleBindings/{}", binding.id);
                        audit::record(conn, &author, audit::Change::created(resource, &binding)?)?;
                        Ok((binding.id.clone(), binding))
                    },
                )
            })
            .await?;
        self.access.forget(&who.tenant_id, &principal).await;
        Ok(created)
    }

    pub async fn get_role_binding(&self, who: &Principal, id: String) -> AppResult<RoleBinding> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| rows::get(conn, &tenant, &id))
            .await
    }

    pub async fn list_role_bindings(
        &self,
        who: &Principal,
        principal: Option<String>,
        role: Option<ScopedRole>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<RoleBinding>> {
        let limit = pagination::page_size(page_size)?;
        let filters = format!(
            "principal={};role={}",
            principal.as_deref().unwrap_or(""),
            role.map(ScopedRole::as_str).unwrap_or("")
        );
        let after = pagination::decode_key::<1>(&page_token, &filters)?.map(|[id]| id);
        let tenant = who.tenant_id.clone();
        let bindings = self
            .db
            .read(move |conn| {
                let (principal, after) = (principal.as_deref(), after.as_deref());
                rows::list(conn, &tenant, principal, role, after, limit + 1)
            })
            .await?;
        Ok(paginate(bindings, limit, &filters, |b| vec![b.id.clone()]))
    }

    pub async fn delete_role_binding(&self, who: &Principal, id: String) -> AppResult<()> {
        let tenant = who.tenant_id.clone();
        let author = who.clone();
        let removed = self
            .db
            .write(move |conn| {
                let binding = rows::get(conn, &tenant, &id)?;
                rows::delete(conn, &tenant, &id)?;
                outbox::enqueue(
                    conn,
                    &tenant,
                    vec![events::role_binding_changed(&binding, true)],
                )?;
                let resource = format!("roleBindings/{id}");
                audit::record(conn, &author, audit::Change::deleted(resource, &binding)?)?;
                Ok(binding)
            })
            .await?;
        self.access.forget(&who.tenant_id, &removed.principal).await;
        Ok(())
    }

    pub async fn check_scope_membership(
        &self,
        who: &Principal,
        person: String,
        groups: Vec<Scope>,
    ) -> AppResult<Vec<Scope>> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| rows::groups_holding(conn, &tenant, &person, &groups))
            .await
    }
}

/// `Ok` when the person (by external id) is inside `reach`: in one of its audiences, its
/// departments or (as a student) its classes — read in the caller's transaction, so the
/// decision and the change see the same memberships. Otherwise `outside()`: the caller's
/// words for something that does not exist.
pub(super) fn require_person_in_reach(
    conn: &mut lms_platform::db::DbConnection,
    tenant: &TenantId,
    reach: &Reach,
    person: &str,
    outside: impl FnOnce() -> AppError,
) -> AppResult<()> {
    let groups: Vec<Scope> = match reach {
        Reach::Tenant => return Ok(()),
        Reach::Scopes(scopes) => scopes.iter().filter(|s| s.is_group()).cloned().collect(),
    };
    if !groups.is_empty() && !rows::groups_holding(conn, tenant, person, &groups)?.is_empty() {
        Ok(())
    } else {
        Err(outside())
    }
}

/// NOT_FOUND unless the binding's principal is in the directory and its audience, class or
/// department exists (a category is asked of pathway-service before the transaction).
fn require_scope(
    conn: &mut lms_platform::db::DbConnection,
    tenant: &TenantId,
    binding: &RoleBinding,
) -> AppResult<()> {
    let principal = &binding.principal;
    if people_rows::by_external_ids(conn, tenant, std::slice::from_ref(principal))?.is_empty() {
        return Err(AppError::NotFound(format!(
            "principal {principal:?} is not a person in the directory"
        )));
    }
    match &binding.scope {
        Scope::Tenant | Scope::Category(_) => Ok(()),
        Scope::Audience(id) => audience_rows::get(conn, tenant, id)
            .map(|_| ())
            .map_err(|error| scope_missing(error, "audience", id)),
        Scope::Class(id) => class_rows::get(conn, tenant, id)
            .map(|_| ())
            .map_err(|error| scope_missing(error, "class", id)),
        Scope::Department(name) => {
            if rows::department_exists(conn, tenant, name)? {
                Ok(())
            } else {
                Err(AppError::NotFound(format!(
                    "department {name:?} not found: nobody in the directory works in it"
                )))
            }
        }
    }
}

/// A lookup's NOT_FOUND worded for the binding; any other error (the database, a peer) as it is.
fn scope_missing(error: AppError, kind: &str, id: &str) -> AppError {
    match error {
        AppError::NotFound(_) => AppError::NotFound(format!(
            "{kind} {id} not found: a binding's scope must exist"
        )),
        other => other,
    }
}

/// The directory's own bindings and groups, read from its database: the decision point of
/// enrolment-service itself (every other service asks over gRPC).
pub struct LocalDirectory {
    db: Db,
}

impl LocalDirectory {
    pub fn new(db: Db) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

impl Directory for LocalDirectory {
    fn grants(
        &self,
        tenant: TenantId,
        subject: String,
    ) -> BoxFuture<'static, AppResult<Vec<Grant>>> {
        let db = self.db.clone();
        Box::pin(async move {
            // One SELECT: no transaction needed around it.
            let bindings = db
                .read_one(move |conn| {
                    rows::list(
                        conn,
                        &tenant,
                        Some(&subject),
                        None,
                        None,
                        MAX_BINDINGS_PER_PRINCIPAL,
                    )
                })
                .await?;
            Ok(bindings.iter().map(RoleBinding::grant).collect())
        })
    }

    fn groups_holding(
        &self,
        tenant: TenantId,
        person: String,
        groups: Vec<Scope>,
    ) -> BoxFuture<'static, AppResult<Vec<Scope>>> {
        let db = self.db.clone();
        Box::pin(async move {
            db.read(move |conn| rows::groups_holding(conn, &tenant, &person, &groups))
                .await
        })
    }
}
