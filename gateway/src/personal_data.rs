//! A person's data across the suite (`lms.privacy.v1.PersonalDataService`, served by the
//! gateway over every service's own). An export asks the directory (enrolment-service) first —
//! a person it does not know is NOT_FOUND — then every other service at once, and answers with
//! each one's section. An erasure goes to the directory first, which chooses the pseudonym and
//! remembers the erasure, then to every other service with that pseudonym; each part is one
//! transaction that may be repeated, so a call cut short is completed by calling again. A
//! person erased before, with nothing left to erase anywhere, is FAILED_PRECONDITION.

use futures::future::join_all;
use lms_platform::client::Peer;
use lms_platform::privacy::{all_addresses, check_erasure, check_export};
use lms_proto::privacy_v1 as pb;
use pb::personal_data_service_client::PersonalDataServiceClient;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

pub struct MergedPersonalData {
    directory: Peer,
    /// Every other service that holds personal data.
    others: Vec<Peer>,
}

impl MergedPersonalData {
    pub fn new(directory: Peer, others: Vec<Peer>) -> Self {
        Self { directory, others }
    }
}

async fn export(
    peer: &Peer,
    incoming: &MetadataMap,
    request: pb::ExportPersonalDataRequest,
) -> Result<pb::PersonalData, Status> {
    Ok(peer
        .read_as_caller(incoming, request, |channel, request| async move {
            PersonalDataServiceClient::new(channel)
                .export_personal_data(request)
                .await
        })
        .await?)
}

async fn erase(
    peer: &Peer,
    incoming: &MetadataMap,
    request: pb::ErasePersonalDataRequest,
) -> Result<pb::ErasePersonalDataResponse, Status> {
    // Each part may be repeated (an erasure of what is erased changes nothing), so a lost
    // answer is safely asked again.
    Ok(peer
        .read_as_caller(incoming, request, |channel, request| async move {
            PersonalDataServiceClient::new(channel)
                .erase_personal_data(request)
                .await
        })
        .await?)
}

#[tonic::async_trait]
impl pb::personal_data_service_server::PersonalDataService for MergedPersonalData {
    async fn export_personal_data(
        &self,
        request: Request<pb::ExportPersonalDataRequest>,
    ) -> Result<Response<pb::PersonalData>, Status> {
        let incoming = request.metadata().clone();
        let request = request.into_inner();
        check_export(&request, true)?;
        let mut data = export(&self.directory, &incoming, request.clone()).await?;
        // Everywhere else the person is looked for by the directory's addresses too.
        let everywhere = pb::ExportPersonalDataRequest {
            email_addresses: all_addresses(&request.email_addresses, &data.email_addresses),
            ..request
        };
        data.email_addresses = everywhere.email_addresses.clone();
        let others = join_all(
            self.others
                .iter()
                .map(|peer| export(peer, &incoming, everywhere.clone())),
        )
        .await;
        for section in others {
            data.sections.extend(section?.sections);
        }
        Ok(Response::new(data))
    }

    async fn erase_personal_data(
        &self,
        request: Request<pb::ErasePersonalDataRequest>,
    ) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
        let incoming = request.metadata().clone();
        let request = request.into_inner();
        check_erasure(&request, true)?;
        let mut erased = erase(&self.directory, &incoming, request.clone()).await?;
        let everywhere = pb::ErasePersonalDataRequest {
            pseudonym: erased.pseudonym.clone(),
            email_addresses: all_addresses(&request.email_addresses, &erased.email_addresses),
            ..request
        };
        erased.email_addresses = everywhere.email_addresses.clone();
        let others = join_all(
            self.others
                .iter()
                .map(|peer| erase(peer, &incoming, everywhere.clone())),
        )
        .await;
        for part in others {
            match part {
                Ok(part) => erased.sections.extend(part.sections),
                Err(status) => return Err(incomplete(status, &erased.email_addresses)),
            }
        }
        let left = erased.sections.iter().map(|s| s.rows).sum::<i64>();
        if erased.erased_before && left == 0 {
            let when = erased
                .erase_time
                .as_ref()
                .and_then(lms_platform::resource::from_timestamp)
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            return Err(Status::failed_precondition(format!(
                "person {} was erased at {when}; nothing of theirs is left",
                erased.person
            )));
        }
        Ok(Response::new(erased))
    }
}

/// A service's refusal of its part of an erasure, telling the caller what to ask again with:
/// the directory has cleared the addresses it held, and a repeat without them would not find
/// what content named by them.
fn incomplete(status: Status, addresses: &[String]) -> Status {
    if addresses.is_empty() {
        return status;
    }
    Status::new(
        status.code(),
        format!(
            "{}; the erasure is incomplete: erase again with emailAddresses {} \
             (the directory no longer holds them)",
            status.message(),
            serde_json::to_string(addresses).unwrap_or_default()
        ),
    )
}
