//! Rules of the learner record, free of gRPC and storage.

pub mod pathway;
pub mod progress;
