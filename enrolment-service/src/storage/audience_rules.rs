//! Audience rules as SQL: a rule becomes a condition with bind parameters (never spliced
//! values) that agrees with `Rule::matches`: texts compare lower-cased and trimmed (stored
//! values are trimmed on the way in), and an empty text column counts as "no value".

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use lms_platform::AppError;
use lms_platform::db::DbConnection;
use lms_platform::ids::TenantId;

use super::sql::{Bind, bound, dollar, question};
use crate::domain::person::{PersonRef, PersonStatus};
use crate::domain::rules::{Attribute, DateOp, Rule};

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
    fn active_matching(&mut self, tenant: &TenantId, rule: &Rule, today: NaiveDate) -> String {
        let tenant = self.bind(Bind::Text(tenant.to_string()));
        let active = self.bind(Bind::Text(PersonStatus::Active.as_str().to_string()));
        let condition = self.push(rule, today);
        format!("p.tenant_id = {tenant} AND p.status = {active} AND {condition}")
    }
}

/// The query selecting the tenant's active people that match `rule` on `today`.
fn matching_query(
    tenant: &TenantId,
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
    tenant: &TenantId,
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
    // Members already in are skipped by the primary key, not by an anti-join against the
    // table being written: PostgreSQL planned that join, on an audience still empty, as a scan
    // of audience_members per person — and each scan read the rows this very statement had
    // inserted, so an audience of 100 000 took 70 s (issue 22).
    add.sql = format!(
        "INSERT INTO audience_members (tenant_id, audience_id, person_id, added_at) \
         SELECT {t}, {a}, p.id, {at} FROM people p WHERE {matching} \
         ON CONFLICT (audience_id, person_id) DO NOTHING"
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
    tenant: &TenantId,
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
        .map(|r| (r.id.into(), r.external_id, r.display_name))
        .collect())
}

/// Brings a dynamic audience in line with its rule in two set-based statements; returns
/// (joined, left).
pub fn refresh(
    conn: &mut DbConnection,
    tenant: &TenantId,
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
        let (sql, _) = matching_query(
            &lms_platform::ids::TenantId::parse("acme").unwrap(),
            &rule,
            today,
            |n| format!("${n}"),
        );
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
        let (sql, binds) = matching_query(
            &lms_platform::ids::TenantId::parse("acme").unwrap(),
            &rule,
            today,
            |n| format!("${n}"),
        );
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
