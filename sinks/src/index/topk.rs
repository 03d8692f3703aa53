//! A bounded best-k collector.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::types::InternalId;

#[derive(PartialEq)]
struct Entry(f32, InternalId);

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    // Reversed so the heap's top is the *worst* kept entry; ties broken by slot so results
    // are deterministic.
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0).then_with(|| self.1.cmp(&other.1))
    }
}

/// Keeps the `k` highest-scoring slots.
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    /// An empty collector for `k` results.
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }

    /// The score a candidate must beat to enter (−∞ until full).
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap.peek().map(|e| e.0).unwrap_or(f32::NEG_INFINITY)
        }
    }

    /// Offer a candidate.
    #[inline]
    pub fn push(&mut self, slot: InternalId, score: f32) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Entry(score, slot));
        } else if score > self.threshold() {
            self.heap.pop();
            self.heap.push(Entry(score, slot));
        }
    }

    /// Results, best first.
    pub fn into_sorted(self) -> Vec<(InternalId, f32)> {
        let mut v: Vec<_> = self.heap.into_iter().map(|e| (e.1, e.0)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_k_in_order() {
        let mut t = TopK::new(3);
        for (i, s) in [0.1f32, 0.9, 0.5, 0.7, 0.2].iter().enumerate() {
            t.push(InternalId(i as u32), *s);
        }
        let r = t.into_sorted();
        assert_eq!(r.iter().map(|x| x.0 .0).collect::<Vec<_>>(), vec![1, 3, 2]);
    }
}
