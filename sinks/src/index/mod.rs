//! The index layer: one read trait, one write trait, two strategies and the enum that
//! dispatches over them.
//!
//! [`ExactIndex`] scans every live point; [`HnswIndex`] walks an hnsw_rs graph and scans
//! the points the graph does not hold yet. Both read the same [`Points`]; neither owns a
//! vector. [`builder::choose`] is the only place that decides which one a collection uses.

pub mod builder;
pub mod exact;
pub mod flat;
pub mod hnsw;
pub mod topk;

use std::collections::HashSet;

use fixedbitset::FixedBitSet;

pub use exact::ExactIndex;
pub use hnsw::{HnswIndex, HnswParams};

use crate::filter::Predicate;
use crate::id_tracker::IdTracker;
use crate::payload::PayloadStore;
use crate::types::InternalId;
use crate::vector_storage::VectorStorage;

/// The data every index reads: ids, vectors, payloads.
#[derive(Debug)]
pub struct Points {
    /// External ↔ internal ids and tombstones.
    pub tracker: IdTracker,
    /// Vectors by slot.
    pub storage: VectorStorage,
    /// Filterable payloads by slot.
    pub payloads: PayloadStore,
}

impl Points {
    /// Empty points of dimension `dim`.
    pub fn new(dim: usize) -> Self {
        Points { tracker: IdTracker::default(), storage: VectorStorage::new(dim), payloads: PayloadStore::default() }
    }
}

/// A resolved query: what every index implementation receives.
pub struct Query<'a> {
    /// Unit-length query vector.
    pub vector: &'a [f32],
    /// Results wanted.
    pub k: usize,
    /// Graph search breadth.
    pub ef: usize,
    /// Interned keyword pairs that must match (empty = no keyword filter).
    pub must: &'a [(u32, u32)],
    /// Excluded external ids.
    pub exclude: &'a HashSet<String>,
    /// Caller predicate on external ids.
    pub predicate: Option<&'a Predicate>,
    /// Slots to pass over as if dead: points whose newest write is still in the
    /// collection's overlay, which the collection scores itself.
    pub hidden: Option<&'a FixedBitSet>,
}

impl Query<'_> {
    /// Whether `slot` is live and not hidden.
    #[inline]
    pub fn visible(&self, points: &Points, slot: InternalId) -> bool {
        points.tracker.is_live(slot) && self.hidden.is_none_or(|h| !h.contains(slot.idx()))
    }

    /// Whether `slot` is live, not hidden, and passes every filter.
    #[inline]
    pub fn accepts(&self, points: &Points, slot: InternalId) -> bool {
        let Some(ext) = points.tracker.external(slot) else { return false };
        if self.hidden.is_some_and(|h| h.contains(slot.idx())) {
            return false;
        }
        if !self.must.is_empty() && !points.payloads.matches(slot, self.must) {
            return false;
        }
        if !self.exclude.is_empty() && self.exclude.contains(ext.as_str()) {
            return false;
        }
        match self.predicate {
            Some(p) => p(ext.as_str()),
            None => true,
        }
    }

    /// Whether anything beyond liveness restricts the candidates.
    pub fn is_filtered(&self) -> bool {
        !self.must.is_empty() || !self.exclude.is_empty() || self.predicate.is_some()
    }
}

/// Which strategy an index uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexKind {
    /// Brute-force scan.
    Exact,
    /// hnsw_rs graph plus a scan of not-yet-indexed points.
    Hnsw,
}

/// The query side of an index.
pub trait VectorIndexRead {
    /// Top-`k` live points accepted by `q`, best first, as (slot, cosine similarity).
    ///
    /// Contract: never returns a dead, excluded or filtered-out point, and returns fewer
    /// than `k` results only when fewer than `k` live points pass the filters.
    fn search(&self, points: &Points, q: &Query<'_>) -> Vec<(InternalId, f32)>;

    /// Which strategy this is.
    fn kind(&self) -> IndexKind;
}

/// The update side of an index: told about slots after the writer has stored them.
pub trait VectorIndex: VectorIndexRead {
    /// `added` slots were just written to `points`: new points, or points overwritten in place.
    /// Implementations must make every added slot searchable before returning: this is what
    /// makes an applied write visible at once.
    fn on_applied(&mut self, points: &Points, added: &[InternalId]);
}

/// The index of a collection: dispatches over the strategies with an exhaustive match.
pub enum AnyIndex {
    /// Below the size threshold.
    Exact(ExactIndex),
    /// Above it.
    Hnsw(Box<HnswIndex>),
}

impl VectorIndexRead for AnyIndex {
    fn search(&self, points: &Points, q: &Query<'_>) -> Vec<(InternalId, f32)> {
        match self {
            AnyIndex::Exact(i) => i.search(points, q),
            AnyIndex::Hnsw(i) => i.search(points, q),
        }
    }

    fn kind(&self) -> IndexKind {
        match self {
            AnyIndex::Exact(i) => i.kind(),
            AnyIndex::Hnsw(i) => i.kind(),
        }
    }
}

impl VectorIndex for AnyIndex {
    fn on_applied(&mut self, points: &Points, added: &[InternalId]) {
        match self {
            AnyIndex::Exact(i) => i.on_applied(points, added),
            AnyIndex::Hnsw(i) => i.on_applied(points, added),
        }
    }
}
