//! HNSW search: a graph built by hnsw_rs and served from a flattened copy
//! ([`FlatGraph`]), plus an exact scan of the points the graph does not hold yet.
//!
//! hnsw_rs has no delete and asserts on unnormalised input, so it never owns anything that
//! matters: its nodes are slots whose vectors live in
//! [`VectorStorage`](crate::vector_storage::VectorStorage); dead slots are skipped with a
//! search filter; every graph operation is wrapped in `catch_unwind`, and a panic marks the
//! graph broken (searches fall back to an exact scan, and the indexer rebuilds it).
//!
//! # Notes
//! A keyword filter whose shortest posting list is small is answered by an exact scan of
//! that list: a filtered graph walk gets many times slower as the filter gets selective.
//! If the graph returns fewer than `k` results, the search falls back to an exact scan,
//! so a search never returns fewer than `k` while `k` live points match.

use hnsw_rs::prelude::{DistDot, Hnsw};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::index::exact::{scan, scan_candidates};
use crate::index::flat::{FlatGraph, InsertPlan};
use crate::index::topk::TopK;
use crate::index::{IndexKind, Points, Query, VectorIndex, VectorIndexRead};
use crate::types::InternalId;

/// hnsw_rs's graph type as we use it.
pub type Graph = Hnsw<'static, f32, DistDot>;

/// Graph construction parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HnswParams {
    /// Max neighbours per node (M).
    pub m: usize,
    /// Candidate list size while building.
    pub ef_construction: usize,
    /// Default candidate list size while searching.
    pub ef_search: usize,
    /// A keyword filter whose posting list is shorter than this is scanned exactly.
    pub exact_filter_limit: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 100, ef_search: 128, exact_filter_limit: 20_000 }
    }
}

/// Builds a new empty graph sized for `capacity` points.
pub fn new_graph(params: &HnswParams, capacity: usize) -> Graph {
    // max_layer must be 16 for hnsw_rs's dump format; it only caps the level draw.
    Hnsw::new(params.m, capacity.max(1), 16, params.ef_construction, DistDot)
}

/// Insert `(vector, slot)` pairs, converting a panic inside hnsw_rs into `false`.
pub fn insert_all(graph: &Graph, batch: &[(Vec<f32>, InternalId)]) -> bool {
    let refs: Vec<(&[f32], usize)> = batch.iter().map(|(v, s)| (v.as_slice(), s.idx())).collect();
    catch_unwind(AssertUnwindSafe(|| {
        if refs.len() >= 64 {
            graph.parallel_insert_slice(&refs);
        } else {
            for r in &refs {
                graph.insert_slice(*r);
            }
        }
    }))
    .is_ok()
}

/// HNSW index state.
pub struct HnswIndex {
    graph: FlatGraph,
    params: HnswParams,
    /// Live slots written since the graph was built or last linked: new points, and graph
    /// nodes whose vector changed in place (their links are stale). Scanned exactly until
    /// linked; each slot at most once.
    pending: Vec<InternalId>,
    /// Per slot, the stamp of its latest write while pending (0: not pending). A plan made
    /// before a newer write to its slot is dropped and the slot stays pending.
    queued: Vec<u32>,
    next_stamp: u32,
    /// Graph nodes relinked in place since the build.
    relinked: usize,
    broken: AtomicBool,
    panics: AtomicU64,
}

impl HnswIndex {
    /// Wrap a freshly built graph. Every live slot it does not hold becomes pending, and so
    /// does every live slot in `changed` (written while the graph was built).
    pub fn from_graph(graph: FlatGraph, params: HnswParams, points: &Points, changed: &[InternalId]) -> Self {
        let missing: Vec<InternalId> =
            points.tracker.live_slots().into_iter().filter(|s| !graph.contains(*s)).collect();
        let mut index = HnswIndex {
            graph,
            params,
            pending: Vec::new(),
            queued: Vec::new(),
            next_stamp: 1,
            relinked: 0,
            broken: AtomicBool::new(false),
            panics: AtomicU64::new(0),
        };
        let changed: Vec<InternalId> = changed.iter().copied().filter(|s| points.tracker.is_live(*s)).collect();
        index.enqueue(&missing);
        index.enqueue(&changed);
        index.relinked = 0;
        index
    }

    fn enqueue(&mut self, slots: &[InternalId]) {
        for &slot in slots {
            if self.queued.len() <= slot.idx() {
                self.queued.resize(slot.idx() + 1, 0);
            }
            let stamp = self.next_stamp;
            self.next_stamp = self.next_stamp.checked_add(1).unwrap_or(1);
            if self.queued[slot.idx()] == 0 {
                self.pending.push(slot);
                if self.graph.contains(slot) {
                    self.relinked += 1;
                }
            }
            self.queued[slot.idx()] = stamp;
        }
    }

    /// Whether `slot` waits to be linked (or relinked).
    #[inline]
    pub fn is_pending(&self, slot: InternalId) -> bool {
        self.queued.get(slot.idx()).is_some_and(|s| *s != 0)
    }

    /// Graph nodes queued for relinking since the graph was built (their vector changed).
    pub fn relinked(&self) -> usize {
        self.relinked
    }

    /// Nodes in the graph (live or dead).
    pub fn graph_len(&self) -> usize {
        self.graph.len()
    }

    /// Slots waiting to be linked in (some may have died meanwhile).
    pub fn pending(&self) -> &[InternalId] {
        &self.pending
    }

    /// Whether the graph holds `slot`.
    pub fn contains(&self, slot: InternalId) -> bool {
        self.graph.contains(slot)
    }

    /// Whether a graph operation panicked (the graph must be rebuilt).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Panics caught in graph operations so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Bytes held by the graph's links.
    pub fn memory_bytes(&self) -> usize {
        self.graph.memory_bytes()
    }

    /// Record a caught panic.
    pub fn mark_broken(&self) {
        self.broken.store(true, Ordering::Relaxed);
        self.panics.fetch_add(1, Ordering::Relaxed);
        tracing::error!("a graph operation panicked; serving exact scans until the graph is rebuilt");
    }

    /// Plan links for up to `n × threads` pending live slots on `threads` threads
    /// (read-only; runs beside searches). Returns the plans and every pending slot looked
    /// at, with its write stamp, for [`HnswIndex::commit_pending`].
    pub fn plan_pending(&self, points: &Points, n: usize, threads: usize) -> (Vec<InsertPlan>, Vec<(InternalId, u32)>) {
        let seen: Vec<(InternalId, u32)> =
            self.pending.iter().take(n * threads.max(1)).map(|&s| (s, self.queued[s.idx()])).collect();
        let todo: Vec<InternalId> = seen.iter().map(|(s, _)| *s).filter(|&s| points.tracker.is_live(s)).collect();
        match catch_unwind(AssertUnwindSafe(|| {
            self.graph.plan_inserts(&todo, &points.storage, self.params.ef_construction, threads)
        })) {
            Ok(plans) => (plans, seen),
            Err(_) => {
                self.mark_broken();
                (Vec::new(), Vec::new())
            }
        }
    }

    /// Link planned slots in and take every slot looked at off the pending list, except
    /// those written again since they were planned: their plan is dropped and they stay
    /// pending. Only the indexer plans and commits, so `seen` is the head of the list.
    pub fn commit_pending(&mut self, points: &Points, plans: Vec<InsertPlan>, seen: &[(InternalId, u32)]) {
        let current: Vec<bool> = seen.iter().map(|&(s, stamp)| self.queued.get(s.idx()) == Some(&stamp)).collect();
        let fresh: Vec<InsertPlan> =
            plans.into_iter().filter(|p| seen.iter().zip(&current).any(|(&(s, _), &ok)| ok && s == p.slot())).collect();
        let mut kept = Vec::new();
        for (&(s, _), &ok) in seen.iter().zip(&current) {
            if ok {
                self.queued[s.idx()] = 0;
            } else {
                kept.push(s);
            }
        }
        for p in fresh {
            self.graph.commit_insert(p, &points.storage);
        }
        let head = seen.len().min(self.pending.len());
        self.pending.splice(..head, kept);
    }

    fn graph_search(&self, points: &Points, q: &Query<'_>) -> Option<Vec<(InternalId, f32)>> {
        // Unfiltered, only liveness (and the overlay's hidden slots) matters: a bit per slot,
        // no lookup of the external id.
        let live = |n: u32| q.visible(points, InternalId(n));
        let filtered = |n: u32| q.accepts(points, InternalId(n));
        let accept: &dyn Fn(u32) -> bool = if q.is_filtered() { &filtered } else { &live };
        let ef = q.ef.max(q.k);
        match catch_unwind(AssertUnwindSafe(|| self.graph.search(q.vector, &points.storage, q.k, ef, accept))) {
            Ok(r) => Some(r),
            Err(_) => {
                self.mark_broken();
                None
            }
        }
    }
}

impl VectorIndexRead for HnswIndex {
    fn search(&self, points: &Points, q: &Query<'_>) -> Vec<(InternalId, f32)> {
        let all = || points.tracker.live_slots();
        if self.is_broken() {
            return scan(points, q, all());
        }
        if let Some(cands) = points.payloads.candidates(q.must) {
            if cands.len() <= self.params.exact_filter_limit as u64 {
                return scan_candidates(points, q, &cands);
            }
        }
        if self.pending.len() * 2 >= points.tracker.live_count() {
            // Most live points are not in the graph yet (e.g. a bulk job replaced every
            // worker): the graph's nodes are mostly dead, a walk would visit nearly all of
            // them before it found ef live ones, and the pending scan reads most points
            // anyway. One exact scan is cheaper than both until the rebuild lands.
            return scan(points, q, all());
        }
        let Some(from_graph) = self.graph_search(points, q) else {
            return scan(points, q, all());
        };
        let from_pending = scan(points, q, self.pending.iter().copied());
        let mut top = TopK::new(q.k);
        // A pending node changed in place may come from both; the scan has it.
        let from_graph = from_graph.into_iter().filter(|(s, _)| !self.is_pending(*s));
        for (slot, score) in from_graph.chain(from_pending) {
            top.push(slot, score);
        }
        let merged = top.into_sorted();
        if merged.len() < q.k {
            // The graph walk can miss points behind a filter; only an exact scan can prove
            // that fewer than k match.
            return scan(points, q, all());
        }
        merged
    }

    fn kind(&self) -> IndexKind {
        IndexKind::Hnsw
    }
}

impl VectorIndex for HnswIndex {
    fn on_applied(&mut self, _points: &Points, added: &[InternalId]) {
        self.enqueue(added);
    }
}
