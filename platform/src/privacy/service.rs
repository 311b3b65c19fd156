//! `lms.privacy.v1.PersonalDataService` over one service's [`PersonalTables`], for services
//! that do not keep the directory: they export what names a person, and erase with the
//! pseudonym the directory chose (the gateway passes it on).

use lms_proto::privacy_v1 as pb;
use tonic::{Request, Response, Status};

use super::{PSEUDONYM_PREFIX, PersonalTables, erase, export};
use crate::Role;
use crate::auth::{Policy, principal};
use crate::db::Db;
use crate::resource::{now, timestamp};
use crate::validate::Violations;

/// Who may export and erase a person's data: a tenant's administrators.
pub const POLICY: Policy = &[
    ("ExportPersonalData", &[Role::Admin]),
    ("ErasePersonalData", &[Role::Admin]),
];

/// The longest person id and reason accepted.
const MAX_PERSON: usize = 200;
const MAX_REASON: usize = 1_000;

/// Checks an erasure request. Where the pseudonym is chosen (`chooses`: the directory, and the
/// gateway in front of it) a request must not carry one; everywhere else it must.
pub fn check_erasure(request: &pb::ErasePersonalDataRequest, chooses: bool) -> Result<(), Status> {
    let mut v = Violations::new();
    v.required_text("person", &request.person, MAX_PERSON);
    v.required_text("reason", &request.reason, MAX_REASON);
    if request.person.starts_with(PSEUDONYM_PREFIX) {
        v.add("person", "names an erased person already");
    }
    match (chooses, request.pseudonym.is_empty()) {
        (true, false) => v.add("pseudonym", "is chosen by the directory; leave it empty"),
        (false, true) => v.add(
            "pseudonym",
            "is chosen by the directory (enrolment-service): erase through the gateway",
        ),
        (false, false) if !request.pseudonym.starts_with(PSEUDONYM_PREFIX) => {
            v.add("pseudonym", format!("must start with {PSEUDONYM_PREFIX}"))
        }
        _ => {}
    }
    Ok(v.finish()?)
}

/// Checks an export request.
pub fn check_export(request: &pb::ExportPersonalDataRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.required_text("person", &request.person, MAX_PERSON);
    Ok(v.finish()?)
}

/// The service over `tables` in `db`.
pub struct PersonalDataGrpc {
    db: Db,
    tables: &'static PersonalTables,
}

impl PersonalDataGrpc {
    /// The service, ready to add to a server (behind [`POLICY`]).
    pub fn server(
        db: Db,
        tables: &'static PersonalTables,
    ) -> pb::personal_data_service_server::PersonalDataServiceServer<Self> {
        pb::personal_data_service_server::PersonalDataServiceServer::new(Self { db, tables })
    }
}

#[tonic::async_trait]
impl pb::personal_data_service_server::PersonalDataService for PersonalDataGrpc {
    async fn export_personal_data(
        &self,
        request: Request<pb::ExportPersonalDataRequest>,
    ) -> Result<Response<pb::PersonalData>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        check_export(&request)?;
        let (tables, person) = (self.tables, request.person.clone());
        let data = self
            .db
            .read(move |conn| export(conn, &who.tenant_id, &person, tables))
            .await?;
        Ok(Response::new(pb::PersonalData {
            person: request.person,
            sections: vec![section(self.tables.service, data)],
        }))
    }

    async fn erase_personal_data(
        &self,
        request: Request<pb::ErasePersonalDataRequest>,
    ) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        check_erasure(&request, false)?;
        let (tables, person, pseudonym) = (
            self.tables,
            request.person.clone(),
            request.pseudonym.clone(),
        );
        let rows = self
            .db
            .write(move |conn| erase(conn, &who.tenant_id, &person, &pseudonym, tables))
            .await?;
        Ok(Response::new(pb::ErasePersonalDataResponse {
            person: request.person,
            pseudonym: request.pseudonym,
            erase_time: Some(timestamp(now())),
            sections: vec![pb::ErasureSection {
                service: self.tables.service.to_string(),
                rows,
            }],
            erased_before: false,
        }))
    }
}

/// One service's section of an export.
pub fn section(
    service: &str,
    data: serde_json::Map<String, serde_json::Value>,
) -> pb::PersonalDataSection {
    pb::PersonalDataSection {
        service: service.to_string(),
        data: Some(crate::audit::to_struct(data)),
    }
}
