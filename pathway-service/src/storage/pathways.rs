//! Pathway, step and version rows.
//!
//! A pathway's steps are small (at most 500) and always change together with the pathway's
//! revision, so a step change rewrites the pathway's step rows in two set-based statements
//! (delete, multi-row insert) inside the transaction that bumps the revision.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{PathwayId, TenantId};

use super::schema::{pathway_versions, pathways, steps};
use super::{like_pattern, lower};
use crate::domain::Audit;
use crate::domain::pathway::{
    CertificationPolicy, CompletionRule, Outcome, Pathway, PathwayFilter, PathwaySettings,
    PathwayStatus, Sequencing, VersionRecord,
};
use crate::domain::step::{Step, StepDetail};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = pathways)]
struct PathwayRow {
    id: PathwayId,
    tenant_id: String,
    title: String,
    description: String,
    category_id: String,
    outcome: String,
    sequencing: String,
    completion_rule: String,
    completion_min_steps: i32,
    estimated_duration_minutes: i32,
    tags: String,
    validity_days: i32,
    recertification_window_days: i32,
    has_certification: bool,
    expiry_month: i32,
    expiry_day: i32,
    grace_days: i32,
    status: String,
    latest_version: i32,
    has_unpublished_changes: bool,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = steps)]
struct StepRow {
    id: String,
    tenant_id: String,
    pathway_id: PathwayId,
    position: i32,
    title: String,
    description: String,
    required: bool,
    prerequisites: String,
    estimated_minutes: i32,
    kind: String,
    detail: String,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

/// Stored text that no longer reads back is corruption, not a user error.
fn corrupt(what: &str, detail: impl std::fmt::Display) -> AppError {
    AppError::internal(anyhow::anyhow!("stored {what} is unreadable: {detail}"))
}

impl PathwayRow {
    fn from_domain(tenant: &TenantId, p: &Pathway) -> Self {
        let s = &p.settings;
        let (completion_rule, completion_min_steps) = match s.completion_rule {
            CompletionRule::AllRequired => ("ALL_REQUIRED", 0),
            CompletionRule::MinSteps(n) => ("MIN_STEPS", n),
        };
        PathwayRow {
            id: p.id.clone(),
            tenant_id: tenant.to_string(),
            title: s.title.clone(),
            description: s.description.clone(),
            category_id: s.category_id.clone(),
            outcome: s.outcome.as_str().into(),
            sequencing: s.sequencing.as_str().into(),
            completion_rule: completion_rule.into(),
            completion_min_steps,
            estimated_duration_minutes: s.estimated_duration_minutes,
            tags: serde_json::to_string(&s.tags).expect("tags serialise"),
            validity_days: s.certification.map_or(0, |c| c.validity_days),
            recertification_window_days: s
                .certification
                .map_or(0, |c| c.recertification_window_days),
            has_certification: s.certification.is_some(),
            expiry_month: s
                .certification
                .and_then(|c| c.expiry_date)
                .map_or(0, |(month, _)| month as i32),
            expiry_day: s
                .certification
                .and_then(|c| c.expiry_date)
                .map_or(0, |(_, day)| day as i32),
            grace_days: s.certification.map_or(0, |c| c.grace_days),
            status: p.status.as_str().into(),
            latest_version: p.latest_version,
            has_unpublished_changes: p.has_unpublished_changes,
            revision: p.revision,
            created_at: p.audit.created_at,
            created_by: p.audit.created_by.clone(),
            updated_at: p.audit.updated_at,
            updated_by: p.audit.updated_by.clone(),
        }
    }

    fn into_domain(self, steps: Vec<Step>) -> Result<Pathway, AppError> {
        let completion_rule = match self.completion_rule.as_str() {
            "ALL_REQUIRED" => CompletionRule::AllRequired,
            "MIN_STEPS" => CompletionRule::MinSteps(self.completion_min_steps),
            other => return Err(corrupt("completion rule", other)),
        };
        Ok(Pathway {
            settings: PathwaySettings {
                title: self.title,
                description: self.description,
                category_id: self.category_id,
                outcome: Outcome::parse(&self.outcome)
                    .ok_or_else(|| corrupt("outcome", &self.outcome))?,
                sequencing: Sequencing::parse(&self.sequencing)
                    .ok_or_else(|| corrupt("sequencing", &self.sequencing))?,
                completion_rule,
                estimated_duration_minutes: self.estimated_duration_minutes,
                tags: serde_json::from_str(&self.tags).map_err(|e| corrupt("tags", e))?,
                certification: self.has_certification.then_some(CertificationPolicy {
                    validity_days: self.validity_days,
                    recertification_window_days: self.recertification_window_days,
                    expiry_date: (self.expiry_month > 0)
                        .then_some((self.expiry_month as u32, self.expiry_day as u32)),
                    grace_days: self.grace_days,
                }),
            },
            id: self.id,
            status: PathwayStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            latest_version: self.latest_version,
            has_unpublished_changes: self.has_unpublished_changes,
            revision: self.revision,
            audit: Audit {
                created_at: self.created_at,
                created_by: self.created_by,
                updated_at: self.updated_at,
                updated_by: self.updated_by,
            },
            steps,
        })
    }
}

impl StepRow {
    fn from_domain(
        tenant: &TenantId,
        pathway_id: &PathwayId,
        position: usize,
        step: &Step,
    ) -> Self {
        StepRow {
            id: step.id.clone(),
            tenant_id: tenant.to_string(),
            pathway_id: pathway_id.clone(),
            position: position as i32,
            title: step.title.clone(),
            description: step.description.clone(),
            required: step.required,
            prerequisites: serde_json::to_string(&step.prerequisites).expect("ids serialise"),
            estimated_minutes: step.estimated_minutes,
            kind: step.detail.kind().to_string(),
            detail: serde_json::to_string(&step.detail).expect("details serialise"),
            created_at: step.audit.created_at,
            created_by: step.audit.created_by.clone(),
            updated_at: step.audit.updated_at,
            updated_by: step.audit.updated_by.clone(),
        }
    }

    fn into_domain(self) -> Result<Step, AppError> {
        Ok(Step {
            prerequisites: serde_json::from_str(&self.prerequisites)
                .map_err(|e| corrupt("prerequisites", e))?,
            detail: serde_json::from_str::<StepDetail>(&self.detail)
                .map_err(|e| corrupt("step detail", e))?,
            id: self.id,
            title: self.title,
            description: self.description,
            required: self.required,
            position: self.position,
            estimated_minutes: self.estimated_minutes,
            audit: Audit {
                created_at: self.created_at,
                created_by: self.created_by,
                updated_at: self.updated_at,
                updated_by: self.updated_by,
            },
        })
    }
}

pub fn insert(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway: &Pathway,
) -> Result<(), AppError> {
    diesel::insert_into(pathways::table)
        .values(&PathwayRow::from_domain(tenant, pathway))
        .execute(conn)?;
    Ok(())
}

/// A pathway of the tenant with its steps in order, in one statement (the steps left-joined:
/// one row per step, or one row without a step), so a read of it needs no transaction.
pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &PathwayId,
) -> Result<Pathway, AppError> {
    let rows: Vec<(PathwayRow, Option<StepRow>)> = pathways::table
        .left_join(
            steps::table.on(steps::tenant_id
                .eq(pathways::tenant_id)
                .and(steps::pathway_id.eq(pathways::id))),
        )
        .filter(pathways::tenant_id.eq(tenant))
        .filter(pathways::id.eq(id))
        .order(steps::position.asc())
        .select((PathwayRow::as_select(), Option::<StepRow>::as_select()))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let (row, first) = rows
        .next()
        .ok_or_else(|| AppError::not_found(format!("pathway {id}")))?;
    let steps = first
        .into_iter()
        .chain(rows.filter_map(|(_, step)| step))
        .map(StepRow::into_domain)
        .collect::<Result<Vec<_>, _>>()?;
    row.into_domain(steps)
}

/// Writes the pathway's settings and state and its full step list, if its revision is still
/// `expected_revision` (otherwise ABORTED: someone else changed it meanwhile).
pub fn save(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway: &Pathway,
    expected_revision: i64,
    steps_changed: bool,
) -> Result<(), AppError> {
    let row = PathwayRow::from_domain(tenant, pathway);
    let changed = diesel::update(
        pathways::table
            .filter(pathways::tenant_id.eq(tenant))
            .filter(pathways::id.eq(&pathway.id))
            .filter(pathways::revision.eq(expected_revision)),
    )
    .set((
        pathways::title.eq(&row.title),
        pathways::description.eq(&row.description),
        pathways::category_id.eq(&row.category_id),
        pathways::outcome.eq(&row.outcome),
        pathways::sequencing.eq(&row.sequencing),
        pathways::completion_rule.eq(&row.completion_rule),
        pathways::completion_min_steps.eq(row.completion_min_steps),
        pathways::estimated_duration_minutes.eq(row.estimated_duration_minutes),
        pathways::tags.eq(&row.tags),
        pathways::validity_days.eq(row.validity_days),
        pathways::recertification_window_days.eq(row.recertification_window_days),
        pathways::has_certification.eq(row.has_certification),
        pathways::expiry_month.eq(row.expiry_month),
        pathways::expiry_day.eq(row.expiry_day),
        pathways::grace_days.eq(row.grace_days),
        pathways::status.eq(&row.status),
        pathways::latest_version.eq(row.latest_version),
        pathways::has_unpublished_changes.eq(row.has_unpublished_changes),
        pathways::revision.eq(row.revision),
        pathways::updated_at.eq(row.updated_at),
        pathways::updated_by.eq(&row.updated_by),
    ))
    .execute(conn)?;
    AppError::unless_updated(changed, "pathway")?;
    if steps_changed {
        diesel::delete(
            steps::table
                .filter(steps::tenant_id.eq(tenant))
                .filter(steps::pathway_id.eq(&pathway.id)),
        )
        .execute(conn)?;
        let rows: Vec<StepRow> = pathway
            .steps
            .iter()
            .enumerate()
            .map(|(position, step)| StepRow::from_domain(tenant, &pathway.id, position, step))
            .collect();
        // Bounded batches keep each statement under SQLite's bind-parameter limit.
        // Multi-row inserts are dialect-specific in diesel, so this branches per backend.
        for chunk in rows.chunks(100) {
            let insert = diesel::insert_into(steps::table).values(chunk);
            lms_platform::execute_on_backend!(conn, insert)?;
        }
    }
    Ok(())
}

/// Working drafts (admins), newest first, without steps.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &PathwayFilter,
    before_id: Option<String>,
    limit: i64,
) -> Result<Vec<Pathway>, AppError> {
    let mut query = pathways::table
        .filter(pathways::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(category) = &filter.category_id {
        query = query.filter(pathways::category_id.eq(category.clone()));
    }
    if let Some(outcome) = filter.outcome {
        query = query.filter(pathways::outcome.eq(outcome.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(pathways::status.eq(status.as_str()));
    }
    if let Some(text) = &filter.query {
        let pattern = like_pattern(text);
        query = query.filter(
            lower(pathways::title)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(pathways::description).like(pattern).escape('\\')),
        );
    }
    if let Some(before) = before_id {
        query = query.filter(pathways::id.lt(before));
    }
    query
        .order(pathways::id.desc())
        .limit(limit)
        .select(PathwayRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_domain(Vec::new()))
        .collect()
}

/// The latest published snapshot of each PUBLISHED pathway (what learners see), newest first.
/// Filters apply to the published content, never to unpublished drafts.
pub fn list_published(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &PathwayFilter,
    before_id: Option<String>,
    limit: i64,
) -> Result<Vec<String>, AppError> {
    let mut query = pathways::table
        .inner_join(
            pathway_versions::table.on(pathway_versions::pathway_id
                .eq(pathways::id)
                .and(pathway_versions::version.eq(pathways::latest_version))),
        )
        .filter(pathways::tenant_id.eq(tenant))
        .filter(pathway_versions::tenant_id.eq(tenant))
        .filter(pathways::status.eq(PathwayStatus::Published.as_str()))
        .into_boxed();
    if let Some(category) = &filter.category_id {
        query = query.filter(pathway_versions::category_id.eq(category.clone()));
    }
    if let Some(outcome) = filter.outcome {
        query = query.filter(pathway_versions::outcome.eq(outcome.as_str()));
    }
    if let Some(text) = &filter.query {
        let pattern = like_pattern(text);
        query = query.filter(
            lower(pathway_versions::title)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(pathway_versions::description)
                    .like(pattern)
                    .escape('\\')),
        );
    }
    if let Some(before) = before_id {
        query = query.filter(pathways::id.lt(before));
    }
    Ok(query
        .order(pathways::id.desc())
        .limit(limit)
        .select(pathway_versions::snapshot)
        .load(conn)?)
}

pub fn insert_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    record: &VersionRecord,
) -> Result<(), AppError> {
    let s = &record.snapshot.settings;
    diesel::insert_into(pathway_versions::table)
        .values((
            pathway_versions::tenant_id.eq(tenant),
            pathway_versions::pathway_id.eq(&record.pathway_id),
            pathway_versions::version.eq(record.version),
            pathway_versions::title.eq(&s.title),
            pathway_versions::description.eq(&s.description),
            pathway_versions::category_id.eq(&s.category_id),
            pathway_versions::outcome.eq(s.outcome.as_str()),
            pathway_versions::snapshot.eq(encode_snapshot(&record.snapshot)),
            pathway_versions::published_at.eq(record.published_at),
            pathway_versions::published_by.eq(&record.published_by),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn encode_snapshot(pathway: &Pathway) -> String {
    serde_json::to_string(pathway).expect("a pathway serialises")
}

pub fn decode_snapshot(text: &str) -> Result<Pathway, AppError> {
    serde_json::from_str(text).map_err(|e| corrupt("version snapshot", e))
}

type VersionColumns = (PathwayId, i32, String, NaiveDateTime, String);

fn version_record(row: VersionColumns) -> Result<VersionRecord, AppError> {
    let (pathway_id, version, snapshot, published_at, published_by) = row;
    Ok(VersionRecord {
        pathway_id,
        version,
        snapshot: decode_snapshot(&snapshot)?,
        published_at,
        published_by,
    })
}

/// One version; `version` 0 means the latest.
pub fn get_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &PathwayId,
    version: i32,
) -> Result<VersionRecord, AppError> {
    let mut query = pathway_versions::table
        .filter(pathway_versions::tenant_id.eq(tenant))
        .filter(pathway_versions::pathway_id.eq(pathway_id))
        .into_boxed();
    if version > 0 {
        query = query.filter(pathway_versions::version.eq(version));
    }
    let row: Option<VersionColumns> = query
        .order(pathway_versions::version.desc())
        .select((
            pathway_versions::pathway_id,
            pathway_versions::version,
            pathway_versions::snapshot,
            pathway_versions::published_at,
            pathway_versions::published_by,
        ))
        .first(conn)
        .optional()?;
    match row {
        Some(row) => version_record(row),
        None if version > 0 => Err(AppError::not_found(format!(
            "version {version} of pathway {pathway_id}"
        ))),
        None => Err(AppError::not_found(format!(
            "a published version of pathway {pathway_id}"
        ))),
    }
}

/// Versions newest first, below `before_version`.
pub fn list_versions(
    conn: &mut DbConnection,
    tenant: &TenantId,
    pathway_id: &PathwayId,
    before_version: Option<i32>,
    limit: i64,
) -> Result<Vec<VersionRecord>, AppError> {
    let mut query = pathway_versions::table
        .filter(pathway_versions::tenant_id.eq(tenant))
        .filter(pathway_versions::pathway_id.eq(pathway_id))
        .into_boxed();
    if let Some(before) = before_version {
        query = query.filter(pathway_versions::version.lt(before));
    }
    query
        .order(pathway_versions::version.desc())
        .limit(limit)
        .select((
            pathway_versions::pathway_id,
            pathway_versions::version,
            pathway_versions::snapshot,
            pathway_versions::published_at,
            pathway_versions::published_by,
        ))
        .load::<VersionColumns>(conn)?
        .into_iter()
        .map(version_record)
        .collect()
}

/// Whether the pathway exists in the tenant and is visible to learners (PUBLISHED, or ARCHIVED
/// with versions that enrolled learners may still read).
pub fn status(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &PathwayId,
) -> Result<Option<PathwayStatus>, AppError> {
    let status: Option<String> = pathways::table
        .filter(pathways::tenant_id.eq(tenant))
        .filter(pathways::id.eq(id))
        .select(pathways::status)
        .first(conn)
        .optional()?;
    status
        .map(|s| PathwayStatus::parse(&s).ok_or_else(|| corrupt("status", &s)))
        .transpose()
}

/// What a learner may read of a pathway, in one statement: its status and, when it has
/// been published, its latest published version. None when the tenant has no such pathway.
pub fn status_and_latest_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &PathwayId,
) -> Result<Option<(PathwayStatus, Option<VersionRecord>)>, AppError> {
    let row: Option<(String, Option<VersionColumns>)> = pathways::table
        .left_join(
            pathway_versions::table.on(pathway_versions::tenant_id
                .eq(pathways::tenant_id)
                .and(pathway_versions::pathway_id.eq(pathways::id))
                .and(pathway_versions::version.eq(pathways::latest_version))),
        )
        .filter(pathways::tenant_id.eq(tenant))
        .filter(pathways::id.eq(id))
        .select((
            pathways::status,
            (
                pathway_versions::pathway_id,
                pathway_versions::version,
                pathway_versions::snapshot,
                pathway_versions::published_at,
                pathway_versions::published_by,
            )
                .nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((status, version)) = row else {
        return Ok(None);
    };
    let status = PathwayStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?;
    Ok(Some((status, version.map(version_record).transpose()?)))
}
