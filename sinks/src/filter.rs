//! Search requests: query vector, k, keyword filters, excluded ids and a caller predicate.

use std::collections::HashSet;
use std::sync::Arc;

use crate::payload::PayloadStore;

/// Keyword equality filters: a point matches when it has every `(key, value)` pair
/// (case-insensitive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Pairs that must all be present.
    pub must: Vec<(String, String)>,
}

impl Filter {
    /// Add a required pair.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.must.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Resolve to interned symbols; `None` when some value was never stored (nothing matches).
    pub(crate) fn resolve(&self, payloads: &PayloadStore) -> Option<Vec<(u32, u32)>> {
        self.must.iter().map(|(k, v)| Some((payloads.lookup(k)?, payloads.lookup(v)?))).collect()
    }
}

/// A predicate over external ids, evaluated for candidate points (e.g. "not already placed
/// on an overlapping fill"). It must be cheap and must not block.
pub type Predicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// One search.
#[derive(Clone)]
pub struct SearchRequest {
    /// The query vector; normalised by the collection.
    pub vector: Vec<f32>,
    /// Number of results wanted.
    pub k: usize,
    /// Keyword filters.
    pub filter: Filter,
    /// Ids that must not be returned.
    pub exclude: HashSet<String>,
    /// Extra condition on candidates.
    pub predicate: Option<Predicate>,
    /// Graph search breadth; `None` uses the collection's default.
    pub ef: Option<usize>,
}

impl SearchRequest {
    /// A plain top-`k` search.
    pub fn new(vector: Vec<f32>, k: usize) -> Self {
        SearchRequest { vector, k, filter: Filter::default(), exclude: HashSet::new(), predicate: None, ef: None }
    }

    /// Whether anything beyond liveness restricts the candidates.
    pub fn is_filtered(&self) -> bool {
        !self.filter.must.is_empty() || !self.exclude.is_empty() || self.predicate.is_some()
    }
}

impl std::fmt::Debug for SearchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchRequest")
            .field("dim", &self.vector.len())
            .field("k", &self.k)
            .field("filter", &self.filter)
            .field("exclude", &self.exclude.len())
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}
