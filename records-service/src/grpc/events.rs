//! `lms.events.v1.EventConsumer`: enrolment and assessment events, read by `crate::events`.

use lms_platform::inbox::Delivered;
use lms_proto::events_v1 as pb;
use tonic::{Request, Response, Status};

use crate::app::RecordsApp;

/// `lms.events.v1.EventConsumer`: enrolment and assessment events.
pub struct EventsGrpc {
    app: RecordsApp,
}

impl EventsGrpc {
    pub fn new(app: RecordsApp) -> Self {
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
