//! Search over the materialized indexes, with the playbook boost.
//!
//! # Notes
//! The boost: the query is matched against `playbook_memory` (past requests that were
//! filled). Every worker of a past record whose query similarity `s` is at least
//! [`BOOST_MIN_SIMILARITY`] gains `BOOST_WEIGHT × (s − min) / (1 − min)`: it decays
//! linearly to zero as the past request gets less similar, times `ln(1 + (e − 1)·f)` for
//! its decayed fill count `f` in that request's history (1 for one fill, the newest; see
//! [`crate::engine::boost`]). A worker's total boost is capped at [`BOOST_CAP`], so a
//! popular worker can't drown out relevance. Boosted workers that are
//! not among the nearest neighbours are scored exactly and still pass every filter.
//!
//! A search filtered on role, city or state consults only past requests whose markets
//! include every filtered value (the playbook index keeps the roles, cities and states a
//! request was filled for as payload, so a request filled for (welder, Austin) and (cook,
//! Reno) also passes role = welder, city = Reno, and its workers are then filtered out):
//! requests from other markets could only boost workers the filters drop, and would take
//! places among the [`BOOST_RECORDS`] nearest from requests in the market asked about.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use sinks::{Filter, SearchRequest};

use crate::engine::results::{self, Lookup, ResultKey};
use crate::engine::Engine;
use crate::error::{DataflowError, Result};
use crate::record::WorkerRecord;
use crate::validators::fill::DateRange;

/// Past requests less similar than this give no boost.
pub const BOOST_MIN_SIMILARITY: f32 = 0.5;
/// Boost from one identical past request.
pub const BOOST_WEIGHT: f32 = 0.25;
/// Largest total boost of one worker.
pub const BOOST_CAP: f32 = 0.5;
/// Distinct past requests consulted per search.
pub const BOOST_RECORDS: usize = 32;
/// Largest k.
pub const MAX_K: usize = 1_000;

/// Boost per worker id (foldhash: a search can collect thousands).
type Boosts = foldhash::HashMap<String, f32>;

/// Keyword filters on worker attributes (case-insensitive equality).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// City.
    pub city: Option<String>,
    /// Two-letter state.
    pub state: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Shift.
    pub shift: Option<String>,
}

impl Filters {
    /// These filters on an index's payload; `with_shift: false` leaves out the shift (a
    /// playbook request's market has none).
    fn index_filter(&self, with_shift: bool) -> Filter {
        let shift = if with_shift { &self.shift } else { &None };
        [("city", &self.city), ("state", &self.state), ("role", &self.role), ("shift", shift)]
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .fold(Filter::default(), |f, (k, v)| f.with(k, v))
    }

    /// Whether `r` passes these filters.
    pub fn matches(&self, r: &WorkerRecord) -> bool {
        let eq = |want: &Option<String>, have: &str| {
            want.as_ref().is_none_or(|w| w.trim().eq_ignore_ascii_case(have.trim()))
        };
        eq(&self.city, &r.city) && eq(&self.state, &r.state) && eq(&self.role, &r.role) && eq(&self.shift, &r.shift)
    }
}

/// One search.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    /// Free text.
    pub text: String,
    /// Results wanted, 1..=1000.
    pub k: usize,
    /// Attribute filters.
    pub filters: Filters,
    /// Ids that must not be returned.
    pub exclude_ids: Vec<String>,
    /// Apply the playbook boost.
    pub use_playbook: bool,
    /// Only workers with no placement overlapping these dates.
    pub available: Option<DateRange>,
}

/// One result.
#[derive(Clone, Debug)]
pub struct SearchHit {
    /// Worker id.
    pub id: String,
    /// `similarity + playbook_boost`; results are sorted by it.
    pub score: f32,
    /// Cosine similarity of query and profile.
    pub similarity: f32,
    /// Boost from similar past fills (0 without `use_playbook`).
    pub playbook_boost: f32,
    /// The worker's record.
    pub worker: Arc<WorkerRecord>,
}

/// Results and the version they reflect.
#[derive(Clone, Debug)]
pub struct SearchOutcome {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// Every write at or below this version is reflected.
    pub version: u64,
}

/// Turns to read the indexes: a counting semaphore for the blocking threads searches run
/// on (std and parking_lot have none, and tokio's is async-only).
pub(crate) struct ReaderTurns {
    free: Mutex<usize>,
    freed: Condvar,
    /// Takes that found no free turn and waited.
    waited: std::sync::atomic::AtomicU64,
}

/// A turn taken from [`ReaderTurns`], given back on drop.
pub(crate) struct Turn<'a>(&'a ReaderTurns);

impl ReaderTurns {
    /// `n` turns.
    pub(crate) fn new(n: usize) -> Self {
        ReaderTurns { free: Mutex::new(n), freed: Condvar::new(), waited: Default::default() }
    }

    /// Wait for a free turn and take it.
    pub(crate) fn take(&self) -> Turn<'_> {
        let mut free = self.free.lock();
        if *free == 0 {
            self.waited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        while *free == 0 {
            self.freed.wait(&mut free);
        }
        *free -= 1;
        Turn(self)
    }

    /// Takes so far that had to wait for a turn.
    pub(crate) fn waited(&self) -> u64 {
        self.waited.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.freed.notify_one();
    }
}

impl Engine {
    /// Search the worker index. CPU-bound: async callers run it on a blocking thread.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchOutcome> {
        let text = q.text.trim();
        if text.is_empty() {
            return Err(DataflowError::search("query", "must not be empty"));
        }
        if q.k == 0 || q.k > MAX_K {
            return Err(DataflowError::search("k", format!("must be between 1 and {MAX_K}, got {}", q.k)));
        }
        if let Some(d) = q.available {
            if d.is_empty() {
                return Err(DataflowError::search("available", "end is before start"));
            }
        }
        let version = self.visible_version();
        let vector = self.cache.get_or_embed(self.state.embedder.as_ref(), text);
        if vector.iter().all(|x| *x == 0.0) {
            return Err(DataflowError::search("query", "has no searchable words"));
        }

        let boosts = if q.use_playbook { self.boosts(&vector, &q.filters)? } else { Boosts::default() };

        let exclude: HashSet<String> = q.exclude_ids.iter().cloned().collect();
        // k neighbours suffice with a boost: a worker without one that makes the top k by
        // score is in the top k by similarity (a boost only adds), and every boosted worker
        // is scored below whether or not the walk found it.
        let mut req = SearchRequest::new(vector.to_vec(), q.k);
        req.filter = q.filters.index_filter(true);
        req.exclude = exclude.clone();
        if let Some(d) = q.available {
            let state = Arc::clone(&self.state);
            req.predicate = Some(Arc::new(move |id: &str| {
                state.placements.read().get(id).is_none_or(|ps| !ps.iter().any(|p| p.overlaps(&d)))
            }));
        }
        let predicate = req.predicate.clone();
        let key = ResultKey::of(q, text);
        // A turn first (see `EngineConfig::index_readers`), then the index's read lock, then
        // the gate, always in this order: a search waiting for its turn holds nothing an
        // apply waits for, and an apply, which holds the gate, never waits for the index
        // (its writes go to the index's overlay). The gate is held only to read the cache,
        // and to read the index and the records at one version after the walk (and, after
        // three walks cut by writes, for the last walk; see `EngineState::visibility`); it
        // is not re-entered while held, as a nested read could wait behind a queued writer.
        let _turn = self.readers.as_ref().map(ReaderTurns::take);
        let index = self.state.workers_index.reader();
        if let Some(key) = &key {
            let _gate = self.state.visibility.read();
            // An answer from the worker index alone reflects every write applied to it,
            // which may be ahead of the visible version (every index): report that, so two
            // answers at one reported version are the same answer.
            let version = version.max(self.state.results.applied());
            if let Some(hits) = self.cached(key, q, &vector, true) {
                return Ok(SearchOutcome { hits, version });
            }
        }
        // The walk, the long part, needs the index's read lock only; so does walking again
        // when a write since the walk replaced one of its top hits (see `Walk::try_finish`):
        // a few tries outside the gate, then under it.
        let mut walk = index.walk(&req)?;
        let mut tries = 0;
        // Under the gate: the walk's answer as of now, the applied version, and the records
        // of the hits and of the boosted workers, taken with one read of the record map (under
        // load each acquisition is a contended atomic on a shared cache line). Everything else
        // runs after the gate is released, so an apply waits as briefly as possible.
        let (neighbours, scorer, applied, records, boosted) = {
            let (_gate, neighbours, scorer) = loop {
                let gate = self.state.visibility.read();
                match walk.try_finish() {
                    Ok((neighbours, scorer)) => break (gate, neighbours, scorer),
                    Err(stale) if tries < 3 => {
                        drop(gate);
                        tries += 1;
                        walk = stale.retry();
                    }
                    Err(stale) => {
                        let (neighbours, scorer) = stale.finish();
                        break (gate, neighbours, scorer);
                    }
                }
            };
            let applied = self.state.results.applied();
            let workers = self.state.workers.read();
            let records: Vec<Option<Arc<WorkerRecord>>> =
                neighbours.iter().map(|p| workers.get(p.id.as_str()).cloned()).collect();
            // Boosted workers the walk did not return are scored below.
            let boosted: Vec<(&String, Arc<WorkerRecord>)> = if boosts.is_empty() {
                Vec::new()
            } else {
                let found: foldhash::HashSet<&str> = neighbours.iter().map(|p| p.id.as_str()).collect();
                boosts
                    .keys()
                    .filter(|id| !found.contains(id.as_str()) && !exclude.contains(*id))
                    .filter_map(|id| Some((id, Arc::clone(workers.get(id)?))))
                    .collect()
            };
            (neighbours, scorer, applied, records, boosted)
        };
        let version = if key.is_some() { version.max(applied) } else { version };

        let hit = |id: String, similarity: f32, worker: Arc<WorkerRecord>| {
            let playbook_boost = boosts.get(&id).copied().unwrap_or(0.0);
            SearchHit { score: similarity + playbook_boost, similarity, playbook_boost, id, worker }
        };
        let mut hits: Vec<SearchHit> = Vec::with_capacity(neighbours.len() + boosted.len());
        // The neighbours are distinct ids, so they become hits directly.
        for (p, worker) in neighbours.iter().zip(records) {
            if let Some(worker) = worker {
                hits.push(hit(p.id.as_str().to_owned(), p.score, worker));
            }
        }
        for (id, rec) in boosted {
            if !q.filters.matches(&rec) || predicate.as_ref().is_some_and(|p| !p(id)) {
                continue;
            }
            if let Some(s) = scorer.dot_with(id, &vector) {
                hits.push(hit(id.clone(), s, rec));
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
        hits.truncate(q.k);
        if let Some(key) = key {
            self.state.results.put(key, applied, &hits);
        }
        Ok(SearchOutcome { hits, version })
    }

    /// The answer to `q` if the result cache holds it, the query's embedding is cached, and
    /// the visibility gate is free; otherwise `None`, and
    /// [`Engine::search`] answers (it also reports invalid queries). Never embeds and never
    /// waits for an apply or the indexer, so a server can answer from its async threads: in
    /// a burst, a third of the searches are cache hits that would otherwise queue for a
    /// search thread behind graph walks. A `None` counts no hit or miss (the search that
    /// follows does), and leaves the cache as it was unless the cached answer was proven
    /// stale (then it is dropped and counted as invalidated).
    pub fn search_cached(&self, q: &SearchQuery) -> Option<SearchOutcome> {
        let text = q.text.trim();
        if text.is_empty() || q.k == 0 || q.k > MAX_K {
            return None;
        }
        let key = ResultKey::of(q, text)?;
        let version = self.visible_version();
        let vector = self.cache.get(self.state.embedder.as_ref(), text)?;
        // The change log carries what each write left, so a check needs neither the index
        // nor the record map; only the gate, free now.
        let _gate = self.state.visibility.try_read()?;
        let version = version.max(self.state.results.applied());
        let hits = self.cached(&key, q, &vector, false)?;
        self.cache.count_hit();
        Some(SearchOutcome { hits, version })
    }

    /// The cached answer to `key` if it is still the answer (call under the visibility
    /// gate). With `count_miss` false (the inline path), a miss is left to the search that
    /// follows to count.
    fn cached(&self, key: &ResultKey, q: &SearchQuery, vector: &[f32], count_miss: bool) -> Option<Vec<SearchHit>> {
        let still_valid = |c: &results::Change, hits: &[SearchHit]| {
            results::unaffected(c, vector, hits, q.k, &q.filters, &q.exclude_ids)
        };
        match self.state.results.lookup(key, still_valid, count_miss) {
            Lookup::Hit(hits) => Some(hits),
            Lookup::Miss => None,
        }
    }

    /// Boost per worker from past fills similar to `vector`, of requests whose markets
    /// include the values of `filters` (role, city, state: a job has no shift).
    fn boosts(&self, vector: &[f32], filters: &Filters) -> Result<Boosts> {
        let mut out = Boosts::default();
        if self.state.query_workers.read().is_empty() {
            return Ok(out);
        }
        let mut req = SearchRequest::new(vector.to_vec(), BOOST_RECORDS);
        req.filter = filters.index_filter(false);
        let past = self.state.playbook_index.search(&req)?;
        let query_workers = self.state.query_workers.read();
        for p in past {
            if p.score < BOOST_MIN_SIMILARITY {
                continue;
            }
            let w = BOOST_WEIGHT * (p.score - BOOST_MIN_SIMILARITY) / (1.0 - BOOST_MIN_SIMILARITY);
            if let Some(history) = query_workers.get(p.id.as_str()) {
                for (id, fills) in history.weights() {
                    // One fill, the newest, gives `w`; repeat fills add with diminishing
                    // returns (see [`crate::engine::boost`] for how fills decay).
                    // The id is cloned once per worker, not once per past request.
                    let gain = w * (1.0 + (std::f32::consts::E - 1.0) * fills).ln();
                    match out.get_mut(id.as_str()) {
                        Some(b) => *b = (*b + gain).min(BOOST_CAP),
                        None => {
                            out.insert(id.clone(), gain.min(BOOST_CAP));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn no_more_than_n_turns_are_held_at_once() {
        let turns = Arc::new(ReaderTurns::new(2));
        let (held, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (turns, held, most) = (Arc::clone(&turns), Arc::clone(&held), Arc::clone(&most));
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let _t = turns.take();
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        held.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "six threads, two turns: both used, never a third");
        assert_eq!(*turns.free.lock(), 2, "every turn came back");
        assert!(turns.waited() > 0, "six threads on two turns had to wait");
    }
}
