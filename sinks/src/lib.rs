//! Materialized vector indexes maintained from dataflow diffs.
//!
//! A [`VectorCollection`] owns the source of truth for one named index — the vectors,
//! the id tracker (external id ↔ internal slot, tombstones) and the filterable payload —
//! and an index over it: an [`ExactIndex`](index::ExactIndex) scan below a size threshold
//! and an [`HnswIndex`](index::HnswIndex) (hnsw_rs) above it. The graph never owns data:
//! a panicking or failed graph operation loses nothing, and the graph can always be
//! rebuilt from the storage.
//!
//! One writer (the dataflow sink) calls [`VectorCollection::apply`]; many readers call
//! [`VectorCollection::search`]. An applied batch goes to a small overlay that searches scan
//! exactly, so it is searchable as soon as `apply` returns and `apply` never waits for a
//! search. Merging the overlay into the indexed points, graph inserts and rebuilds run on a
//! background indexer thread; points that are not yet in the graph are searched exactly.
//!
//! ```
//! use sinks::{CollectionConfig, PointUpdate, SearchRequest, VectorCollection};
//! let col = VectorCollection::new("demo", CollectionConfig::new(4)).unwrap();
//! assert!(col.apply(vec![PointUpdate::upsert("a", vec![1.0, 0.0, 0.0, 0.0], vec![("city".into(), "austin".into())])], 1).is_empty());
//! let hits = col.search(&SearchRequest::new(vec![1.0, 0.0, 0.0, 0.0], 1)).unwrap();
//! assert_eq!(hits[0].id.as_str(), "a");
//! ```
#![deny(missing_docs)]

pub mod collection;
pub mod error;
pub mod filter;
pub mod id_tracker;
pub mod index;
pub(crate) mod overlay;
pub mod payload;
pub mod sharded;
pub mod simd;
pub mod types;
pub mod vector_storage;

pub use collection::{
    CollectionConfig, CollectionStats, PointUpdate, PreparedUpdates, Reader, Scorer, VectorCollection, Walk,
};
pub use error::{Result, SinkError};
pub use filter::{Filter, SearchRequest};
pub use index::IndexKind;
pub use sharded::ShardedMap;
pub use types::{ExternalId, InternalId, ScoredPoint};
