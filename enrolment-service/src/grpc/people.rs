//! The HR upload: a stream of people read, row by row checked, then applied as one sync.

use lms_platform::{AppError, Principal};
use lms_proto::enrolment_v1 as pb;
use tonic::{Status, Streaming};

use super::convert;
use crate::app::{EnrolmentApp, MAX_UPLOAD_ROWS};

/// The most rows one upload message may carry.
const MAX_ROWS_PER_MESSAGE: usize = 5_000;

pub async fn upsert_people(
    app: &EnrolmentApp,
    who: &Principal,
    mut stream: Streaming<pb::UpsertPeopleRequest>,
) -> Result<pb::UpsertPeopleResponse, Status> {
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    let (mut full_sync, mut force, mut first) = (false, false, true);
    let mut index = 0;
    while let Some(message) = stream.message().await? {
        if first {
            (full_sync, force, first) = (message.full_sync, message.force, false);
        }
        if message.people.len() > MAX_ROWS_PER_MESSAGE {
            return Err(AppError::invalid_field(
                "people",
                format!("at most {MAX_ROWS_PER_MESSAGE} people per message"),
            )
            .into());
        }
        for wire in message.people {
            if index >= MAX_UPLOAD_ROWS {
                return Err(AppError::ResourceExhausted(format!(
                    "an upload holds at most {MAX_UPLOAD_ROWS} people"
                ))
                .into());
            }
            match convert::upload_row(index, wire) {
                Ok(row) => rows.push(row),
                Err(error) => errors.push(error),
            }
            index += 1;
        }
    }
    let outcome = app
        .upsert_people(who, rows, errors, full_sync, force)
        .await?;
    Ok(convert::sync_outcome(outcome))
}
