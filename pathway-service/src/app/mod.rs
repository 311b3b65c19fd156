//! Use cases: what each request does, in which transaction, calling the domain rules and
//! storage. Who may call each RPC is the gRPC layer's policy; what a caller may see of the
//! data (a learner reads published pathways only) is decided here.

mod categories;
mod packages;
mod pathways;

use lms_platform::access::{Access, Permission, Reach};
use lms_platform::db::{Db, DbConnection};
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult, Principal};

use crate::clients::assessments::Assessments;

pub use categories::{CategoryPatch, NewCategory, TreeNode};
pub use packages::{FoundFile, PackageImport, PackageSettings};

#[derive(Clone)]
pub struct PathwayApp {
    db: Db,
    assessments: Assessments,
    /// The decision point: who administers which category subtree.
    access: Access,
    /// Where course packages are served, and how large they may be.
    packages: PackageSettings,
}

impl PathwayApp {
    pub fn new(db: Db, assessments: Assessments, access: Access) -> Self {
        Self {
            db,
            assessments,
            access,
            packages: PackageSettings::default(),
        }
    }

    pub fn with_packages(mut self, packages: PackageSettings) -> Self {
        self.packages = packages;
        self
    }

    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The categories the caller administers: all of them for tenant admins, the subtrees of
    /// their admin bindings otherwise.
    async fn administered(&self, who: &Principal) -> AppResult<Reach> {
        self.access.reach(who, Permission::Administer).await
    }
}

/// What a scoped admin is told who creates or moves something to the top of the tree.
fn top_level() -> AppError {
    AppError::PermissionDenied(
        "only tenant admins work at the top of the category tree (top-level categories, \
         pathways without a category)"
            .into(),
    )
}

/// `Ok` when the category `id` is inside `reach`; otherwise `outside()` — for an existing
/// resource, the error the caller gives for one that does not exist, so a scoped admin learns
/// nothing about the rest of the tree. `id` "" is the top of the tree, which only tenant
/// admins reach (a caller creating or moving something there says so with [`top_level`]).
fn require_in_reach(
    conn: &mut DbConnection,
    tenant: &TenantId,
    reach: &Reach,
    id: &str,
    outside: impl FnOnce() -> AppError,
) -> AppResult<()> {
    if reach.is_tenant() {
        return Ok(());
    }
    if id.is_empty() {
        return Err(outside());
    }
    let chain = crate::storage::categories::chain(conn, tenant, id)?;
    if reach.covers_categories(&chain) {
        Ok(())
    } else {
        Err(outside())
    }
}

/// A number inside a page token.
fn parse_token_number(text: &str) -> AppResult<i32> {
    text.parse()
        .map_err(|_| AppError::invalid_field("page_token", "is malformed"))
}
