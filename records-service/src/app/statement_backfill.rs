//! The learner record's statements for what was recorded before the record kept them (issue
//! 23: every activity record is also a statement): step activities, certifications and
//! manual records, made at start, tenant by tenant, in batches. Each batch is one transaction
//! that stores the statements not stored yet (their ids are the ones the record gives them
//! as it goes, so nothing is told twice) and moves the tenant's cursor on; a restart resumes
//! where it stopped, and once a source is done in a tenant it is not read again.

use std::collections::HashMap;

use lms_platform::AppResult;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, TenantId};
use serde_json::Value;

use super::RecordsApp;
use super::learner_statements::store_lms_statements;
use super::xapi::home_page;
use crate::domain::xapi::{achievements, learner_record};
use crate::storage::xapi_backfill as cursor;
use crate::storage::{activities, certifications, enrolments, manual, xapi_statements};

/// Records read per batch.
const BATCH: i64 = 500;

/// A source of statements: its name (the cursor's) and how a batch after an id is told.
type Batch = fn(&mut DbConnection, &TenantId, &str) -> AppResult<(Vec<Value>, Option<String>)>;

const SOURCES: [(&str, Batch); 3] = [
    ("activities", activity_statements),
    ("certifications", certification_statements),
    ("manual_records", manual_record_statements),
];

impl RecordsApp {
    /// Makes the statements missing for records kept before; how many it stored. A tenant
    /// whose backfill fails (a record whose statement cannot be made, two replicas racing) is
    /// logged and left for the next start; the other tenants go on.
    pub async fn backfill_statements(&self) -> AppResult<usize> {
        let tenants = self.db.read(cursor::tenants).await?;
        let mut stored = 0;
        for tenant in tenants {
            match self.backfill_tenant(&tenant).await {
                Ok(count) => stored += count,
                Err(error) => tracing::warn!(
                    %tenant,
                    %error,
                    "making statements for a tenant's earlier learner records stopped; the next start resumes"
                ),
            }
        }
        Ok(stored)
    }

    async fn backfill_tenant(&self, tenant: &TenantId) -> AppResult<usize> {
        let mut stored = 0;
        for (source, batch) in SOURCES {
            loop {
                let tenant = tenant.clone();
                let step = self
                    .db
                    .write(move |conn| backfill_batch(conn, &tenant, source, batch))
                    .await?;
                match step {
                    Some(count) => stored += count,
                    None => break,
                }
            }
        }
        Ok(stored)
    }
}

/// One batch of `source` in `tenant`: the statements not stored yet stored, the cursor moved
/// on. How many it stored; None when the source is done in the tenant.
fn backfill_batch(
    conn: &mut DbConnection,
    tenant: &TenantId,
    source: &str,
    batch: Batch,
) -> AppResult<Option<usize>> {
    let (last, done) = cursor::position(conn, tenant, source)?;
    if done {
        return Ok(None);
    }
    let (statements, next) = batch(conn, tenant, &last)?;
    let ids: Vec<String> = statements
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    let held = xapi_statements::fingerprints(conn, tenant, &ids)?;
    let missing: Vec<Value> = statements
        .into_iter()
        .filter(|s| s["id"].as_str().is_some_and(|id| !held.contains_key(id)))
        .collect();
    let count = missing.len();
    if !missing.is_empty() {
        store_lms_statements(conn, tenant, missing)?;
    }
    match next {
        Some(next) => cursor::advance(conn, tenant, source, &next, false)?,
        None => cursor::advance(conn, tenant, source, &last, true)?,
    }
    Ok(Some(count))
}

/// Step activities after `after`, told as the record tells them (a move to another version
/// is not a statement); the last id read, None past the last.
fn activity_statements(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: &str,
) -> AppResult<(Vec<Value>, Option<String>)> {
    let read = activities::after(conn, tenant, after, BATCH)?;
    let home = home_page(tenant);
    let mut enrolments_of = HashMap::new();
    let mut statements = Vec::new();
    for activity in &read {
        let id: &EnrolmentId = &activity.enrolment_id;
        if !enrolments_of.contains_key(id) {
            // An enrolment whose events never arrived tells nothing.
            let found = enrolments::find(conn, tenant, id)?;
            enrolments_of.insert(id.clone(), found);
        }
        if let Some(Some(enrolment)) = enrolments_of.get(id) {
            statements.extend(learner_record::statement(
                tenant.as_str(),
                &home,
                enrolment,
                activity,
            ));
        }
    }
    Ok((statements, read.last().map(|a| a.id.clone())))
}

/// Certifications after `after`: `earned`, and `revoked` for one revoked since.
fn certification_statements(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: &str,
) -> AppResult<(Vec<Value>, Option<String>)> {
    let read = certifications::after(conn, tenant, after, BATCH)?;
    let home = home_page(tenant);
    let mut statements = Vec::new();
    for certification in &read {
        statements.push(achievements::certification_issued(
            tenant.as_str(),
            &home,
            certification,
        ));
        if certification.revoked_at.is_some() {
            statements.push(achievements::certification_revoked(
                tenant.as_str(),
                &home,
                certification,
            ));
        }
    }
    Ok((statements, read.last().map(|c| c.id.clone())))
}

/// Manual records after `after`: each one not deleted, as its current revision says, by
/// whoever made that revision.
fn manual_record_statements(
    conn: &mut DbConnection,
    tenant: &TenantId,
    after: &str,
) -> AppResult<(Vec<Value>, Option<String>)> {
    let read = manual::after(conn, tenant, after, BATCH)?;
    let home = home_page(tenant);
    let mut statements = Vec::new();
    for record in read.iter().filter(|r| r.deleted_at.is_none()) {
        let by = manual::changes(conn, tenant, &record.id)?
            .pop()
            .map_or_else(|| record.created_by.clone(), |change| change.actor);
        statements.push(achievements::manual_record(
            tenant.as_str(),
            &home,
            record,
            &by,
        ));
    }
    Ok((statements, read.last().map(|r| r.id.clone())))
}
