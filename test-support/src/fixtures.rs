//! What many tests begin with, made through the public gRPC API as an administrator would.

use lms_proto::enrolment_v1 as enrolment_pb;
use lms_proto::pathway_v1 as pathway_pb;
use pathway_pb::pathway_service_client::PathwayServiceClient;
use tonic::transport::Channel;

use crate::bearer;

/// A content step (a document to read), required.
pub fn content_step(title: &str) -> pathway_pb::Step {
    pathway_pb::Step {
        title: title.into(),
        required: true,
        kind: Some(pathway_pb::step::Kind::Content(pathway_pb::ContentStep {
            cmi5: None,
            url: format!(
                "https://learn.example.com/{}",
                title.to_lowercase().replace(' ', "-")
            ),
            media_type: pathway_pb::content_step::MediaType::Document as i32,
        })),
        ..Default::default()
    }
}

/// Creates `pathway` with `steps` in order and publishes it: the published version.
pub async fn published_pathway(
    pathway_service: Channel,
    admin: &str,
    pathway: pathway_pb::Pathway,
    steps: Vec<pathway_pb::Step>,
) -> pathway_pb::PathwayVersion {
    let mut pathways = PathwayServiceClient::new(pathway_service);
    let created = pathways
        .create_pathway(bearer(
            admin,
            pathway_pb::CreatePathwayRequest {
                pathway: Some(pathway),
                request_id: String::new(),
            },
        ))
        .await
        .expect("the pathway is created")
        .into_inner();
    for step in steps {
        pathways
            .add_step(bearer(
                admin,
                pathway_pb::AddStepRequest {
                    pathway_id: created.id.clone(),
                    step: Some(step),
                    position: None,
                    etag: String::new(),
                },
            ))
            .await
            .expect("the step is added");
    }
    pathways
        .publish_pathway(bearer(
            admin,
            pathway_pb::PublishPathwayRequest {
                id: created.id,
                etag: String::new(),
            },
        ))
        .await
        .expect("the pathway is published")
        .into_inner()
}

/// A person of the directory: `external_id`, a display name and an e-mail address.
pub fn person(external_id: &str) -> enrolment_pb::Person {
    enrolment_pb::Person {
        external_id: external_id.into(),
        display_name: external_id.to_uppercase(),
        email: format!("{external_id}@acme.example"),
        ..Default::default()
    }
}

/// Creates each of `people` in the directory; the stored people, in order.
pub async fn people(
    enrolment_service: Channel,
    admin: &str,
    people: Vec<enrolment_pb::Person>,
) -> Vec<enrolment_pb::Person> {
    let mut client =
        enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(enrolment_service);
    let mut created = Vec::with_capacity(people.len());
    for person in people {
        let stored = client
            .create_person(bearer(
                admin,
                enrolment_pb::CreatePersonRequest {
                    person: Some(person),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("the person is created")
            .into_inner();
        created.push(stored);
    }
    created
}

/// Enrols `person_id` in `pathway_id` as an administrator.
pub async fn enrol(
    enrolment_service: Channel,
    admin: &str,
    person_id: &str,
    pathway_id: &str,
) -> enrolment_pb::Enrolment {
    enrolment_pb::enrolment_service_client::EnrolmentServiceClient::new(enrolment_service)
        .enrol_person(bearer(
            admin,
            enrolment_pb::EnrolPersonRequest {
                person_id: person_id.into(),
                pathway_id: pathway_id.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("the person is enrolled")
        .into_inner()
}
