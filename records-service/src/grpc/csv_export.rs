//! The compliance report as CSV: one column layout for `ExportComplianceReport` (and so the
//! HTTP download) and for `lms report compliance`.

use lms_proto::records_v1 as pb;
use tonic::Status;

pub const COMPLIANCE_HEADER: [&str; 7] = [
    "learner",
    "state",
    "percent",
    "due",
    "completed",
    "certification_expires",
    "enrolment_id",
];

fn iso(t: &Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// One learner's row, in [`COMPLIANCE_HEADER`]'s order.
pub fn compliance_record(row: &pb::ComplianceRow) -> [String; 7] {
    let state = pb::ComplianceState::try_from(row.state)
        .unwrap_or_default()
        .as_str_name()
        .trim_start_matches("COMPLIANCE_")
        .to_string();
    [
        row.learner.clone(),
        state,
        format!("{:.2}", row.percent),
        iso(&row.due_time),
        iso(&row.complete_time),
        iso(&row.certification_expire_time),
        row.enrolment_id.clone(),
    ]
}

/// CSV text of `records` (a header when `header`), for one chunk of the download.
pub fn chunk(header: bool, records: &[[String; 7]]) -> Result<pb::CsvChunk, Status> {
    let failed = |_| Status::internal("internal error");
    let mut out = csv::Writer::from_writer(Vec::new());
    if header {
        out.write_record(COMPLIANCE_HEADER).map_err(failed)?;
    }
    for record in records {
        out.write_record(record).map_err(failed)?;
    }
    let data = out
        .into_inner()
        .map_err(|_| Status::internal("internal error"))?;
    Ok(pb::CsvChunk { data })
}
