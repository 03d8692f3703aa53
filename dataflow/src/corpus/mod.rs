//! The staffing worker corpus: deterministic generation and parquet storage.
//!
//! - [`vocab`]: static staffing vocabulary (roles, skills, certifications, pay ranges,
//!   US metros, names) with popularity weights.
//! - [`generate`]: [`generate_workers`], [`generate_validator_pool`],
//!   [`generate_corpus`] — pure functions of a seed.
//! - [`parquet_io`]: [`write_workers`] / [`read_workers`] / [`open_workers`] to and from
//!   parquet with the [`worker_schema`] layout.

use std::path::PathBuf;

pub mod generate;
pub mod parquet_io;
pub mod vocab;

pub use generate::{
    generate_corpus, generate_validator_pool, generate_workers, validator_pool_combos, BASE_UPDATED_AT_MS,
    REFERENCE_DAY, VALIDATOR_POOL_SIZE,
};
pub use parquet_io::{open_workers, read_workers, worker_schema, write_workers, RowRead, WorkerBatches};

/// An error reading or writing a corpus file. Every message starts with the file path.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file (or its directory, or the temporary file next to it) could not be
    /// opened, created, written, synced or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not a readable parquet file (bad magic, corrupt footer).
    #[error("{}: not a parquet file: {message}", path.display())]
    NotParquet {
        /// The file concerned.
        path: PathBuf,
        /// What the parquet reader reported.
        message: String,
    },
    /// A required column is absent.
    #[error("{}: missing required column \"{column}\"", path.display())]
    MissingColumn {
        /// The file concerned.
        path: PathBuf,
        /// Name of the missing column.
        column: String,
    },
    /// A column exists but has a type that cannot be read as the expected one.
    #[error("{}: column \"{column}\": expected {expected}, found {found}", path.display())]
    ColumnType {
        /// The file concerned.
        path: PathBuf,
        /// Name of the column.
        column: String,
        /// The expected (canonical) type, e.g. `Utf8`.
        expected: String,
        /// The type found in the file, e.g. `Int64`.
        found: String,
    },
    /// A value in one row cannot be converted (null in a required column, out of range,
    /// mismatched certification lists, ...).
    #[error("{}: row {row}: column \"{column}\": {message}", path.display())]
    Row {
        /// The file concerned.
        path: PathBuf,
        /// 0-based row index within the file.
        row: usize,
        /// Name of the column.
        column: String,
        /// What is wrong with the value.
        message: String,
    },
    /// Any other parquet or arrow failure while reading or writing.
    #[error("{}: parquet error: {message}", path.display())]
    Parquet {
        /// The file concerned.
        path: PathBuf,
        /// What the parquet/arrow library reported.
        message: String,
    },
}
