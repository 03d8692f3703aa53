//! A hash map whose growth never stops the world.
//!
//! A `HashMap` doubles its table when it fills up and rehashes every entry at once. For the
//! maps the write path keeps per worker or per record (100k–1M entries here), one doubling
//! took 300 ms of the dataflow thread on a loaded box, and every write queued behind it
//! waited that long to become visible. [`ShardedMap`] splits the keys over [`SHARDS`]
//! independent tables, so a doubling moves 1/64 of the entries.
//!
//! # Notes
//! The shard is picked by a hasher seeded apart from the shards' own: with one hasher, all
//! keys of a shard would share the hash bits that pick it, which the table also uses to
//! tell entries apart. No lock is added: callers that share a map wrap it, as before.

use std::borrow::Borrow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use foldhash::fast::RandomState;

/// Shards per map: a doubling rehashes about 1/64 of the entries.
pub const SHARDS: usize = 64;

/// A hash map split over [`SHARDS`] tables that grow independently.
#[derive(Clone, Debug)]
pub struct ShardedMap<K, V> {
    pick: RandomState,
    shards: Box<[HashMap<K, V, RandomState>]>,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> ShardedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        ShardedMap { pick: RandomState::default(), shards: (0..SHARDS).map(|_| HashMap::default()).collect() }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(HashMap::is_empty)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|s| s.iter())
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        // The top bits: the low ones are what a shard's own table would use if the seeds met.
        (self.pick.hash_one(key) >> (64 - SHARDS.trailing_zeros())) as usize
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.shards[self.shard_of(key)].get(key)
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let i = self.shard_of(&key);
        self.shards[i].insert(key, value)
    }

    /// Removes `key`; returns its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let i = self.shard_of(key);
        self.shards[i].remove(key)
    }

    /// The entry of `key`, for in-place insertion or update.
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        let i = self.shard_of(&key);
        self.shards[i].entry(key)
    }

    /// `map[key] = value`, or removes `key` when `value` is `None`.
    pub fn set_or_remove(&mut self, key: K, value: Option<V>) {
        match value {
            Some(v) => {
                self.insert(key, v);
            }
            None => {
                self.remove(&key);
            }
        }
    }
}

impl<K: Hash + Eq, V> FromIterator<(K, V)> for ShardedMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Self::new();
        m.extend(iter);
        m
    }
}

impl<K: Hash + Eq, V> Extend<(K, V)> for ShardedMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_spread_over_the_shards_and_each_grows_alone() {
        let m: ShardedMap<String, usize> = (0..64_000).map(|i| (format!("w-{i:07}"), i)).collect();
        assert_eq!(m.len(), 64_000);
        let sizes: Vec<usize> = m.shards.iter().map(HashMap::len).collect();
        // 1,000 a shard on average; a shard with twice that would rehash twice the entries.
        assert!(sizes.iter().all(|&n| (800..1_200).contains(&n)), "{sizes:?}");
        // So no table is larger than a small fraction of the map.
        assert!(m.shards.iter().all(|s| s.capacity() < 4_096), "a shard's table holds ~1/64 of the keys");
        assert_eq!(m.get("w-0000042"), Some(&42));
        assert_eq!(m.get("w-9999999"), None);
    }

    proptest! {
        /// Any sequence of inserts, updates and removes leaves the same map as std's.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((0u16..300, proptest::option::of(0u32..1000)), 0..400)) {
            let mut ours: ShardedMap<String, u32> = ShardedMap::new();
            let mut std_map: HashMap<String, u32> = HashMap::new();
            for (k, v) in ops {
                let key = format!("k{k}");
                match v {
                    Some(v) if k % 3 == 0 => {
                        *ours.entry(key.clone()).or_default() += v;
                        *std_map.entry(key).or_default() += v;
                    }
                    Some(v) => prop_assert_eq!(ours.insert(key.clone(), v), std_map.insert(key, v)),
                    None => prop_assert_eq!(ours.remove(key.as_str()), std_map.remove(&key)),
                }
            }
            prop_assert_eq!(ours.len(), std_map.len());
            prop_assert_eq!(ours.is_empty(), std_map.is_empty());
            let mut a: Vec<(String, u32)> = ours.iter().map(|(k, v)| (k.clone(), *v)).collect();
            let mut b: Vec<(String, u32)> = std_map.into_iter().collect();
            a.sort();
            b.sort();
            prop_assert_eq!(a, b);
        }
    }
}
