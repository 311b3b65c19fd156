//! Rules of the learner record, free of gRPC and storage.

pub mod certification;
pub mod pathway;
pub mod progress;
pub mod report;
