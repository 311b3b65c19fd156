//! The services this one calls, through `lms_platform::client`; each answer is converted
//! into this service's own types here.

pub mod directory;
pub mod external_lrs;
pub mod pathways;
