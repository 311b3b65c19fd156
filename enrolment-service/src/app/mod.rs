//! Use cases: what each request does, in which transaction, calling the domain rules and
//! storage. Who may call each RPC is the gRPC layer's policy; what a caller may see (a learner
//! their own enrolments and access) is decided here. Assigned enrolments follow audience and
//! class membership through [`reconcile`], called in the transaction of every change that moves
//! people in or out of a target.

mod assignments;
mod audiences;
mod classes;
mod due_moves;
mod enrolments;
mod people;
mod privacy;
mod received;
mod reconcile;
mod role_bindings;
mod team;

use lms_platform::Role;
use lms_platform::access::Access;
use lms_platform::db::Db;

use crate::clients::pathways::PathwayCatalog;

pub use assignments::{AssignmentPatch, AssignmentView};
pub use audiences::{AudiencePatch, AudienceView, RulePreview, SweepReport};
pub use classes::ClassView;
pub use due_moves::{DueMove, DuePlan};
pub use people::SyncOutcome;
pub use reconcile::ReconcileReport;
pub use role_bindings::{LocalDirectory, NewBinding};
pub use team::TeamPage;

/// The most people one upload may carry.
pub const MAX_UPLOAD_ROWS: usize = 200_000;
/// The most members one add or remove may name.
pub const MAX_MEMBER_CHANGE: usize = 1_000;

/// Roles that may ask about any learner's access and read anyone's enrolments.
const ACCESS_CHECKERS: [Role; 2] = [Role::Admin, Role::Service];

#[derive(Clone)]
pub struct EnrolmentApp {
    db: Db,
    /// A full sync may deactivate at most this share of the active directory unless forced.
    max_deactivation_share: f64,
    /// pathway-service: which pathways are published, at which version.
    catalog: PathwayCatalog,
    /// The decision point over this service's own bindings and groups.
    access: Access,
}

impl EnrolmentApp {
    pub fn new(
        db: Db,
        max_deactivation_share: f64,
        catalog: PathwayCatalog,
        bindings_cache: std::time::Duration,
    ) -> Self {
        let access = Access::new(LocalDirectory::new(db.clone()), bindings_cache);
        Self {
            db,
            max_deactivation_share,
            catalog,
            access,
        }
    }

    pub fn access(&self) -> &Access {
        &self.access
    }
}
