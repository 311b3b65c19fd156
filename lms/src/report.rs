//! `lms report compliance --pathway ID [--audience ID | --class ID | --department NAME]`: a
//! pathway's compliance report as CSV on standard output, streamed from records-service as it is computed; the totals go to standard error.

use std::io::Write;

use anyhow::Context;
use lms_proto::records_v1 as pb;

fn iso(t: &Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Writes the report's rows as CSV to `out`; returns the totals.
pub async fn compliance(
    address: &str,
    token: &str,
    pathway_id: &str,
    scope: Option<pb::compliance_report_request::Scope>,
    out: impl Write,
) -> anyhow::Result<pb::ComplianceTotals> {
    let channel = tonic::transport::Endpoint::from_shared(address.to_string())
        .with_context(|| format!("{address:?} is not an address like http://127.0.0.1:50054"))?
        .connect()
        .await
        .with_context(|| format!("connecting to records-service at {address}"))?;
    let mut request = tonic::Request::new(pb::ComplianceReportRequest {
        pathway_id: pathway_id.to_string(),
        scope,
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("the token is not valid header text")?,
    );
    let mut stream = pb::records_service_client::RecordsServiceClient::new(channel)
        .stream_compliance_report(request)
        .await
        .map_err(|status| anyhow::anyhow!("{:?}: {}", status.code(), status.message()))?
        .into_inner();
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record([
        "learner",
        "state",
        "percent",
        "due",
        "completed",
        "certification_expires",
        "enrolment_id",
    ])?;
    loop {
        let item = stream
            .message()
            .await
            .map_err(|status| anyhow::anyhow!("{:?}: {}", status.code(), status.message()))?;
        match item.and_then(|i| i.item) {
            Some(pb::compliance_report_item::Item::Row(row)) => {
                let state = pb::ComplianceState::try_from(row.state)
                    .unwrap_or_default()
                    .as_str_name()
                    .trim_start_matches("COMPLIANCE_");
                csv.write_record([
                    row.learner.as_str(),
                    state,
                    &format!("{:.2}", row.percent),
                    &iso(&row.due_time),
                    &iso(&row.complete_time),
                    &iso(&row.certification_expire_time),
                    &row.enrolment_id,
                ])?;
            }
            Some(pb::compliance_report_item::Item::Totals(totals)) => {
                csv.flush()?;
                return Ok(totals);
            }
            None => anyhow::bail!("the report ended without its totals"),
        }
    }
}
