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
//! Each entry of the log carries what its write left (the record and the normalised vector
//! the index stores), so a check reads neither the record map nor the index: under ingest a
//! lookup checks hundreds of writes, and resolving each id in both maps was most of what
//! the server's async threads spent on cache answers (`docs/BENCHMARKS.md`, session 14). A
//! worker written twice is checked in both states, which can only call an answer stale
//! that is not, never the reverse.
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
use crate::record::WorkerRecord;

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

/// A worker write, as cached answers are checked against it.
#[derive(Clone, Debug)]
pub struct Change {
    /// The version that wrote it.
    pub version: Version,
    /// The worker.
    pub id: Arc<str>,
    /// What the write left.
    pub now: Written,
}

/// What a write left of a worker.
#[derive(Clone, Debug)]
pub enum Written {
    /// Nothing: it was deleted.
    Deleted,
    /// This record, indexed with this normalised vector.
    Worker(Arc<WorkerRecord>, Arc<[f32]>),
    /// A record whose vector the index refused (it keeps what it had): a check cannot tell
    /// what the write did to an answer, so it takes it as a change.
    Unindexed,
}

/// The cache plus the change log it is validated with.
pub struct ResultCache {
    entries: Option<Mutex<LruCache<ResultKey, Cached>>>,
    /// Recent writes, oldest first; written under the gate.
    log: RwLock<VecDeque<Change>>,
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

    /// Record the workers written at `version`, all of them (call under the visibility
    /// gate, write). A version with more than [`CHANGE_LOG`] writes is cheaper recorded with
    /// [`ResultCache::record_bulk`]; here it pushes every older entry out all the same.
    pub fn record(&self, version: Version, changes: Vec<Change>) {
        let mut log = self.log.write();
        log.extend(changes);
        while log.len() > CHANGE_LOG {
            if let Some(c) = log.pop_front() {
                self.floor.fetch_max(c.version, Ordering::AcqRel);
            }
        }
        drop(log);
        self.applied.fetch_max(version, Ordering::AcqRel);
    }

    /// Record a version that wrote more workers than the log keeps: nothing older can be
    /// validated any more (call under the visibility gate, write).
    pub fn record_bulk(&self, version: Version) {
        self.log.write().clear();
        self.floor.fetch_max(version, Ordering::AcqRel);
        self.applied.fetch_max(version, Ordering::AcqRel);
    }

    /// The last applied version.
    pub fn applied(&self) -> Version {
        self.applied.load(Ordering::Acquire)
    }

    /// Look `key` up (call under the visibility gate, read). A write to a worker in the
    /// cached answer invalidates it; for any other write `c`, `still_valid(c, hits)` says
    /// whether it leaves `hits` the answer.
    /// With `count_miss: false` a miss is not counted: for a first try that falls back to a
    /// search, whose own lookup counts it.
    pub fn lookup(
        &self,
        key: &ResultKey,
        still_valid: impl Fn(&Change, &[SearchHit]) -> bool,
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
            let start = log.partition_point(|c| c.version <= cached.version);
            // More changes than a lookup checks, or older than the log: unprovable.
            let provable = cached.version >= self.floor.load(Ordering::Acquire) && log.len() - start <= MAX_CHECKS;
            if !provable {
                self.unprovable.fetch_add(1, Ordering::Relaxed);
            }
            // Up to MAX_CHECKS ids against up to k hits: a set, not a scan of the hits per id
            // (`memcmp` was 4% of the process's CPU under ingest, partly here).
            let valid = provable && {
                let answer: foldhash::HashSet<&str> = cached.hits.iter().map(|h| h.id.as_str()).collect();
                log.range(start..).all(|c| !answer.contains(c.id.as_ref()) && still_valid(c, &cached.hits))
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

/// Whether write `c` leaves `hits` (for `k` results under `filters` and `exclude`) the
/// answer to a query with normalised vector `query`, for a worker that is not one of `hits`
/// ([`ResultCache::lookup`] checks that first). The similarity is computed only when the
/// filters let the worker in.
pub fn unaffected(
    c: &Change,
    query: &[f32],
    hits: &[SearchHit],
    k: usize,
    filters: &Filters,
    exclude: &[String],
) -> bool {
    let (rec, vector) = match &c.now {
        Written::Deleted => return true,
        Written::Unindexed => return false,
        Written::Worker(rec, vector) => (rec, vector),
    };
    if exclude.iter().any(|e| *e == *c.id) || !filters.matches(rec) || vector.len() != query.len() {
        return true;
    }
    let sim = sinks::simd::dot(query, vector);
    hits.len() >= k && hits.last().is_some_and(|last| sim < last.similarity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ResultKey {
        let q = SearchQuery { text: text.into(), k: 10, ..Default::default() };
        ResultKey::of(&q, text).expect("cacheable")
    }

    fn deleted(version: Version, id: &str) -> Change {
        Change { version, id: Arc::from(id), now: Written::Deleted }
    }

    #[test]
    fn more_changes_than_a_lookup_checks_is_unprovable_not_stale() {
        let cache = ResultCache::new(8);
        let ids: Vec<String> = (0..=MAX_CHECKS).map(|i| format!("w-{i}")).collect();
        cache.put(key("welder"), 1, &[]);
        cache.put(key("nurse"), 1, &[]);
        // MAX_CHECKS changes: checked one by one, and none touches the answer.
        cache.record(2, ids[..MAX_CHECKS].iter().map(|id| deleted(2, id)).collect());
        assert!(matches!(cache.lookup(&key("welder"), |_, _| true, true), Lookup::Hit(_)));
        // A stale answer: a change the check says moves it.
        cache.record(3, vec![deleted(3, &ids[0])]);
        assert!(matches!(cache.lookup(&key("welder"), |_, _| false, true), Lookup::Miss));
        // One more than a lookup checks: given up without checking.
        assert!(matches!(cache.lookup(&key("nurse"), |_, _| true, true), Lookup::Miss));
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.invalidated, s.unprovable), (1, 2, 2, 1), "{s:?}");
        // A bulk version: nothing before it can be proven.
        cache.put(key("welder"), 3, &[]);
        cache.record_bulk(4);
        assert!(matches!(cache.lookup(&key("welder"), |_, _| true, true), Lookup::Miss));
        assert_eq!(cache.stats().unprovable, 2);
    }

    fn worker(id: &str, role: &str, vector: &[f32]) -> Change {
        let rec = WorkerRecord::sample(id, role, "Houston", "TX");
        Change { version: 2, id: Arc::from(id), now: Written::Worker(Arc::new(rec), Arc::from(vector)) }
    }

    fn hit(id: &str, similarity: f32) -> SearchHit {
        let worker = Arc::new(WorkerRecord::sample(id, "nurse", "Houston", "TX"));
        SearchHit { id: id.into(), score: similarity, similarity, playbook_boost: 0.0, worker }
    }

    #[test]
    fn a_write_moves_an_answer_only_if_it_gets_in_and_scores_as_high_as_its_last_hit() {
        let query = [1.0, 0.0];
        let hits = [hit("a", 0.9), hit("b", 0.5)];
        let nurses = Filters { role: Some("nurse".into()), ..Default::default() };
        let none = Filters::default();
        // Below the last hit, or kept out by the filters or the exclusions: unaffected.
        assert!(unaffected(&worker("c", "nurse", &[0.4, 0.9]), &query, &hits, 2, &nurses, &[]));
        assert!(unaffected(&worker("c", "welder", &[1.0, 0.0]), &query, &hits, 2, &nurses, &[]));
        assert!(unaffected(&worker("c", "nurse", &[1.0, 0.0]), &query, &hits, 2, &none, &["c".into()]));
        // As high as the last hit and let in: the answer changes.
        assert!(!unaffected(&worker("c", "nurse", &[0.6, 0.8]), &query, &hits, 2, &nurses, &[]));
        // Fewer hits than asked for: any worker let in joins them.
        assert!(!unaffected(&worker("c", "nurse", &[0.0, 1.0]), &query, &hits, 3, &nurses, &[]));
        // A delete of a worker not in the answer leaves it; a write the index refused may not.
        assert!(unaffected(&deleted(2, "c"), &query, &hits, 2, &none, &[]));
        let refused = Change { version: 2, id: Arc::from("c"), now: Written::Unindexed };
        assert!(!unaffected(&refused, &query, &hits, 2, &none, &[]));
    }
}
