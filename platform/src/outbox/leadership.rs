//! Which dispatcher delivers a database's outbox: on PostgreSQL the one holding a session
//! advisory lock, on SQLite (one process per file) the only one there is.

use diesel::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::db::{Db, DbConnection};
use crate::error::{AppError, AppResult};

/// Leadership won, shared by the dispatcher's tasks: each confirms it before it writes or
/// delivers, and the first to find it lost tells the others through `lost`.
pub(super) struct Leadership {
    lock: tokio::sync::Mutex<Option<LeaderLock>>,
    pub(super) lost: CancellationToken,
}

impl Leadership {
    /// Tries once to win leadership of the outbox called `name` (None: another holds it).
    pub(super) async fn acquire(
        db: &Db,
        name: &str,
        shutdown: &CancellationToken,
    ) -> AppResult<Option<Leadership>> {
        let key = crate::db::advisory_lock_key(&format!("outbox:{name}"));
        let mut conn = db.dedicated().await?;
        let lock = tokio::task::spawn_blocking(move || -> AppResult<Option<LeaderLock>> {
            match &mut *conn {
                DbConnection::Sqlite(_) => Ok(Some(LeaderLock { conn, key: None })),
                DbConnection::Postgres(pg) => {
                    #[derive(QueryableByName)]
                    struct Locked {
                        #[diesel(sql_type = diesel::sql_types::Bool)]
                        locked: bool,
                    }
                    let locked: Locked =
                        diesel::sql_query(format!("SELECT pg_try_advisory_lock({key}) AS locked"))
                            .get_result(pg)?;
                    Ok(locked.locked.then_some(LeaderLock {
                        conn,
                        key: Some(key),
                    }))
                }
            }
        })
        .await
        .map_err(AppError::internal)??;
        Ok(lock.map(|lock| Leadership {
            lock: tokio::sync::Mutex::new(Some(lock)),
            lost: shutdown.child_token(),
        }))
    }

    /// Whether leadership still holds: its session answers. Called before every batch, so a
    /// dispatcher whose lock session died never delivers beside the one that takes the lock
    /// next.
    pub(super) async fn confirm(&self) -> bool {
        if self.lost.is_cancelled() {
            return false;
        }
        let mut held = self.lock.lock().await;
        let Some(lock) = held.take() else {
            return false;
        };
        match lock.still_held().await {
            Some(lock) => {
                *held = Some(lock);
                true
            }
            None => {
                self.lost.cancel();
                false
            }
        }
    }

    /// Gives leadership up (unlocks).
    pub(super) async fn release(&self) {
        self.lost.cancel();
        if let Some(lock) = self.lock.lock().await.take() {
            // Unlocking talks to the database: off the async threads.
            let _ = tokio::task::spawn_blocking(move || drop(lock)).await;
        }
    }
}

/// Holds the connection whose session owns the advisory lock. Dropping it unlocks before the
/// connection goes back to the pool (a pooled session would otherwise keep the lock).
struct LeaderLock {
    conn: crate::db::Dedicated,
    key: Option<i64>,
}

impl LeaderLock {
    /// The lock again when its session still answers (on SQLite leadership cannot be lost).
    async fn still_held(mut self) -> Option<LeaderLock> {
        if self.key.is_none() {
            return Some(self);
        }
        tokio::task::spawn_blocking(move || {
            use diesel::connection::SimpleConnection;
            let alive = match &mut *self.conn {
                DbConnection::Postgres(pg) => pg.batch_execute("SELECT 1").is_ok(),
                DbConnection::Sqlite(_) => true,
            };
            if alive {
                Some(self)
            } else {
                // The session is gone and its lock with it: nothing to unlock on drop.
                self.key.take();
                drop(self);
                None
            }
        })
        .await
        .ok()
        .flatten()
    }
}

impl Drop for LeaderLock {
    fn drop(&mut self) {
        if let (Some(key), DbConnection::Postgres(pg)) = (self.key, &mut *self.conn) {
            use diesel::connection::SimpleConnection;
            if let Err(error) = pg.batch_execute(&format!("SELECT pg_advisory_unlock({key})")) {
                tracing::warn!(%error, "releasing outbox leadership failed");
            }
        }
    }
}
