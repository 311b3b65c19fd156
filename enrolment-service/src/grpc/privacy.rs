//! `lms.privacy.v1.PersonalDataService` of the directory: it knows who a person is, so it
//! answers NOT_FOUND for strangers, chooses the pseudonym of an erasure and remembers it.

use lms_platform::auth::principal;
use lms_platform::privacy::{all_addresses, check_erasure, check_export, section};
use lms_platform::resource::timestamp;
use lms_proto::privacy_v1 as pb;
use tonic::{Request, Response, Status};

use crate::NAME;
use crate::app::EnrolmentApp;

pub struct PersonalData {
    app: EnrolmentApp,
}

impl PersonalData {
    pub fn server(
        app: EnrolmentApp,
    ) -> pb::personal_data_service_server::PersonalDataServiceServer<Self> {
        pb::personal_data_service_server::PersonalDataServiceServer::new(Self { app })
    }
}

#[tonic::async_trait]
impl pb::personal_data_service_server::PersonalDataService for PersonalData {
    async fn export_personal_data(
        &self,
        request: Request<pb::ExportPersonalDataRequest>,
    ) -> Result<Response<pb::PersonalData>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        check_export(&request, true)?;
        let (data, known) = self
            .app
            .export_personal_data(
                &who,
                request.person.clone(),
                request.email_addresses.clone(),
            )
            .await?;
        Ok(Response::new(pb::PersonalData {
            person: request.person,
            sections: vec![section(NAME, data)],
            email_addresses: all_addresses(&request.email_addresses, &known),
        }))
    }

    async fn erase_personal_data(
        &self,
        request: Request<pb::ErasePersonalDataRequest>,
    ) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        check_erasure(&request, true)?;
        let erasure = self
            .app
            .erase_personal_data(
                &who,
                request.person.clone(),
                request.reason,
                request.email_addresses.clone(),
            )
            .await?;
        Ok(Response::new(pb::ErasePersonalDataResponse {
            person: request.person,
            pseudonym: erasure.pseudonym,
            erase_time: Some(timestamp(erasure.erased_at)),
            sections: vec![pb::ErasureSection {
                service: NAME.to_string(),
                rows: erasure.rows,
            }],
            erased_before: erasure.erased_before,
            email_addresses: all_addresses(&request.email_addresses, &erasure.email_addresses),
        }))
    }
}
