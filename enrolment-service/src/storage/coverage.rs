//! Membership → enrolments, set-based: who an assignment covers and has no enrolment yet
//! (joiners), whose enrolment outlived their membership (leavers) or came back into it
//! (returners), and the facts an access check needs.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::{EnrolmentId, PersonId, TenantId};

use super::enrolments::corrupt;
use super::sql::{self, Sql};
use crate::domain::assignment::{LeavePolicy, Requirement};
use crate::domain::class::ClassRole;
use crate::domain::enrolment::{Source, Status, Withdrawal};
use crate::domain::person::PersonStatus;

/// Which people a reconciliation looks at.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Everyone in the tenant (after a bulk change, and in the sweep).
    Tenant,
    /// These people (after a change to them or to their memberships).
    People(&'a [PersonId]),
    /// The targets of one assignment (when it is created).
    Assignment(&'a str),
}

/// `(assignment a covers person p)`: p is active and in a's audience, or a student of a's class.
fn push_covered(s: &mut Sql) {
    s.push(&format!(
        "(p.status = '{active}' AND ((a.audience_id <> '' AND EXISTS (SELECT 1 FROM \
         audience_members m WHERE m.audience_id = a.audience_id AND m.person_id = p.id)) OR \
         (a.class_id <> '' AND EXISTS (SELECT 1 FROM class_members c WHERE c.class_id = \
         a.class_id AND c.person_id = p.id AND c.role = '{student}'))))",
        active = PersonStatus::Active.as_str(),
        student = ClassRole::Student.as_str(),
    ));
}

/// A person an assignment covers who has no current enrolment in its pathway.
#[derive(QueryableByName, Debug)]
pub struct Joiner {
    #[diesel(sql_type = Text)]
    pub assignment_id: String,
    #[diesel(sql_type = Text)]
    pub person_id: PersonId,
    #[diesel(sql_type = Text)]
    pub external_id: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Date>)]
    pub hire_date: Option<NaiveDate>,
}

/// Everyone in scope whom a live, enrolling assignment covers and who has no current
/// enrolment in its pathway — unless an admin withdrew them from that very assignment.
/// Ordered by assignment (oldest first), so the oldest assignment enrols a person covered twice.
pub fn joiners(
    conn: &mut DbConnection,
    tenant: &TenantId,
    scope: Scope,
) -> Result<Vec<Joiner>, AppError> {
    sql::load(conn, |s| {
        for (arm, join) in [
            (
                0,
                "JOIN audience_members m ON m.audience_id = a.audience_id \
                 JOIN people p ON p.id = m.person_id",
            ),
            (
                1,
                "JOIN class_members m ON m.class_id = a.class_id AND m.role = 'STUDENT' \
                 JOIN people p ON p.id = m.person_id",
            ),
        ] {
            if arm == 1 {
                s.push(" UNION ALL ");
            }
            s.push(
                "SELECT a.id AS assignment_id, p.id AS person_id, p.external_id, p.hire_date \
                 FROM assignments a ",
            )
            .push(join)
            .push(" WHERE a.tenant_id = ")
            .push_text(tenant)
            .push(&format!(
                " AND a.removed_at IS NULL AND a.requirement <> '{open}' AND p.status = \
                 '{active}'",
                open = Requirement::Open.as_str(),
                active = PersonStatus::Active.as_str(),
            ));
            push_scope(s, scope, "p.id", "a.id");
            s.push(&format!(
                " AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.tenant_id = a.tenant_id \
                 AND e.learner = p.external_id AND e.pathway_id = a.pathway_id AND e.status <> \
                 '{withdrawn}') AND NOT EXISTS (SELECT 1 FROM enrolments x WHERE x.tenant_id = \
                 a.tenant_id AND x.person_id = p.id AND x.pathway_id = a.pathway_id AND \
                 x.assignment_id = a.id AND x.withdrawal = '{by_admin}')",
                withdrawn = Status::Withdrawn.as_str(),
                by_admin = Withdrawal::ByAdmin.as_str(),
            ));
        }
        s.push(" ORDER BY 1, 2");
    })
}

fn push_scope(s: &mut Sql, scope: Scope, person_column: &str, assignment_column: &str) {
    match scope {
        Scope::Tenant => {}
        Scope::People([]) => {
            s.push(" AND 1 = 0");
        }
        Scope::People(ids) => {
            s.push(&format!(" AND {person_column} IN ("))
                .push_text_list(ids)
                .push(")");
        }
        Scope::Assignment(id) => {
            s.push(&format!(" AND {assignment_column} = "))
                .push_text(id);
        }
    }
}

/// An assigned enrolment whose person is no longer covered by its assignment.
#[derive(QueryableByName, Debug)]
pub struct Leaver {
    #[diesel(sql_type = Text)]
    pub id: EnrolmentId,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamp>)]
    pub started_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Text)]
    pub leave_policy: String,
    /// Another live assignment of the same pathway that covers the person, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub other_assignment: Option<String>,
}

impl Leaver {
    pub fn leave_policy(&self) -> Result<LeavePolicy, AppError> {
        LeavePolicy::parse(&self.leave_policy).ok_or_else(|| corrupt("leave policy", &self.id))
    }
}

/// Current assigned enrolments in scope not yet marked lapsed whose person left the target.
pub fn leavers(
    conn: &mut DbConnection,
    tenant: &TenantId,
    scope: Scope,
) -> Result<Vec<Leaver>, AppError> {
    sql::load(conn, |s| {
        s.push(&format!(
            "SELECT e.id, e.status, e.started_at, o.leave_policy, (SELECT a.id FROM assignments a \
             WHERE a.tenant_id = e.tenant_id AND a.pathway_id = e.pathway_id AND a.removed_at IS \
             NULL AND a.requirement <> '{open}' AND a.id <> e.assignment_id AND ",
            open = Requirement::Open.as_str()
        ));
        push_covered(s);
        s.push(
            " ORDER BY a.id LIMIT 1) AS other_assignment FROM enrolments e \
             JOIN assignments o ON o.id = e.assignment_id JOIN people p ON p.id = e.person_id \
             WHERE e.tenant_id = ",
        )
        .push_text(tenant)
        .push(&format!(
            " AND e.source = '{assignment}' AND e.status <> '{withdrawn}' AND e.lapsed_at IS \
             NULL AND o.removed_at IS NULL",
            assignment = Source::Assignment.as_str(),
            withdrawn = Status::Withdrawn.as_str(),
        ));
        push_scope(s, scope, "e.person_id", "e.assignment_id");
        // `covered` reads the assignment as `a`: wrap the enrolment's own one.
        s.push(" AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.id = o.id AND ");
        push_covered(s);
        s.push(")");
    })
}

/// A lapsed assigned enrolment whose person is covered by its assignment again.
#[derive(QueryableByName, Debug)]
pub struct Returner {
    #[diesel(sql_type = Text)]
    pub id: EnrolmentId,
    #[diesel(sql_type = Text)]
    pub status: String,
}

pub fn returners(
    conn: &mut DbConnection,
    tenant: &TenantId,
    scope: Scope,
) -> Result<Vec<Returner>, AppError> {
    sql::load(conn, |s| {
        s.push(
            "SELECT e.id, e.status FROM enrolments e JOIN assignments a ON a.id = e.assignment_id \
             JOIN people p ON p.id = e.person_id WHERE e.tenant_id = ",
        )
        .push_text(tenant)
        .push(&format!(
            " AND e.source = '{assignment}' AND e.status <> '{withdrawn}' AND e.lapsed_at IS \
             NOT NULL AND a.removed_at IS NULL AND ",
            assignment = Source::Assignment.as_str(),
            withdrawn = Status::Withdrawn.as_str(),
        ));
        push_covered(s);
        push_scope(s, scope, "e.person_id", "e.assignment_id");
    })
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Text)]
    id: String,
}

/// A live assignment of `pathway_id` (any requirement) that covers the person: what makes a
/// pathway open to them for self-enrolment.
pub fn covering_assignment(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person_id: &str,
    pathway_id: &str,
) -> Result<Option<String>, AppError> {
    let found: Vec<Found> = sql::load(conn, |s| {
        s.push("SELECT a.id FROM assignments a JOIN people p ON p.id = ")
            .push_text(person_id)
            .push(" WHERE a.tenant_id = ")
            .push_text(tenant)
            .push(" AND p.tenant_id = a.tenant_id AND a.pathway_id = ")
            .push_text(pathway_id)
            .push(" AND a.removed_at IS NULL AND ");
        push_covered(s);
        s.push(" ORDER BY a.id LIMIT 1");
    })?;
    Ok(found.into_iter().next().map(|f| f.id))
}

/// A pathway offered to a person for self-enrolment.
#[derive(QueryableByName, Debug)]
pub struct Offer {
    #[diesel(sql_type = Text)]
    pub pathway_id: String,
    #[diesel(sql_type = Text)]
    pub assignment_id: String,
    #[diesel(sql_type = Text)]
    pub requirement: String,
}

/// Every pathway a live assignment covering the person offers, where the person has no
/// current enrolment: the oldest such assignment per pathway, by pathway.
pub fn offers(
    conn: &mut DbConnection,
    tenant: &TenantId,
    person_id: &str,
) -> Result<Vec<Offer>, AppError> {
    let mut offers: Vec<Offer> = sql::load(conn, |s| {
        s.push(
            "SELECT a.pathway_id AS pathway_id, a.id AS assignment_id, a.requirement AS \
             requirement FROM assignments a JOIN people p ON p.id = ",
        )
        .push_text(person_id)
        .push(" WHERE a.tenant_id = ")
        .push_text(tenant)
        .push(" AND p.tenant_id = a.tenant_id AND a.removed_at IS NULL AND ");
        push_covered(s);
        s.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.tenant_id = a.tenant_id AND \
             e.learner = p.external_id AND e.pathway_id = a.pathway_id AND e.status <> '{}') \
             ORDER BY a.pathway_id, a.id",
            Status::Withdrawn.as_str()
        ));
    })?;
    offers.dedup_by(|later, first| later.pathway_id == first.pathway_id);
    Ok(offers)
}

/// An enrolment an audience change would touch: whose, in which pathway, by which assignment.
#[derive(QueryableByName, Debug, Clone)]
pub struct Effect {
    #[diesel(sql_type = Text)]
    pub learner: String,
    #[diesel(sql_type = Text)]
    pub pathway_id: String,
    #[diesel(sql_type = Text)]
    pub assignment_id: String,
    #[diesel(sql_type = Text)]
    pub leave_policy: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub started: bool,
}

/// The enrolments the audience's live enrolling assignments would create for `joiners` (the
/// same rule as [`joiners`]), read a thousand people at a time.
pub fn created_for_joiners(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    joiners: &[PersonId],
) -> Result<Vec<Effect>, AppError> {
    let mut effects = Vec::new();
    for chunk in joiners.chunks(1_000) {
        effects.extend(sql::load::<Effect>(conn, |s| {
            s.push(
                "SELECT p.external_id AS learner, a.pathway_id, a.id AS assignment_id, \
                 a.leave_policy, 0 = 1 AS started FROM assignments a JOIN people p ON \
                 p.tenant_id = a.tenant_id WHERE a.tenant_id = ",
            )
            .push_text(tenant)
            .push(" AND a.audience_id = ")
            .push_text(audience_id)
            .push(&format!(
                " AND a.removed_at IS NULL AND a.requirement <> '{open}' AND p.status = \
                 '{active}' AND p.id IN (",
                open = Requirement::Open.as_str(),
                active = PersonStatus::Active.as_str(),
            ))
            .push_text_list(chunk)
            .push(&format!(
                ") AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.tenant_id = a.tenant_id \
                 AND e.learner = p.external_id AND e.pathway_id = a.pathway_id AND e.status <> \
                 '{withdrawn}') AND NOT EXISTS (SELECT 1 FROM enrolments x WHERE x.tenant_id = \
                 a.tenant_id AND x.person_id = p.id AND x.assignment_id = a.id AND \
                 x.withdrawal = '{by_admin}') ORDER BY 1, 2",
                withdrawn = Status::Withdrawn.as_str(),
                by_admin = Withdrawal::ByAdmin.as_str(),
            ));
        })?);
    }
    Ok(effects)
}

/// The active enrolments the audience's live assignments made for `leavers`, with each
/// assignment's leave policy and whether the enrolment has started.
pub fn held_by_leavers(
    conn: &mut DbConnection,
    tenant: &TenantId,
    audience_id: &str,
    leavers: &[PersonId],
) -> Result<Vec<Effect>, AppError> {
    let mut effects = Vec::new();
    for chunk in leavers.chunks(1_000) {
        effects.extend(sql::load::<Effect>(conn, |s| {
            s.push(
                "SELECT p.external_id AS learner, e.pathway_id, e.assignment_id, \
                 a.leave_policy, e.started_at IS NOT NULL AS started FROM enrolments e JOIN \
                 assignments a ON a.id = e.assignment_id JOIN people p ON p.id = e.person_id \
                 WHERE e.tenant_id = ",
            )
            .push_text(tenant)
            .push(" AND a.audience_id = ")
            .push_text(audience_id)
            .push(&format!(
                " AND a.removed_at IS NULL AND e.status = '{active}' AND e.person_id IN (",
                active = Status::Active.as_str(),
            ))
            .push_text_list(chunk)
            .push(") ORDER BY 1, 2");
        })?);
    }
    Ok(effects)
}

#[derive(QueryableByName)]
struct Handover {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Nullable<Text>)]
    other_assignment: Option<String>,
}

/// The current enrolments of a (removed) assignment that another live, enrolling assignment of
/// the same pathway covers: (enrolment id, that assignment's id).
pub fn handover(
    conn: &mut DbConnection,
    tenant: &TenantId,
    assignment_id: &str,
) -> Result<Vec<(EnrolmentId, String)>, AppError> {
    let rows: Vec<Handover> = sql::load(conn, |s| {
        s.push(&format!(
            "SELECT e.id, (SELECT a.id FROM assignments a WHERE a.tenant_id = e.tenant_id AND \
             a.pathway_id = e.pathway_id AND a.removed_at IS NULL AND a.requirement <> '{open}' \
             AND a.id <> e.assignment_id AND ",
            open = Requirement::Open.as_str()
        ));
        push_covered(s);
        s.push(" ORDER BY a.id LIMIT 1) AS other_assignment FROM enrolments e JOIN people p ON p.id = e.person_id WHERE e.tenant_id = ")
            .push_text(tenant)
            .push(" AND e.assignment_id = ")
            .push_text(assignment_id)
            .push(&format!(
                " AND e.status <> '{withdrawn}'",
                withdrawn = Status::Withdrawn.as_str()
            ));
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.id.into(), r.other_assignment?)))
        .collect())
}
