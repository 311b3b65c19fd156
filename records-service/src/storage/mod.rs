//! Storage: the enrolment projection, the pathway version cache and the activity log. Every
//! query filters on `tenant_id`.

pub mod certifications;
pub mod manual;
pub mod records;
pub mod schema;
