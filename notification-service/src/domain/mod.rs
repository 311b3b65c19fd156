//! The rules of telling people: which kinds exist and which may be muted, when reminders fall
//! due, and how templates are checked and rendered. No protobuf, no SQL.

pub mod kind;
pub mod preferences;
pub mod schedule;
pub mod template;
pub mod webhook;
