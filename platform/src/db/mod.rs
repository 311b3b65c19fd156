//! diesel over PostgreSQL and SQLite behind one connection type.
//!
//! - [`DbConnection`] is a `MultiConnection`: queries written once against portable types (Text,
//!   Integer, BigInt, Bool, Timestamp) run on either backend. Ids are Text, times UTC Timestamps.
//! - The backend is chosen from the URL scheme, never by trial (trial hides the real error).
//! - diesel is blocking: [`Db::read`] and [`Db::write`] run it on tokio's blocking pool so the
//!   async workers keep serving.
//! - SQLite allows one writer; [`Db::write`] serialises writers in-process so a transaction never
//!   fails to upgrade its lock, and readers proceed in parallel under WAL.
//! - Migrations are embedded per backend and run under a lock (a PostgreSQL advisory lock), so
//!   many replicas may start at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::r2d2::Pool;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

use crate::error::AppError;

mod pool;
mod sets;

pub(crate) use pool::Dedicated;
use pool::{Manager, on_pooled};
pub use sets::{InSet, in_set, lock_unheld};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database URL split into its backend and what that backend's driver expects.
#[derive(Debug, Clone)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// For PostgreSQL the URL itself; for SQLite the file path.
    target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self {
                backend: Backend::Postgres,
                target: url.to_string(),
            })
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            anyhow::ensure!(!path.is_empty(), "a sqlite:// URL needs a file path");
            Ok(Self {
                backend: Backend::Sqlite,
                target: path.to_string(),
            })
        } else {
            anyhow::bail!(
                "database URL must start with postgres://, postgresql:// or sqlite:// (got {:?})",
                redact(url)
            )
        }
    }

    pub fn sqlite(path: &std::path::Path) -> Self {
        Self {
            backend: Backend::Sqlite,
            target: path.display().to_string(),
        }
    }

    /// The URL as configuration takes it (`postgres://…` or `sqlite://path`).
    pub fn to_config_string(&self) -> String {
        match self.backend {
            Backend::Postgres => self.target.clone(),
            Backend::Sqlite => format!("sqlite://{}", self.target),
        }
    }
}

/// A URL with any password removed, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// `work` in one READ ONLY, REPEATABLE READ transaction on PostgreSQL, opened by a single
/// statement: diesel's `transaction` sends `BEGIN` and the isolation would take a `SET
/// TRANSACTION` after it — one round trip more on every read (issue 22).
fn read_only_snapshot<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if let DbConnection::Postgres(pg) = conn {
        AnsiTransactionManager::begin_transaction_sql(
            pg,
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        )?;
    }
    // Ended through the connection's own manager, which hands it to PostgreSQL's — the one
    // that began it — so diesel's transaction depth stays right.
    type Manager = <DbConnection as diesel::Connection>::TransactionManager;
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = Manager::rollback_transaction(conn) {
                tracing::warn!(%rollback, "a read's transaction did not roll back");
            }
            Err(error)
        }
    }
}

/// Defines `pub fn migrations() -> Migrations` over the calling crate's `migrations/postgres`
/// and `migrations/sqlite` folders (embedded at compile time).
#[macro_export]
macro_rules! embedded_migrations {
    () => {
        /// This crate's migrations, for both backends.
        pub fn migrations() -> $crate::db::Migrations {
            const POSTGRES: diesel_migrations::EmbeddedMigrations =
                diesel_migrations::embed_migrations!("migrations/postgres");
            const SQLITE: diesel_migrations::EmbeddedMigrations =
                diesel_migrations::embed_migrations!("migrations/sqlite");
            $crate::db::Migrations {
                postgres: POSTGRES,
                sqlite: SQLITE,
            }
        }
    };
}

/// Embedded migrations for both backends, with identical names.
pub struct Migrations {
    pub postgres: EmbeddedMigrations,
    pub sqlite: EmbeddedMigrations,
}

/// A pool of connections to one service's database.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
    sqlite_writer: Arc<Mutex<()>>,
    /// One permit per pooled connection, taken before a call leaves the async workers: at
    /// most as many calls wait for the database as it has connections, and the rest wait here,
    /// as tasks, instead of as blocking threads parked in the pool (each hand-off between
    /// parked threads cost two context switches, half of a point read's CPU; issue 22).
    permits: Arc<Semaphore>,
    /// The pool as the metrics registry sees it, weakly: gone when the last Db clone is.
    metrics_anchor: Arc<Pool<Manager>>,
}

impl Db {
    /// Opens a pool. Fails when the database cannot be reached within a few seconds.
    pub fn connect(url: DatabaseUrl, pool_size: u32) -> anyhow::Result<Self> {
        let backend = url.backend;
        if backend == Backend::Sqlite
            && let Some(parent) = std::path::Path::new(&url.target).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating directory {}", parent.display()))?;
        }
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the writer. It is a property of the file, so it is
            // set once here rather than racing from every new pooled connection.
            let mut conn = SqliteConnection::establish(&url.target)
                .with_context(|| format!("opening SQLite database {}", url.target))?;
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
                .context("enabling WAL")?;
        }
        let pool_size = pool_size.max(1);
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(false)
            .build(Manager { url })
            .context("connecting to the database")?;
        Ok(Self {
            metrics_anchor: Arc::new(pool.clone()),
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
            permits: Arc::new(Semaphore::new(pool_size as usize)),
        })
    }

    /// Opens a service's database and, with `migrate`, applies its pending migrations (each
    /// set under the service's migration lock), logging how many were applied. Without
    /// `migrate` it only checks that none is pending (no DDL, so a role without schema rights
    /// will do) and refuses to start, naming `lms migrate`, when one is.
    pub async fn open(
        url: DatabaseUrl,
        pool_size: u32,
        service: &'static str,
        migrations: Vec<Migrations>,
        migrate: bool,
    ) -> anyhow::Result<Self> {
        let db = Self::connect(url, pool_size)?;
        // Labelled by component (`pathway`), as dashboards and alerts select them. The
        // registry holds the pool weakly: a dropped Db closes its connections.
        let pool = Arc::downgrade(&db.metrics_anchor);
        crate::telemetry::metrics().register_pool(
            service.trim_end_matches("-service"),
            Arc::new(move || {
                let pool = pool.upgrade()?;
                let state = pool.state();
                Some((state.connections, state.idle_connections, pool.max_size()))
            }),
        );
        let mut applied = 0;
        for set in migrations {
            if migrate {
                applied += db.migrate(service, set).await?;
            } else {
                db.check_migrated(service, set).await?;
            }
        }
        tracing::info!(service, applied, migrate, "database ready");
        Ok(db)
    }

    /// Fails unless every migration of `migrations` has been applied, reading diesel's
    /// `__diesel_schema_migrations` with a plain SELECT (diesel's own check would create it).
    pub async fn check_migrated(
        &self,
        service: &'static str,
        migrations: Migrations,
    ) -> anyhow::Result<()> {
        use diesel::RunQueryDsl;
        use diesel::migration::MigrationSource;
        #[derive(diesel::QueryableByName)]
        struct Applied {
            #[diesel(sql_type = diesel::sql_types::Text)]
            version: String,
        }
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = pool.get().context("connecting to the database")?;
            let query = "SELECT version FROM __diesel_schema_migrations";
            let embedded = |error| anyhow::anyhow!("reading the embedded migrations: {error}");
            let (wanted, applied): (Vec<String>, _) = match &mut **conn {
                DbConnection::Postgres(pg) => (
                    MigrationSource::<diesel::pg::Pg>::migrations(&migrations.postgres)
                        .map_err(embedded)?
                        .iter()
                        .map(|m| m.name().version().to_string())
                        .collect(),
                    diesel::sql_query(query).load::<Applied>(pg),
                ),
                DbConnection::Sqlite(sqlite) => (
                    MigrationSource::<diesel::sqlite::Sqlite>::migrations(&migrations.sqlite)
                        .map_err(embedded)?
                        .iter()
                        .map(|m| m.name().version().to_string())
                        .collect(),
                    diesel::sql_query(query).load::<Applied>(sqlite),
                ),
            };
            // No table yet: nothing was ever migrated.
            let applied: Vec<String> = applied
                .map(|rows| rows.into_iter().map(|row| row.version).collect())
                .unwrap_or_default();
            let missing: Vec<&String> = wanted.iter().filter(|v| !applied.contains(v)).collect();
            anyhow::ensure!(
                missing.is_empty(),
                "the database of {service} lacks {} migration(s) (first {}): run `lms migrate` \
                 with a role that may change the schema (migrate_on_start is false)",
                missing.len(),
                missing[0]
            );
            Ok(())
        })
        .await
        .context("migration check task")?
    }

    /// Whether the database answers a trivial query now (for health reporting).
    pub async fn ping(&self) -> Result<(), AppError> {
        self.read_one(|conn| {
            use diesel::connection::SimpleConnection;
            match conn {
                DbConnection::Postgres(pg) => pg.batch_execute("SELECT 1")?,
                DbConnection::Sqlite(sqlite) => sqlite.batch_execute("SELECT 1")?,
            }
            Ok(())
        })
        .await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection of its own, e.g. to hold a session-level lock; its permit is held until
    /// it is dropped.
    pub(crate) async fn dedicated(&self) -> Result<Dedicated, AppError> {
        let permit = self.permit_owned().await?;
        let pool = self.pool.clone();
        let conn = run_blocking(move || Ok(pool.get()?)).await?;
        Ok(Dedicated {
            conn,
            _permit: permit,
        })
    }

    /// Waits, as a task, for a connection to be free (see `permits`).
    async fn permit(&self) -> Result<SemaphorePermit<'_>, AppError> {
        self.permits.acquire().await.map_err(AppError::internal)
    }

    async fn permit_owned(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)
    }

    /// Runs `work` in one read-only snapshot, off the async workers, so that several reads
    /// agree with each other (a pathway and its steps, a page and its counts). PostgreSQL gives
    /// it REPEATABLE READ; a SQLite read transaction is a snapshot already.
    pub async fn read<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        self.on_connection(None, |conn| match conn {
            DbConnection::Postgres(_) => read_only_snapshot(conn, work),
            DbConnection::Sqlite(_) => conn.transaction(work),
        })
        .await
    }

    /// Runs one statement's worth of reading without a transaction around it: a single SELECT
    /// is a consistent snapshot by itself, and this saves the BEGIN/COMMIT round trips on hot
    /// paths (CheckAccess). Use [`Db::read`] whenever `work` runs more than one statement.
    pub async fn read_one<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        self.on_connection(None, work).await
    }

    /// Runs `work` in one transaction, off the async workers: it commits when `work` returns
    /// `Ok` and rolls back on `Err`.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let writer = (self.backend == Backend::Sqlite).then(|| self.sqlite_writer.clone());
        self.on_connection(writer, |conn| conn.transaction(work))
            .await
    }

    /// Runs `work` on a pooled connection on the blocking pool, once a permit says one is free
    /// (and, given `writer`, once no other SQLite writer runs).
    async fn on_connection<T, F>(
        &self,
        writer: Option<Arc<Mutex<()>>>,
        work: F,
    ) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    {
        let _permit = self.permit().await?;
        let pool = self.pool.clone();
        run_blocking(move || {
            let _serialised = writer
                .as_ref()
                .map(|lock| lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            let mut pooled = pool.get()?;
            on_pooled(&mut pooled, work)
        })
        .await
    }

    /// Applies pending migrations, holding a lock so that concurrent starts take turns.
    /// `lock_name` identifies the service (one advisory lock key per service).
    pub async fn migrate(
        &self,
        lock_name: &'static str,
        migrations: Migrations,
    ) -> anyhow::Result<usize> {
        let pool = self.pool.clone();
        let writer = self.sqlite_writer.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
            let mut conn = pool.get().context("connecting to the database")?;
            let applied = match &mut **conn {
                DbConnection::Postgres(pg) => {
                    let key = advisory_lock_key(lock_name);
                    pg.batch_execute(&format!("SELECT pg_advisory_lock({key})"))?;
                    let result = pg
                        .run_pending_migrations(migrations.postgres)
                        .map(|v| v.len());
                    pg.batch_execute(&format!("SELECT pg_advisory_unlock({key})"))?;
                    result
                }
                DbConnection::Sqlite(sqlite) => {
                    let _serialised = writer.lock().unwrap_or_else(|p| p.into_inner());
                    sqlite
                        .run_pending_migrations(migrations.sqlite)
                        .map(|v| v.len())
                }
            };
            applied.map_err(|error| anyhow::anyhow!("migrating {lock_name}: {error}"))
        })
        .await
        .context("migration task")?
    }
}

/// Runs `statement` (a diesel statement built once) on whichever backend `conn` holds. Multi-row
/// inserts are dialect-specific in diesel, so they cannot run through the multi-connection
/// itself; this is the one place that branches for them.
#[macro_export]
macro_rules! execute_on_backend {
    ($conn:expr, $statement:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres(pg) => diesel::RunQueryDsl::execute($statement, pg),
            $crate::db::DbConnection::Sqlite(sqlite) => {
                diesel::RunQueryDsl::execute($statement, sqlite)
            }
        }
    };
}

/// Loads `query` (a diesel select written once) and holds its rows until the transaction ends:
/// on PostgreSQL `FOR UPDATE SKIP LOCKED` — rows another transaction holds are left out, not
/// waited for, so scans that several replicas run at once neither wait on nor deadlock with
/// one another, and a row changed meanwhile is not overwritten from a stale read. SQLite's
/// writers take turns, so there the query runs as it is. (A selection is typed by the backend
/// it is loaded on, which is why this expands the query once per backend.)
#[macro_export]
macro_rules! load_skipping_locked {
    ($conn:expr, $query:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres(pg) => diesel::RunQueryDsl::load(
                diesel::QueryDsl::skip_locked(diesel::QueryDsl::for_update($query)),
                pg,
            ),
            $crate::db::DbConnection::Sqlite(sqlite) => diesel::RunQueryDsl::load($query, sqlite),
        }
    };
}

/// Escapes LIKE wildcards in user text, for `LIKE ... ESCAPE '\'`.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

diesel::define_sql_function! {
    /// SQL `lower()`, the same on both backends for ASCII.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

async fn run_blocking<T, F>(work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
{
    // Carry the caller's span into the blocking pool so database time shows in its trace.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(AppError::internal)?
}

/// Plans the rest of the current transaction's statements for their actual values and the
/// tables' current sizes (PostgreSQL's `plan_cache_mode = force_custom_plan`, until the
/// transaction ends; nothing on SQLite). For batch work on tables that fill from empty in
/// bursts — the outbox, the inbox: a connection keeps a prepared statement's generic plan, and
/// one made while the outbox was empty was a nested loop of sequential scans once 100 000
/// events had arrived (316 s for one batch of 500; issue 22). Planning costs microseconds
/// against a batch of hundreds of rows.
pub fn plan_for_actual_sizes(conn: &mut DbConnection) -> Result<(), AppError> {
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
    }
    Ok(())
}

/// Lets the current transaction's commit return before its WAL reaches the disk (PostgreSQL's
/// `synchronous_commit = off`, until the transaction ends; nothing on SQLite). Only for
/// bookkeeping that a crash may undo without harm: the outbox's queuing and its record of
/// what was delivered. Undone, an event is queued or delivered again, and consumers apply each
/// event once (`processed_events`). Never for a consumer's own effects, nor for a change a
/// caller was told about: those must survive the crash.
pub fn commit_without_waiting_for_disk(conn: &mut DbConnection) -> Result<(), AppError> {
    if let DbConnection::Postgres(pg) = conn {
        pg.batch_execute("SET LOCAL synchronous_commit = off")?;
    }
    Ok(())
}

/// Serialises, until the end of the current transaction, every transaction that takes the lock
/// of the same `name` (a PostgreSQL transaction-level advisory lock). On SQLite writers are
/// serialised already, so this does nothing there.
pub fn lock_until_commit(conn: &mut DbConnection, name: &str) -> Result<(), AppError> {
    if let DbConnection::Postgres(pg) = conn {
        let key = advisory_lock_key(name);
        pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({key})"))?;
    }
    Ok(())
}

/// A stable 63-bit key per name for `pg_advisory_lock`.
pub fn advisory_lock_key(name: &str) -> i64 {
    (crate::fingerprint::fingerprint(name.bytes()) >> 1) as i64
}

#[cfg(test)]
mod tests;
