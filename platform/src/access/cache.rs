//! The decision point's cache: an answer is never served older than its lifetime, and once
//! three quarters of the lifetime have passed, the next caller is served the answer it has
//! while it is asked again in the background — so an answer in use never makes a caller wait
//! for the directory, and one not in use is simply asked again when next needed.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use crate::error::{AppError, AppResult};

struct Fresh<V> {
    value: Arc<V>,
    fetched: Instant,
    /// Set by the first caller that starts this entry's refresh (one refresh per entry).
    refreshing: Arc<AtomicBool>,
}

// By hand: the value is shared, so `V` need not be `Clone`.
impl<V> Clone for Fresh<V> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            fetched: self.fetched,
            refreshing: self.refreshing.clone(),
        }
    }
}

impl<V> Fresh<V> {
    fn new(value: V) -> Self {
        Self {
            value: Arc::new(value),
            fetched: Instant::now(),
            refreshing: Arc::new(AtomicBool::new(false)),
        }
    }
}

pub(super) struct FreshCache<K, V> {
    entries: moka::future::Cache<K, Fresh<V>>,
    lifetime: Duration,
    /// Moved on by every `forget`: a refresh that began before it must not put back what was
    /// forgotten.
    generation: Arc<AtomicU64>,
}

impl<K, V> Clone for FreshCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            lifetime: self.lifetime,
            generation: self.generation.clone(),
        }
    }
}

impl<K, V> FreshCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    pub(super) fn new(capacity: u64, lifetime: Duration) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(lifetime)
                .build(),
            lifetime,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The answer for `key`: cached, or `load`ed (concurrent callers of a missing key share
    /// one load).
    pub(super) async fn get(
        &self,
        key: K,
        load: impl Fn() -> BoxFuture<'static, AppResult<V>>,
    ) -> AppResult<Arc<V>> {
        if let Some(entry) = self.entries.get(&key).await {
            if entry.fetched.elapsed() >= self.lifetime * 3 / 4
                && !entry.refreshing.swap(true, Ordering::AcqRel)
            {
                self.refresh(key, load());
            }
            return Ok(entry.value);
        }
        let started = self.generation.load(Ordering::Acquire);
        let loaded = self
            .entries
            .try_get_with(key.clone(), async move { load().await.map(Fresh::new) })
            .await
            .map(|fresh| fresh.value)
            .map_err(unshared);
        if self.generation.load(Ordering::Acquire) != started {
            // Something was forgotten while this was loading: it may be this very answer, read
            // before the change. The caller has it; the cache does not keep it.
            self.entries.invalidate(&key).await;
        }
        loaded
    }

    /// Drops `key` now; a refresh under way does not bring it back.
    pub(super) async fn forget(&self, key: &K) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate(key).await;
    }

    fn refresh(&self, key: K, loading: BoxFuture<'static, AppResult<V>>) {
        let (entries, generation) = (self.entries.clone(), self.generation.clone());
        let started = generation.load(Ordering::Acquire);
        tokio::spawn(async move {
            // A failed refresh leaves the entry to expire; the next caller then asks again.
            let Ok(value) = loading.await else { return };
            if generation.load(Ordering::Acquire) != started {
                return;
            }
            entries.insert(key.clone(), Fresh::new(value)).await;
            if generation.load(Ordering::Acquire) != started {
                // Forgotten while it was being put back.
                entries.invalidate(&key).await;
            }
        });
    }
}

/// The error of a load other callers may have waited on too.
fn unshared(error: Arc<AppError>) -> AppError {
    Arc::try_unwrap(error).unwrap_or_else(|shared| match &*shared {
        AppError::Unavailable(m) => AppError::Unavailable(m.clone()),
        AppError::DeadlineExceeded(m) => AppError::DeadlineExceeded(m.clone()),
        AppError::Cancelled(m) => AppError::Cancelled(m.clone()),
        AppError::PermissionDenied(m) => AppError::PermissionDenied(m.clone()),
        other => AppError::internal(anyhow::anyhow!("the directory's answer: {other:?}")),
    })
}
