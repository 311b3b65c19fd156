//! Counting the SQL statements this process sends (every one: queries, `BEGIN`, `COMMIT`,
//! `SET LOCAL`), through diesel's instrumentation, so a storage ceiling can say how many
//! statements one operation takes and be set beside pgbench transactions of as many.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

static SENT: AtomicU64 = AtomicU64::new(0);

/// Counts the statements of every connection this process opens from now on.
pub fn count() {
    fn counter() -> Option<Box<dyn Instrumentation>> {
        Some(Box::new(|event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { .. } = event {
                SENT.fetch_add(1, Ordering::Relaxed);
            }
        }))
    }
    if let Err(error) = diesel::connection::set_default_instrumentation(counter) {
        eprintln!("lms-bench: statements will not be counted: {error}");
    }
}

/// Statements sent so far.
pub fn sent() -> u64 {
    SENT.load(Ordering::Relaxed)
}

/// Statements per operation over a stretch that sent `sent` statements for `operations`.
pub fn per_operation(sent: u64, operations: u64) -> Option<f64> {
    (operations > 0).then(|| sent as f64 / operations as f64)
}
