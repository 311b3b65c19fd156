//! Storage: rows, queries, and their mapping to the domain. Every query filters on `tenant_id`.

pub mod assignments;
pub mod audience_rules;
pub mod audiences;
pub mod classes;
pub mod coverage;
pub mod enrolments;
pub mod people;
pub mod personal_data;
pub mod role_bindings;
pub mod schema;
pub mod sql;
pub mod team;
