//! Manual records: training done outside the suite, entered by admins, with an audit of every
//! change.

use chrono::NaiveDateTime;
use lms_platform::ids::TenantId;
use serde::Serialize;

/// A manual record. Serialized whole into each audit entry (the snapshot an auditor reads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManualRecord {
    pub id: String,
    pub tenant_id: TenantId,
    pub learner: String,
    pub title: String,
    pub provider: String,
    pub completed_at: NaiveDateTime,
    pub hours: f64,
    pub evidence_url: String,
    pub revision: i64,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub deleted_at: Option<NaiveDateTime>,
}

/// One entry of a manual record's audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct ManualRecordChange {
    pub id: String,
    pub record_id: String,
    /// CREATED, UPDATED or DELETED.
    pub action: String,
    pub actor: String,
    pub changed_at: NaiveDateTime,
    pub reason: String,
    /// The record after the change, as JSON.
    pub snapshot: String,
}

/// The fields an admin sets (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct ManualFields {
    pub title: Option<String>,
    pub provider: Option<String>,
    pub completed_at: Option<NaiveDateTime>,
    pub hours: Option<f64>,
    pub evidence_url: Option<String>,
}
