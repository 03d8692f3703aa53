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

use crate::index::exact::scan;
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
    /// Live slots written since the graph was built and not linked in yet: scanned exactly.
    pending: Vec<InternalId>,
    broken: AtomicBool,
    panics: AtomicU64,
}

impl HnswIndex {
    /// Wrap a freshly built graph; every live slot it does not hold becomes pending.
    pub fn from_graph(graph: FlatGraph, params: HnswParams, points: &Points) -> Self {
        let pending = points.tracker.live_slots().into_iter().filter(|s| !graph.contains(*s)).collect();
        HnswIndex { graph, params, pending, broken: AtomicBool::new(false), panics: AtomicU64::new(0) }
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
    /// at (dead ones are just dropped).
    pub fn plan_pending(&self, points: &Points, n: usize, threads: usize) -> (Vec<InsertPlan>, Vec<InternalId>) {
        let seen: Vec<InternalId> = self.pending.iter().copied().take(n * threads.max(1)).collect();
        let todo: Vec<InternalId> =
            seen.iter().copied().filter(|&s| points.tracker.is_live(s) && !self.graph.contains(s)).collect();
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

    /// Link planned slots in and drop every slot looked at from the pending list.
    pub fn commit_pending(&mut self, points: &Points, plans: Vec<InsertPlan>, seen: &[InternalId]) {
        for p in plans {
            self.graph.commit_insert(p, &points.storage);
        }
        let seen: std::collections::HashSet<_> = seen.iter().copied().collect();
        self.pending.retain(|s| !seen.contains(s));
    }

    fn graph_search(&self, points: &Points, q: &Query<'_>) -> Option<Vec<(InternalId, f32)>> {
        let accept = |n: u32| q.accepts(points, InternalId(n));
        let ef = q.ef.max(q.k);
        match catch_unwind(AssertUnwindSafe(|| self.graph.search(q.vector, &points.storage, q.k, ef, &accept))) {
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
            return scan(points, q, &all());
        }
        if let Some(cands) = points.payloads.candidates(q.must) {
            if cands.len() <= self.params.exact_filter_limit {
                return scan(points, q, cands);
            }
        }
        if self.pending.len() * 2 >= points.tracker.live_count() {
            // Most live points are not in the graph yet (e.g. a bulk job replaced every
            // worker): the graph's nodes are mostly dead, a walk would visit nearly all of
            // them before it found ef live ones, and the pending scan reads most points
            // anyway. One exact scan is cheaper than both until the rebuild lands.
            return scan(points, q, &all());
        }
        let Some(from_graph) = self.graph_search(points, q) else {
            return scan(points, q, &all());
        };
        let from_pending = scan(points, q, &self.pending);
        let mut top = TopK::new(q.k);
        for (slot, score) in from_graph.into_iter().chain(from_pending) {
            top.push(slot, score);
        }
        let merged = top.into_sorted();
        if merged.len() < q.k {
            // The graph walk can miss points behind a filter; only an exact scan can prove
            // that fewer than k match.
            return scan(points, q, &all());
        }
        merged
    }

    fn kind(&self) -> IndexKind {
        IndexKind::Hnsw
    }
}

impl VectorIndex for HnswIndex {
    fn on_applied(&mut self, _points: &Points, added: &[InternalId]) {
        self.pending.extend_from_slice(added);
    }
}
