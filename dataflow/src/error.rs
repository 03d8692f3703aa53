//! The dataflow crate's error type.

use thiserror::Error;

use crate::corpus::CorpusError;
use crate::embed::EmbedError;
use crate::engine::durable::StorageError;

/// Errors raised by the engine.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataflowError {
    /// Reading or writing a corpus failed.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The embedder could not be built.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// A vector index could not be built.
    #[error(transparent)]
    Sink(#[from] sinks::SinkError),
    /// The configuration is unusable.
    #[error("invalid engine config: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The engine is shutting down or its dataflow has stopped.
    #[error("the engine is not running")]
    Stopped,
    /// A search request is unusable.
    #[error("invalid search: {field}: {reason}")]
    InvalidSearch {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Durable storage failed: a write could not be logged (disk full, permission denied,
    /// read-only or missing directory, failed fsync), or a snapshot or the log could not be
    /// read or written. Writes are refused; reads keep being served.
    #[error("storage unavailable while {action}: {source}")]
    Storage {
        /// What the engine was doing.
        action: String,
        /// The underlying fault.
        #[source]
        source: StorageError,
    },
    /// The data directory's indexes were built with another embedder (or dimension); start
    /// with that embedder, or re-embed (`DurabilityConfig::reembed`, `lakehouse serve --reembed`).
    #[error(
        "the data directory {} was indexed with embedder {stored} ({stored_dim} dims), but this start uses \
         {configured} ({configured_dim} dims): start with the same --embedder, or pass --reembed to re-embed \
         every worker with {configured} (vectors are never mixed)",
        dir.display()
    )]
    EmbedderMismatch {
        /// The data directory.
        dir: std::path::PathBuf,
        /// The embedder recorded in it.
        stored: String,
        /// Its dimension.
        stored_dim: usize,
        /// The embedder of this start.
        configured: String,
        /// Its dimension.
        configured_dim: usize,
    },
    /// Timely could not start its workers.
    #[error("could not start the dataflow: {reason}")]
    Start {
        /// Timely's message.
        reason: String,
    },
}

impl DataflowError {
    /// An invalid search field.
    pub fn search(field: &'static str, reason: impl Into<String>) -> Self {
        DataflowError::InvalidSearch { field, reason: reason.into() }
    }
}

impl DataflowError {
    /// A storage fault while doing `action`.
    pub fn storage(action: impl Into<String>, source: impl Into<StorageError>) -> Self {
        DataflowError::Storage { action: action.into(), source: source.into() }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataflowError>;
