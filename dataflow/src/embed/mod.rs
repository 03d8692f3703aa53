//! Text embedding: the [`Embedder`] contract, its implementations — the built-in
//! [`HashingEmbedder`], all-MiniLM-L6-v2 in pure Rust ([`MiniLmEmbedder`]) and the static
//! embedder distilled from it ([`StaticEmbedder`], written by [`distill()`]) — the choice
//! between them ([`select`]) and the bounded [`QueryCache`] for query embeddings.
//!
//! Embeddings are what the vector index stores for every worker (from
//! [`crate::record::WorkerRecord::embedding_text`]) and what a coordinator's search text
//! is turned into. Both sides must use the same embedder (same [`Embedder::name`] and
//! [`Embedder::dim`]), otherwise distances are meaningless.

pub mod cache;
pub mod distill;
pub mod hashing;
pub mod minilm;
pub mod select;
pub mod static_model;
pub mod wordpiece;

use std::path::PathBuf;

pub use cache::{CacheStats, QueryCache};
pub use distill::{distill, DistillConfig, DistillReport};
pub use hashing::HashingEmbedder;
pub use minilm::{MiniLmConfig, MiniLmEmbedder};
pub use select::{select, EmbedderKind, ModelPaths, Selected};
pub use static_model::StaticEmbedder;

/// Turns text into a fixed-size dense vector.
///
/// Contract: deterministic (same text → bit-identical vector, across runs and
/// platforms); the output has exactly [`dim`](Embedder::dim) entries and is
/// L2-normalised (norm 1 ± 1e-5), or is all zeros when the text has no features (the
/// caller rejects those, since a zero vector has no direction to compare).
pub trait Embedder: Send + Sync + 'static {
    /// Stable model identifier, e.g. `hashing-v1`. Changing the algorithm in a way that
    /// moves vectors must change the name, so stale indexes can be detected.
    fn name(&self) -> &str;

    /// Number of entries in every vector this embedder returns.
    fn dim(&self) -> usize;

    /// Embeds one text.
    fn embed(&self, text: &str) -> Vec<f32>;

    /// Embeds several texts; the result is in input order. Implementations may override
    /// this to amortise per-call work.
    fn embed_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        texts.iter().map(|t| self.embed(t)).collect()
    }
}

/// Errors from constructing an embedder.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The requested dimension is outside the supported range
    /// ([`hashing::MIN_DIM`]..=[`hashing::MAX_DIM`]).
    #[error("invalid embedding dimension {dim}: must be between {} and {}", hashing::MIN_DIM, hashing::MAX_DIM)]
    InvalidDimension {
        /// The rejected dimension.
        dim: usize,
    },
    /// A model file is missing, unreadable or corrupt.
    #[error("{}: {reason}; {hint}", path.display())]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The command that (re)creates it.
        hint: &'static str,
    },
    /// The model failed at run time (thread pool, forward pass, decomposition).
    #[error("{reason}")]
    Runtime {
        /// What failed.
        reason: String,
    },
    /// The named embedder cannot be used (e.g. its files are absent).
    #[error("embedder {kind}: {reason}")]
    Unavailable {
        /// Which embedder was asked for.
        kind: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
}
