//! Who may call each RPC: one line per RPC (see `lms_platform::auth::Authorize`). Everyone with
//! a person behind their token has an inbox; templates are the tenant administrators'.

use lms_platform::Role::{self, Admin, Instructor, Learner, Service};
use lms_platform::auth::Policy;

const PEOPLE: &[Role] = &[Admin, Instructor, Learner];
const ADMINS: &[Role] = &[Admin];

pub const POLICY: Policy = &[
    ("ListNotifications", PEOPLE),
    ("GetUnreadCount", PEOPLE),
    ("MarkNotificationsRead", PEOPLE),
    ("GetNotificationPreferences", PEOPLE),
    ("UpdateNotificationPreferences", PEOPLE),
    ("ListTemplates", ADMINS),
    ("SetTemplate", ADMINS),
    ("DeleteTemplate", ADMINS),
    ("PreviewTemplate", ADMINS),
];

/// `lms.notification.v1.WebhookService`: the tenant's administrators.
pub const WEBHOOKS_POLICY: Policy = &[
    ("CreateWebhook", ADMINS),
    ("GetWebhook", ADMINS),
    ("ListWebhooks", ADMINS),
    ("UpdateWebhook", ADMINS),
    ("DeleteWebhook", ADMINS),
    ("RotateWebhookSecret", ADMINS),
    ("ListWebhookDeliveries", ADMINS),
    ("RedeliverWebhookDelivery", ADMINS),
];

/// `lms.events.v1.EventConsumer`: the other services delivering their events.
pub const EVENTS_POLICY: Policy = &[("DeliverEvents", &[Service])];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_has_a_line() {
        lms_platform::auth::check_policy(POLICY, crate::SERVICE_NAME).unwrap();
        lms_platform::auth::check_policy(WEBHOOKS_POLICY, crate::WEBHOOKS_SERVICE_NAME).unwrap();
    }
}
