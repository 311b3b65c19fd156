//! `lms.events.v1.EventConsumer`: enrolment- and records-service's events, read by
//! `crate::events` and applied by the use cases.

use lms_platform::AppResult;
use lms_platform::inbox::{Consumer, Delivered, Outcome};

use crate::app::NotificationApp;
use lms_proto::events_v1 as pb;

use crate::events::{self, Incoming};

impl Consumer for NotificationApp {
    type Event = Incoming;

    /// Never called: notification-service reads whole events (webhooks carry the envelope).
    fn read(_: &prost_types::Any) -> Result<Incoming, String> {
        Err("notification-service reads whole events".into())
    }

    fn read_event(event: &pb::Event) -> Result<Incoming, String> {
        events::read_event(event)
    }

    async fn apply(&self, delivered: Vec<Delivered<Incoming>>) -> AppResult<Outcome> {
        self.apply_events(delivered).await
    }
}
