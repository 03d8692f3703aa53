//! Brute-force search over every live point, fully recomputed on change.
//!
//! It holds nothing but the list of live slots, rebuilt from the id tracker after every
//! applied batch, so there is no incremental state that a sequence of writes could corrupt
//! (the failure mode of the Go system's small HNSW indexes).

use roaring::RoaringBitmap;

use crate::index::topk::TopK;
use crate::index::{IndexKind, Points, Query, VectorIndex, VectorIndexRead};
use crate::payload::slots;
use crate::simd::dot;
use crate::types::InternalId;

/// Exact search by scanning.
#[derive(Debug, Default)]
pub struct ExactIndex {
    live: Vec<InternalId>,
}

impl ExactIndex {
    /// An exact index over the current live points.
    pub fn build(points: &Points) -> Self {
        ExactIndex { live: points.tracker.live_slots() }
    }
}

/// Score every slot in `slots` that `q` accepts and keep the best `q.k`.
pub fn scan(points: &Points, q: &Query<'_>, slots: impl IntoIterator<Item = InternalId>) -> Vec<(InternalId, f32)> {
    let mut top = TopK::new(q.k);
    for slot in slots {
        if q.accepts(points, slot) {
            top.push(slot, dot(q.vector, points.storage.get(slot)));
        }
    }
    top.into_sorted()
}

/// [`scan`] over a filter's candidates (from [`crate::payload::PayloadStore::candidates`]):
/// they hold every pair of `q.must` already, so only liveness and the other filters are
/// checked per slot.
pub fn scan_candidates(points: &Points, q: &Query<'_>, cands: &RoaringBitmap) -> Vec<(InternalId, f32)> {
    scan(points, &Query { must: &[], ..*q }, slots(cands))
}

impl VectorIndexRead for ExactIndex {
    fn search(&self, points: &Points, q: &Query<'_>) -> Vec<(InternalId, f32)> {
        match points.payloads.candidates(q.must) {
            Some(cands) if (cands.len() as usize) < self.live.len() => scan_candidates(points, q, &cands),
            _ => scan(points, q, self.live.iter().copied()),
        }
    }

    fn kind(&self) -> IndexKind {
        IndexKind::Exact
    }
}

impl VectorIndex for ExactIndex {
    fn on_applied(&mut self, points: &Points, _added: &[InternalId]) {
        self.live = points.tracker.live_slots();
    }
}
