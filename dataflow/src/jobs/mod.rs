//! Batch jobs beside the stream: parquet ingest, re-embed and index rebuild, with progress,
//! cancellation and durable job records.
//!
//! A job enters the same dataflow as live writes, through the same sequencer and log:
//! - `ingest_parquet` reads each file in record batches, checks every row with the
//!   validator's rules ([`crate::operators::validate::check_record`]), and submits the
//!   accepted rows of a file as **one version**, so readers see all of a file or none of it.
//!   Rows that cannot be read or are refused go to the dead-letter collection with their file,
//!   row and column. Live writes keep their own versions: a live upsert with a newer
//!   `updated_at` wins over the file's row whichever version is later.
//! - `reembed` submits a [`WorkerOp::Refresh`](crate::commands::WorkerOp::Refresh) of every
//!   live worker as one version: the embed path runs again on unchanged records (a refresh is
//!   not an upsert, so newest-wins never drops it).
//! - `rebuild_index` asks the named index's indexer for a rebuild from its stored vectors.
//!
//! [`Jobs`] is the registry: one runner thread per index runs that index's jobs one at a
//! time, in submission order; the others wait in the queue.
//!
//! # Notes
//! - **Bad input.** Before anything is submitted every file is opened and its schema checked:
//!   a missing file, a file that is not parquet or has wrong columns fails the job naming the
//!   file and column, and nothing changes. A row that cannot be converted (a null in a
//!   required column, an out-of-range value) or that the validator refuses is rejected on its
//!   own; a file that becomes unreadable half-way fails the job before that file is submitted.
//! - **Cancel.** A queued job, or a running one that has not started submitting its last
//!   version, stops with nothing more submitted ([`JobState::Cancelled`]); a single-file job
//!   cancelled that way leaves the state exactly as before it. Files of a multi-file job
//!   that were already committed stay (each is its own version). Once the last version is
//!   being submitted it is too late: [`JobError::Committed`].
//! - **Memory.** A file is decoded one record batch at a time; only the parsed records of the
//!   file being staged are held (a few hundred bytes a row, well below the vector each row
//!   adds to the index), because a file becomes visible as one version.
//! - **Restarts.** With a data directory, each job's record is a JSON file in `<dir>/jobs/`,
//!   rewritten at every state change. At start a job that was queued or running is queued
//!   again (an ingest skips the files it had committed; re-reading a committed file is
//!   harmless, since equal rows change nothing) or, after [`JobsConfig::max_attempts`]
//!   interrupted runs, marked failed with the reason. A clean shutdown interrupts a running
//!   job the same way; it is resumed at the next start.

mod registry;
mod run;
mod store;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::commands::{DeadLetter, Version, WorkerOp};
use crate::record::WorkerId;

pub use registry::Jobs;

/// A job id, `job-000001`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub String);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the engine's vector indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexName {
    /// The worker index.
    Workers,
    /// The playbook index.
    PlaybookMemory,
}

impl IndexName {
    /// Every index.
    pub const ALL: [IndexName; 2] = [IndexName::Workers, IndexName::PlaybookMemory];

    /// The index's name, as in `/v1/indexes`.
    pub fn as_str(self) -> &'static str {
        match self {
            IndexName::Workers => "workers",
            IndexName::PlaybookMemory => "playbook_memory",
        }
    }

    /// Parse `workers` or `playbook_memory`.
    pub fn parse(s: &str) -> Option<IndexName> {
        IndexName::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

/// What a job does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobSpec {
    /// Ingest worker parquet files; a directory stands for its `*.parquet` files, in name order.
    IngestParquet {
        /// Files or directories, read in this order.
        paths: Vec<PathBuf>,
    },
    /// Embed every live worker again and re-index it, as one version.
    Reembed,
    /// Rebuild an index from its stored vectors.
    RebuildIndex {
        /// Which index.
        index: IndexName,
    },
}

impl JobSpec {
    /// The index the job works on: at most one job per index runs at a time.
    pub fn index(&self) -> IndexName {
        match self {
            JobSpec::IngestParquet { .. } | JobSpec::Reembed => IndexName::Workers,
            JobSpec::RebuildIndex { index } => *index,
        }
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the jobs before it on its index.
    Queued,
    /// Reading, submitting or waiting for its output to become visible.
    Running,
    /// Done; its output is visible.
    Succeeded,
    /// Stopped by an error (see [`JobInfo::error`]).
    Failed,
    /// Stopped by a cancel before it submitted (the rest of) its output.
    Cancelled,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn is_terminal(self) -> bool {
        match self {
            JobState::Queued | JobState::Running => false,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled => true,
        }
    }

    /// The state's name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Row and file counters of a job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Files to read (0 until the files are listed).
    pub files_total: usize,
    /// Files whose rows were submitted.
    pub files_done: usize,
    /// Rows to read, from the files' footers (workers to refresh, points to rebuild).
    pub rows_total: u64,
    /// Rows read so far.
    pub rows_read: u64,
    /// Rows accepted (submitted, or staged for submission).
    pub rows_accepted: u64,
    /// Rows rejected (sent to the dead-letter collection once their file is submitted).
    pub rows_rejected: u64,
}

/// A file of an ingest job whose rows were submitted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedFile {
    /// The file.
    pub path: PathBuf,
    /// The version its rows were submitted at.
    pub version: Version,
    /// Rows accepted.
    pub rows_accepted: u64,
    /// Rows rejected.
    pub rows_rejected: u64,
}

/// A rejected row (the first [`MAX_REJECTION_SAMPLES`] of a job are kept in its record; all
/// of them go to the dead-letter collection).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The file.
    pub file: String,
    /// 0-based row index within the file.
    pub row: u64,
    /// The column at fault.
    pub column: String,
    /// The row's id, if it could be read.
    pub id: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Rejected rows kept as samples in a job's record.
pub const MAX_REJECTION_SAMPLES: usize = 100;

/// Everything known about a job: what `GET /v1/jobs/{id}` shows and what is persisted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    /// The id.
    pub id: JobId,
    /// What it does.
    pub spec: JobSpec,
    /// Where it is.
    pub state: JobState,
    /// Counters.
    pub progress: JobProgress,
    /// Rows read per second since the job started (to its end once finished).
    pub rows_per_sec: f64,
    /// Seconds left at the current rate, while reading.
    pub eta_secs: Option<f64>,
    /// When it was submitted, ms since the epoch.
    pub created_at_ms: i64,
    /// When its (last) run started.
    pub started_at_ms: Option<i64>,
    /// When it finished.
    pub finished_at_ms: Option<i64>,
    /// Files committed so far (ingest), each with its version.
    #[serde(default)]
    pub committed: Vec<CommittedFile>,
    /// The version at which the job's whole output became visible (the last version it
    /// submitted); set when it succeeds.
    pub visible_version: Option<Version>,
    /// Why it failed.
    pub error: Option<String>,
    /// A cancel was requested.
    #[serde(default)]
    pub cancel_requested: bool,
    /// Runs started (more than one after a restart interrupted it).
    #[serde(default)]
    pub attempts: u32,
    /// The first rejected rows.
    #[serde(default)]
    pub rejections: Vec<Rejection>,
}

impl JobInfo {
    fn new(id: JobId, spec: JobSpec, created_at_ms: i64) -> JobInfo {
        JobInfo {
            id,
            spec,
            state: JobState::Queued,
            progress: JobProgress::default(),
            rows_per_sec: 0.0,
            eta_secs: None,
            created_at_ms,
            started_at_ms: None,
            finished_at_ms: None,
            committed: Vec::new(),
            visible_version: None,
            error: None,
            cancel_requested: false,
            attempts: 0,
            rejections: Vec::new(),
        }
    }

    /// Fill `rows_per_sec` and `eta_secs` as of `now_ms`.
    fn with_rates(mut self, now_ms: i64) -> JobInfo {
        let Some(start) = self.started_at_ms else { return self };
        let end = self.finished_at_ms.unwrap_or(now_ms);
        let secs = ((end - start).max(1)) as f64 / 1000.0;
        self.rows_per_sec = self.progress.rows_read as f64 / secs;
        let left = self.progress.rows_total.saturating_sub(self.progress.rows_read);
        self.eta_secs =
            (self.state == JobState::Running && self.rows_per_sec > 0.0).then(|| left as f64 / self.rows_per_sec);
        self
    }
}

/// Job settings.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Rows per record batch read from a file.
    pub batch_rows: usize,
    /// Pause after each record batch: throttles a job's reading (and lets tests catch a
    /// job mid-file). Zero by default.
    pub batch_pause: Duration,
    /// How long a job waits for its submitted output to become visible before failing.
    pub visible_timeout: Duration,
    /// Runs a job may start across restarts before it is marked failed instead of resumed.
    pub max_attempts: u32,
    /// Finished jobs kept (in memory and on disk); older ones are forgotten.
    pub keep_finished: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            batch_rows: 8_192,
            batch_pause: Duration::ZERO,
            visible_timeout: Duration::from_secs(1_800),
            max_attempts: 3,
            keep_finished: 1_000,
        }
    }
}

/// Why a job request was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JobError {
    /// No job has this id.
    #[error("no job {id:?}")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// The job request is unusable.
    #[error("{field}: {reason}")]
    InvalidSpec {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The job has already finished; there is nothing to cancel.
    #[error("job {id} has already finished ({state})")]
    Finished {
        /// The job.
        id: JobId,
        /// How it ended.
        state: JobState,
    },
    /// The job is submitting, or has submitted, its output: it can no longer be cancelled.
    #[error("job {id} has already submitted its output; it can no longer be cancelled")]
    Committed {
        /// The job.
        id: JobId,
    },
    /// The engine is shutting down.
    #[error("the engine is not running")]
    Stopped,
    /// A job record could not be written or the job directory read.
    #[error("job records in {}: {source}", path.display())]
    Store {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What a job needs from the engine: implemented by the engine over its sequencer and state.
pub(crate) trait JobHost: Send + Sync {
    /// Submit ops as one logged version (like [`crate::engine::Engine::submit_ops`]).
    fn submit(&self, ops: Vec<WorkerOp>) -> crate::Result<Version>;
    /// The visible version.
    fn visible(&self) -> Version;
    /// Ids of the live workers.
    fn live_worker_ids(&self) -> Vec<WorkerId>;
    /// Record refused rows.
    fn dead_letters(&self, letters: Vec<DeadLetter>);
    /// An index.
    fn collection(&self, index: IndexName) -> &sinks::VectorCollection;
}
