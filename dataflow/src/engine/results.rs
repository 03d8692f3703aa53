//! A search-result cache kept exact by the change log of the worker index.
//!
//! Coordinators repeat searches (the seed's `repeat_cache` scenario, Zipf-popular requests),
//! and a graph walk at 100k × 768 costs about a millisecond. A cached result is served only
//! if it is still the answer at the current version: every worker written since it was
//! computed is checked against it — a changed worker that is in the result, or that now
//! matches the filters and scores at least as high as the result's last hit, invalidates it.
//! Anything the check can't prove (the log no longer reaches back, too many changes, a
//! playbook boost or an availability window, which depend on other state) is a miss.
//!
//! # Notes
//! The log and the applied version are written under the engine's visibility gate (write),
//! and lookups run under it (read), so a lookup sees the index, the records and the log at
//! one version.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lru::LruCache;
use parking_lot::{Mutex, RwLock};

use crate::commands::Version;
use crate::engine::search::{Filters, SearchHit, SearchQuery};

/// Worker writes remembered for validating cached results.
pub const CHANGE_LOG: usize = 8_192;
/// Most changes a lookup checks before it gives up and searches.
pub const MAX_CHECKS: usize = 2_048;

/// What identifies a cacheable search.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResultKey {
    text: String,
    k: usize,
    filters: [Option<String>; 4],
    exclude: Vec<String>,
}

impl ResultKey {
    /// The key of `q`, or `None` when its answer depends on more than the worker index
    /// (playbook boost, availability).
    pub fn of(q: &SearchQuery, text: &str) -> Option<ResultKey> {
        if q.use_playbook || q.available.is_some() {
            return None;
        }
        let f = &q.filters;
        let norm = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_lowercase());
        let mut exclude = q.exclude_ids.clone();
        exclude.sort_unstable();
        exclude.dedup();
        Some(ResultKey {
            text: text.to_owned(),
            k: q.k,
            filters: [norm(&f.city), norm(&f.state), norm(&f.role), norm(&f.shift)],
            exclude,
        })
    }
}

/// A cached answer and the applied version it is known to be valid at.
#[derive(Clone, Debug)]
pub struct Cached {
    /// Applied version it was computed at or last validated at.
    pub version: Version,
    /// The hits, best first.
    pub hits: Vec<SearchHit>,
}

/// Cache counters.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct ResultCacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Cacheable searches that were computed.
    pub misses: u64,
    /// Cached answers found invalid (or unprovable) and recomputed.
    pub invalidated: u64,
    /// Of those, the ones not proven either way: more changes since they were validated than
    /// a lookup checks ([`MAX_CHECKS`]), or older than the change log reaches.
    pub unprovable: u64,
}

/// The cache plus the change log it is validated with.
pub struct ResultCache {
    entries: Option<Mutex<LruCache<ResultKey, Cached>>>,
    /// `(version, worker id)` of recent writes, oldest first; written under the gate.
    log: RwLock<VecDeque<(Version, Arc<str>)>>,
    /// Every change at or below this version has left the log.
    floor: AtomicU64,
    /// The last version applied to the worker index.
    applied: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    invalidated: AtomicU64,
    unprovable: AtomicU64,
}

/// How a lookup ended.
pub enum Lookup {
    /// Still valid: the hits.
    Hit(Vec<SearchHit>),
    /// Search, then [`ResultCache::put`].
    Miss,
}

impl ResultCache {
    /// A cache of `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        ResultCache {
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            log: RwLock::new(VecDeque::new()),
            floor: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            invalidated: AtomicU64::new(0),
            unprovable: AtomicU64::new(0),
        }
    }

    /// Record the workers written at `version` (call under the visibility gate, write).
    pub fn record<'a>(&self, version: Version, ids: impl ExactSizeIterator<Item = &'a str>) {
        let mut log = self.log.write();
        if ids.len() > CHANGE_LOG {
            // A bulk version: nothing older can be validated any more.
            log.clear();
            self.floor.store(version, Ordering::Release);
        } else {
            for id in ids {
                log.push_back((version, Arc::from(id)));
            }
            while log.len() > CHANGE_LOG {
                if let Some((v, _)) = log.pop_front() {
                    self.floor.fetch_max(v, Ordering::AcqRel);
                }
            }
        }
        self.applied.fetch_max(version, Ordering::AcqRel);
    }

    /// The last applied version.
    pub fn applied(&self) -> Version {
        self.applied.load(Ordering::Acquire)
    }

    /// Look `key` up (call under the visibility gate, read). A write to a worker in the
    /// cached answer invalidates it; for any other written worker `id`, `still_valid(id,
    /// hits)` says whether the write leaves `hits` the answer.
    /// With `count_miss: false` a miss is not counted: for a first try that falls back to a
    /// search, whose own lookup counts it.
    pub fn lookup(
        &self,
        key: &ResultKey,
        still_valid: impl Fn(&str, &[SearchHit]) -> bool,
        count_miss: bool,
    ) -> Lookup {
        let Some(entries) = &self.entries else { return Lookup::Miss };
        let Some(cached) = entries.lock().get(key).cloned() else {
            if count_miss {
                self.misses.fetch_add(1, Ordering::Relaxed);
            }
            return Lookup::Miss;
        };
        let now = self.applied();
        if cached.version < now {
            // The log is read in place: it is written only under the gate (write), which no
            // apply takes while this lookup holds it (read), so the read lock never waits
            // and never holds a writer up.
            let log = self.log.read();
            let start = log.partition_point(|(v, _)| *v <= cached.version);
            // More changes than a lookup checks, or older than the log: unprovable.
            let provable = cached.version >= self.floor.load(Ordering::Acquire) && log.len() - start <= MAX_CHECKS;
            if !provable {
                self.unprovable.fetch_add(1, Ordering::Relaxed);
            }
            // Up to MAX_CHECKS ids against up to k hits: a set, not a scan of the hits per id
            // (`memcmp` was 4% of the process's CPU under ingest, partly here).
            let valid = provable && {
                let answer: foldhash::HashSet<&str> = cached.hits.iter().map(|h| h.id.as_str()).collect();
                log.range(start..).all(|(_, id)| !answer.contains(id.as_ref()) && still_valid(id, &cached.hits))
            };
            drop(log);
            if !valid {
                self.invalidated.fetch_add(1, Ordering::Relaxed);
                if count_miss {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                }
                entries.lock().pop(key);
                return Lookup::Miss;
            }
            if let Some(e) = entries.lock().get_mut(key) {
                e.version = e.version.max(now);
            }
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Lookup::Hit(cached.hits)
    }

    /// Remember `hits` as the answer to `key` at `version`.
    pub fn put(&self, key: ResultKey, version: Version, hits: &[SearchHit]) {
        if let Some(entries) = &self.entries {
            entries.lock().put(key, Cached { version, hits: hits.to_vec() });
        }
    }

    /// Counters.
    pub fn stats(&self) -> ResultCacheStats {
        ResultCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidated: self.invalidated.load(Ordering::Relaxed),
            unprovable: self.unprovable.load(Ordering::Relaxed),
        }
    }
}

/// Whether a write that left worker `id` as `rec` (or removed it: `None`) keeps `hits` (for
/// `k` results under `filters` and `exclude`) the answer, for an `id` that is not one of
/// `hits` ([`ResultCache::lookup`] checks that first). `sim` gives the worker's similarity
/// to the query, and is only computed when the filters let the worker in.
pub fn unaffected(
    id: &str,
    rec: Option<&crate::record::WorkerRecord>,
    sim: impl FnOnce() -> Option<f32>,
    hits: &[SearchHit],
    k: usize,
    filters: &Filters,
    exclude: &[String],
) -> bool {
    let Some(rec) = rec else { return true };
    if exclude.iter().any(|e| e == id) || !filters.matches(rec) {
        return true;
    }
    let Some(sim) = sim() else { return true };
    hits.len() >= k && hits.last().is_some_and(|last| sim < last.similarity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ResultKey {
        let q = SearchQuery { text: text.into(), k: 10, ..Default::default() };
        ResultKey::of(&q, text).expect("cacheable")
    }

    #[test]
    fn more_changes_than_a_lookup_checks_is_unprovable_not_stale() {
        let cache = ResultCache::new(8);
        let ids: Vec<String> = (0..=MAX_CHECKS).map(|i| format!("w-{i}")).collect();
        cache.put(key("welder"), 1, &[]);
        cache.put(key("nurse"), 1, &[]);
        // MAX_CHECKS changes: checked one by one, and none touches the answer.
        cache.record(2, ids[..MAX_CHECKS].iter().map(String::as_str));
        assert!(matches!(cache.lookup(&key("welder"), |_, _| true, true), Lookup::Hit(_)));
        // A stale answer: a change the check says moves it.
        cache.record(3, ids[..1].iter().map(String::as_str));
        assert!(matches!(cache.lookup(&key("welder"), |_, _| false, true), Lookup::Miss));
        // One more than a lookup checks: given up without checking.
        assert!(matches!(cache.lookup(&key("nurse"), |_, _| true, true), Lookup::Miss));
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.invalidated, s.unprovable), (1, 2, 2, 1), "{s:?}");
    }
}
