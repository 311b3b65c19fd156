//! The pool's connections: how they are opened, checked, retired and held.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use tokio::sync::OwnedSemaphorePermit;

use super::{Backend, DatabaseUrl, DbConnection};
use crate::error::AppError;

/// Opens connections of the URL's backend and prepares each SQLite connection.
pub(crate) struct Manager {
    pub(super) url: DatabaseUrl,
}

/// A pooled connection, marked broken when a query on it found the database unreachable so
/// that the pool replaces it (connections are not pinged on every checkout: that would cost a
/// round trip per request).
pub(crate) struct PoolConnection {
    conn: DbConnection,
    broken: bool,
}

impl std::ops::Deref for PoolConnection {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PoolConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

pub(super) fn on_pooled<T>(
    pooled: &mut PooledConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let result = work(&mut pooled.conn);
    if matches!(result, Err(AppError::Unavailable(_))) {
        pooled.broken = true;
    }
    result
}

impl ManageConnection for Manager {
    type Connection = PoolConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConnection, r2d2::Error> {
        self.open().map(|conn| PoolConnection {
            conn,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut PoolConnection) -> Result<(), r2d2::Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PoolConnection) -> bool {
        use diesel::connection::TransactionManager;
        conn.broken
            || match &mut conn.conn {
                DbConnection::Postgres(pg) => {
                    diesel::connection::AnsiTransactionManager::is_broken_transaction_manager(pg)
                }
                DbConnection::Sqlite(sqlite) => {
                    diesel::connection::AnsiTransactionManager::is_broken_transaction_manager(
                        sqlite,
                    )
                }
            }
    }
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match self.url.backend {
            Backend::Postgres => PgConnection::establish(&self.url.target)
                .map(DbConnection::Postgres)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first, so the rest waits out short locks; NORMAL sync is
                // durable at checkpoints and safe with WAL (set once per file in `Db::connect`).
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A connection taken out of the pool for as long as it is held.
pub(crate) type PooledConnection = r2d2::PooledConnection<Manager>;

/// A pooled connection held for long (a session-level lock) with its permit.
pub(crate) struct Dedicated {
    pub(super) conn: PooledConnection,
    pub(super) _permit: OwnedSemaphorePermit,
}

impl std::ops::Deref for Dedicated {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Dedicated {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}
