//! Graph search with hnsw_rs, plus an exact scan of the points the graph does not hold yet.
//!
//! hnsw_rs has no delete and asserts on unnormalised input, so this wrapper never lets it
//! own anything that matters: the graph stores slots whose vectors live in
//! [`VectorStorage`](crate::vector_storage::VectorStorage); dead slots are skipped with a
//! search filter; every call into the crate is wrapped in `catch_unwind`, and a panic marks
//! the graph broken (searches fall back to an exact scan, and the indexer rebuilds it).
//!
//! # Notes
//! A keyword filter whose shortest posting list is small is answered by an exact scan of
//! that list: a filtered graph walk gets many times slower as the filter gets selective.
//! If the graph returns fewer than `k` results, the search falls back to an exact scan,
//! so a search never returns fewer than `k` while `k` live points match.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hnsw_rs::prelude::{DistDot, Hnsw};

use crate::index::exact::scan;
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
        HnswParams { m: 16, ef_construction: 100, ef_search: 64, exact_filter_limit: 20_000 }
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
    graph: Arc<Graph>,
    params: HnswParams,
    /// `in_graph[slot]`: the graph holds this slot (with the vector the slot holds now).
    in_graph: Vec<bool>,
    graph_len: usize,
    /// Live slots written since the graph was built and not inserted yet: scanned exactly.
    pending: Vec<InternalId>,
    broken: AtomicBool,
    panics: AtomicU64,
}

impl HnswIndex {
    /// Wrap a freshly built graph that holds exactly `built` slots; every other live slot
    /// becomes pending.
    pub fn from_graph(graph: Arc<Graph>, params: HnswParams, points: &Points, built: &[InternalId]) -> Self {
        let mut in_graph = vec![false; points.tracker.capacity()];
        for s in built {
            in_graph[s.idx()] = true;
        }
        let pending = points.tracker.live_slots().into_iter().filter(|s| !in_graph[s.idx()]).collect();
        HnswIndex {
            graph,
            params,
            in_graph,
            graph_len: built.len(),
            pending,
            broken: AtomicBool::new(false),
            panics: AtomicU64::new(0),
        }
    }

    /// The graph, for the indexer's inserts.
    pub fn graph(&self) -> Arc<Graph> {
        Arc::clone(&self.graph)
    }

    /// Points in the graph (live or dead).
    pub fn graph_len(&self) -> usize {
        self.graph_len
    }

    /// Slots waiting to be inserted (some may have died meanwhile).
    pub fn pending(&self) -> &[InternalId] {
        &self.pending
    }

    /// Whether the graph holds `slot`.
    pub fn contains(&self, slot: InternalId) -> bool {
        self.in_graph.get(slot.idx()).copied().unwrap_or(false)
    }

    /// Whether a graph operation panicked (the graph must be rebuilt).
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Panics caught in graph operations so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Record a caught panic.
    pub fn mark_broken(&self) {
        self.broken.store(true, Ordering::Relaxed);
        self.panics.fetch_add(1, Ordering::Relaxed);
        tracing::error!("hnsw_rs panicked; serving exact scans until the graph is rebuilt");
    }

    /// The indexer inserted `slots` into the graph: they leave the pending list.
    pub fn mark_inserted(&mut self, slots: &[InternalId]) {
        for s in slots {
            if self.in_graph.len() <= s.idx() {
                self.in_graph.resize(s.idx() + 1, false);
            }
            if !self.in_graph[s.idx()] {
                self.in_graph[s.idx()] = true;
                self.graph_len += 1;
            }
        }
        let in_graph = &self.in_graph;
        self.pending.retain(|s| !in_graph.get(s.idx()).copied().unwrap_or(false));
    }

    fn graph_search(&self, points: &Points, q: &Query<'_>) -> Option<Vec<(InternalId, f32)>> {
        let filter = |d: &usize| q.accepts(points, InternalId(*d as u32));
        let filtered = q.is_filtered();
        let ef = q.ef.max(q.k);
        let res = catch_unwind(AssertUnwindSafe(|| {
            if filtered {
                self.graph.search_filter(q.vector, q.k, ef, Some(&filter))
            } else {
                // Unfiltered: only dead slots need skipping; most searches see none.
                self.graph.search_filter(
                    q.vector,
                    q.k,
                    ef,
                    Some(&|d: &usize| points.tracker.is_live(InternalId(*d as u32))),
                )
            }
        }));
        match res {
            Ok(neigh) => Some(neigh.into_iter().map(|n| (InternalId(n.d_id as u32), 1.0 - n.distance)).collect()),
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
