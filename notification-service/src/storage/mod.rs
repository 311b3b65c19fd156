//! notification-service's rows and queries, one file per aggregate.

pub mod notifications;
pub mod personal_data;
pub mod preferences;
pub mod schema;
pub mod session_reminders;
pub mod templates;
pub mod tracked;
pub mod webhook_deliveries;
pub mod webhooks;
