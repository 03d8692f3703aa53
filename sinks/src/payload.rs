//! Filterable keyword payload by internal slot, with interned strings so a filter check
//! is a few integer comparisons.

use std::borrow::Cow;
use std::collections::HashMap;

use roaring::RoaringBitmap;

use crate::types::InternalId;

/// Interned (key, value) pairs of one point; values are lower-cased on the way in.
pub type PayloadRow = Box<[(u32, u32)]>;

/// Keyword payloads for all slots.
#[derive(Debug, Default)]
pub struct PayloadStore {
    symbols: HashMap<String, u32>,
    rows: Vec<PayloadRow>,
    /// Slots by (key, value), as compressed bitmaps (roaring: sorted arrays for sparse
    /// chunks, plain bitmaps for dense ones), so intersecting two lists of thousands costs
    /// microseconds. May hold dead slots (callers check liveness) until the next rebuild.
    postings: HashMap<(u32, u32), RoaringBitmap>,
}

/// How payload keys and values compare: trimmed, lower-cased (the overlay's filter checks
/// fold the same way).
pub(crate) fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

impl PayloadStore {
    fn intern(&mut self, s: &str) -> u32 {
        let s = fold(s);
        let next = self.symbols.len() as u32;
        *self.symbols.entry(s).or_insert(next)
    }

    /// The symbol of `s` if it was ever stored (case-insensitive).
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.symbols.get(&fold(s)).copied()
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
                list.remove(slot.0);
            }
        }
        for pair in row.iter().filter(|p| !old.contains(p)) {
            self.postings.entry(*pair).or_default().insert(slot.0);
        }
        self.rows[slot.idx()] = row;
    }

    /// The slots in every posting list of `must`'s pairs; `None` when `must` is empty. May
    /// hold dead slots. A single pair's list is borrowed, not copied. Iterate it with
    /// [`slots`].
    pub fn candidates(&self, must: &[(u32, u32)]) -> Option<Cow<'_, RoaringBitmap>> {
        // A pair no slot has: nothing matches.
        let Some(mut lists) = must.iter().map(|p| self.postings.get(p)).collect::<Option<Vec<_>>>() else {
            return Some(Cow::Owned(RoaringBitmap::new()));
        };
        lists.sort_by_key(|l| l.len());
        match lists.as_slice() {
            [] => None,
            [only] => Some(Cow::Borrowed(only)),
            [a, b, rest @ ..] => {
                let mut out = *a & *b;
                for list in rest {
                    out &= *list;
                }
                Some(Cow::Owned(out))
            }
        }
    }

    /// Rebuild the postings from the rows of the slots `keep` accepts; the rows of the others
    /// are dropped (a slot's row and its postings always agree).
    pub fn rebuild_postings(&mut self, keep: impl Fn(InternalId) -> bool) {
        self.postings.clear();
        for (i, row) in self.rows.iter_mut().enumerate() {
            let slot = InternalId(i as u32);
            if keep(slot) {
                for pair in row.iter() {
                    // Ascending slots: an append to each bitmap's last chunk.
                    let list = self.postings.entry(*pair).or_default();
                    if list.try_push(slot.0).is_err() {
                        list.insert(slot.0);
                    }
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

/// The slots of a candidate set, ascending.
pub fn slots(set: &RoaringBitmap) -> impl Iterator<Item = InternalId> + '_ {
    set.iter().map(InternalId)
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

    fn cands(p: &PayloadStore, must: &[(u32, u32)]) -> Option<Vec<InternalId>> {
        p.candidates(must).map(|c| slots(&c).collect())
    }

    #[test]
    fn rewriting_a_row_moves_its_postings_without_duplicates() {
        let mut p = PayloadStore::default();
        let s = InternalId(0);
        p.set(s, &pairs("Austin", "welder"));
        p.set(s, &pairs("Austin", "welder"));
        p.set(s, &pairs("Dallas", "welder"));
        p.set(s, &pairs("Austin", "welder"));
        assert_eq!(cands(&p, &must(&p, "city", "austin")), Some(vec![s]));
        assert_eq!(cands(&p, &must(&p, "city", "dallas")), Some(vec![]));
        assert_eq!(cands(&p, &must(&p, "role", "welder")), Some(vec![s]));
        // A dropped row leaves no trace: writing the same pairs again lists the slot again.
        p.rebuild_postings(|_| false);
        assert_eq!(cands(&p, &must(&p, "role", "welder")), Some(vec![]));
        p.set(s, &pairs("Austin", "welder"));
        assert_eq!(cands(&p, &must(&p, "role", "welder")), Some(vec![s]));
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
        let got = cands(&p, &both).unwrap();
        let want: Vec<InternalId> = (0..300u32).filter(|i| i % 3 == 2 && (i / 3) % 2 == 1).map(InternalId).collect();
        assert_eq!(got, want);
        assert!(got.iter().all(|s| p.matches(*s, &both)));
        assert_eq!(p.candidates(&[]), None);
        // A pair given twice (three lists), and a pair nobody has.
        let mut three = both.clone();
        three.extend(must(&p, "city", "reno"));
        assert_eq!(cands(&p, &three).unwrap(), want);
        let unknown = p.symbols.len() as u32 + 7;
        three.push((unknown, unknown));
        assert_eq!(cands(&p, &three), Some(vec![]));
    }
}
