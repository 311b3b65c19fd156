//! The decision point: "may this principal do this to that resource?" — asked by every
//! service in the same way.
//!
//! A principal's token roles are tenant-wide bindings (an `admin` token administers the whole
//! tenant, an `instructor` token reads and grades everyone). Role bindings stored in the
//! directory (enrolment-service's `RoleBindingService`) add roles on parts of the tenant: a
//! category subtree, an audience, a department, a class. A resource is *inside* a binding's
//! scope when it is a pathway or category in the subtree, or a person in the group.
//!
//! Two questions, asked at two places:
//! - at the door ([`crate::auth::Authorize`]): does the principal hold the permission anywhere
//!   (`bound_anywhere`)? Someone with no binding is refused exactly as before bindings existed;
//! - in the use case, once the resource is known: is it inside one of their scopes (`allows`,
//!   or `reach` when the resource is read inside the use case's transaction)? A resource
//!   outside them is refused with the same words as one that does not exist, so a scoped
//!   principal learns nothing about other parts of the tenant.
//!
//! Both are answered from a cache: a principal's bindings per (tenant, subject), and which of
//! some groups hold a person per (tenant, person, groups). An answer is never served older than
//! `auth.bindings_cache_seconds` (default 5 s); one in use is asked again in the background
//! before then (`cache.rs`), so a busy caller does not wait for the directory. A binding's
//! change is forgotten at once: by the directory in the change itself, by every other service
//! when enrolment-service's `RoleBindingChanged` event arrives (`listener.rs`). Keys always
//! carry the tenant: one tenant's answer is never another's.

mod cache;
mod directory;
mod listener;

use std::sync::Arc;
use std::time::Duration;

pub use futures::future::BoxFuture;

use crate::error::AppResult;
use crate::ids::TenantId;
use crate::{Principal, Role};

use cache::FreshCache;
pub use directory::{
    MAX_BINDINGS_PER_PRINCIPAL, RemoteDirectory, role, role_message, scope, scope_message,
};
pub use listener::consumed;

/// What a role lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Change content (categories, pathways) or people's enrolments.
    Administer,
    /// Read people's records: progress, transcripts, certifications, compliance reports.
    ReadRecords,
    /// Grade people's work.
    Grade,
}

/// A role a binding gives on its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopedRole {
    Admin,
    ReportingViewer,
    Instructor,
    Grader,
}

impl ScopedRole {
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            ScopedRole::Admin => true,
            ScopedRole::ReportingViewer => permission == ReadRecords,
            ScopedRole::Instructor => matches!(permission, ReadRecords | Grade),
            ScopedRole::Grader => permission == Grade,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ScopedRole::Admin => "admin",
            ScopedRole::ReportingViewer => "reporting_viewer",
            ScopedRole::Instructor => "instructor",
            ScopedRole::Grader => "grader",
        }
    }

    pub fn parse(text: &str) -> Option<ScopedRole> {
        [
            ScopedRole::Admin,
            ScopedRole::ReportingViewer,
            ScopedRole::Instructor,
            ScopedRole::Grader,
        ]
        .into_iter()
        .find(|role| role.as_str() == text)
    }
}

/// A part of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Tenant,
    /// A category id: it and everything below it.
    Category(String),
    Audience(String),
    Department(String),
    Class(String),
}

impl Scope {
    /// `(kind, id)` as stored: `("category", "0190…")`, `("tenant", "")`.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Scope::Tenant => ("tenant", ""),
            Scope::Category(id) => ("category", id),
            Scope::Audience(id) => ("audience", id),
            Scope::Department(name) => ("department", name),
            Scope::Class(id) => ("class", id),
        }
    }

    pub fn from_parts(kind: &str, id: &str) -> Option<Scope> {
        let id = id.to_string();
        Some(match kind {
            "tenant" => Scope::Tenant,
            "category" => Scope::Category(id),
            "audience" => Scope::Audience(id),
            "department" => Scope::Department(id),
            "class" => Scope::Class(id),
            _ => return None,
        })
    }

    /// A group of people (whose records and enrolments a binding reaches).
    pub fn is_group(&self) -> bool {
        matches!(
            self,
            Scope::Audience(_) | Scope::Department(_) | Scope::Class(_)
        )
    }
}

/// One role on one scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Grant {
    pub role: ScopedRole,
    pub scope: Scope,
}

/// Where a principal holds a permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Tenant,
    Scopes(Vec<Scope>),
}

impl Reach {
    pub fn is_tenant(&self) -> bool {
        *self == Reach::Tenant
    }

    /// Whether a category whose id and ancestors' ids are `chain` is inside the reach.
    pub fn covers_categories(&self, chain: &[String]) -> bool {
        match self {
            Reach::Tenant => true,
            Reach::Scopes(scopes) => scopes
                .iter()
                .any(|scope| matches!(scope, Scope::Category(id) if chain.contains(id))),
        }
    }
}

/// What a use case asks about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A category (or a pathway in it): the category's id and its ancestors', nearest first.
    Categories(&'a [String]),
    /// A person, by external id: inside a group binding when they are in the group.
    Person(&'a str),
    /// A whole group, as a report names it: inside a binding on that very group.
    Group(&'a Scope),
    /// Something of the whole tenant: only tenant-wide roles reach it.
    Tenant,
}

/// Where bindings and group memberships come from: the directory, asked over gRPC by every
/// service but the directory itself, which reads its own tables.
pub trait Directory: Send + Sync {
    /// Every binding `subject` holds in `tenant`.
    fn grants(
        &self,
        tenant: TenantId,
        subject: String,
    ) -> BoxFuture<'static, AppResult<Vec<Grant>>>;
    /// The ones of `groups` (audiences, departments, classes) `person` is in.
    fn groups_holding(
        &self,
        tenant: TenantId,
        person: String,
        groups: Vec<Scope>,
    ) -> BoxFuture<'static, AppResult<Vec<Scope>>>;
}

type GrantsKey = (TenantId, String);
/// (tenant, person, the groups asked about): the answer depends on nothing else, so it is
/// shared by every principal asking the same question.
type MembershipKey = (TenantId, String, Vec<Scope>);

/// The decision point (cheap to clone: the caches are shared).
#[derive(Clone)]
pub struct Access {
    directory: Arc<dyn Directory>,
    grants: FreshCache<GrantsKey, Vec<Grant>>,
    /// Which of some groups hold a person.
    memberships: FreshCache<MembershipKey, Vec<Scope>>,
}

/// The default lifetime of a cached answer.
pub const DEFAULT_CACHE_LIFETIME: Duration = Duration::from_secs(5);

impl Access {
    pub fn new(directory: Arc<dyn Directory>, lifetime: Duration) -> Self {
        Self {
            directory,
            grants: FreshCache::new(100_000, lifetime),
            memberships: FreshCache::new(200_000, lifetime),
        }
    }

    /// Whether the principal's token roles give `permission` over the whole tenant.
    pub fn tenant_wide(who: &Principal, permission: Permission) -> bool {
        who.has_any(&[Role::Admin, Role::Service])
            || (who.has_role(Role::Instructor) && permission != Permission::Administer)
    }

    /// The principal's stored bindings (cached).
    async fn grants_of(&self, who: &Principal) -> AppResult<Arc<Vec<Grant>>> {
        let key = (who.tenant_id.clone(), who.subject.clone());
        let directory = self.directory.clone();
        let (tenant, subject) = key.clone();
        self.grants
            .get(key, move || {
                directory.grants(tenant.clone(), subject.clone())
            })
            .await
    }

    /// Whether a stored binding gives the principal `permission` anywhere: what the door asks
    /// of a person whose token role does not open the RPC. Token roles are not consulted (the
    /// door's policy has judged them), and service identities hold no bindings.
    pub async fn bound_anywhere(&self, who: &Principal, permission: Permission) -> AppResult<bool> {
        if who.has_role(Role::Service) {
            return Ok(false);
        }
        let grants = self.grants_of(who).await?;
        Ok(grants.iter().any(|grant| grant.role.grants(permission)))
    }

    /// Where the principal holds `permission`: the whole tenant, or some scopes. A use case
    /// that must decide inside its transaction (a category's ancestors are read there) asks
    /// this first, then [`Reach::covers_categories`].
    pub async fn reach(&self, who: &Principal, permission: Permission) -> AppResult<Reach> {
        if Self::tenant_wide(who, permission) {
            return Ok(Reach::Tenant);
        }
        let grants = self.grants_of(who).await?;
        let scopes: Vec<Scope> = grants
            .iter()
            .filter(|grant| grant.role.grants(permission))
            .map(|grant| grant.scope.clone())
            .collect();
        Ok(if scopes.contains(&Scope::Tenant) {
            Reach::Tenant
        } else {
            Reach::Scopes(scopes)
        })
    }

    /// Whether the principal may do `permission` to `target`.
    pub async fn allows(
        &self,
        who: &Principal,
        permission: Permission,
        target: Target<'_>,
    ) -> AppResult<bool> {
        let scopes = match self.reach(who, permission).await? {
            Reach::Tenant => return Ok(true),
            Reach::Scopes(scopes) => scopes,
        };
        Ok(match target {
            Target::Tenant => false,
            Target::Categories(chain) => Reach::Scopes(scopes).covers_categories(chain),
            Target::Group(group) => scopes.contains(group),
            Target::Person(person) => {
                let groups: Vec<Scope> = scopes.into_iter().filter(Scope::is_group).collect();
                !groups.is_empty() && !self.groups_holding(who, person, groups).await?.is_empty()
            }
        })
    }

    /// Forgets what is cached about `subject`: their bindings changed (the directory calls it
    /// in the change, every other service when the change's event arrives).
    pub async fn forget(&self, tenant: &TenantId, subject: &str) {
        // Membership answers need no forgetting: they are keyed by the groups asked about,
        // so new bindings ask new questions.
        self.grants
            .forget(&(tenant.clone(), subject.to_string()))
            .await;
    }

    async fn groups_holding(
        &self,
        who: &Principal,
        person: &str,
        groups: Vec<Scope>,
    ) -> AppResult<Arc<Vec<Scope>>> {
        let key = (who.tenant_id.clone(), person.to_string(), groups.clone());
        let directory = self.directory.clone();
        let (tenant, person) = (who.tenant_id.clone(), person.to_string());
        self.memberships
            .get(key, move || {
                directory.groups_holding(tenant.clone(), person.clone(), groups.clone())
            })
            .await
    }
}

/// The door's rule for an RPC a scoped principal may call: its permission.
pub type ScopedPolicy = &'static [(&'static str, Permission)];

#[cfg(test)]
mod tests;
