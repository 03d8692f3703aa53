//! Writes applied to a collection but not yet merged into its index: the small, mutable
//! part of a collection, in the way qdrant keeps an appendable segment beside its indexed
//! ones.
//!
//! A commit adds its batch here under a mutex held for a few map inserts, never waiting for
//! a search, and the batch is searchable at once: a search walks the indexed points with
//! the overlay's ids hidden and scans the overlay exactly. The collection's indexer merges
//! the overlay into the indexed points every [`crate::CollectionConfig::merge_interval`],
//! under the collection's write lock, and drops what it merged in the same critical
//! section; so under the read lock, the indexed points plus the overlay are always the
//! collection's current contents.
//!
//! The overlay is copy-on-write (`Arc`): a reader takes a snapshot by cloning the `Arc`,
//! and a commit while snapshots are held clones the map, which stays small (one merge
//! interval of writes).

use std::collections::HashMap;
use std::sync::Arc;

use crate::simd::dot;
use crate::types::ExternalId;

/// One written point: its normalised vector, its payload as given, and the payload's pairs
/// trimmed and lower-cased for filter checks (the index interns them the same way).
#[derive(Debug)]
pub(crate) struct FreshPoint {
    pub vector: Vec<f32>,
    pub payload: Vec<(String, String)>,
    keys: Vec<(String, String)>,
}

impl FreshPoint {
    pub fn new(vector: Vec<f32>, payload: Vec<(String, String)>) -> Self {
        let keys = payload.iter().map(|(k, v)| (fold(k), fold(v))).collect();
        FreshPoint { vector, payload, keys }
    }

    /// Whether the point has every pair of `must` (already folded with [`fold`]).
    pub fn matches(&self, must: &[(String, String)]) -> bool {
        must.iter().all(|p| self.keys.contains(p))
    }
}

/// How payload keys and values compare: trimmed, lower-cased.
pub(crate) fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The newest unmerged write of one id: a point, or `None` for a delete. `seq` tells the
/// merger whether the entry it merged is still the newest.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub seq: u64,
    pub point: Option<Arc<FreshPoint>>,
}

/// Unmerged writes by id, newest per id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Overlay {
    entries: HashMap<ExternalId, Entry>,
    next_seq: u64,
}

impl Overlay {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Record a write; a later write of the same id replaces it.
    pub fn put(&mut self, id: ExternalId, point: Option<FreshPoint>) {
        self.next_seq += 1;
        self.entries.insert(id, Entry { seq: self.next_seq, point: point.map(Arc::new) });
    }

    /// The newest unmerged write of `id`, if any: `Some(None)` for a delete.
    pub fn get(&self, id: &str) -> Option<Option<&FreshPoint>> {
        self.entries.get(id).map(|e| e.point.as_deref())
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ExternalId, &Entry)> {
        self.entries.iter()
    }

    /// Drop the entries of `merged` that were not written again since.
    pub fn forget(&mut self, merged: &Overlay) {
        for (id, e) in &merged.entries {
            if self.entries.get(id).is_some_and(|mine| mine.seq == e.seq) {
                self.entries.remove(id);
            }
        }
    }

    /// `q · v` of the newest unmerged vector of `id`: `None` if `id` has no entry,
    /// `Some(None)` if its newest write deletes it.
    pub fn dot_with(&self, id: &str, q: &[f32]) -> Option<Option<f32>> {
        self.get(id).map(|p| p.filter(|p| p.vector.len() == q.len()).map(|p| dot(q, &p.vector)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f32) -> Option<FreshPoint> {
        Some(FreshPoint::new(vec![x, 0.0], vec![(" City ".into(), "Austin".into())]))
    }

    #[test]
    fn newest_write_wins_and_forget_keeps_rewritten_ids() {
        let mut ov = Overlay::default();
        ov.put("a".into(), point(1.0));
        ov.put("b".into(), point(2.0));
        let merged = ov.clone();
        ov.put("a".into(), None); // rewritten after the merger's snapshot
        assert_eq!(ov.get("a").map(|p| p.is_none()), Some(true));
        ov.forget(&merged);
        assert!(ov.contains("a"), "a was written again after the snapshot");
        assert!(!ov.contains("b"));
        assert_eq!(ov.len(), 1);
        ov.forget(&ov.clone());
        assert!(ov.is_empty());
    }

    #[test]
    fn filters_compare_trimmed_lower_case_pairs() {
        let p = point(1.0).unwrap();
        assert!(p.matches(&[(fold("city"), fold("AUSTIN "))]));
        assert!(!p.matches(&[(fold("city"), fold("dallas"))]));
        assert!(p.matches(&[]));
        let mut ov = Overlay::default();
        ov.put("a".into(), point(0.5));
        ov.put("d".into(), None);
        assert_eq!(ov.dot_with("a", &[1.0, 0.0]), Some(Some(0.5)));
        assert_eq!(ov.dot_with("d", &[1.0, 0.0]), Some(None));
        assert_eq!(ov.dot_with("z", &[1.0, 0.0]), None);
    }
}
