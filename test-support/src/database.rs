//! A throwaway database per test: a SQLite file in a temporary directory, or a PostgreSQL
//! database on the server named by `LMS_TEST_DATABASE_URL`, dropped when the test ends.
//!
//! A component's PostgreSQL test database is cloned from a template that was migrated once
//! (`CREATE DATABASE … TEMPLATE …`), so a test pays for a copy, not for the migrations. The
//! template's name carries a digest of every PostgreSQL migration in the workspace: a changed
//! migration makes a new template, and older ones are dropped.

use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use lms_platform::db::DatabaseUrl;
use lms_platform::fingerprint::fingerprint;
use lms_topology::Component;

/// The variable naming a PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres` (the maintenance database to connect to).
pub const POSTGRES_ENV: &str = "LMS_TEST_DATABASE_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

/// The PostgreSQL server for tests, or None outside CI when none is configured (under
/// `CI=true` a missing server fails the test instead of skipping it).
pub fn postgres_server() -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "{POSTGRES_ENV} must be set in CI: PostgreSQL tests may not be skipped"
            );
            eprintln!("skipped: set {POSTGRES_ENV} to run PostgreSQL tests");
            None
        }
    }
}

impl TestDatabase {
    /// A fresh, empty database (None: PostgreSQL asked for but not configured).
    pub fn create(backend: TestBackend) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => Some(Self::sqlite()),
            TestBackend::Postgres => {
                let server = postgres_server()?;
                Some(Self::postgres(&server, None))
            }
        }
    }

    /// A database of `component`, migrated: on PostgreSQL a copy of the component's template.
    pub async fn migrated(backend: TestBackend, component: Component) -> Option<TestDatabase> {
        match backend {
            TestBackend::Sqlite => Some(Self::sqlite()),
            TestBackend::Postgres => {
                let server = postgres_server()?;
                let template = template(&server, component).await;
                Some(Self::postgres(&server, Some(&template)))
            }
        }
    }

    fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("a temporary directory");
        TestDatabase {
            url: DatabaseUrl::sqlite(&dir.path().join("test.db")),
            _dir: Some(dir),
            postgres: None,
        }
    }

    fn postgres(server: &str, template: Option<&str>) -> TestDatabase {
        let name = format!("lms_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(server)
            .unwrap_or_else(|e| panic!("connecting to {POSTGRES_ENV}: {e}"));
        let from = template
            .map(|t| format!(" TEMPLATE {t}"))
            .unwrap_or_default();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}{from}"))
            .expect("creating a test database");
        TestDatabase {
            url: DatabaseUrl::parse(&replace_database(server, &name)).expect("a PostgreSQL URL"),
            _dir: None,
            postgres: Some((server.to_string(), name)),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(server)
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Templates this process already knows exist.
static KNOWN_TEMPLATES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The name of `component`'s migrated template on `server`, creating it when missing. Many
/// test threads and processes may ask at once: an advisory lock lets one create it, and it
/// appears under its name only once complete.
async fn template(server: &str, component: Component) -> String {
    let name = format!("lms_tpl_{}_{}", component.section(), migrations_digest());
    if KNOWN_TEMPLATES.lock().unwrap().contains(&name) {
        return name;
    }
    let (server, template) = (server.to_string(), name.clone());
    let mut admin = PgConnection::establish(&server).expect("connecting to the test server");
    admin
        .batch_execute(&format!("SELECT pg_advisory_lock({})", lock_key(&template)))
        .expect("the template lock");
    if !database_exists(&mut admin, &template) {
        let building = format!("{template}_building");
        // One statement per call: several in one string run as one transaction, which
        // CREATE and DROP DATABASE refuse.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
            .expect("clearing an unfinished template");
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .expect("creating a template");
        let url = DatabaseUrl::parse(&replace_database(&server, &building)).unwrap();
        let mut settings: lms_topology::Settings =
            lms_platform::config::from_defaults(&lms_topology::defaults()).unwrap();
        settings.set_database(component, url);
        let db = lms_topology::open_database(&settings, component, false)
            .await
            .expect("migrating a template");
        drop(db);
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .expect("naming the template");
        admin
            .batch_execute(&format!("ALTER DATABASE {template} WITH IS_TEMPLATE true"))
            .expect("marking the template");
        drop_stale_templates(&mut admin, component, &template);
    }
    admin
        .batch_execute(&format!(
            "SELECT pg_advisory_unlock({})",
            lock_key(&template)
        ))
        .expect("releasing the template lock");
    KNOWN_TEMPLATES.lock().unwrap().push(name.clone());
    name
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

fn database_exists(admin: &mut PgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT datname FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .load::<Name>(admin)
        .expect("listing databases")
        .len()
        == 1
}

/// Templates of `component` made from other migrations: no longer used.
fn drop_stale_templates(admin: &mut PgConnection, component: Component, current: &str) {
    let prefix = format!("lms_tpl_{}_%", component.section());
    let stale = diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind::<diesel::sql_types::Text, _>(prefix)
        .load::<Name>(admin)
        .unwrap_or_default();
    for Name { datname } in stale {
        if datname != current && !datname.ends_with("_building") {
            let _ =
                admin.batch_execute(&format!("ALTER DATABASE {datname} WITH IS_TEMPLATE false"));
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {datname}"));
        }
    }
}

/// A digest of every PostgreSQL migration in the workspace (names and SQL).
fn migrations_digest() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    let mut folders = vec![root.clone()];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !name.starts_with('.') && name != "target" && name != "fuzz" {
                folders.push(path);
            } else if name.ends_with(".sql")
                && path.to_string_lossy().contains("migrations/postgres")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut all = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        all.extend(relative.into_bytes());
        all.extend(std::fs::read(&file).unwrap_or_default());
    }
    format!("{:012x}", fingerprint(all) >> 16)
}

fn lock_key(name: &str) -> i64 {
    lms_platform::db::advisory_lock_key(name)
}

/// The URL with its database name replaced.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{database}{query}", &base[..scheme_end + slash]),
        None => format!("{base}/{database}{query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
