//! The sinks crate's error type.

use thiserror::Error;

/// Errors raised by the vector collections.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SinkError {
    /// A vector had the wrong number of components.
    #[error("vector for {id:?} has dimension {got}, the collection expects {expected}")]
    DimensionMismatch {
        /// External id of the offending point ("<query>" for queries).
        id: String,
        /// The collection's dimension.
        expected: usize,
        /// The dimension received.
        got: usize,
    },
    /// A vector contained NaN/inf or had zero norm.
    #[error("vector for {id:?} is invalid: {reason}")]
    InvalidVector {
        /// External id of the offending point ("<query>" for queries).
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `k` was zero or larger than the configured maximum.
    #[error("k must be between 1 and {max}, got {k}")]
    InvalidK {
        /// The requested k.
        k: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// The configuration is unusable.
    #[error("invalid collection config: {reason}")]
    InvalidConfig {
        /// What is wrong with it.
        reason: String,
    },
    /// The background indexer thread could not be started.
    #[error("could not start the indexer thread: {source}")]
    Spawn {
        /// The OS error.
        #[from]
        source: std::io::Error,
    },
}

impl SinkError {
    /// A dimension mismatch for `id`.
    pub fn dimension(id: &str, expected: usize, got: usize) -> Self {
        SinkError::DimensionMismatch { id: id.to_owned(), expected, got }
    }

    /// An invalid vector for `id`.
    pub fn invalid(id: &str, reason: &'static str) -> Self {
        SinkError::InvalidVector { id: id.to_owned(), reason }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, SinkError>;
