//! Rules of assessment, free of gRPC and storage.

pub mod assessment;
pub mod attempt;
pub mod bank;
pub mod gift;
pub mod question;
