//! People from enrolment-service's directory, asked with this service's own identity acting for
//! the notification's tenant.

use std::collections::HashMap;

use lms_platform::client::Peer;
use lms_platform::ids::TenantId;
use lms_platform::{AppError, AppResult};
use lms_proto::enrolment_v1 as pb;
use pb::enrolment_service_client::EnrolmentServiceClient;

/// What a notification needs to know of a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub external_id: String,
    pub name: String,
    pub email: String,
    pub manager_external_id: String,
    /// Their `locale` attribute in the directory ("" when not set).
    pub locale: String,
}

impl From<pb::Person> for Person {
    fn from(p: pb::Person) -> Self {
        Person {
            locale: p.attributes.get("locale").cloned().unwrap_or_default(),
            external_id: p.external_id,
            name: p.display_name,
            email: p.email,
            manager_external_id: p.manager_external_id,
        }
    }
}

#[derive(Clone)]
pub struct Directory {
    enrolment: Peer,
}

impl Directory {
    pub fn new(enrolment: Peer) -> Self {
        Self { enrolment }
    }

    /// The person with this directory id (None: there is none).
    pub async fn by_id(&self, tenant: &TenantId, id: &str) -> AppResult<Option<Person>> {
        let request = pb::GetPersonRequest { id: id.to_string() };
        let answer = self
            .enrolment
            .read(tenant, request, |channel, request| async move {
                EnrolmentServiceClient::new(channel)
                    .get_person(request)
                    .await
            })
            .await;
        match answer {
            Ok(person) => Ok(Some(person.into())),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The people with these directory ids, by id: one call per 500 (people no longer in the
    /// directory are missing).
    pub async fn by_ids(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> AppResult<HashMap<String, Person>> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let request = pb::ListPeopleRequest {
                ids: chunk.to_vec(),
                page_size: 500,
                ..Default::default()
            };
            let page = self
                .enrolment
                .read(tenant, request, |channel, request| async move {
                    EnrolmentServiceClient::new(channel)
                        .list_people(request)
                        .await
                })
                .await?;
            found.extend(
                page.people
                    .into_iter()
                    .map(|person| (person.id.clone(), Person::from(person))),
            );
        }
        Ok(found)
    }

    /// The person with this external id (None: there is none).
    pub async fn by_external_id(
        &self,
        tenant: &TenantId,
        external_id: &str,
    ) -> AppResult<Option<Person>> {
        let request = pb::ListPeopleRequest {
            external_id: external_id.to_string(),
            page_size: 1,
            ..Default::default()
        };
        let page = self
            .enrolment
            .read(tenant, request, |channel, request| async move {
                EnrolmentServiceClient::new(channel)
                    .list_people(request)
                    .await
            })
            .await?;
        Ok(page.people.into_iter().next().map(Person::from))
    }
}
