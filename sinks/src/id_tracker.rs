//! External id ↔ dense internal slot, tombstones and free slots.
//!
//! # Notes
//! An upsert of an existing id keeps its slot: graphs read vectors from storage and the
//! index relinks a changed node, so a slot's node never serves a stale vector. A new id
//! takes a free slot, else a dead one (a tombstone a graph may still hold as a node: the
//! index relinks it like a changed node), else a new one. Free slots are made by
//! [`IdTracker::reclaim`], which the indexer calls when it knows which dead slots no graph
//! references.

use foldhash::HashMap;

use crate::types::{ExternalId, InternalId};

/// Maps external ids to slots and tracks which slots are live, dead or free.
#[derive(Debug, Default)]
pub struct IdTracker {
    by_external: HashMap<ExternalId, InternalId>,
    by_internal: Vec<Option<ExternalId>>,
    live: Vec<bool>,
    /// Dead slots that may still be referenced by a graph.
    tombstones: Vec<InternalId>,
    free: Vec<InternalId>,
}

impl IdTracker {
    /// The slot of `id`: its current one if live (then `true`: the caller overwrites a live
    /// point), else a free, dead or new slot.
    pub fn upsert(&mut self, id: ExternalId) -> (InternalId, bool) {
        if let Some(&slot) = self.by_external.get(&id) {
            return (slot, true);
        }
        let slot = match self.free.pop().or_else(|| self.tombstones.pop()) {
            Some(s) => s,
            None => {
                self.by_internal.push(None);
                self.live.push(false);
                InternalId((self.by_internal.len() - 1) as u32)
            }
        };
        self.by_internal[slot.idx()] = Some(id.clone());
        self.live[slot.idx()] = true;
        self.by_external.insert(id, slot);
        (slot, false)
    }

    /// Tombstone `id`'s slot. Returns it, or `None` if the id is unknown.
    pub fn delete(&mut self, id: &ExternalId) -> Option<InternalId> {
        let slot = self.by_external.remove(id)?;
        self.live[slot.idx()] = false;
        self.tombstones.push(slot);
        Some(slot)
    }

    /// Whether `slot` holds a live point.
    #[inline]
    pub fn is_live(&self, slot: InternalId) -> bool {
        self.live.get(slot.idx()).copied().unwrap_or(false)
    }

    /// The external id of a live slot.
    pub fn external(&self, slot: InternalId) -> Option<&ExternalId> {
        if self.is_live(slot) {
            self.by_internal.get(slot.idx()).and_then(|x| x.as_ref())
        } else {
            None
        }
    }

    /// The slot of a live external id.
    pub fn internal(&self, id: &str) -> Option<InternalId> {
        self.by_external.get(id).copied()
    }

    /// Number of live points.
    pub fn live_count(&self) -> usize {
        self.by_external.len()
    }

    /// Number of dead slots not yet reclaimed.
    pub fn tombstone_count(&self) -> usize {
        self.tombstones.len()
    }

    /// Number of slots ever allocated (live, dead and free).
    pub fn capacity(&self) -> usize {
        self.by_internal.len()
    }

    /// All live slots, in slot order.
    pub fn live_slots(&self) -> Vec<InternalId> {
        self.live.iter().enumerate().filter(|(_, l)| **l).map(|(i, _)| InternalId(i as u32)).collect()
    }

    /// Make every tombstone that `referenced` says no graph uses free for reuse.
    pub fn reclaim(&mut self, referenced: impl Fn(InternalId) -> bool) {
        let mut kept = Vec::new();
        for slot in self.tombstones.drain(..) {
            if referenced(slot) {
                kept.push(slot);
            } else {
                self.by_internal[slot.idx()] = None;
                self.free.push(slot);
            }
        }
        self.tombstones = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn upsert_keeps_the_slot_and_new_ids_reuse_dead_ones() {
        let mut t = IdTracker::default();
        let (a, replaced) = t.upsert("a".into());
        assert!(!replaced);
        let (a2, replaced) = t.upsert("a".into());
        assert!(replaced);
        assert_eq!(a, a2, "a replaced point keeps its slot");
        assert_eq!(t.live_count(), 1);
        assert_eq!(t.tombstone_count(), 0);
        t.delete(&"a".into());
        assert_eq!(t.tombstone_count(), 1);
        t.reclaim(|_| true);
        assert_eq!(t.tombstone_count(), 1, "referenced tombstones are kept");
        let (b, replaced) = t.upsert("b".into());
        assert!(!replaced);
        assert_eq!(b, a, "a new id takes a dead slot");
        assert_eq!(t.tombstone_count(), 0);
        assert_eq!(t.external(b).map(|e| e.as_str()), Some("b"));
        t.delete(&"b".into());
        t.reclaim(|_| false);
        assert_eq!(t.tombstone_count(), 0);
        let (c, _) = t.upsert("c".into());
        assert_eq!(c, a, "a reclaimed slot is reused");
        assert_eq!(t.capacity(), 1);
    }

    proptest! {
        /// The tracker agrees with a set model over random upsert/delete/reclaim sequences.
        #[test]
        fn matches_set_model(ops in proptest::collection::vec((0u8..3, 0u8..12), 0..200)) {
            let mut t = IdTracker::default();
            let mut model: HashSet<String> = HashSet::new();
            for (op, key) in ops {
                let id = format!("k{key}");
                match op {
                    0 => { t.upsert(id.clone().into()); model.insert(id); }
                    1 => { let r = t.delete(&id.clone().into()); prop_assert_eq!(r.is_some(), model.remove(&id)); }
                    _ => t.reclaim(|s| s.0 % 2 == 0),
                }
                prop_assert_eq!(t.live_count(), model.len());
                for k in &model {
                    let slot = t.internal(k).expect("live id has a slot");
                    prop_assert_eq!(t.external(slot).map(|e| e.as_str()), Some(k.as_str()));
                }
                let live: HashSet<_> = t.live_slots().into_iter().collect();
                prop_assert_eq!(live.len(), model.len());
            }
        }
    }
}
