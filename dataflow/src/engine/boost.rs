//! The playbook's memory of one request text: its recent fills and the weight they give
//! each worker.
//!
//! # Notes
//! A fill counts in full when it is the newest for its request and at [`DECAY`]× for each
//! later fill of the same request (half after 7). So the worker just recorded always gains
//! weight, however often the request was filled before: a capped sum of raw counts would
//! saturate on a popular request, leaving every worker at the cap and a new fill no way to
//! lift anyone. Only the newest [`HISTORY`] fills are kept (an older one would weigh less
//! than 0.1%). Fills are ordered by the version in their record id, so a history rebuilt
//! from a snapshot in any order weighs the same.

use std::collections::HashMap;

use crate::commands::RecordId;

/// Weight kept by a fill per later fill of the same request.
pub const DECAY: f32 = 0.9;
/// Fills remembered per request.
pub const HISTORY: usize = 64;

/// Recent fills of one request text, oldest first, and the weight per worker.
#[derive(Debug, Default)]
pub struct RequestHistory {
    fills: Vec<((u64, u64), Vec<String>)>,
    weights: HashMap<String, f32>,
    /// Every market (role, city, state) this request was filled for, lower-cased.
    markets: Vec<Market>,
}

/// A job's market: role, city and state, compared as the fill validator compares them
/// (trimmed, lower-cased, inner whitespace collapsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Market([String; 3]);

impl Market {
    /// The market of a job in `role`, `city`, `state`.
    pub fn new(role: &str, city: &str, state: &str) -> Self {
        Market([role, city, state].map(crate::validators::fill::normalise))
    }

    /// As payload pairs for the playbook index (keys as the worker index's filters).
    pub fn pairs(&self) -> [(String, String); 3] {
        let [role, city, state] = self.0.clone();
        [("role".to_owned(), role), ("city".to_owned(), city), ("state".to_owned(), state)]
    }
}

/// `(version, n)` of a record id `pb-<version>-<n>`; anything else sorts first.
fn order(id: &RecordId) -> (u64, u64) {
    let mut parts = id.0.strip_prefix("pb-").unwrap_or("").splitn(2, '-');
    let mut num = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (num(), num())
}

impl RequestHistory {
    /// Add a fill of `workers` by record `id`.
    pub fn add(&mut self, id: &RecordId, workers: impl IntoIterator<Item = String>) {
        let key = order(id);
        let at = self.fills.partition_point(|(k, _)| *k <= key);
        self.fills.insert(at, (key, workers.into_iter().collect()));
        if self.fills.len() > HISTORY {
            let extra = self.fills.len() - HISTORY;
            self.fills.drain(..extra);
        }
        self.weights.clear();
        let mut w = 1.0;
        for (_, workers) in self.fills.iter().rev() {
            for id in workers {
                *self.weights.entry(id.clone()).or_default() += w;
            }
            w *= DECAY;
        }
    }

    /// Note that the request was filled for `market` (once per market).
    pub fn add_market(&mut self, market: Market) {
        if !self.markets.contains(&market) {
            self.markets.push(market);
        }
    }

    /// Forget `market` (its point could not be re-indexed with it).
    pub fn remove_market(&mut self, market: &Market) {
        self.markets.retain(|m| m != market);
    }

    /// Whether the request was ever filled for `market`.
    pub fn has_market(&self, market: &Market) -> bool {
        self.markets.contains(market)
    }

    /// The markets the request was filled for, as payload pairs (a row may hold a key more
    /// than once: it matches a filter on any of its values).
    pub fn market_payload(&self) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self.markets.iter().flat_map(Market::pairs).collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }

    /// Decayed fill count per worker: 1.0 for one fill that is the newest.
    pub fn weights(&self) -> &HashMap<String, f32> {
        &self.weights
    }

    /// Fills remembered.
    pub fn len(&self) -> usize {
        self.fills.len()
    }

    /// Whether no fill is remembered.
    pub fn is_empty(&self) -> bool {
        self.fills.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(v: u64, n: u64) -> RecordId {
        RecordId(format!("pb-{v}-{n}"))
    }

    #[test]
    fn the_newest_fill_counts_most_and_order_of_arrival_does_not_matter() {
        let mut h = RequestHistory::default();
        h.add(&rid(10, 0), ["a".to_owned()]);
        h.add(&rid(30, 0), ["b".to_owned()]);
        h.add(&rid(20, 0), ["a".to_owned(), "c".to_owned()]);
        let w = h.weights();
        assert_eq!(w["b"], 1.0);
        assert!((w["c"] - DECAY).abs() < 1e-6);
        assert!((w["a"] - (DECAY + DECAY * DECAY)).abs() < 1e-6);
        let mut again = RequestHistory::default();
        for (v, ids) in [(20, vec!["a", "c"]), (30, vec!["b"]), (10, vec!["a"])] {
            again.add(&rid(v, 0), ids.into_iter().map(str::to_owned));
        }
        assert_eq!(again.weights(), h.weights());
    }

    #[test]
    fn a_new_fill_lifts_its_worker_however_popular_the_request() {
        let mut h = RequestHistory::default();
        for i in 0..1_000 {
            h.add(&rid(i, 0), [format!("w{}", i % 7)]);
        }
        assert_eq!(h.len(), HISTORY);
        let before = h.weights().get("x").copied().unwrap_or(0.0);
        h.add(&rid(5_000, 0), ["x".to_owned()]);
        assert_eq!(before, 0.0);
        assert_eq!(h.weights()["x"], 1.0);
        // A worker filled every time keeps gaining, towards 1 / (1 - DECAY).
        let mut h = RequestHistory::default();
        let mut last = 0.0;
        for i in 0..40 {
            h.add(&rid(i, 0), ["y".to_owned()]);
            let now = h.weights()["y"];
            assert!(now > last);
            last = now;
        }
        assert!(last < 1.0 / (1.0 - DECAY));
    }
}
