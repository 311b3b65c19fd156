//! Wire conversion for the document, Activities and Agents resources.

use lms_proto::xapi_v1 as pb;
use tonic::Status;

use crate::app::xapi_documents::DocumentAt;
use crate::domain::xapi::documents::{DocumentKind, Preconditions};

fn text(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

pub fn document_at(key: Option<pb::DocumentKey>) -> Result<DocumentAt, Status> {
    let key = key.unwrap_or_default();
    let kind = match pb::DocumentKind::try_from(key.kind) {
        Ok(pb::DocumentKind::State) => DocumentKind::State,
        Ok(pb::DocumentKind::ActivityProfile) => DocumentKind::ActivityProfile,
        Ok(pb::DocumentKind::AgentProfile) => DocumentKind::AgentProfile,
        _ => {
            return Err(lms_platform::AppError::invalid_field(
                "key.kind",
                "must be STATE, ACTIVITY_PROFILE or AGENT_PROFILE",
            )
            .into());
        }
    };
    Ok(DocumentAt {
        kind,
        activity_id: text(key.activity_id),
        agent: text(key.agent),
        registration: text(key.registration),
        document_id: text(key.document_id),
    })
}

pub fn preconditions(if_match: String, if_none_match: String) -> Preconditions {
    Preconditions {
        if_match: text(if_match),
        if_none_match: text(if_none_match),
    }
}
