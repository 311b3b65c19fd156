//! Raw SQL with bind parameters on both backends, for the set-based statements diesel's DSL
//! cannot express portably. Values are always bound, never spliced; placeholders are created
//! in the order they appear in the text, because SQLite's `?` are positional.

use diesel::RunQueryDsl;
use lms_platform::AppError;
use lms_platform::db::DbConnection;

use chrono::{NaiveDate, NaiveDateTime};

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
}

/// Binds every value to a boxed raw query of one backend.
macro_rules! bound {
    ($backend:ty, $sql:expr, $binds:expr) => {{
        let mut query = diesel::sql_query($sql).into_boxed::<$backend>();
        for bind in $binds {
            query = match bind {
                $crate::storage::sql::Bind::Text(text) => {
                    query.bind::<diesel::sql_types::Text, _>(text)
                }
                $crate::storage::sql::Bind::Date(date) => {
                    query.bind::<diesel::sql_types::Date, _>(date)
                }
                $crate::storage::sql::Bind::Timestamp(at) => {
                    query.bind::<diesel::sql_types::Timestamp, _>(at)
                }
            };
        }
        query
    }};
}
pub(crate) use bound;

pub fn dollar(n: usize) -> String {
    format!("${n}")
}

pub fn question(_: usize) -> String {
    "?".to_string()
}

/// A statement being written: its text and its binds.
pub struct Sql {
    text: String,
    binds: Vec<Bind>,
    placeholder: fn(usize) -> String,
}

impl Sql {
    fn new(placeholder: fn(usize) -> String) -> Self {
        Sql {
            text: String::new(),
            binds: Vec::new(),
            placeholder,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Binds a value and appends its placeholder.
    pub fn push_bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        let placeholder = (self.placeholder)(self.binds.len());
        self.text.push_str(&placeholder);
        self
    }

    pub fn push_text(&mut self, value: &str) -> &mut Self {
        self.push_bind(Bind::Text(value.to_string()))
    }

    /// `p1, p2, ...` for a list of texts (callers skip empty lists).
    pub fn push_text_list(&mut self, values: &[impl AsRef<str>]) -> &mut Self {
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_text(value.as_ref());
        }
        self
    }
}

/// Runs the query `write` builds and loads its rows.
pub fn load<T>(conn: &mut DbConnection, write: impl Fn(&mut Sql)) -> Result<Vec<T>, AppError>
where
    T: diesel::QueryableByName<diesel::pg::Pg>
        + diesel::QueryableByName<diesel::sqlite::Sqlite>
        + 'static,
{
    Ok(match conn {
        DbConnection::Postgres(pg) => {
            let mut sql = Sql::new(dollar);
            write(&mut sql);
            bound!(diesel::pg::Pg, sql.text, sql.binds).load(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let mut sql = Sql::new(question);
            write(&mut sql);
            bound!(diesel::sqlite::Sqlite, sql.text, sql.binds).load(sqlite)?
        }
    })
}

/// Runs the statement `write` builds; returns the rows it touched.
pub fn execute(conn: &mut DbConnection, write: impl Fn(&mut Sql)) -> Result<usize, AppError> {
    Ok(match conn {
        DbConnection::Postgres(pg) => {
            let mut sql = Sql::new(dollar);
            write(&mut sql);
            bound!(diesel::pg::Pg, sql.text, sql.binds).execute(pg)?
        }
        DbConnection::Sqlite(sqlite) => {
            let mut sql = Sql::new(question);
            write(&mut sql);
            bound!(diesel::sqlite::Sqlite, sql.text, sql.binds).execute(sqlite)?
        }
    })
}
