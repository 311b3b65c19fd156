//! Where pathway-service keeps a person's identity: the administrators who made and changed
//! the catalogue (`lms.privacy.v1`, `docs/security.md` "Personal data").

use lms_platform::privacy::PersonalTables;

pub const TABLES: PersonalTables = PersonalTables {
    service: "pathway-service",
    identity: &[
        ("categories", "created_by"),
        ("categories", "updated_by"),
        ("pathways", "created_by"),
        ("pathways", "updated_by"),
        ("steps", "created_by"),
        ("steps", "updated_by"),
        ("pathway_versions", "published_by"),
        ("content_packages", "imported_by"),
    ],
    cleared: &[],
    other: None,
};
