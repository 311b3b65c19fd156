//! Rules of the enrolment domain, free of gRPC and storage.

pub mod audience;
pub mod class;
pub mod person;
pub mod rules;
