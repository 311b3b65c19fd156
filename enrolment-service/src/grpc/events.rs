//! `lms.events.v1.EventConsumer`: records-service's events, read by `crate::events`.

use lms_platform::inbox::Delivered;
use lms_proto::events_v1 as pb;
use tonic::{Request, Response, Status};

use crate::app::EnrolmentApp;

/// `lms.events.v1.EventConsumer`: the events this service consumes (from records-service).
pub struct EventsGrpc {
    app: EnrolmentApp,
}

impl EventsGrpc {
    pub fn new(app: EnrolmentApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::event_consumer_server::EventConsumer for EventsGrpc {
    async fn deliver_events(
        &self,
        request: Request<pb::DeliverEventsRequest>,
    ) -> Result<Response<pb::DeliverEventsResponse>, Status> {
        let delivered = Delivered::read_all(request.into_inner().events, crate::events::read);
        let outcome = self.app.apply_events(delivered).await?;
        Ok(Response::new(outcome.into()))
    }
}
