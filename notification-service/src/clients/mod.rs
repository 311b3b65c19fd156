//! What notification-service asks others: enrolment-service's directory (who a person is,
//! their address, locale and manager), pathway-service (a pathway's title), the mail relay, and
//! webhook receivers.

pub mod directory;
pub mod mail;
pub mod pathways;
pub mod webhook_http;
