//! Writes applied to a collection but not yet merged into its index: the small, mutable
//! part of a collection, in the way qdrant keeps an appendable segment beside its indexed
//! ones.
//!
//! A commit replaces the overlay with a copy that holds its batch, never waiting for a
//! search, and the batch is searchable at once: a search walks the indexed points with
//! the overlay's ids hidden and scans the overlay exactly. The collection's indexer merges
//! the overlay into the indexed points every [`crate::CollectionConfig::merge_interval`],
//! under the collection's write lock, and drops what it merged in the same critical
//! section; so under the read lock, the indexed points plus the overlay are always the
//! collection's current contents.
//!
//! The collection keeps it in an `ArcSwap` (the `arc-swap` crate): a search loads a snapshot
//! without taking a lock (it does so twice per search, from every search thread, and a
//! mutex there would be the most contended lock of the server), and a commit stores a new
//! copy; the map stays small (one merge interval of writes).

use std::sync::{Arc, OnceLock};

use fixedbitset::FixedBitSet;
use foldhash::{HashMap, HashMapExt};

use crate::payload::fold;
use crate::simd::dot;
use crate::types::ExternalId;

/// One written point: its normalised vector, its payload as given, and the payload's pairs
/// folded for filter checks as the index interns them ([`fold`]).
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

/// The newest unmerged write of one id: a point, or `None` for a delete. `seq` tells the
/// merger whether the entry it merged is still the newest.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub seq: u64,
    pub point: Option<Arc<FreshPoint>>,
}

/// Unmerged writes by id, newest per id.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    entries: HashMap<ExternalId, Entry>,
    last_seq: u64,
    /// The indexed slots of these ids, computed by the first search that needs them (see
    /// [`Overlay::hidden`]) and shared by every search of this snapshot.
    hidden: OnceLock<FixedBitSet>,
}

impl Clone for Overlay {
    fn clone(&self) -> Self {
        // A copy is made to be changed: it computes its own slots.
        Overlay { entries: self.entries.clone(), last_seq: self.last_seq, hidden: OnceLock::new() }
    }
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
        self.hidden = OnceLock::new();
        self.last_seq += 1;
        self.entries.insert(id, Entry { seq: self.last_seq, point: point.map(Arc::new) });
    }

    /// The newest unmerged write of `id`, if any: `Some(None)` for a delete.
    pub fn get(&self, id: &str) -> Option<Option<&FreshPoint>> {
        self.entries.get(id).map(|e| e.point.as_deref())
    }

    /// The sequence number of `id`'s newest unmerged write.
    pub fn seq(&self, id: &str) -> Option<u64> {
        self.entries.get(id).map(|e| e.seq)
    }

    /// The sequence number of the newest write so far (merged or not).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The entries written after sequence number `seq`.
    pub fn since(&self, seq: u64) -> impl Iterator<Item = (&ExternalId, &Entry)> {
        self.entries.iter().filter(move |(_, e)| e.seq > seq)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ExternalId, &Entry)> {
        self.entries.iter()
    }

    /// Drop the entries of `merged` that were not written again since.
    pub fn forget(&mut self, merged: &Overlay) {
        self.hidden = OnceLock::new();
        for (id, e) in &merged.entries {
            if self.entries.get(id).is_some_and(|mine| mine.seq == e.seq) {
                self.entries.remove(id);
            }
        }
    }

    /// An empty overlay that goes on numbering writes after this one.
    pub fn emptied(&self) -> Overlay {
        Overlay { entries: HashMap::new(), last_seq: self.last_seq, hidden: OnceLock::new() }
    }

    /// The indexed slots (`slot_of`) of the ids written here, which a search must pass over:
    /// a plain bit per slot, as a graph walk tests it for every node it accepts (a bit test
    /// where a roaring lookup cost a binary search). Computed once per overlay: the indexed
    /// points change only in a merge, under the collection's write lock, and a merge leaves
    /// a changed or a new overlay behind.
    pub fn hidden(&self, slot_of: impl Fn(&str) -> Option<u32>) -> &FixedBitSet {
        self.hidden.get_or_init(|| {
            let slots: Vec<usize> =
                self.entries.keys().filter_map(|id| slot_of(id.as_str())).map(|s| s as usize).collect();
            let mut set = FixedBitSet::with_capacity(slots.iter().max().map_or(0, |m| m + 1));
            slots.into_iter().for_each(|s| set.insert(s));
            set
        })
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
        ov.put("c".into(), None);
        let seq = |o: &Overlay| o.entries["c"].seq;
        let mut next = ov.emptied();
        assert!(next.is_empty());
        next.put("c".into(), None);
        assert!(seq(&next) > seq(&ov), "numbering goes on");
        // The hidden slots follow every change, and a copy computes its own.
        let slot = |id: &str| Some(id.len() as u32);
        assert_eq!(next.hidden(slot).ones().collect::<Vec<_>>(), vec![1]);
        next.put("dd".into(), None);
        assert_eq!(next.hidden(slot).ones().collect::<Vec<_>>(), vec![1, 2]);
        assert!(!next.hidden(slot).contains(100), "past the end: not hidden");
        let copy = next.clone();
        next.forget(&copy);
        assert!(next.hidden(slot).is_clear());
        assert!(copy.hidden(|_| None).is_clear(), "computed afresh, from its own slot_of");
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
