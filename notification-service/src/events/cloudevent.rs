//! An event as webhooks carry it: a CloudEvents 1.0 document in the JSON format, its `data` the
//! event message in the proto3 JSON mapping (lowerCamelCase names, RFC 3339 times), as the
//! gateway renders the same messages.

use std::sync::OnceLock;

use chrono::NaiveDateTime;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{Value, json};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(lms_proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes")
    })
}

/// What a CloudEvent is made of.
pub struct Source<'a> {
    pub tenant_id: &'a str,
    pub event_id: &'a str,
    /// The full message name, e.g. `lms.enrolment.v1.EnrolmentCreated`.
    pub event_type: &'a str,
    pub aggregate_id: &'a str,
    pub occurred_at: NaiveDateTime,
    pub payload: &'a [u8],
}

/// The CloudEvents JSON document; Err when the payload does not decode as its type.
pub fn render(source: &Source<'_>) -> Result<String, String> {
    let descriptor = pool()
        .get_message_by_name(source.event_type)
        .ok_or_else(|| format!("unknown event type {}", source.event_type))?;
    let message = DynamicMessage::decode(descriptor, source.payload)
        .map_err(|e| format!("unreadable {}: {e}", source.event_type))?;
    let data = message
        .serialize_with_options(
            serde_json::value::Serializer,
            &SerializeOptions::new().skip_default_fields(false),
        )
        .map_err(|e| format!("{} does not render as JSON: {e}", source.event_type))?;
    // `lms.enrolment.v1.EnrolmentCreated` comes from the enrolment part of the suite.
    let area = source.event_type.split('.').nth(1).unwrap_or("lms");
    let document: Value = json!({
        "specversion": "1.0",
        "id": source.event_id,
        "source": format!("/lms/tenants/{}/{area}", source.tenant_id),
        "type": source.event_type,
        "subject": source.aggregate_id,
        "time": source.occurred_at.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "datacontenttype": "application/json",
        "lmstenant": source.tenant_id,
        "data": data,
    });
    Ok(document.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lms_proto::enrolment_v1 as pb;
    use prost::Message;

    #[test]
    fn an_event_renders_as_a_cloudevent_with_its_json_data() {
        let event = pb::EnrolmentWithdrawn {
            enrolment: Some(pb::Enrolment {
                id: "e1".into(),
                learner: "ada".into(),
                ..Default::default()
            }),
        };
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .naive_utc();
        let text = render(&Source {
            tenant_id: "acme",
            event_id: "0190-1",
            event_type: "lms.enrolment.v1.EnrolmentWithdrawn",
            aggregate_id: "e1",
            occurred_at: at,
            payload: &event.encode_to_vec(),
        })
        .unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["specversion"], "1.0");
        assert_eq!(doc["id"], "0190-1");
        assert_eq!(doc["source"], "/lms/tenants/acme/enrolment");
        assert_eq!(doc["type"], "lms.enrolment.v1.EnrolmentWithdrawn");
        assert_eq!(doc["subject"], "e1");
        assert_eq!(doc["time"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(doc["data"]["enrolment"]["learner"], "ada");
        assert!(
            render(&Source {
                event_type: "lms.nothing.v1.Nope",
                ..Source {
                    tenant_id: "acme",
                    event_id: "x",
                    event_type: "",
                    aggregate_id: "",
                    occurred_at: at,
                    payload: &[],
                }
            })
            .is_err()
        );
    }
}
