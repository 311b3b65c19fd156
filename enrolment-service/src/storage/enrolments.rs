//! Enrolment rows, their due-date history, and the set-based queries that keep assigned
//! enrolments in line with audience and class membership.

use lms_platform::ids::{EnrolmentId, PathwayId, PersonId, TenantId};
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::resource::Audit;

use super::schema::{enrolment_due_changes, enrolments};
use crate::domain::assignment::Requirement;
use crate::domain::enrolment::{DueChange, Enrolment, EnrolmentFilter, Source, Status, Withdrawal};
use crate::domain::person::PersonStatus;

/// Ids per `IN (...)` list.
const ID_CHUNK: usize = 5_000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = enrolments)]
struct EnrolmentRow {
    id: EnrolmentId,
    person_id: PersonId,
    learner: String,
    pathway_id: PathwayId,
    pathway_version: i32,
    source: String,
    assignment_id: String,
    requirement: String,
    status: String,
    assigned_at: NaiveDateTime,
    due_at: Option<NaiveDateTime>,
    started_at: Option<NaiveDateTime>,
    withdrawn_at: Option<NaiveDateTime>,
    withdrawal: String,
    withdraw_reason: String,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

pub(super) fn corrupt(what: &str, value: &str) -> AppError {
    AppError::internal(anyhow::anyhow!("stored enrolment {what} {value:?}"))
}

impl EnrolmentRow {
    fn into_enrolment(self) -> Result<Enrolment, AppError> {
        Ok(Enrolment {
            source: Source::parse(&self.source).ok_or_else(|| corrupt("source", &self.source))?,
            requirement: Requirement::parse(&self.requirement)
                .ok_or_else(|| corrupt("requirement", &self.requirement))?,
            status: Status::parse(&self.status).ok_or_else(|| corrupt("status", &self.status))?,
            withdrawal: match self.withdrawal.as_str() {
                "" => None,
                other => {
                    Some(Withdrawal::parse(other).ok_or_else(|| corrupt("withdrawal", other))?)
                }
            },
            id: self.id,
            person_id: self.person_id,
            learner: self.learner,
            pathway_id: self.pathway_id,
            pathway_version: self.pathway_version,
            assignment_id: self.assignment_id,
            assigned_at: self.assigned_at,
            due_at: self.due_at,
            started_at: self.started_at,
            withdrawn_at: self.withdrawn_at,
            withdraw_reason: self.withdraw_reason,
            due_changes: Vec::new(),
            revision: self.revision,
            audit: Audit {
                created_at: self.created_at,
                created_by: self.created_by,
                updated_at: self.updated_at,
                updated_by: self.updated_by,
            },
        })
    }
}

fn rows_into(rows: Vec<EnrolmentRow>) -> Result<Vec<Enrolment>, AppError> {
    rows.into_iter().map(EnrolmentRow::into_enrolment).collect()
}

/// Writes new enrolments in multi-row inserts.
pub fn insert_many(
    conn: &mut DbConnection,
    tenant: &TenantId,
    new: &[Enrolment],
) -> Result<(), AppError> {
    use enrolments::dsl as e;
    // 19 columns a row: 1 500 rows stay under SQLite's 32 766 bind parameters.
    for chunk in new.chunks(1_500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|n| {
                (
                    e::id.eq(&n.id),
                    e::tenant_id.eq(tenant),
                    e::person_id.eq(&n.person_id),
                    e::learner.eq(&n.learner),
                    e::pathway_id.eq(&n.pathway_id),
                    e::pathway_version.eq(n.pathway_version),
                    e::source.eq(n.source.as_str()),
                    e::assignment_id.eq(&n.assignment_id),
                    e::requirement.eq(n.requirement.as_str()),
                    e::status.eq(n.status.as_str()),
                    e::assigned_at.eq(n.assigned_at),
                    e::due_at.eq(n.due_at),
                    e::started_at.eq(n.started_at),
                    e::lapsed_at.eq(None::<NaiveDateTime>),
                    e::revision.eq(n.revision),
                    e::created_at.eq(n.audit.created_at),
                    e::created_by.eq(&n.audit.created_by),
                    e::updated_at.eq(n.audit.updated_at),
                    e::updated_by.eq(&n.audit.updated_by),
                )
            })
            .collect();
        let insert = diesel::insert_into(enrolments::table).values(rows);
        lms_platform::execute_on_backend!(&mut *conn, insert).map_err(|error| {
            AppError::on_conflict(error, || {
                AppError::AlreadyExists("the learner is already enrolled in this pathway".into())
            })
        })?;
    }
    Ok(())
}

/// One enrolment with its due-date history.
pub fn get(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
) -> Result<Enrolment, AppError> {
    let mut enrolment = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::id.eq(id))
        .select(EnrolmentRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("enrolment {id}")))?
        .into_enrolment()?;
    attach_due_changes(conn, tenant, std::slice::from_mut(&mut enrolment))?;
    Ok(enrolment)
}

/// The learner's enrolment in a pathway that is not withdrawn, if any (one index probe).
pub fn current(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    pathway_id: &PathwayId,
) -> Result<Option<Enrolment>, AppError> {
    enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::learner.eq(learner))
        .filter(enrolments::pathway_id.eq(pathway_id))
        .filter(enrolments::status.ne(Status::Withdrawn.as_str()))
        .select(EnrolmentRow::as_select())
        .first(conn)
        .optional()?
        .map(EnrolmentRow::into_enrolment)
        .transpose()
}

/// Enrolments by id (any order), without their due-date history.
pub fn by_ids(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[EnrolmentId],
) -> Result<Vec<Enrolment>, AppError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ID_CHUNK) {
        let rows = enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::id.eq_any(chunk))
            .select(EnrolmentRow::as_select())
            .load(conn)?;
        found.extend(rows_into(rows)?);
    }
    Ok(found)
}

/// Enrolments, newest first, before the id `before`, with their due-date history.
pub fn list(
    conn: &mut DbConnection,
    tenant: &TenantId,
    filter: &EnrolmentFilter,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<Enrolment>, AppError> {
    let mut query = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(learner) = &filter.learner {
        query = query.filter(enrolments::learner.eq(learner.clone()));
    }
    if let Some(person) = &filter.person_id {
        query = query.filter(enrolments::person_id.eq(person.clone()));
    }
    if let Some(pathway) = &filter.pathway_id {
        query = query.filter(enrolments::pathway_id.eq(pathway.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(enrolments::status.eq(status.as_str()));
    }
    if let Some(before) = before {
        query = query.filter(enrolments::id.lt(before));
    }
    let rows = query
        .order(enrolments::id.desc())
        .limit(limit)
        .select(EnrolmentRow::as_select())
        .load(conn)?;
    let mut found = rows_into(rows)?;
    attach_due_changes(conn, tenant, &mut found)?;
    Ok(found)
}

fn attach_due_changes(
    conn: &mut DbConnection,
    tenant: &TenantId,
    list: &mut [Enrolment],
) -> Result<(), AppError> {
    if list.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = list.iter().map(|e| e.id.as_str()).collect();
    let rows: Vec<(
        String,
        Option<NaiveDateTime>,
        NaiveDateTime,
        String,
        String,
        NaiveDateTime,
    )> = enrolment_due_changes::table
        .filter(enrolment_due_changes::tenant_id.eq(tenant))
        .filter(enrolment_due_changes::enrolment_id.eq_any(ids))
        .order(enrolment_due_changes::id.asc())
        .select((
            enrolment_due_changes::enrolment_id,
            enrolment_due_changes::previous_due_at,
            enrolment_due_changes::due_at,
            enrolment_due_changes::reason,
            enrolment_due_changes::actor,
            enrolment_due_changes::changed_at,
        ))
        .load(conn)?;
    let mut by_enrolment: HashMap<String, Vec<DueChange>> = HashMap::new();
    for (id, previous_due_at, due_at, reason, actor, changed_at) in rows {
        by_enrolment.entry(id).or_default().push(DueChange {
            previous_due_at,
            due_at,
            reason,
            actor,
            changed_at,
        });
    }
    for enrolment in list {
        enrolment.due_changes = by_enrolment
            .remove(enrolment.id.as_str())
            .unwrap_or_default();
    }
    Ok(())
}

/// Moves a due date if the enrolment's revision is still `expected`, keeping the change.
pub fn change_due(
    conn: &mut DbConnection,
    tenant: &TenantId,
    enrolment: &Enrolment,
    expected_revision: i64,
    change: &DueChange,
) -> Result<(), AppError> {
    let changed = diesel::update(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::id.eq(&enrolment.id))
            .filter(enrolments::revision.eq(expected_revision)),
    )
    .set((
        enrolments::due_at.eq(Some(change.due_at)),
        enrolments::revision.eq(expected_revision + 1),
        enrolments::updated_at.eq(change.changed_at),
        enrolments::updated_by.eq(&change.actor),
    ))
    .execute(conn)?;
    AppError::unless_updated(changed, "enrolment")?;
    diesel::insert_into(enrolment_due_changes::table)
        .values((
            enrolment_due_changes::id.eq(lms_platform::validate::new_id()),
            enrolment_due_changes::tenant_id.eq(tenant),
            enrolment_due_changes::enrolment_id.eq(&enrolment.id),
            enrolment_due_changes::previous_due_at.eq(change.previous_due_at),
            enrolment_due_changes::due_at.eq(change.due_at),
            enrolment_due_changes::reason.eq(&change.reason),
            enrolment_due_changes::actor.eq(&change.actor),
            enrolment_due_changes::changed_at.eq(change.changed_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Who changes a batch of enrolments, and when.
pub struct Change<'a> {
    pub at: NaiveDateTime,
    pub actor: &'a str,
}

/// Withdraws enrolments that are not withdrawn yet; returns how many changed.
pub fn withdraw(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[EnrolmentId],
    withdrawal: Withdrawal,
    reason: &str,
    change: &Change,
) -> Result<usize, AppError> {
    let mut count = 0;
    for chunk in ids.chunks(ID_CHUNK) {
        count += diesel::update(
            enrolments::table
                .filter(enrolments::tenant_id.eq(tenant))
                .filter(enrolments::id.eq_any(chunk))
                .filter(enrolments::status.ne(Status::Withdrawn.as_str())),
        )
        .set((
            enrolments::status.eq(Status::Withdrawn.as_str()),
            enrolments::withdrawn_at.eq(Some(change.at)),
            enrolments::withdrawal.eq(withdrawal.as_str()),
            enrolments::withdraw_reason.eq(reason),
            enrolments::revision.eq(enrolments::revision + 1),
            enrolments::updated_at.eq(change.at),
            enrolments::updated_by.eq(change.actor),
        ))
        .execute(conn)?;
    }
    Ok(count)
}

/// Sets the status and the lapse mark of enrolments (suspend on leaving, resume on return).
pub fn set_status_and_lapse(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[EnrolmentId],
    status: Status,
    lapsed_at: Option<NaiveDateTime>,
    change: &Change,
) -> Result<(), AppError> {
    for chunk in ids.chunks(ID_CHUNK) {
        diesel::update(
            enrolments::table
                .filter(enrolments::tenant_id.eq(tenant))
                .filter(enrolments::id.eq_any(chunk)),
        )
        .set((
            enrolments::status.eq(status.as_str()),
            enrolments::lapsed_at.eq(lapsed_at),
            enrolments::revision.eq(enrolments::revision + 1),
            enrolments::updated_at.eq(change.at),
            enrolments::updated_by.eq(change.actor),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Marks enrolments as lapsed (person outside the target) or not, without other change.
pub fn set_lapse(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[EnrolmentId],
    lapsed_at: Option<NaiveDateTime>,
) -> Result<(), AppError> {
    for chunk in ids.chunks(ID_CHUNK) {
        diesel::update(
            enrolments::table
                .filter(enrolments::tenant_id.eq(tenant))
                .filter(enrolments::id.eq_any(chunk)),
        )
        .set(enrolments::lapsed_at.eq(lapsed_at))
        .execute(conn)?;
    }
    Ok(())
}

/// Hands enrolments over to another assignment of the same pathway that still covers them.
pub fn relink(
    conn: &mut DbConnection,
    tenant: &TenantId,
    ids: &[EnrolmentId],
    assignment_id: &str,
) -> Result<(), AppError> {
    for chunk in ids.chunks(ID_CHUNK) {
        diesel::update(
            enrolments::table
                .filter(enrolments::tenant_id.eq(tenant))
                .filter(enrolments::id.eq_any(chunk)),
        )
        .set(enrolments::assignment_id.eq(assignment_id))
        .execute(conn)?;
    }
    Ok(())
}

/// Records the first progress on an enrolment; false when it had started already.
pub fn mark_started(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
    at: NaiveDateTime,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::id.eq(id))
            .filter(enrolments::started_at.is_null()),
    )
    .set((
        enrolments::started_at.eq(Some(at)),
        enrolments::revision.eq(enrolments::revision + 1),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// Moves a not-withdrawn enrolment to a newer pathway version; false when it is withdrawn or
/// already there (a repeated event changes nothing).
pub fn move_to_version(
    conn: &mut DbConnection,
    tenant: &TenantId,
    id: &EnrolmentId,
    version: i32,
    change: &Change,
) -> Result<bool, AppError> {
    let changed = diesel::update(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::id.eq(id))
            .filter(enrolments::status.ne("WITHDRAWN"))
            .filter(enrolments::pathway_version.lt(version)),
    )
    .set((
        enrolments::pathway_version.eq(version),
        enrolments::revision.eq(enrolments::revision + 1),
        enrolments::updated_at.eq(change.at),
        enrolments::updated_by.eq(change.actor),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// The current (not withdrawn) enrolments an assignment made, by learner.
pub fn current_of_assignment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assignment_id: &str,
) -> Result<Vec<Enrolment>, AppError> {
    rows_into(
        enrolments::table
            .filter(enrolments::tenant_id.eq(tenant))
            .filter(enrolments::assignment_id.eq(assignment_id))
            .filter(enrolments::status.ne(Status::Withdrawn.as_str()))
            .order(enrolments::learner.asc())
            .select(EnrolmentRow::as_select())
            .load(conn)?,
    )
}

/// The current enrolments an assignment made: (not started, started) ids.
pub fn of_assignment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assignment_id: &str,
) -> Result<(Vec<EnrolmentId>, Vec<EnrolmentId>), AppError> {
    let rows: Vec<(EnrolmentId, Option<NaiveDateTime>)> = enrolments::table
        .filter(enrolments::tenant_id.eq(tenant))
        .filter(enrolments::assignment_id.eq(assignment_id))
        .filter(enrolments::status.ne(Status::Withdrawn.as_str()))
        .select((enrolments::id, enrolments::started_at))
        .load(conn)?;
    let (started, not_started): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|(_, at)| at.is_some());
    Ok((
        not_started.into_iter().map(|(id, _)| id).collect(),
        started.into_iter().map(|(id, _)| id).collect(),
    ))
}

/// What an access check needs, in one statement: the person's status (None when the learner
/// is not in the directory) and their enrolment in the pathway that is not withdrawn.
pub fn access_facts(
    conn: &mut DbConnection,
    tenant: &TenantId,
    learner: &str,
    pathway_id: &PathwayId,
) -> Result<Option<(PersonStatus, Option<Enrolment>)>, AppError> {
    use super::schema::people;
    let row: Option<(String, Option<EnrolmentRow>)> = people::table
        .left_join(
            enrolments::table.on(enrolments::tenant_id
                .eq(people::tenant_id)
                .and(enrolments::learner.eq(people::external_id))
                .and(enrolments::pathway_id.eq(pathway_id))
                .and(enrolments::status.ne(Status::Withdrawn.as_str()))),
        )
        .filter(people::tenant_id.eq(tenant))
        .filter(people::external_id.eq(learner))
        .select((people::status, Option::<EnrolmentRow>::as_select()))
        .first(conn)
        .optional()?;
    let Some((status, enrolment)) = row else {
        return Ok(None);
    };
    let status = PersonStatus::parse(&status)
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("stored person status {status:?}")))?;
    Ok(Some((
        status,
        enrolment.map(EnrolmentRow::into_enrolment).transpose()?,
    )))
}
