//! Brute-force search over every live point, fully recomputed on change.
//!
//! It holds nothing but the list of live slots, rebuilt from the id tracker after every
//! applied batch, so there is no incremental state that a sequence of writes could corrupt
//! (the failure mode of the Go system's small HNSW indexes).

use crate::index::topk::TopK;
use crate::index::{IndexKind, Points, Query, VectorIndex, VectorIndexRead};
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
pub fn scan<'a>(
    points: &Points,
    q: &Query<'_>,
    slots: impl IntoIterator<Item = &'a InternalId>,
) -> Vec<(InternalId, f32)> {
    let mut top = TopK::new(q.k);
    for &slot in slots {
        if q.accepts(points, slot) {
            top.push(slot, dot(q.vector, points.storage.get(slot)));
        }
    }
    top.into_sorted()
}

impl VectorIndexRead for ExactIndex {
    fn search(&self, points: &Points, q: &Query<'_>) -> Vec<(InternalId, f32)> {
        match points.payloads.candidates(q.must) {
            Some(cands) if cands.len() < self.live.len() => scan(points, q, cands.iter()),
            _ => scan(points, q, &self.live),
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
