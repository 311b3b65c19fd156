//! `lms.privacy.v1.PersonalDataService` over one service's [`PersonalTables`], for services
//! that do not keep the directory: they export what names a person, and erase with the
//! pseudonym the directory chose (the gateway passes it on).

use lms_proto::privacy_v1 as pb;
use tonic::{Request, Response, Status};

use super::{PSEUDONYM_PREFIX, Person, PersonalTables, erase, export};
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
/// The most email addresses a request may name — the directory's own counted in, so that a
/// list the gateway answers with may be sent again — and the longest (RFC 5321's path limit,
/// in characters, as the directory counts them).
pub const MAX_ADDRESSES: usize = 20;
const MAX_ADDRESS: usize = 254;

/// Checks an erasure request. Where the pseudonym is chosen (`chooses`: the directory, and the
/// gateway in front of it) a request must not carry one; everywhere else it must. There too
/// the request's addresses are the caller's, and checked; everywhere else the directory's one
/// has been added to them, as it holds it.
pub fn check_erasure(request: &pb::ErasePersonalDataRequest, chooses: bool) -> Result<(), Status> {
    let mut v = Violations::new();
    v.required_text("person", &request.person, MAX_PERSON);
    v.required_text("reason", &request.reason, MAX_REASON);
    check_addresses(&mut v, &request.email_addresses, chooses);
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

/// Checks an export request: `from_caller` at the gateway and the directory, where the
/// addresses are the caller's (see [`check_erasure`]).
pub fn check_export(
    request: &pb::ExportPersonalDataRequest,
    from_caller: bool,
) -> Result<(), Status> {
    let mut v = Violations::new();
    v.required_text("person", &request.person, MAX_PERSON);
    check_addresses(&mut v, &request.email_addresses, from_caller);
    Ok(v.finish()?)
}

/// At most 20 addresses. From a caller, each an email address (`name@domain`, no spaces, no
/// `mailto:`); passed on by the gateway, the caller's and the directory's own (which the
/// directory checked by its own rules when it took it, and counted in).
fn check_addresses(v: &mut Violations, addresses: &[String], from_caller: bool) {
    if addresses.len() > MAX_ADDRESSES {
        v.add(
            "email_addresses",
            format!("at most {MAX_ADDRESSES} addresses, not {}", addresses.len()),
        );
        return;
    }
    for (i, address) in addresses.iter().enumerate() {
        let (local, domain) = address.rsplit_once('@').unwrap_or_default();
        let long = address.chars().count() > MAX_ADDRESS;
        let valid = if from_caller {
            !long
                && !local.is_empty()
                && !domain.is_empty()
                && !address.contains(char::is_whitespace)
                && !address.contains(':')
        } else {
            !long && !address.is_empty()
        };
        if !valid {
            v.add(
                format!("email_addresses[{i}]"),
                "must be an email address (name@domain, at most 254 characters, no mailto:)",
            );
        }
    }
}

/// The addresses of `requested` and `known`, each once, in that order.
pub fn all_addresses(requested: &[String], known: &[String]) -> Vec<String> {
    let mut all: Vec<String> = Vec::with_capacity(requested.len() + known.len());
    for address in requested.iter().chain(known) {
        if !address.is_empty() && !all.contains(address) {
            all.push(address.clone());
        }
    }
    all
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
        check_export(&request, false)?;
        let tables = self.tables;
        let (person, addresses) = (request.person.clone(), request.email_addresses.clone());
        let data = self
            .db
            .read(move |conn| {
                let person = Person {
                    id: &person,
                    email_addresses: &addresses,
                };
                export(conn, &who.tenant_id, &person, tables)
            })
            .await?;
        Ok(Response::new(pb::PersonalData {
            person: request.person,
            sections: vec![section(self.tables.service, data)],
            email_addresses: request.email_addresses,
        }))
    }

    async fn erase_personal_data(
        &self,
        request: Request<pb::ErasePersonalDataRequest>,
    ) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
        let who = principal(&request)?;
        let request = request.into_inner();
        check_erasure(&request, false)?;
        let tables = self.tables;
        let (person, pseudonym) = (request.person.clone(), request.pseudonym.clone());
        let addresses = request.email_addresses.clone();
        let rows = self
            .db
            .write(move |conn| {
                let person = Person {
                    id: &person,
                    email_addresses: &addresses,
                };
                erase(conn, &who.tenant_id, &person, &pseudonym, tables)
            })
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
            email_addresses: request.email_addresses,
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
