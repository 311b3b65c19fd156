//! `lms import people FILE.csv`: an HR export into the learner directory through the
//! `UpsertPeople` stream, with per-row errors reported by CSV row number.
//!
//! Columns (header row required, any order): `external_id`, `display_name`, `email`, `status`
//! (ACTIVE/INACTIVE), `department`, `job_title`, `location`, `manager_external_id`, `hire_date`
//! (YYYY-MM-DD), and `attr.<key>` for each custom attribute. Unknown columns stop the import
//! before anything is sent.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use lms_proto::enrolment_v1 as pb;

/// People per stream message.
const BATCH: usize = 1_000;

const COLUMNS: [&str; 9] = [
    "external_id",
    "display_name",
    "email",
    "status",
    "department",
    "job_title",
    "location",
    "manager_external_id",
    "hire_date",
];

/// A row that could not be read or applied: its CSV row number (the header is row 1).
#[derive(Debug)]
pub struct RowProblem {
    pub row: usize,
    pub external_id: String,
    pub field: String,
    pub reason: String,
}

/// People read from a file, each with its CSV row number.
type NumberedPeople = Vec<(usize, pb::Person)>;

/// The people of a CSV file, and the rows that could not be read (with their row numbers).
pub fn read_people(path: &Path) -> anyhow::Result<(NumberedPeople, Vec<RowProblem>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .context("reading the header row")?
        .iter()
        .map(|h| h.to_string())
        .collect();
    for header in &headers {
        anyhow::ensure!(
            COLUMNS.contains(&header.as_str())
                || header
                    .strip_prefix("attr.")
                    .is_some_and(|key| !key.is_empty()),
            "unknown column {header:?}; expected {} and attr.<key> columns",
            COLUMNS.join(", ")
        );
    }
    anyhow::ensure!(
        headers.iter().any(|h| h == "external_id"),
        "the header row has no external_id column"
    );
    let mut people = Vec::new();
    let mut problems = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                problems.push(RowProblem {
                    row,
                    external_id: String::new(),
                    field: String::new(),
                    reason: format!("unreadable row: {error}"),
                });
                continue;
            }
        };
        if record.len() != headers.len() {
            problems.push(RowProblem {
                row,
                external_id: record.get(0).unwrap_or_default().to_string(),
                field: String::new(),
                reason: format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            });
            continue;
        }
        let mut fields: HashMap<&str, &str> = HashMap::new();
        let mut attributes = HashMap::new();
        for (header, value) in headers.iter().zip(record.iter()) {
            match header.strip_prefix("attr.") {
                Some(key) if !value.is_empty() => {
                    attributes.insert(key.to_string(), value.to_string());
                }
                Some(_) => {}
                None => {
                    fields.insert(header.as_str(), value);
                }
            }
        }
        let field = |name: &str| fields.get(name).copied().unwrap_or_default().to_string();
        let status = match field("status").to_ascii_uppercase().as_str() {
            "" | "ACTIVE" => pb::PersonStatus::Active,
            "INACTIVE" => pb::PersonStatus::Inactive,
            other => {
                problems.push(RowProblem {
                    row,
                    external_id: field("external_id"),
                    field: "status".into(),
                    reason: format!("{other:?} is not ACTIVE or INACTIVE"),
                });
                continue;
            }
        };
        people.push((
            row,
            pb::Person {
                external_id: field("external_id"),
                display_name: field("display_name"),
                email: field("email"),
                status: status as i32,
                department: field("department"),
                job_title: field("job_title"),
                location: field("location"),
                manager_external_id: field("manager_external_id"),
                hire_date: field("hire_date"),
                attributes,
                ..Default::default()
            },
        ));
    }
    Ok((people, problems))
}

/// What the service said about an import.
pub struct ImportReport {
    pub response: pb::UpsertPeopleResponse,
    pub problems: Vec<RowProblem>,
}

/// Streams the file's people to `address` and maps the service's row errors back to CSV rows.
pub async fn import_people(
    path: &Path,
    address: &str,
    token: &str,
    full_sync: bool,
    force: bool,
) -> anyhow::Result<ImportReport> {
    let (people, mut problems) = read_people(path)?;
    anyhow::ensure!(
        !full_sync || problems.is_empty(),
        "{} rows of the file are unreadable (first: row {}); fix them before a full sync",
        problems.len(),
        problems[0].row
    );
    let rows: Vec<usize> = people.iter().map(|(row, _)| *row).collect();
    let mut messages: Vec<pb::UpsertPeopleRequest> = people
        .chunks(BATCH)
        .map(|chunk| pb::UpsertPeopleRequest {
            people: chunk.iter().map(|(_, p)| p.clone()).collect(),
            full_sync: false,
            force: false,
        })
        .collect();
    if messages.is_empty() {
        messages.push(pb::UpsertPeopleRequest::default());
    }
    messages[0].full_sync = full_sync;
    messages[0].force = force;

    let channel = tonic::transport::Endpoint::from_shared(address.to_string())
        .with_context(|| format!("{address:?} is not an address like http://127.0.0.1:50052"))?
        .connect()
        .await
        .with_context(|| format!("connecting to enrolment-service at {address}"))?;
    let mut request = tonic::Request::new(tokio_stream::iter(messages));
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("the token is not valid header text")?,
    );
    let response = pb::enrolment_service_client::EnrolmentServiceClient::new(channel)
        .max_encoding_message_size(64 * 1024 * 1024)
        .upsert_people(request)
        .await
        .map_err(|status| anyhow::anyhow!("{:?}: {}", status.code(), status.message()))?
        .into_inner();
    for error in &response.errors {
        problems.push(RowProblem {
            row: rows.get(error.index as usize).copied().unwrap_or_default(),
            external_id: error.external_id.clone(),
            field: error.field.clone(),
            reason: error.reason.clone(),
        });
    }
    problems.sort_by_key(|p| p.row);
    Ok(ImportReport { response, problems })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn reads_people_and_custom_attributes() {
        let csv = file(
            "external_id,display_name,department,attr.cost_centre,hire_date\n\
             e1,Ada,Sales,CC-7,2026-01-31\n\
             e2,Bob,HR,,\n",
        );
        let (people, problems) = read_people(csv.path()).unwrap();
        assert!(problems.is_empty());
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].0, 2);
        assert_eq!(people[0].1.attributes["cost_centre"], "CC-7");
        assert!(people[1].1.attributes.is_empty());
    }

    #[test]
    fn malformed_rows_are_reported_by_row_number() {
        let csv = file(
            "external_id,display_name,status\n\
             e1,Ada,ACTIVE\n\
             e2,Bob\n\
             e3,Cy,RETIRED\n",
        );
        let (people, problems) = read_people(csv.path()).unwrap();
        assert_eq!(people.len(), 1);
        let rows: Vec<usize> = problems.iter().map(|p| p.row).collect();
        assert_eq!(rows, [3, 4]);
    }

    #[test]
    fn unknown_columns_stop_the_import() {
        let csv = file("external_id,salary\ne1,100\n");
        let error = read_people(csv.path()).unwrap_err().to_string();
        assert!(error.contains("salary"), "{error}");
    }
}
