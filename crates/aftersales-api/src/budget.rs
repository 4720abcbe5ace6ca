//! Budgets for the work one caller can make the service do beyond a
//! request's share: live event streams held open, and reports "as of" a
//! past position, each a replay of the log. Without them, one key with
//! forty replays or three hundred streams takes both cores from everyone.
//!
//! A request over a budget is answered `429` at once, with `Retry-After`,
//! and starts no work. A report replayed once is kept for the next caller
//! who asks for the same report at the same position: the past does not
//! change.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use aftersales_projections::Table;
use lru::LruCache;

use crate::error::ApiError;

/// How much of each kind of work may run at once.
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    /// Live event streams one key may hold open.
    pub streams_per_key: usize,
    /// Replays of the log for past reports, across all keys …
    pub replays: usize,
    /// … and for one key.
    pub replays_per_key: usize,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            streams_per_key: 4,
            // A replay keeps a core busy: leave the other to everyone else.
            replays: 1,
            replays_per_key: 1,
        }
    }
}

/// Counts of work under way, per key and in all.
#[derive(Debug)]
pub(crate) struct Gauges {
    budgets: Budgets,
    streams: Counter,
    replays: Counter,
    /// Reports already replayed, by name and position.
    reports: Mutex<LruCache<(String, u64), Arc<Table>>>,
}

/// Reports kept after a replay.
const CACHED_REPORTS: usize = 64;

impl Gauges {
    pub fn new(budgets: Budgets) -> Self {
        Self {
            budgets,
            streams: Counter::default(),
            replays: Counter::default(),
            reports: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHED_REPORTS).expect("non-zero"),
            )),
        }
    }

    /// A place for one more live stream of `key`, held while it runs.
    pub fn stream(&self, key: &str) -> Result<Held, ApiError> {
        self.streams
            .take(key, self.budgets.streams_per_key, usize::MAX)
            .ok_or_else(|| {
                busy(format!(
                    "this key holds {} live event streams already; close one first",
                    self.budgets.streams_per_key
                ))
            })
    }

    /// A place for one replay of `key`, held while it runs.
    pub fn replay(&self, key: &str) -> Result<Held, ApiError> {
        self.replays
            .take(key, self.budgets.replays_per_key, self.budgets.replays)
            .ok_or_else(|| {
                busy("reports as of a past position are being replayed for others; retry shortly")
            })
    }

    pub fn cached_report(&self, name: &str, position: u64) -> Option<Arc<Table>> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(name.to_owned(), position))
            .cloned()
    }

    pub fn keep_report(&self, name: &str, position: u64, table: Arc<Table>) {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put((name.to_owned(), position), table);
    }
}

fn busy(reason: impl Into<String>) -> ApiError {
    ApiError::Busy {
        reason: reason.into(),
        retry_after: 1,
    }
}

/// Work under way, per key and in all.
#[derive(Debug, Default, Clone)]
struct Counter(Arc<Mutex<(HashMap<String, usize>, usize)>>);

impl Counter {
    fn take(&self, key: &str, per_key: usize, total: usize) -> Option<Held> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (by_key, all) = &mut *counts;
        let mine = by_key.get(key).copied().unwrap_or(0);
        if mine >= per_key || *all >= total {
            return None;
        }
        by_key.insert(key.to_owned(), mine + 1);
        *all += 1;
        Some(Held {
            counter: self.clone(),
            key: key.to_owned(),
        })
    }
}

/// A place taken in a budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    counter: Counter,
    key: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self
            .counter
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (by_key, all) = &mut *counts;
        *all = all.saturating_sub(1);
        if let Some(mine) = by_key.get_mut(&self.key) {
            *mine -= 1;
            if *mine == 0 {
                by_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_taken_per_key_and_in_all_and_given_back() {
        let gauges = Gauges::new(Budgets {
            streams_per_key: 2,
            replays: 2,
            replays_per_key: 1,
        });
        let first = gauges.stream("a").unwrap();
        let _second = gauges.stream("a").unwrap();
        assert!(gauges.stream("a").is_err());
        assert!(gauges.stream("b").is_ok(), "another key has its own");
        drop(first);
        assert!(
            gauges.stream("a").is_ok(),
            "a closed stream gives its place back"
        );

        let _a = gauges.replay("a").unwrap();
        assert!(gauges.replay("a").is_err(), "one replay per key");
        let _b = gauges.replay("b").unwrap();
        assert!(gauges.replay("c").is_err(), "two in all");
    }
}
