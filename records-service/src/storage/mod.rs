//! Storage: the enrolment projection, the pathway version cache, the activity log,
//! certifications and manual records. Every query filters on `tenant_id` (but the certification
//! scheduler's scan across tenants and public verification by code).

pub mod activities;
pub mod bookings;
pub mod calendar_feeds;
pub mod certifications;
pub mod cmi5;
pub mod enrolments;
pub mod evidence;
pub mod manual;
pub mod personal_data;
pub mod schema;
pub mod sessions;
pub mod versions;
pub mod xapi_attachments;
pub mod xapi_backfill;
pub mod xapi_clients;
pub mod xapi_documents;
pub mod xapi_forwarding;
pub mod xapi_personal;
pub mod xapi_queries;
pub mod xapi_statements;
pub mod xapi_verbs;
