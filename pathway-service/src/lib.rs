//! pathway-service: categories, pathways, steps and published versions.
//!
//! Layout (the same in every service): `domain` holds the rules, `storage` the rows and
//! queries, `grpc` the handlers that authorise, convert, call the domain and convert back.

pub mod domain;
pub mod grpc;
pub mod storage;
