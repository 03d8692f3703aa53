//! The only place that decides between the exact and the HNSW index.

use crate::index::IndexKind;

/// The index kind a collection of `live` points should use, given the kind it has now.
///
/// Hysteresis: a collection switches to HNSW once it reaches `threshold` points and back to
/// exact only when it shrinks below half of it, so a size hovering at the threshold does not
/// rebuild the graph over and over.
pub fn choose(live: usize, threshold: usize, current: IndexKind) -> IndexKind {
    match current {
        IndexKind::Exact if live >= threshold => IndexKind::Hnsw,
        IndexKind::Exact => IndexKind::Exact,
        IndexKind::Hnsw if live < threshold / 2 => IndexKind::Exact,
        IndexKind::Hnsw => IndexKind::Hnsw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_with_hysteresis() {
        assert_eq!(choose(99, 100, IndexKind::Exact), IndexKind::Exact);
        assert_eq!(choose(100, 100, IndexKind::Exact), IndexKind::Hnsw);
        assert_eq!(choose(60, 100, IndexKind::Hnsw), IndexKind::Hnsw);
        assert_eq!(choose(49, 100, IndexKind::Hnsw), IndexKind::Exact);
    }
}
