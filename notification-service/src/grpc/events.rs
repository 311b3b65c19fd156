//! `lms.events.v1.EventConsumer`: enrolment- and records-service's events, read by
//! `crate::events` and applied by the use cases.

use lms_platform::AppResult;
use lms_platform::inbox::{Consumer, Delivered, Outcome};

use crate::app::NotificationApp;
use crate::events::{self, Received};

impl Consumer for NotificationApp {
    type Event = Received;

    fn read(payload: &prost_types::Any) -> Result<Received, String> {
        events::read(payload)
    }

    async fn apply(&self, delivered: Vec<Delivered<Received>>) -> AppResult<Outcome> {
        self.apply_events(delivered).await
    }
}
