//! Rules of the learner record, free of gRPC and storage.

pub mod activity;
pub mod calendar;
pub mod certification;
pub mod cmi5;
pub mod digests;
pub mod enrolment;
pub mod evidence;
pub mod manual;
pub mod pathway;
pub mod progress;
pub mod report;
pub mod secrets;
pub mod session;
pub mod xapi;
