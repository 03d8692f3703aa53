//! Filterable keyword payload by internal slot, with interned strings so a filter check
//! is a few integer comparisons.

use std::collections::HashMap;

use crate::types::InternalId;

/// Interned (key, value) pairs of one point; values are lower-cased on the way in.
pub type PayloadRow = Box<[(u32, u32)]>;

/// Keyword payloads for all slots.
#[derive(Debug, Default)]
pub struct PayloadStore {
    symbols: HashMap<String, u32>,
    rows: Vec<PayloadRow>,
    /// Slots by (key, value). May hold dead slots (callers check liveness and the full
    /// row); rebuilt whenever slots are reclaimed, so a reused slot is never listed twice.
    postings: HashMap<(u32, u32), Vec<InternalId>>,
}

impl PayloadStore {
    fn intern(&mut self, s: &str) -> u32 {
        let s = s.trim().to_lowercase();
        let next = self.symbols.len() as u32;
        *self.symbols.entry(s).or_insert(next)
    }

    /// The symbol of `s` if it was ever stored (case-insensitive).
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.symbols.get(&s.trim().to_lowercase()).copied()
    }

    /// Store `pairs` for `slot`.
    pub fn set(&mut self, slot: InternalId, pairs: &[(String, String)]) {
        let row: PayloadRow = pairs.iter().map(|(k, v)| (self.intern(k), self.intern(v))).collect();
        if self.rows.len() <= slot.idx() {
            self.rows.resize_with(slot.idx() + 1, Default::default);
        }
        for pair in row.iter() {
            self.postings.entry(*pair).or_default().push(slot);
        }
        self.rows[slot.idx()] = row;
    }

    /// The shortest posting list among `must`'s pairs: every matching slot is in it.
    /// `None` when `must` is empty.
    pub fn candidates(&self, must: &[(u32, u32)]) -> Option<&[InternalId]> {
        must.iter().map(|p| self.postings.get(p).map(|v| v.as_slice()).unwrap_or(&[])).min_by_key(|v| v.len())
    }

    /// Rebuild the postings from the rows of the slots `keep` accepts.
    pub fn rebuild_postings(&mut self, keep: impl Fn(InternalId) -> bool) {
        self.postings.clear();
        for (i, row) in self.rows.iter().enumerate() {
            let slot = InternalId(i as u32);
            if keep(slot) {
                for pair in row.iter() {
                    self.postings.entry(*pair).or_default().push(slot);
                }
            }
        }
    }

    /// Whether `slot` has every pair in `must` (already interned).
    #[inline]
    pub fn matches(&self, slot: InternalId, must: &[(u32, u32)]) -> bool {
        match self.rows.get(slot.idx()) {
            Some(row) => must.iter().all(|m| row.contains(m)),
            None => must.is_empty(),
        }
    }
}
