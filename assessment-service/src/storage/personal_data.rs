//! Where assessment-service keeps a person's identity: a learner's attempts (their answers and
//! grades stay, under the pseudonym), and the staff who wrote the banks and assessments
//! (`lms.privacy.v1`, `docs/security.md` "Personal data").

use lms_platform::privacy::PersonalTables;

pub const TABLES: PersonalTables = PersonalTables {
    service: "assessment-service",
    identity: &[
        ("attempts", "learner"),
        ("question_banks", "created_by"),
        ("question_banks", "updated_by"),
        ("questions", "created_by"),
        ("questions", "updated_by"),
        ("assessments", "created_by"),
        ("assessments", "updated_by"),
    ],
    cleared: &[],
    other: None,
};
