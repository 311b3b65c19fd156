//! The decision point as an event consumer: enrolment-service's `RoleBindingChanged` (written
//! in the transaction of the change) makes every service forget what it cached about the
//! principal, so a binding's change takes effect within the event's delivery rather than the
//! cache's lifetime. Forgetting twice is harmless, so redeliveries need no bookkeeping.

use lms_proto::enrolment_v1 as pb;
use prost::Name;

use super::Access;
use crate::error::AppResult;
use crate::inbox::{Consumer, Delivered, Outcome, decode};
use crate::outbox::Rejection;

/// The event types the decision point consumes.
pub fn consumed() -> Vec<String> {
    vec![pb::RoleBindingChanged::type_url()]
}

impl Consumer for Access {
    /// The principal whose bindings changed.
    type Event = String;

    fn read(payload: &prost_types::Any) -> Result<String, String> {
        let changed: pb::RoleBindingChanged = decode(payload)?;
        changed
            .role_binding
            .map(|binding| binding.principal)
            .filter(|principal| !principal.is_empty())
            .ok_or_else(|| "RoleBindingChanged without a principal".to_string())
    }

    async fn apply(&self, events: Vec<Delivered<String>>) -> AppResult<Outcome> {
        let mut outcome = Outcome::default();
        for event in events {
            match (event.tenant_id, event.payload) {
                (Some(tenant), Ok(principal)) => {
                    self.forget(&tenant, &principal).await;
                    outcome.acknowledged.push(event.id);
                }
                (None, _) => outcome.rejected.push(Rejection {
                    event_id: event.id,
                    reason: "the event names no valid tenant".into(),
                }),
                (_, Err(reason)) => outcome.rejected.push(Rejection {
                    event_id: event.id,
                    reason,
                }),
            }
        }
        Ok(outcome)
    }
}
