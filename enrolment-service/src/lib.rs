//! enrolment-service: people, target audiences, academic classes, assignments, enrolments.
//!
//! Work in progress (issue 3): so far the audience rule language. The gRPC service, storage and
//! the `lms` wiring follow the pathway-service layout when they land.

pub mod domain;
