//! `LoadError`, the library's one error type, and the exit code each variant maps to.

use std::path::PathBuf;

/// Everything that can stop a load run before it produces a report.
///
/// A failed *scenario* is not an error: it is data in the report. These are the
/// failures of the harness itself (bad configuration, unwritable output, a target
/// that never became ready).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A flag or flag combination is invalid; `flag` names it (e.g. `--stages`).
    #[error("invalid {flag}: {message}")]
    Config {
        /// The offending flag, as typed on the command line.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Reading or writing a file under the output directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a parquet file failed.
    #[error("{path}: {source}")]
    Parquet {
        /// The parquet file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building an Arrow record batch failed (a schema/column mismatch: a bug).
    #[error("building arrow batch for {table}: {source}")]
    Arrow {
        /// The table (`steps`, `scenarios`, `freshness`).
        table: &'static str,
        /// The underlying error.
        #[source]
        source: arrow_schema::ArrowError,
    },
    /// Serialising a histogram failed.
    #[error("serialising histogram {name}: {message}")]
    Histogram {
        /// The histogram's name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The target did not answer `GET /health` (or serve results) in time.
    #[error("target {url} not ready after {waited_s:.1}s: {last_error}")]
    NotReady {
        /// The base URL polled.
        url: String,
        /// How long we waited.
        waited_s: f64,
        /// The last thing that went wrong.
        last_error: String,
    },
    /// The embedded server or its corpus could not be set up.
    #[error("embedded server: {0}")]
    Embedded(String),
    /// The thread writing the run's outputs failed (a bug).
    #[error("output writer: {0}")]
    Writer(String),
}

impl LoadError {
    /// Shorthand for [`LoadError::Config`].
    pub fn config(flag: &'static str, message: impl Into<String>) -> Self {
        Self::Config { flag, message: message.into() }
    }

    /// Shorthand for [`LoadError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// The process exit code for this error: 2 for usage/config errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Config { .. } => 2,
            Self::Io { .. }
            | Self::Parquet { .. }
            | Self::Arrow { .. }
            | Self::Histogram { .. }
            | Self::NotReady { .. }
            | Self::Writer(_)
            | Self::Embedded(_) => 1,
        }
    }
}
