//! `lms report compliance --pathway ID [--audience ID | --class ID | --department NAME]`: a
//! pathway's compliance report as CSV on standard output, streamed from records-service as it is computed; the totals go to standard error.

use std::io::Write;

use anyhow::Context;
use lms_proto::records_v1 as pb;

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
    // The columns of the HTTP download (`ExportComplianceReport`), from the same code.
    use records_service::grpc::csv_export;
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(csv_export::COMPLIANCE_HEADER)?;
    loop {
        let item = stream
            .message()
            .await
            .map_err(|status| anyhow::anyhow!("{:?}: {}", status.code(), status.message()))?;
        match item.and_then(|i| i.item) {
            Some(pb::compliance_report_item::Item::Row(row)) => {
                csv.write_record(csv_export::compliance_record(&row))?;
            }
            Some(pb::compliance_report_item::Item::Totals(totals)) => {
                csv.flush()?;
                return Ok(totals);
            }
            None => anyhow::bail!("the report ended without its totals"),
        }
    }
}
