//! Who may call each RPC: one line per RPC, applied before any handler runs (see
//! `lms_platform::auth::Authorize`). What a caller then sees is the use case's business: a
//! learner reads published pathways only.

use lms_platform::Role::{self, Admin, Instructor, Learner, Service};
use lms_platform::access::Permission::Administer;
use lms_platform::access::ScopedPolicy;
use lms_platform::auth::Policy;

/// Changes to categories and pathways: tenant admins by their token, and anyone holding an
/// admin binding on a category subtree (`SCOPED`) — the use case then keeps them inside it.
const ADMINS: &[Role] = &[Admin];
const ADMINS_AND_SERVICES: &[Role] = &[Admin, Service];
/// Everyone who reads the catalogue.
const READERS: &[Role] = &[Admin, Instructor, Learner, Service];

pub const POLICY: Policy = &[
    ("CreateCategory", ADMINS),
    ("GetCategory", READERS),
    ("ListCategories", READERS),
    ("GetCategoryTree", READERS),
    ("UpdateCategory", ADMINS),
    ("MoveCategory", ADMINS),
    ("DeleteCategory", ADMINS),
    ("CreatePathway", ADMINS),
    ("GetPathway", READERS),
    ("ListPathways", READERS),
    ("UpdatePathway", ADMINS),
    ("ArchivePathway", ADMINS),
    // assessment-service adds the step of an assessment created with `add_step`, after its
    // own policy admitted the admin.
    ("AddStep", ADMINS_AND_SERVICES),
    ("ImportCmi5Course", ADMINS_AND_SERVICES),
    ("UpdateStep", ADMINS),
    ("ReorderSteps", ADMINS),
    ("RemoveStep", ADMINS),
    ("PublishPathway", ADMINS),
    ("GetPathwayVersion", READERS),
    ("ListPathwayVersions", READERS),
];

/// The RPCs an admin binding on a category subtree opens (see `ADMINS`).
pub const SCOPED: ScopedPolicy = &[
    ("CreateCategory", Administer),
    ("UpdateCategory", Administer),
    ("MoveCategory", Administer),
    ("DeleteCategory", Administer),
    ("CreatePathway", Administer),
    ("UpdatePathway", Administer),
    ("ArchivePathway", Administer),
    ("AddStep", Administer),
    ("ImportCmi5Course", Administer),
    ("UpdateStep", Administer),
    ("ReorderSteps", Administer),
    ("RemoveStep", Administer),
    ("PublishPathway", Administer),
];

/// `ContentPackageService`: importing a course package changes a pathway's draft, as
/// ImportCmi5Course does.
pub const PACKAGES_POLICY: Policy = &[("ImportCmi5Package", ADMINS)];
pub const PACKAGES_SCOPED: ScopedPolicy = &[("ImportCmi5Package", Administer)];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_has_exactly_one_policy_line() {
        lms_platform::auth::check_policy(POLICY, "lms.pathway.v1.PathwayService").unwrap();
        lms_platform::auth::check_policy(PACKAGES_POLICY, "lms.pathway.v1.ContentPackageService")
            .unwrap();
        for (rpc, _) in SCOPED {
            assert!(POLICY.iter().any(|(name, _)| name == rpc), "{rpc}");
        }
    }
}
