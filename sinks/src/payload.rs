//! Filterable keyword payload by internal slot, with interned strings so a filter check
//! is a few integer comparisons.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::types::InternalId;

/// Interned (key, value) pairs of one point; values are lower-cased on the way in.
pub type PayloadRow = Box<[(u32, u32)]>;

/// Keyword payloads for all slots.
#[derive(Debug, Default)]
pub struct PayloadStore {
    symbols: HashMap<String, u32>,
    rows: Vec<PayloadRow>,
    /// Slots by (key, value), ascending, each at most once. May hold dead slots (callers
    /// check liveness) until the next rebuild.
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

    /// Store `pairs` for `slot`, replacing its row: the slot leaves the postings of pairs it
    /// no longer has and joins those of new ones, so no posting list names a slot twice.
    pub fn set(&mut self, slot: InternalId, pairs: &[(String, String)]) {
        let row: PayloadRow = pairs.iter().map(|(k, v)| (self.intern(k), self.intern(v))).collect();
        if self.rows.len() <= slot.idx() {
            self.rows.resize_with(slot.idx() + 1, Default::default);
        }
        let old = std::mem::take(&mut self.rows[slot.idx()]);
        for pair in old.iter().filter(|p| !row.contains(p)) {
            if let Some(list) = self.postings.get_mut(pair) {
                if let Ok(i) = list.binary_search(&slot) {
                    list.remove(i);
                }
            }
        }
        for pair in row.iter().filter(|p| !old.contains(p)) {
            let list = self.postings.entry(*pair).or_default();
            if let Err(i) = list.binary_search(&slot) {
                list.insert(i, slot);
            }
        }
        self.rows[slot.idx()] = row;
    }

    /// The slots in every posting list of `must`'s pairs (each list is sorted, so this is a
    /// merge, not a lookup of each slot's row), ascending; `None` when `must` is empty.
    /// May hold dead slots. A single pair's list is borrowed, not copied.
    pub fn candidates(&self, must: &[(u32, u32)]) -> Option<Cow<'_, [InternalId]>> {
        let mut lists: Vec<&[InternalId]> =
            must.iter().map(|p| self.postings.get(p).map(|v| v.as_slice()).unwrap_or(&[])).collect();
        lists.sort_by_key(|l| l.len());
        let (first, rest) = lists.split_first()?;
        if rest.is_empty() {
            return Some(Cow::Borrowed(first));
        }
        let mut out = first.to_vec();
        for list in rest {
            let mut at = 0;
            out.retain(|s| {
                // Both are sorted: each search starts where the last one ended.
                at = gallop(list, at, *s);
                list.get(at) == Some(s)
            });
        }
        Some(Cow::Owned(out))
    }

    /// Rebuild the postings from the rows of the slots `keep` accepts; the rows of the others
    /// are dropped (a slot's row and its postings always agree).
    pub fn rebuild_postings(&mut self, keep: impl Fn(InternalId) -> bool) {
        self.postings.clear();
        for (i, row) in self.rows.iter_mut().enumerate() {
            let slot = InternalId(i as u32);
            if keep(slot) {
                for pair in row.iter() {
                    self.postings.entry(*pair).or_default().push(slot);
                }
            } else {
                *row = PayloadRow::default();
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

/// The first index at or after `from` whose element is not below `s` (`list` sorted):
/// doubling steps from `from`, then a binary search in the last step. Intersecting lists
/// of similar length costs O(1) per element this way, where a binary search over the rest
/// of the list cost O(log n) cache-missing probes (8.7% of the server's CPU under load,
/// `docs/BENCHMARKS.md`).
fn gallop(list: &[InternalId], from: usize, s: InternalId) -> usize {
    let from = from.min(list.len());
    let rest = &list[from..];
    let mut bound = 1;
    while bound < rest.len() && rest[bound - 1] < s {
        bound *= 2;
    }
    let lo = bound / 2;
    let hi = bound.min(rest.len());
    from + lo + rest[lo..hi].partition_point(|x| *x < s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(city: &str, role: &str) -> Vec<(String, String)> {
        vec![("city".into(), city.into()), ("role".into(), role.into())]
    }

    fn must(p: &PayloadStore, k: &str, v: &str) -> Vec<(u32, u32)> {
        vec![(p.lookup(k).unwrap(), p.lookup(v).unwrap())]
    }

    #[test]
    fn rewriting_a_row_moves_its_postings_without_duplicates() {
        let mut p = PayloadStore::default();
        let s = InternalId(0);
        p.set(s, &pairs("Austin", "welder"));
        p.set(s, &pairs("Austin", "welder"));
        p.set(s, &pairs("Dallas", "welder"));
        p.set(s, &pairs("Austin", "welder"));
        assert_eq!(p.candidates(&must(&p, "city", "austin")), Some(vec![s].into()));
        assert_eq!(p.candidates(&must(&p, "city", "dallas")), Some(vec![].into()));
        assert_eq!(p.candidates(&must(&p, "role", "welder")), Some(vec![s].into()));
        // A dropped row leaves no trace: writing the same pairs again lists the slot again.
        p.rebuild_postings(|_| false);
        assert_eq!(p.candidates(&must(&p, "role", "welder")), Some(vec![].into()));
        p.set(s, &pairs("Austin", "welder"));
        assert_eq!(p.candidates(&must(&p, "role", "welder")), Some(vec![s].into()));
    }

    #[test]
    fn candidates_are_the_intersection_of_the_filters() {
        let mut p = PayloadStore::default();
        let cities = ["Austin", "Dallas", "Reno"];
        let roles = ["welder", "cook"];
        // Written out of slot order, and rewritten, so lists stay sorted through inserts.
        for i in (0..300u32).rev().chain(0..50) {
            p.set(InternalId(i), &pairs(cities[i as usize % 3], roles[(i as usize / 3) % 2]));
        }
        let mut both = must(&p, "city", "reno");
        both.extend(must(&p, "role", "cook"));
        let got = p.candidates(&both).unwrap();
        let want: Vec<InternalId> = (0..300u32).filter(|i| i % 3 == 2 && (i / 3) % 2 == 1).map(InternalId).collect();
        assert_eq!(got.as_ref(), want.as_slice());
        assert!(got.iter().all(|s| p.matches(*s, &both)));
        assert_eq!(p.candidates(&[]), None);
    }

    #[test]
    fn gallop_finds_the_same_index_as_a_binary_search() {
        let lists: Vec<Vec<InternalId>> = vec![
            vec![],
            vec![InternalId(5)],
            (0..100).map(|i| InternalId(i * 3)).collect(),
            (0..37).map(|i| InternalId(i * i)).collect(),
        ];
        for list in &lists {
            for from in 0..=list.len() + 1 {
                for s in 0..(list.last().map_or(10, |x| x.0 + 5)) {
                    let s = InternalId(s);
                    let f = from.min(list.len());
                    let want = f + list[f..].partition_point(|x| *x < s);
                    assert_eq!(gallop(list, from, s), want, "list of {}, from {from}, s {}", list.len(), s.0);
                }
            }
        }
    }
}
