//! `lms.records.v1.CertificateVerification`: anyone holding a certificate's code may check it.

use lms_platform::resource::timestamp;
use lms_proto::records_v1 as pb;
use tonic::{Request, Response, Status};

use super::convert::certification_status;
use crate::app::RecordsApp;

/// `lms.records.v1.CertificateVerification`: public, no token.
pub struct VerificationGrpc {
    app: RecordsApp,
}

impl VerificationGrpc {
    pub fn new(app: RecordsApp) -> Self {
        Self { app }
    }
}

#[tonic::async_trait]
impl pb::certificate_verification_server::CertificateVerification for VerificationGrpc {
    async fn verify_certificate(
        &self,
        request: Request<pb::VerifyCertificateRequest>,
    ) -> Result<Response<pb::VerifiedCertificate>, Status> {
        let code = request.into_inner().verification_code.trim().to_uppercase();
        if code.is_empty() || code.len() > 64 {
            return Err(lms_platform::AppError::invalid_field(
                "verification_code",
                "is required (16 characters)",
            )
            .into());
        }
        let c = self.app.verify_certificate(code).await?;
        let status = certification_status(&c);
        Ok(Response::new(pb::VerifiedCertificate {
            valid: matches!(
                status,
                pb::CertificationStatus::CertActive | pb::CertificationStatus::CertExpiring
            ),
            status: status as i32,
            learner: c.learner,
            pathway_title: c.pathway_title,
            issue_time: Some(timestamp(c.issued_at)),
            expire_time: c.expires_at.map(timestamp),
            revoke_reason: c.revoke_reason,
        }))
    }
}
