//! Manual records: training done outside the suite, entered by admins. Every change is kept in
//! the record's audit — who, when, what (the record as JSON) and why — in the same
//! transaction as the change; a deletion hides the record from the learner's history but never
//! from the audit.

use lms_platform::audit::{self as trail, Change};
use lms_platform::pagination::{self, Page, paginate};
use lms_platform::resource::{check_etag, now};
use lms_platform::validate::new_id;
use lms_platform::{AppError, AppResult, Principal, idempotency};

use super::RecordsApp;
use super::learner_statements::store_lms_statements;
use super::xapi::home_page;
use crate::domain::manual::{ManualFields, ManualRecord, ManualRecordChange};
use crate::domain::xapi::achievements;
use crate::storage::manual as rows;

fn audit(
    conn: &mut lms_platform::db::DbConnection,
    record: &ManualRecord,
    action: &str,
    actor: &str,
    reason: &str,
) -> AppResult<()> {
    rows::record_change(
        conn,
        &record.tenant_id,
        &ManualRecordChange {
            id: new_id(),
            record_id: record.id.clone(),
            action: action.into(),
            actor: actor.into(),
            changed_at: now(),
            reason: reason.into(),
            snapshot: serde_json::to_string(record).map_err(AppError::internal)?,
        },
    )
}

/// A change to a manual record in the learner record's statements: the revision before
/// (`voided`) voided, and the record as it is now told unless it was deleted.
fn tell(
    conn: &mut lms_platform::db::DbConnection,
    record: &ManualRecord,
    actor: &str,
    voided: Option<i64>,
) -> AppResult<()> {
    let tenant = &record.tenant_id;
    let home = home_page(tenant);
    let mut statements = Vec::new();
    if let Some(revision) = voided {
        statements.push(achievements::manual_record_voided(
            tenant.as_str(),
            &home,
            &record.id,
            revision,
            actor,
            now(),
        ));
    }
    if record.deleted_at.is_none() {
        statements.push(achievements::manual_record(
            tenant.as_str(),
            &home,
            record,
            actor,
        ));
    }
    store_lms_statements(conn, tenant, statements)
}

impl RecordsApp {
    pub async fn create_manual_record(
        &self,
        who: &Principal,
        learner: String,
        fields: ManualFields,
        reason: String,
        request_id: Option<String>,
    ) -> AppResult<ManualRecord> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        // Training is recorded for someone the directory knows (asked before the
        // transaction: no transaction waits on another service).
        self.directory.require_person(&tenant, &learner).await?;
        let record = ManualRecord {
            id: new_id(),
            tenant_id: tenant.clone(),
            learner,
            title: fields.title.unwrap_or_default(),
            provider: fields.provider.unwrap_or_default(),
            completed_at: fields
                .completed_at
                .ok_or_else(|| AppError::invalid_field("record.complete_time", "is required"))?,
            hours: fields.hours.unwrap_or(0.0),
            evidence_url: fields.evidence_url.unwrap_or_default(),
            revision: 1,
            created_at: now(),
            created_by: actor.clone(),
            deleted_at: None,
        };
        let who = who.clone();
        self.db
            .write(move |conn| {
                idempotency::create_once(
                    conn,
                    &tenant,
                    "CreateManualRecord",
                    request_id.as_deref(),
                    |conn, id| rows::get(conn, &tenant, id),
                    |conn| {
                        rows::insert(conn, &record)?;
                        audit(conn, &record, "CREATED", &actor, &reason)?;
                        tell(conn, &record, &actor, None)?;
                        let resource = format!("manualRecords/{}", record.id);
                        trail::record(conn, &who, Change::created(resource, &record)?)?;
                        Ok((record.id.clone(), record))
                    },
                )
            })
            .await
    }

    pub async fn update_manual_record(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        fields: ManualFields,
        reason: String,
    ) -> AppResult<ManualRecord> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut record = rows::get(conn, &tenant, &id)?;
                check_etag(&etag, record.revision)?;
                let expected = record.revision;
                let before = record.clone();
                if let Some(title) = fields.title {
                    record.title = title;
                }
                if let Some(provider) = fields.provider {
                    record.provider = provider;
                }
                if let Some(at) = fields.completed_at {
                    record.completed_at = at;
                }
                if let Some(hours) = fields.hours {
                    record.hours = hours;
                }
                if let Some(url) = fields.evidence_url {
                    record.evidence_url = url;
                }
                record.revision += 1;
                rows::update(conn, &record, expected)?;
                audit(conn, &record, "UPDATED", &actor, &reason)?;
                // The revision before is voided; this one is a statement of its own.
                tell(conn, &record, &actor, Some(expected))?;
                let resource = format!("manualRecords/{id}");
                trail::record(conn, &who, Change::updated(resource, &before, &record)?)?;
                Ok(record)
            })
            .await
    }

    pub async fn delete_manual_record(
        &self,
        who: &Principal,
        id: String,
        etag: String,
        reason: String,
    ) -> AppResult<ManualRecord> {
        let tenant = who.tenant_id.clone();
        let actor = who.subject.clone();
        let who = who.clone();
        self.db
            .write(move |conn| {
                let mut record = rows::get(conn, &tenant, &id)?;
                check_etag(&etag, record.revision)?;
                let expected = record.revision;
                let before = record.clone();
                audit(conn, &record, "DELETED", &actor, &reason)?;
                record.revision += 1;
                record.deleted_at = Some(now());
                rows::update(conn, &record, expected)?;
                tell(conn, &record, &actor, Some(expected))?;
                let resource = format!("manualRecords/{id}");
                trail::record(conn, &who, Change::deleted(resource, &before)?)?;
                Ok(record)
            })
            .await
    }

    pub async fn list_manual_records(
        &self,
        who: &Principal,
        learner: Option<String>,
        page_size: i32,
        page_token: String,
    ) -> AppResult<Page<ManualRecord>> {
        let learner = self.readable_learner(who, learner)?;
        let limit = pagination::page_size(page_size)?;
        let filters = format!("learner={learner}");
        let before = pagination::decode_key(&page_token, &filters)?.map(|[key]| key);
        let tenant = who.tenant_id.clone();
        let items = self
            .db
            .read(move |conn| rows::of_learner(conn, &tenant, &learner, before, limit + 1))
            .await?;
        Ok(paginate(items, limit, &filters, |r: &ManualRecord| {
            vec![r.id.clone()]
        }))
    }

    pub async fn manual_record_audit(
        &self,
        who: &Principal,
        id: String,
    ) -> AppResult<Vec<ManualRecordChange>> {
        let tenant = who.tenant_id.clone();
        self.db
            .read(move |conn| {
                if !rows::exists(conn, &tenant, &id)? {
                    return Err(AppError::not_found(format!("manual record {id}")));
                }
                rows::changes(conn, &tenant, &id)
            })
            .await
    }
}
