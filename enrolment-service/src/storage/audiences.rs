//! Audience rows, their members, and audience rules compiled to SQL.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::resource::Audit;

use super::schema::{audience_members, audiences, people};
use super::sql::{Bind, bound, dollar, question};
use crate::domain::audience::{Audience, AudienceKind};
use crate::domain::person::{PersonRef, PersonStatus};
use crate::domain::rules::{Attribute, DateOp, Rule};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audiences)]
struct AudienceRow {
    id: String,
    tenant_id: String,
    name: String,
    name_key: String,
    description: String,
    kind: String,
    rule: String,
    revision: i64,
    created_at: NaiveDateTime,
    created_by: String,
    updated_at: NaiveDateTime,
    updated_by: String,
}

impl AudienceRow {
    fn into_audience(self) -> Result<Audience, AppError> {
        Ok(Audience {
            kind: AudienceKind::parse(&self.kind).ok_or_else(|| {
                AppError::internal(anyhow::anyhow!("stored audience kind {:?}", self.kind))
            })?,
            id: self.id,
            name: self.name,
            description: self.description,
            rule: self.rule,
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

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn name_taken(name: &str) -> AppError {
    AppError::AlreadyExists(format!("an audience is already named {name:?}"))
}

pub fn insert(conn: &mut DbConnection, tenant: &str, a: &Audience) -> Result<(), AppError> {
    diesel::insert_into(audiences::table)
        .values(AudienceRow {
            id: a.id.clone(),
            tenant_id: tenant.to_string(),
            name: a.name.clone(),
            name_key: name_key(&a.name),
            description: a.description.clone(),
            kind: a.kind.as_str().to_string(),
            rule: a.rule.clone(),
            revision: a.revision,
            created_at: a.audit.created_at,
            created_by: a.audit.created_by.clone(),
            updated_at: a.audit.updated_at,
            updated_by: a.audit.updated_by.clone(),
        })
        .execute(conn)
        .map_err(|e| match AppError::from(e) {
            AppError::AlreadyExists(_) => name_taken(&a.name),
            other => other,
        })?;
    Ok(())
}

pub fn get(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<Audience, AppError> {
    audiences::table
        .filter(audiences::tenant_id.eq(tenant))
        .filter(audiences::id.eq(id))
        .select(AudienceRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("audience {id}")))?
        .into_audience()
}

/// Audiences ordered by name, after the name key `after`.
pub fn list(
    conn: &mut DbConnection,
    tenant: &str,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Audience>, AppError> {
    let mut query = audiences::table
        .filter(audiences::tenant_id.eq(tenant))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(audiences::name_key.gt(after));
    }
    query
        .order(audiences::name_key.asc())
        .limit(limit)
        .select(AudienceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AudienceRow::into_audience)
        .collect()
}

/// Tenants that have at least one dynamic audience (for the reconciliation sweep).
pub fn tenants_with_dynamic_audiences(conn: &mut DbConnection) -> Result<Vec<String>, AppError> {
    Ok(audiences::table
        .filter(audiences::kind.eq(AudienceKind::Dynamic.as_str()))
        .select(audiences::tenant_id)
        .distinct()
        .load(conn)?)
}

/// Every dynamic audience of the tenant.
pub fn dynamic(conn: &mut DbConnection, tenant: &str) -> Result<Vec<Audience>, AppError> {
    audiences::table
        .filter(audiences::tenant_id.eq(tenant))
        .filter(audiences::kind.eq(AudienceKind::Dynamic.as_str()))
        .select(AudienceRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AudienceRow::into_audience)
        .collect()
}

pub fn update(
    conn: &mut DbConnection,
    tenant: &str,
    a: &Audience,
    expected_revision: i64,
) -> Result<(), AppError> {
    let changed = diesel::update(
        audiences::table
            .filter(audiences::tenant_id.eq(tenant))
            .filter(audiences::id.eq(&a.id))
            .filter(audiences::revision.eq(expected_revision)),
    )
    .set((
        audiences::name.eq(&a.name),
        audiences::name_key.eq(name_key(&a.name)),
        audiences::description.eq(&a.description),
        audiences::rule.eq(&a.rule),
        audiences::revision.eq(a.revision),
        audiences::updated_at.eq(a.audit.updated_at),
        audiences::updated_by.eq(&a.audit.updated_by),
    ))
    .execute(conn)
    .map_err(|e| match AppError::from(e) {
        AppError::AlreadyExists(_) => name_taken(&a.name),
        other => other,
    })?;
    if changed == 0 {
        return Err(AppError::Aborted(
            "the audience changed concurrently; re-read and retry".into(),
        ));
    }
    Ok(())
}

pub fn delete(conn: &mut DbConnection, tenant: &str, id: &str) -> Result<(), AppError> {
    diesel::delete(
        audience_members::table
            .filter(audience_members::tenant_id.eq(tenant))
            .filter(audience_members::audience_id.eq(id)),
    )
    .execute(conn)?;
    diesel::delete(
        audiences::table
            .filter(audiences::tenant_id.eq(tenant))
            .filter(audiences::id.eq(id)),
    )
    .execute(conn)?;
    Ok(())
}

/// Members per audience, for the given audiences.
pub fn member_counts(
    conn: &mut DbConnection,
    tenant: &str,
    ids: &[String],
) -> Result<HashMap<String, i64>, AppError> {
    let rows: Vec<(String, i64)> = audience_members::table
        .filter(audience_members::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq_any(ids))
        .group_by(audience_members::audience_id)
        .select((audience_members::audience_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

pub fn members(
    conn: &mut DbConnection,
    tenant: &str,
    audience_id: &str,
) -> Result<HashSet<String>, AppError> {
    Ok(audience_members::table
        .filter(audience_members::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq(audience_id))
        .select(audience_members::person_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Whether one person is a member of one audience.
pub fn is_member(
    conn: &mut DbConnection,
    tenant: &str,
    audience_id: &str,
    person_id: &str,
) -> Result<bool, AppError> {
    let found: i64 = audience_members::table
        .filter(audience_members::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq(audience_id))
        .filter(audience_members::person_id.eq(person_id))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Adds members in multi-row inserts (the caller passes only people not yet members).
pub fn add_members(
    conn: &mut DbConnection,
    tenant: &str,
    audience_id: &str,
    person_ids: &[String],
) -> Result<(), AppError> {
    let at = lms_platform::resource::now();
    for chunk in person_ids.chunks(5_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|person| {
                (
                    audience_members::tenant_id.eq(tenant),
                    audience_members::audience_id.eq(audience_id),
                    audience_members::person_id.eq(person),
                    audience_members::added_at.eq(at),
                )
            })
            .collect();
        let insert = diesel::insert_into(audience_members::table).values(rows);
        match conn {
            DbConnection::Postgres(pg) => insert.execute(pg)?,
            DbConnection::Sqlite(sqlite) => insert.execute(sqlite)?,
        };
    }
    Ok(())
}

pub fn remove_members(
    conn: &mut DbConnection,
    tenant: &str,
    audience_id: &str,
    person_ids: &[String],
) -> Result<(), AppError> {
    for chunk in person_ids.chunks(5_000) {
        diesel::delete(
            audience_members::table
                .filter(audience_members::tenant_id.eq(tenant))
                .filter(audience_members::audience_id.eq(audience_id))
                .filter(audience_members::person_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Members with their names, ordered by external id, after `after_external_id`.
pub fn list_members(
    conn: &mut DbConnection,
    tenant: &str,
    audience_id: &str,
    after_external_id: Option<String>,
    limit: i64,
) -> Result<Vec<PersonRef>, AppError> {
    let mut query = audience_members::table
        .inner_join(people::table.on(people::id.eq(audience_members::person_id)))
        .filter(audience_members::tenant_id.eq(tenant))
        // Also on people: lets PostgreSQL walk people by (tenant_id, external_id) in page order
        // instead of joining and sorting every member for each page.
        .filter(people::tenant_id.eq(tenant))
        .filter(audience_members::audience_id.eq(audience_id))
        .into_boxed();
    if let Some(after) = after_external_id {
        query = query.filter(people::external_id.gt(after));
    }
    Ok(query
        .order(people::external_id.asc())
        .limit(limit)
        .select((people::id, people::external_id, people::display_name))
        .load(conn)?)
}

/// Names of the given people, by external id.
pub fn people_refs(
    conn: &mut DbConnection,
    tenant: &str,
    ids: &[String],
) -> Result<Vec<PersonRef>, AppError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(5_000) {
        found.extend(
            people::table
                .filter(people::tenant_id.eq(tenant))
                .filter(people::id.eq_any(chunk))
                .select((people::id, people::external_id, people::display_name))
                .load::<PersonRef>(conn)?,
        );
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// Which of `ids` are people of the tenant (ids of another tenant are not).
pub fn existing_people(
    conn: &mut DbConnection,
    tenant: &str,
    ids: &[String],
) -> Result<HashSet<String>, AppError> {
    let mut found = HashSet::new();
    for chunk in ids.chunks(5_000) {
        found.extend(
            people::table
                .filter(people::tenant_id.eq(tenant))
                .filter(people::id.eq_any(chunk))
                .select(people::id)
                .load::<String>(conn)?,
        );
    }
    Ok(found)
}

// ---- rules as SQL -------------------------------------------------------------------------
//
// A rule becomes a SQL condition with bind parameters (never spliced values). It agrees with
// `Rule::matches`: texts compare lower-cased and trimmed (stored values are trimmed on the way
// in), and an empty text column counts as "no value".

/// Builds the condition text; `placeholder(n)` writes the n-th (1-based) bind marker.
struct SqlBuilder {
    sql: String,
    binds: Vec<Bind>,
    placeholder: fn(usize) -> String,
}

impl SqlBuilder {
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        (self.placeholder)(self.binds.len())
    }

    fn text_list(&mut self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.bind(Bind::Text(normalise(v))))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The test `make_test` writes, applied to the attribute's lower-cased, non-empty value.
    /// Placeholders are bound in the order they appear in the text: SQLite's `?` are
    /// positional.
    fn attribute_test(
        &mut self,
        attribute: &Attribute,
        make_test: impl FnOnce(&mut Self) -> String,
    ) -> String {
        match column(attribute) {
            Some(column) => {
                let test = make_test(self);
                format!("(p.{column} <> '' AND lower(p.{column}) {test})")
            }
            None => {
                let key = match attribute {
                    Attribute::Custom(key) => key.clone(),
                    other => other.to_string(),
                };
                let key = self.bind(Bind::Text(key));
                let test = make_test(self);
                format!(
                    "EXISTS (SELECT 1 FROM person_attributes a WHERE a.person_id = p.id \
                     AND a.key = {key} AND a.value <> '' AND lower(a.value) {test})"
                )
            }
        }
    }

    fn push(&mut self, rule: &Rule, today: NaiveDate) -> String {
        match rule {
            Rule::And(a, b) => format!("({} AND {})", self.push(a, today), self.push(b, today)),
            Rule::Or(a, b) => format!("({} OR {})", self.push(a, today), self.push(b, today)),
            Rule::Not(inner) => format!("(NOT {})", self.push(inner, today)),
            Rule::In {
                attribute,
                values,
                negated,
            } => {
                let found =
                    self.attribute_test(attribute, |b| format!("IN ({})", b.text_list(values)));
                if *negated {
                    format!("(NOT {found})")
                } else {
                    found
                }
            }
            Rule::Contains { attribute, text } => self.attribute_test(attribute, |b| {
                let pattern = b.bind(Bind::Text(lms_platform::db::like_pattern(&normalise(text))));
                format!("LIKE {pattern} ESCAPE '\\'")
            }),
            Rule::Date { op, value, .. } => {
                let Some(bound) = value.resolve(today) else {
                    return "(1 = 0)".into();
                };
                let bound = self.bind(Bind::Date(bound));
                match op {
                    DateOp::Eq => format!("(p.hire_date = {bound})"),
                    // No hire date is "not that date", as in `Rule::matches`.
                    DateOp::Ne => format!("(p.hire_date IS NULL OR p.hire_date <> {bound})"),
                    DateOp::Lt => format!("(p.hire_date < {bound})"),
                    DateOp::Le => format!("(p.hire_date <= {bound})"),
                    DateOp::Gt => format!("(p.hire_date > {bound})"),
                    DateOp::Ge => format!("(p.hire_date >= {bound})"),
                }
            }
        }
    }
}

/// The `people` column holding an attribute (custom attributes and dates have none).
fn column(attribute: &Attribute) -> Option<&'static str> {
    Some(match attribute {
        Attribute::ExternalId => "external_id",
        Attribute::Email => "email",
        Attribute::Name => "display_name",
        Attribute::Status => "status",
        Attribute::Department => "department",
        Attribute::JobTitle => "job_title",
        Attribute::Location => "location",
        Attribute::Manager => "manager_external_id",
        Attribute::HireDate | Attribute::Custom(_) => return None,
    })
}

fn normalise(text: &str) -> String {
    text.trim().to_lowercase()
}

#[derive(QueryableByName)]
struct MatchRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    external_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    display_name: String,
}

impl SqlBuilder {
    fn new(placeholder: fn(usize) -> String) -> Self {
        SqlBuilder {
            sql: String::new(),
            binds: Vec::new(),
            placeholder,
        }
    }

    /// `p.tenant_id = ? AND p.status = 'ACTIVE' AND <rule>`: the active people matching.
    fn active_matching(&mut self, tenant: &str, rule: &Rule, today: NaiveDate) -> String {
        let tenant = self.bind(Bind::Text(tenant.to_string()));
        let active = self.bind(Bind::Text(PersonStatus::Active.as_str().to_string()));
        let condition = self.push(rule, today);
        format!("p.tenant_id = {tenant} AND p.status = {active} AND {condition}")
    }
}

/// The query selecting the tenant's active people that match `rule` on `today`.
fn matching_query(
    tenant: &str,
    rule: &Rule,
    today: NaiveDate,
    placeholder: fn(usize) -> String,
) -> (String, Vec<Bind>) {
    let mut b = SqlBuilder::new(placeholder);
    let matching = b.active_matching(tenant, rule, today);
    b.sql = format!(
        "SELECT p.id, p.external_id, p.display_name FROM people p WHERE {matching} \
         ORDER BY p.external_id"
    );
    (b.sql, b.binds)
}

/// Two set-based statements that bring an audience in line with its rule: add who matches
/// and is missing, remove who is in and no longer matches (a primary-key probe per member). Placeholders are created in the
/// order they appear in the text (SQLite's `?` are positional).
fn refresh_statements(
    tenant: &str,
    audience_id: &str,
    rule: &Rule,
    today: NaiveDate,
    now: NaiveDateTime,
    placeholder: fn(usize) -> String,
) -> [(String, Vec<Bind>); 2] {
    let mut add = SqlBuilder::new(placeholder);
    let (t, a, at) = (
        add.bind(Bind::Text(tenant.to_string())),
        add.bind(Bind::Text(audience_id.to_string())),
        add.bind(Bind::Timestamp(now)),
    );
    let matching = add.active_matching(tenant, rule, today);
    let member = add.bind(Bind::Text(audience_id.to_string()));
    add.sql = format!(
        "INSERT INTO audience_members (tenant_id, audience_id, person_id, added_at) \
         SELECT {t}, {a}, p.id, {at} FROM people p WHERE {matching} AND NOT EXISTS \
         (SELECT 1 FROM audience_members m WHERE m.audience_id = {member} AND m.person_id = p.id)"
    );
    let mut remove = SqlBuilder::new(placeholder);
    let (t, a) = (
        remove.bind(Bind::Text(tenant.to_string())),
        remove.bind(Bind::Text(audience_id.to_string())),
    );
    let matching = remove.active_matching(tenant, rule, today);
    remove.sql = format!(
        "DELETE FROM audience_members WHERE tenant_id = {t} AND audience_id = {a} \
         AND NOT EXISTS (SELECT 1 FROM people p \
         WHERE p.id = audience_members.person_id AND {matching})"
    );
    [(add.sql, add.binds), (remove.sql, remove.binds)]
}

/// The active people of the tenant matching `rule` today, by external id.
pub fn matching(
    conn: &mut DbConnection,
    tenant: &str,
    rule: &Rule,
    today: NaiveDate,
) -> Result<Vec<PersonRef>, AppError> {
    let rows: Vec<MatchRow> = match conn {
        DbConnection::Postgres(pg) => {
            let (sql, binds) = matching_query(tenant, rule, today, dollar);
            bound!(diesel::pg::Pg, sql, binds).load(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let (sql, binds) = matching_query(tenant, rule, today, question);
            bound!(diesel::sqlite::Sqlite, sql, binds).load(sqlite)?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.external_id, r.display_name))
        .collect())
}

/// Brings a dynamic audience in line with its rule in two set-based statements; returns
/// (joined, left).
pub fn refresh(
    conn: &mut DbConnection,
    tenant: &str,
    audience_id: &str,
    rule: &Rule,
    today: NaiveDate,
) -> Result<(usize, usize), AppError> {
    let now = lms_platform::resource::now();
    let mut counts = [0usize; 2];
    match conn {
        DbConnection::Postgres(pg) => {
            let statements = refresh_statements(tenant, audience_id, rule, today, now, dollar);
            for (count, (sql, binds)) in counts.iter_mut().zip(statements) {
                *count = bound!(diesel::pg::Pg, sql, binds).execute(pg)?;
            }
        }
        DbConnection::Sqlite(sqlite) => {
            let statements = refresh_statements(tenant, audience_id, rule, today, now, question);
            for (count, (sql, binds)) in counts.iter_mut().zip(statements) {
                *count = bound!(diesel::sqlite::Sqlite, sql, binds).execute(sqlite)?;
            }
        }
    }
    Ok((counts[0], counts[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::parse;

    #[test]
    fn placeholders_are_bound_in_text_order() {
        // SQLite's `?` are positional: the n-th bind must be the n-th placeholder in the text.
        let rule = parse(r#"attr.band IN ("b1", "b2") AND attr.site ~ "x""#).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let (sql, _) = matching_query("acme", &rule, today, |n| format!("${n}"));
        let positions: Vec<usize> = (1..=7)
            .map(|n| {
                sql.find(&format!("${n}"))
                    .unwrap_or_else(|| panic!("${n} in {sql}"))
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{sql}");
    }

    #[test]
    fn rules_become_parameterised_sql() {
        let rule =
            parse(r#"department = "Sales" AND attr.band ~ "B%" AND hire_date >= now() - 10d"#)
                .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let (sql, binds) = matching_query("acme", &rule, today, |n| format!("${n}"));
        assert!(sql.contains("lower(p.department) IN ($3)"), "{sql}");
        assert!(sql.contains("a.key = $4"), "{sql}");
        assert!(
            !sql.contains("Sales") && !sql.contains("acme"),
            "values are bound, never spliced"
        );
        assert_eq!(binds[2], Bind::Text("sales".into()));
        assert_eq!(binds[3], Bind::Text("band".into()));
        assert_eq!(binds[4], Bind::Text("%b\\%%".into()));
        assert_eq!(
            binds[5],
            Bind::Date(NaiveDate::from_ymd_opt(2026, 11, 13).unwrap())
        );
    }
}
