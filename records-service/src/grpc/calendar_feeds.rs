//! `lms.records.v1.CalendarFeedService`: calendar apps read a person's feed by its secret,
//! without a token (the secret is the credential).

use lms_proto::records_v1 as pb;
use tonic::{Request, Response, Status};

use super::sessions::{CalendarStream, calendar_stream};
use crate::app::RecordsApp;

/// Public, no token.
pub struct CalendarFeedsGrpc {
    app: RecordsApp,
}

impl CalendarFeedsGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::calendar_feed_service_server::CalendarFeedService for CalendarFeedsGrpc {
    type ExportCalendarFeedStream = CalendarStream;

    async fn export_calendar_feed(
        &self,
        request: Request<pb::ExportCalendarFeedRequest>,
    ) -> Result<Response<CalendarStream>, Status> {
        let secret = request.into_inner().secret;
        let secret = secret.trim().trim_end_matches(".ics");
        if secret.is_empty() || secret.len() > 64 {
            return Err(lms_platform::AppError::invalid_field(
                "secret",
                "is required (43 characters)",
            )
            .into());
        }
        let text = self.app.export_calendar_feed(secret.to_string()).await?;
        Ok(Response::new(calendar_stream(text)))
    }
}
