//! Rules of the enrolment domain, free of gRPC and storage.

pub mod assignment;
pub mod audience;
pub mod class;
pub mod enrolment;
pub mod person;
pub mod reporting;
pub mod role_binding;
pub mod rules;
