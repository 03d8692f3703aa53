//! A write-ahead log for versioned records, with group commit, per-record checksums,
//! torn-tail recovery and atomic snapshot files.
//!
//! Every write that enters the dataflow is first appended here with the version the
//! sequencer gave it, so a restart can replay what the snapshots do not cover.
//!
//! # On-disk format
//! The log is a directory of segment files `wal-<first_version:020>.log`. Each record is
//! framed as `[len: u32 LE][crc32(payload): u32 LE][payload]` with
//! `payload = version (u64 LE) ++ serde_json(record)`. A segment is closed (and fsynced)
//! once it has passed [`WalConfig::segment_bytes`] and the next record opens a new one, so
//! only the last segment can ever hold a torn write.
//!
//! # Recovery
//! [`Wal::open`] reads the segments in order. A short, torn, corrupt or undecodable record in
//! the *last* segment is taken as the tail of a write that never completed: it and whatever
//! follows it are cut off (logged with `tracing::warn!` and reported in
//! [`RecoveryReport`]), and new appends follow the last good record. The same damage in any
//! earlier segment is [`WalError::Corrupt`]: those segments were complete and fsynced, so a
//! bad record there is lost data, never something to skip silently.
//!
//! # Snapshots and truncation
//! [`write_snapshot`] / [`latest_snapshot`] / [`prune_snapshots`] keep checksummed, atomically
//! renamed state files. Because [`latest_snapshot`] falls back to an older snapshot when the
//! newest one is corrupt, the log must still hold everything after that older snapshot: keep
//! at least two snapshots and call [`Wal::truncate_through`] with the version of the *oldest
//! kept* one, not the newest.
//!
//! ```no_run
//! use dataflow::wal::{FsyncPolicy, Wal, WalConfig};
//! let config = WalConfig::new("/var/lib/lakehouse/wal");
//! let (wal, replay, report) = Wal::<String>::open(config).unwrap();
//! for (version, record) in replay { /* feed the dataflow */ let _ = (version, record); }
//! if let Some(msg) = report.message { eprintln!("{msg}"); }
//! wal.append(42, &"hello".to_string()).unwrap(); // durable when it returns
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod log;
mod snapshot;

pub use log::Wal;
pub use snapshot::{
    latest_snapshot, latest_snapshot_raw, prune_snapshots, read_snapshot_raw, write_snapshot, RawSnapshot,
};

/// Default size past which a segment is closed and the next record opens a new one: 64 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Errors of the write-ahead log and the snapshot files.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file-system call failed (disk full, permission denied, read-only directory, a file
    /// where a directory was expected, ...).
    #[error("WAL I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory the call was about.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A record or snapshot that must be intact is damaged.
    #[error("WAL data in {} is corrupt at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset in that file of the first damaged record (0 for a whole snapshot).
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A snapshot was written with a different schema version than the one expected.
    #[error("snapshot {} has schema version {found}, expected {expected}", path.display())]
    SchemaMismatch {
        /// The snapshot file.
        path: PathBuf,
        /// Schema version stored in the file.
        found: u32,
        /// Schema version the caller can read.
        expected: u32,
    },
    /// A snapshot's checksum is valid but its payload does not decode as the requested type.
    #[error("snapshot {} does not decode as the requested type: {reason}", path.display())]
    Decode {
        /// The snapshot file.
        path: PathBuf,
        /// serde_json's message.
        reason: String,
    },
    /// A record or snapshot value could not be serialised.
    #[error("could not serialise a value for {}: {reason}", path.display())]
    Encode {
        /// The log directory or the snapshot file the value was meant for.
        path: PathBuf,
        /// serde_json's message.
        reason: String,
    },
    /// A serialised record does not fit the u32 length field of the frame.
    #[error("a record of {bytes} bytes for the WAL in {} exceeds the {max}-byte frame limit", path.display())]
    RecordTooLarge {
        /// The log directory.
        path: PathBuf,
        /// Serialised payload size.
        bytes: usize,
        /// Largest payload a frame can hold.
        max: usize,
    },
    /// An earlier write or fsync failed, so the log refuses further writes: after a failed
    /// fsync the kernel may have dropped the dirty pages, so retrying could report data as
    /// durable that is not. Reopen the log to recover from what is on disk.
    #[error("the WAL in {} refuses writes after an earlier failure ({reason}); reopen it to recover", path.display())]
    Poisoned {
        /// The log directory.
        path: PathBuf,
        /// The failure that poisoned the log.
        reason: String,
    },
    /// The configuration is unusable.
    #[error("invalid WAL config for {}: {reason}", path.display())]
    Config {
        /// The configured log directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl WalError {
    /// Wraps an `io::Error` with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        WalError::Io { path: path.into(), source }
    }

    /// The file or directory the error is about.
    pub fn path(&self) -> &Path {
        match self {
            WalError::Io { path, .. }
            | WalError::Corrupt { path, .. }
            | WalError::SchemaMismatch { path, .. }
            | WalError::Decode { path, .. }
            | WalError::Encode { path, .. }
            | WalError::RecordTooLarge { path, .. }
            | WalError::Poisoned { path, .. }
            | WalError::Config { path, .. } => path,
        }
    }
}

/// When appended records are fsynced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Group commit: `append` returns only after an fsync that covers its record; concurrent
    /// appenders share one write and one fsync.
    #[default]
    Always,
    /// `append` returns once the record is written to the OS (it survives a process crash);
    /// a background thread fsyncs every `interval`, so an OS crash or power loss may lose up
    /// to one interval of acknowledged writes.
    Batch {
        /// Time between background fsyncs; must be non-zero.
        interval: Duration,
    },
    /// `append` returns once the record is written to the OS; only [`Wal::sync`] and segment
    /// rollover fsync. For tests and measurements.
    Never,
}

/// Where and how the log is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// Directory of the segment files; created if missing. One process per directory.
    pub dir: PathBuf,
    /// When appends are fsynced.
    pub fsync: FsyncPolicy,
    /// A segment that has reached this many bytes is closed and the next record opens a new
    /// one; must be non-zero. A single record larger than this gets a segment of its own.
    pub segment_bytes: u64,
}

impl WalConfig {
    /// A config for `dir` with [`FsyncPolicy::Always`] and [`DEFAULT_SEGMENT_BYTES`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        WalConfig { dir: dir.into(), fsync: FsyncPolicy::Always, segment_bytes: DEFAULT_SEGMENT_BYTES }
    }
}

/// What [`Wal::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records recovered (and returned for replay).
    pub records: usize,
    /// Segment files read.
    pub segments: usize,
    /// Bytes cut off the end of the last segment (a torn or corrupt tail).
    pub truncated_bytes: u64,
    /// File and byte offset of the first bad record in the last segment, if there was one.
    pub corrupt_at: Option<(PathBuf, u64)>,
    /// A human-readable account of the repair, if one was needed.
    pub message: Option<String>,
}

impl RecoveryReport {
    /// Whether recovery had to cut a damaged tail.
    pub fn repaired(&self) -> bool {
        self.corrupt_at.is_some()
    }
}

/// The record `measure_append_throughput` appends: about 100 bytes of JSON.
#[derive(Serialize, Deserialize)]
struct BenchRecord {
    id: String,
    body: String,
}

/// Measures appends per second: opens a log in `dir` (which should be empty) with `policy`
/// and 1 MiB segments, and has `threads` threads append `n` records *each* (~100 bytes) with
/// distinct versions. Time runs from the first append to the last one returning; no final
/// sync is included for the non-`Always` policies.
#[doc(hidden)]
pub fn measure_append_throughput(dir: &Path, policy: FsyncPolicy, n: usize, threads: usize) -> Result<f64, WalError> {
    let config = WalConfig { dir: dir.to_path_buf(), fsync: policy, segment_bytes: 1024 * 1024 };
    let (wal, _, _) = Wal::<BenchRecord>::open(config)?;
    let next_version = AtomicU64::new(1);
    let threads = threads.max(1);
    let started = Instant::now();
    let results: Vec<Result<(), WalError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (wal, next_version) = (&wal, &next_version);
                scope.spawn(move || -> Result<(), WalError> {
                    for i in 0..n {
                        let record = BenchRecord {
                            id: format!("w-{t}-{i}"),
                            body: "forklift operator, night shift, certified, 5 years, warehouse district".into(),
                        };
                        wal.append(next_version.fetch_add(1, Ordering::Relaxed), &record)?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(WalError::Config { path: dir.to_path_buf(), reason: "an append thread panicked".into() })
                })
            })
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    results.into_iter().collect::<Result<Vec<()>, WalError>>()?;
    let total = (n * threads) as f64;
    Ok(if elapsed > 0.0 { total / elapsed } else { f64::INFINITY })
}
