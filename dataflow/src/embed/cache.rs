//! [`QueryCache`]: a bounded, thread-safe LRU cache of query embeddings with hit/miss
//! counters.
//!
//! Coordinators repeat searches ("forklift houston", "Forklift  Houston"), so caching
//! the query vector saves the embedding on every repeat. Keys are normalised (trimmed,
//! lower-cased, inner whitespace collapsed) and the *normalised* text is what gets
//! embedded, so a cached vector never depends on which spelling arrived first.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::Embedder;

/// Snapshot of a [`QueryCache`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to embed (including every lookup when caching is disabled).
    pub misses: u64,
    /// Entries currently cached.
    pub len: usize,
    /// Maximum number of entries (0 = caching disabled).
    pub capacity: usize,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0.0 before the first lookup.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// Bounded LRU cache from normalised query text to its embedding.
///
/// Thread-safe: share it behind an `Arc`. The lock is held only for map operations,
/// never while embedding, so a slow embedder does not serialise concurrent misses (two
/// threads missing on the same key may both embed; the second insert simply replaces
/// the first with an identical vector).
pub struct QueryCache {
    /// `None` when capacity is 0: nothing is stored and every lookup misses.
    entries: Option<Mutex<LruCache<String, Arc<[f32]>>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for QueryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCache").field("stats", &self.stats()).finish()
    }
}

impl QueryCache {
    /// Creates a cache holding at most `capacity` embeddings; 0 disables caching.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(|cap| Mutex::new(LruCache::new(cap))),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Returns the embedding of `text`'s normalised form, from the cache when present,
    /// otherwise by embedding it (outside the lock) and caching the result.
    ///
    /// The cache key also carries the embedder's name and dimension, so one cache shared
    /// by two embedders never hands one's vector to the other.
    pub fn get_or_embed(&self, embedder: &dyn Embedder, text: &str) -> Arc<[f32]> {
        let Some(entries) = &self.entries else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Arc::from(embedder.embed(&normalise_query(text)));
        };
        // One allocation: the key is `prefix + normalised text`, and the text to embed
        // on a miss is the key's tail.
        let (key, text_start) = cache_key(embedder, text);
        if let Some(hit) = entries.lock().get(key.as_str()) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Arc::clone(hit);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let vector: Arc<[f32]> = Arc::from(embedder.embed(&key[text_start..]));
        entries.lock().put(key, Arc::clone(&vector));
        vector
    }

    /// The cached embedding of `text`, without embedding it on a miss (for callers that must
    /// not spend an embedder's time). Counts nothing: a caller that uses the vector counts
    /// the hit ([`QueryCache::count_hit`]), and one that goes on to
    /// [`QueryCache::get_or_embed`] is counted there.
    pub fn get(&self, embedder: &dyn Embedder, text: &str) -> Option<Arc<[f32]>> {
        let (key, _) = cache_key(embedder, text);
        self.entries.as_ref()?.lock().get(key.as_str()).cloned()
    }

    /// Count a hit of [`QueryCache::get`] whose vector was used.
    pub fn count_hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Current counters and occupancy.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            len: self.entries.as_ref().map_or(0, |e| e.lock().len()),
            capacity: self.capacity,
        }
    }
}

/// Trims, lower-cases and collapses runs of whitespace to one space.
fn normalise_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_normalised(&mut out, text);
    out
}

/// Appends the normalised form of `text` (see [`normalise_query`]) to `out`.
fn push_normalised(out: &mut String, text: &str) {
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
}

/// `name NUL dim NUL normalised-text`, and where the text starts. The prefix keeps
/// embedders (or one embedder at two dimensions) apart; unambiguous as long as embedder
/// names contain no NUL, which names never do.
fn cache_key(embedder: &dyn Embedder, text: &str) -> (String, usize) {
    use std::fmt::Write as _;
    let name = embedder.name();
    let mut key = String::with_capacity(name.len() + text.len() + 8);
    key.push_str(name);
    // Writing into a String cannot fail.
    let _ = write!(key, "\0{}\0", embedder.dim());
    let start = key.len();
    push_normalised(&mut key, text);
    (key, start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashingEmbedder;
    use std::sync::atomic::AtomicUsize;

    /// Counts embed calls so tests can see whether the cache embedded.
    struct Counting {
        inner: HashingEmbedder,
        calls: AtomicUsize,
    }

    impl Counting {
        fn new() -> Self {
            Self { inner: HashingEmbedder::new(32).unwrap(), calls: AtomicUsize::new(0) }
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl Embedder for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn embed(&self, text: &str) -> Vec<f32> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.embed(text)
        }
    }

    #[test]
    fn hit_after_miss() {
        let e = Counting::new();
        let c = QueryCache::new(8);
        let a = c.get_or_embed(&e, "forklift houston");
        let b = c.get_or_embed(&e, "forklift houston");
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(e.calls(), 1);
        let s = c.stats();
        assert_eq!(s, CacheStats { hits: 1, misses: 1, len: 1, capacity: 8 });
        assert!((s.hit_rate() - 0.5).abs() < 1e-12);
        assert_eq!(&*a, e.inner.embed("forklift houston").as_slice());
    }

    #[test]
    fn key_normalisation() {
        let e = Counting::new();
        let c = QueryCache::new(8);
        let a = c.get_or_embed(&e, "Forklift Houston");
        let b = c.get_or_embed(&e, "  forklift \t\n HOUSTON  ");
        let d = c.get_or_embed(&e, "forklift houston");
        assert!(Arc::ptr_eq(&a, &b) && Arc::ptr_eq(&a, &d));
        assert_eq!(e.calls(), 1);
        assert_eq!(c.stats().hits, 2);
        assert_ne!(c.get_or_embed(&e, "forklift dallas"), a);
        assert_eq!(normalise_query("  ÄRZTIN   München "), "ärztin münchen");
        assert_eq!(normalise_query(" \t "), "");
        let (key, start) = cache_key(&e, "  A  b ");
        assert_eq!((key.as_str(), &key[start..]), ("counting\x0032\x00a b", "a b"));
    }

    #[test]
    fn different_embedders_do_not_share_entries() {
        let e = Counting::new();
        let h = HashingEmbedder::new(64).unwrap();
        let c = QueryCache::new(8);
        let a = c.get_or_embed(&e, "welder");
        let b = c.get_or_embed(&h, "welder");
        assert_eq!(a.len(), 32);
        assert_eq!(b.len(), 64);
        assert_eq!(c.stats().misses, 2);
    }

    #[test]
    fn evicts_least_recently_used() {
        let e = Counting::new();
        let c = QueryCache::new(2);
        c.get_or_embed(&e, "a1");
        c.get_or_embed(&e, "b2");
        c.get_or_embed(&e, "a1"); // a1 now most recent; b2 is the LRU
        c.get_or_embed(&e, "c3"); // evicts b2
        assert_eq!(c.stats().len, 2);
        assert_eq!(e.calls(), 3);
        c.get_or_embed(&e, "a1");
        c.get_or_embed(&e, "c3");
        assert_eq!(e.calls(), 3, "a1 and c3 are still cached");
        c.get_or_embed(&e, "b2");
        assert_eq!(e.calls(), 4, "b2 was evicted");
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.len, s.capacity), (3, 4, 2, 2));
    }

    #[test]
    fn capacity_zero_disables_caching() {
        let e = Counting::new();
        let c = QueryCache::new(0);
        let a = c.get_or_embed(&e, "welder");
        let b = c.get_or_embed(&e, "welder");
        assert_eq!(a, b);
        assert_eq!(e.calls(), 2);
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.len, s.capacity), (0, 2, 0, 0));
        assert_eq!(s.hit_rate(), 0.0);
    }

    #[test]
    fn empty_stats() {
        let c = QueryCache::new(4);
        assert_eq!(c.stats().hit_rate(), 0.0);
        assert_eq!(c.stats().len, 0);
        assert!(format!("{c:?}").contains("capacity: 4"));
    }

    #[test]
    fn counts_under_threads() {
        let e = Counting::new();
        let c = QueryCache::new(64);
        const THREADS: usize = 4;
        const ROUNDS: usize = 250;
        const KEYS: usize = 10;
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (e, c) = (&e, &c);
                s.spawn(move || {
                    for r in 0..ROUNDS {
                        let v = c.get_or_embed(e, &format!("query {}", (r + t) % KEYS));
                        assert_eq!(v.len(), 32);
                    }
                });
            }
        });
        let s = c.stats();
        assert_eq!(s.hits + s.misses, (THREADS * ROUNDS) as u64);
        assert_eq!(s.misses as usize, e.calls());
        // Every key misses at least once; racing first lookups may miss more than once.
        assert!(s.misses >= KEYS as u64 && s.misses <= (KEYS * THREADS) as u64);
        assert_eq!(s.len, KEYS);
    }
}
