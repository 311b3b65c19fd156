//! What notification-service asks others: enrolment-service's directory (who a person is,
//! their address, locale and manager), pathway-service (a pathway's title), and the mail relay.

pub mod directory;
pub mod mail;
pub mod pathways;
