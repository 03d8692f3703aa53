//! Durability: every input is written to a write-ahead log before it is acknowledged, the
//! live state is snapshotted periodically and at clean shutdown, and a restart rebuilds the
//! state from the latest snapshot plus the log behind it.
//!
//! # Layout
//! `<dir>/wal/` holds the log segments ([`crate::wal`]; one record per [`Input`], keyed by
//! its version). `<dir>/snapshots/` holds, per snapshot version `V`, `workers-<V>.parquet`
//! (the live workers, written with [`crate::corpus::write_workers`]: temporary file, fsync,
//! rename), `playbook-<V>.jsonl` (the playbook records accepted since the previous snapshot,
//! possibly merged with older such files: see [`Segment`]) and `snapshot-<V>.bin` (written
//! last, with [`write_snapshot`]; it names the parquet file and the playbook segments, each
//! with its size and CRC-32, and carries the delete stamps). The `.bin` file is the commit
//! point: a crash before it leaves orphan files that the next snapshot removes.
//!
//! # Acknowledgement and version order
//! The feeder needs commands in version order (it advances its inputs to each command's
//! version), and concurrent writers should share fsyncs. So [`super::Shared::submit`] works in
//! three steps:
//! 1. Under the sequencer lock: assign the version and reserve a channel slot (the version
//!    is now *pending*).
//! 2. Outside the lock: append `(version, input)` to the log. With `--fsync always` this
//!    returns after an fsync that covers the record; concurrent appenders share it (group
//!    commit).
//! 3. Under the lock again: mark the version durable (or failed), then release the longest
//!    run of resolved versions at the front of the pending set into the channel, in version
//!    order. The caller waits until every version below its own is resolved too, and is
//!    acknowledged only if its append succeeded and no lower version failed.
//!
//! The feeder's floor never passes the lowest pending version, so the dataflow sees exactly
//! the acknowledged writes, in version order: a version-order prefix of the durable log.
//! Replaying the log in version order therefore reproduces every decision the live engine
//! made (worker newest-wins, the fill validator's placements), and the only extra inputs a
//! replay can see are durable-but-unacknowledged ones *after* that prefix. The simpler
//! "enqueue, then append" order was rejected because the dataflow would then apply writes
//! that may never reach the log, and an acknowledged write could depend on one of them (a
//! playbook record accepted for a worker whose upsert was then lost would be refused on
//! replay).
//!
//! # Snapshots
//! Every [`DurabilityConfig::snapshot_every_writes`] writes or
//! [`DurabilityConfig::snapshot_interval`] (whichever comes first, and only if something was
//! written), and at clean shutdown: new versions stop being issued while the pending writes
//! drain and the visible version reaches the last issued one (normally a few ms), the state
//! is copied (`Arc` clones; of the playbook, only the records accepted since the last
//! snapshot), issuing resumes, and the files are written. The two newest valid snapshots are
//! kept (with every segment either refers to) and the log is truncated behind the *older* of
//! them, because [`latest_snapshot_raw`] falls back to it if the newest is damaged. A
//! snapshot of schema 1 (records inline in the `.bin` file) is still read; its records are
//! written as a segment at start.
//!
//! # Recovery
//! [`open`] reads the log (cutting a torn tail) and the latest snapshot before the dataflow
//! starts; [`recover`] then feeds the snapshot through the dataflow as one version (workers
//! as upserts, delete stamps as deletes, accepted records marked
//! [`PlaybookRecord::restored`]), replays every log record newer than the snapshot in version
//! order (skipping records whose id the snapshot already holds), and waits until all of it
//! is visible. The sequencer continues above the largest version ever seen. Replays are not
//! logged again: the log still holds them under their original versions until a snapshot
//! covers them.
//!
//! Delete stamps matter because the upsert operator remembers a delete so that an older
//! upsert arriving later cannot resurrect the worker; a durable engine tracks them
//! ([`TrackTombstones`]) so a snapshot can restore that memory.
//!
//! # Storage faults
//! A failed log write or fsync poisons the log: that write and every later one fails with
//! [`DataflowError::Storage`] until the process is restarted (a retry after a failed fsync
//! could report data as durable that is not); reads keep being served. A failed snapshot is
//! logged and retried at the next trigger (the log keeps everything it would have covered).
//! A failed start (unreadable log, corrupt log before its last segment, a snapshot of
//! another schema) is a clear error from [`super::Engine::start`].
//!
//! One process per data directory; `--fsync batch|never` trade the power-loss guarantee for
//! speed (a process crash still loses nothing acknowledged).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::Stream;

use super::state::{accepted_records, EngineState, SharedEntry};
use super::Shared;
use crate::commands::{Input, PlaybookRecord, Version, WorkerOp};
use crate::corpus::{read_workers, write_workers, CorpusError};
use crate::error::{DataflowError, Result};
use crate::operators::batching::by_time;
use crate::operators::upsert::route;
use crate::record::{WorkerId, WorkerRecord};
use crate::wal::{
    latest_snapshot_raw, prune_snapshots, read_snapshot_raw, write_snapshot, FsyncPolicy, RecoveryReport, Wal,
    WalConfig, WalError, DEFAULT_SEGMENT_BYTES,
};

/// Schema version of `snapshot-<V>.bin`; bump it whenever the snapshot metadata (or the
/// meaning of the parquet file) changes, so an old snapshot is a clear error rather than a misread.
pub const SNAPSHOT_SCHEMA: u32 = 2;

/// The schema before playbook segments: every accepted record inline in the `.bin` file.
/// Still read; the first snapshot after such a start writes them into a segment.
const SCHEMA_INLINE_RECORDS: u32 = 1;

/// Valid snapshots kept; the log is kept behind the oldest of them.
pub const KEEP_SNAPSHOTS: usize = 2;

/// How long a snapshot waits for in-flight writes to drain before giving up (and retrying at
/// the next trigger).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// After a failed snapshot, the periodic trigger waits this long before trying again, so a
/// full disk is not hammered (nor the log flooded) every tick.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Longest sleep of the snapshot thread between trigger checks.
const TICK: Duration = Duration::from_millis(200);

/// Where and how the engine keeps its state durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurabilityConfig {
    /// Data directory: the log goes to `dir/wal`, snapshots to `dir/snapshots`.
    pub dir: PathBuf,
    /// When log appends are fsynced (`Always` = group commit, the default).
    pub fsync: FsyncPolicy,
    /// Snapshot at least this often while writes arrive (`None`: not by time).
    pub snapshot_interval: Option<Duration>,
    /// Snapshot after this many acknowledged writes (`None`: not by count).
    pub snapshot_every_writes: Option<u64>,
    /// Log segment size (see [`WalConfig::segment_bytes`]).
    pub segment_bytes: u64,
    /// How long recovery may take to make the restored state visible.
    pub recovery_timeout: Duration,
    /// Accept a directory whose indexes another embedder built, and re-embed everything with
    /// this one (see [`check_embedder`]); otherwise such a start is refused.
    pub reembed: bool,
}

impl DurabilityConfig {
    /// Defaults for `dir`: group commit, a snapshot every 5 minutes or 100,000 writes,
    /// 64 MiB segments.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DurabilityConfig {
            dir: dir.into(),
            fsync: FsyncPolicy::Always,
            snapshot_interval: Some(Duration::from_secs(300)),
            snapshot_every_writes: Some(100_000),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            recovery_timeout: Duration::from_secs(600),
            reembed: false,
        }
    }

    /// The log directory.
    pub fn wal_dir(&self) -> PathBuf {
        self.dir.join("wal")
    }

    /// The snapshot directory.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.dir.join("snapshots")
    }
}

/// What went wrong with durable storage (the source of [`DataflowError::Storage`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The log or a snapshot file failed (I/O, corruption, schema, poisoned log).
    #[error(transparent)]
    Wal(#[from] WalError),
    /// The worker parquet of a snapshot could not be written or read.
    #[error(transparent)]
    Parquet(#[from] CorpusError),
    /// A snapshot's worker file does not match what its `.bin` file recorded.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A lower version's log append failed, so this write cannot be acknowledged (its
    /// effects could differ on replay); the log refuses writes until a restart.
    #[error("an earlier write (version {version}) could not be logged; writes are refused until restart")]
    EarlierWriteFailed {
        /// The lowest version whose append failed.
        version: Version,
    },
    /// In-flight writes did not drain in time for a snapshot.
    #[error("in-flight writes did not drain within {0:?}")]
    Stalled(Duration),
}

/// What a restart recovered, for logs and `/health`.
#[derive(Clone, Debug, Default)]
pub struct RecoveryInfo {
    /// Version of the snapshot loaded, if one was.
    pub snapshot_version: Option<Version>,
    /// Workers in it.
    pub snapshot_workers: usize,
    /// Delete stamps in it.
    pub snapshot_tombstones: usize,
    /// Accepted playbook records in it.
    pub snapshot_records: usize,
    /// The playbook segment files they were read from.
    pub snapshot_segments: usize,
    /// Records read from the log.
    pub log_records: usize,
    /// Log records at or below the snapshot version (already in it).
    pub covered: usize,
    /// Log records replayed through the dataflow.
    pub replayed: usize,
    /// Log playbook records skipped because the snapshot already holds their id.
    pub duplicate_records: usize,
    /// What opening the log found and repaired (torn tail).
    pub log: RecoveryReport,
    /// The largest version seen in the snapshot or the log; new versions exceed it.
    pub max_version: Version,
    /// Time from opening the files to the recovered state being visible.
    pub elapsed: Duration,
}

/// A point-in-time view of the durability machinery.
#[derive(Clone, Debug, Serialize)]
pub struct DurabilityStats {
    /// The fsync policy, e.g. `Always`.
    pub fsync: String,
    /// Acknowledged (logged) writes since start.
    pub logged_writes: u64,
    /// fsyncs issued by the log since start (far fewer than writes under group commit).
    pub wal_fsyncs: u64,
    /// Log segment files on disk.
    pub wal_segments: usize,
    /// Version of the last snapshot written or loaded.
    pub last_snapshot_version: Option<Version>,
    /// Snapshots written since start.
    pub snapshots_written: u64,
    /// The last snapshot failure, cleared by the next success.
    pub last_snapshot_error: Option<String>,
    /// Time new versions were held back for snapshot cuts since start, seconds.
    pub snapshot_pause_seconds: f64,
    /// The longest single hold.
    pub snapshot_pause_max_seconds: f64,
    /// Time spent writing snapshot files (with writes flowing) since start, seconds.
    pub snapshot_write_seconds: f64,
    /// Bytes of snapshot files written since start (workers, playbook segments, `.bin`).
    pub snapshot_bytes_written: u64,
}

/// The `.bin` half of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotMeta {
    /// Every write at or below this version is in the snapshot, none above.
    version: Version,
    /// The parquet file (in the same directory) holding the live workers.
    workers_file: String,
    /// Rows in it.
    workers: usize,
    /// Its size in bytes.
    workers_bytes: u64,
    /// CRC-32 of its bytes.
    workers_crc32: u32,
    /// Delete stamps (ms) by worker id.
    tombstones: Vec<(String, i64)>,
    /// The accepted playbook records: these files (in the same directory), oldest first.
    #[serde(default)]
    playbook: Vec<Segment>,
    /// [`SCHEMA_INLINE_RECORDS`] only: the accepted playbook records themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    records: Option<Vec<PlaybookRecord>>,
}

/// One file of a snapshot's playbook, `playbook-<V>.jsonl`: the records accepted after the
/// previous snapshot and up to the one of version `V`, or a merged run of such files, one
/// JSON record per line in acceptance order. A snapshot writes only its new records (the
/// playbook only grows, and rewriting all of it at every snapshot took seconds of CPU and
/// hundreds of MB after an hour), and merges files like a binary counter (see
/// [`plan_merge`]): after n snapshots a record has been copied O(log n) times and a
/// snapshot refers to O(log n) files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Segment {
    /// File name.
    file: String,
    /// Records in it.
    records: usize,
    /// Its size in bytes.
    bytes: u64,
    /// CRC-32 of its bytes.
    crc32: u32,
}

/// A snapshot read back from disk.
pub(super) struct LoadedSnapshot {
    meta: SnapshotMeta,
    workers: Vec<WorkerRecord>,
    records: Vec<PlaybookRecord>,
}

/// The log and snapshot as found on disk, before the dataflow starts.
pub(super) struct Opened {
    records: Vec<(Version, Input)>,
    report: RecoveryReport,
    snapshot: Option<LoadedSnapshot>,
    started: Instant,
}

impl Opened {
    /// The largest version in the snapshot or the log.
    pub(super) fn max_version(&self) -> Version {
        let log = self.records.last().map_or(0, |(v, _)| *v);
        let snap = self.snapshot.as_ref().map_or(0, |s| s.meta.version);
        log.max(snap)
    }
}

fn workers_file_name(version: Version) -> String {
    format!("workers-{version:020}.parquet")
}

fn segment_file_name(version: Version) -> String {
    format!("playbook-{version:020}.jsonl")
}

fn parse_numbered(name: &str, prefix: &str, suffix: &str) -> Option<Version> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn io_error(path: &Path, source: std::io::Error) -> WalError {
    WalError::Io { path: path.to_path_buf(), source }
}

/// Size and CRC-32 of a file.
fn file_crc(path: &Path) -> std::result::Result<(u64, u32), WalError> {
    let mut file = fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| io_error(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.finalize()))
}

/// File in the data directory naming the embedder (id and dimension) its indexes are built with.
pub const EMBEDDER_FILE: &str = "embedder.json";

/// Contents of [`EMBEDDER_FILE`].
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct EmbedderMark {
    embedder: String,
    dim: usize,
}

/// Makes sure the directory's indexes are (re)built with the embedder `name` at `dim`:
/// records it in [`EMBEDDER_FILE`] on first use, refuses a different one with
/// [`DataflowError::EmbedderMismatch`] naming both, or with [`DurabilityConfig::reembed`]
/// records the new one. Re-embedding is sound because snapshots and the log hold records,
/// never vectors: recovery embeds every worker again with the running embedder, so one index
/// never mixes two embedders' vectors.
pub(super) fn check_embedder(config: &DurabilityConfig, name: &str, dim: usize) -> Result<()> {
    let path = config.dir.join(EMBEDDER_FILE);
    let action = "recording the data directory's embedder";
    let current = EmbedderMark { embedder: name.to_owned(), dim };
    match fs::read(&path) {
        Ok(bytes) => {
            let stored: EmbedderMark = serde_json::from_slice(&bytes).map_err(|e| {
                DataflowError::storage(action, StorageError::Corrupt { path: path.clone(), reason: e.to_string() })
            })?;
            if stored == current {
                return Ok(());
            }
            if !config.reembed {
                return Err(DataflowError::EmbedderMismatch {
                    dir: config.dir.clone(),
                    stored: stored.embedder,
                    stored_dim: stored.dim,
                    configured: current.embedder,
                    configured_dim: dim,
                });
            }
            tracing::warn!(
                from = %stored.embedder, to = %name,
                "re-embedding the data directory's workers and playbook records with a new embedder"
            );
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DataflowError::storage(action, io_error(&path, e))),
    }
    fs::create_dir_all(&config.dir).map_err(|e| DataflowError::storage(action, io_error(&config.dir, e)))?;
    let tmp = config.dir.join(format!(".{EMBEDDER_FILE}.tmp"));
    let json = serde_json::to_vec_pretty(&current).unwrap_or_default();
    fs::write(&tmp, json)
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| DataflowError::storage(action, io_error(&path, e)))
}

/// Opens the log (ready for appends) and reads the latest snapshot. Errors are
/// [`DataflowError::Storage`].
pub(super) fn open(config: &DurabilityConfig) -> Result<(Wal<Input>, Opened)> {
    let started = Instant::now();
    let wal_config = WalConfig { dir: config.wal_dir(), fsync: config.fsync, segment_bytes: config.segment_bytes };
    let (wal, records, report) =
        Wal::<Input>::open(wal_config).map_err(|e| DataflowError::storage("opening the write-ahead log", e))?;
    // The previous process may have written its last records to the OS without an fsync
    // (a kill under `--fsync batch|never`, or an append whose fsync was still running):
    // make them durable before anything acknowledged here can depend on them.
    if let Some(last) = wal.segment_paths().last() {
        fs::File::open(last)
            .and_then(|f| f.sync_all())
            .map_err(|e| DataflowError::storage("syncing the recovered log", io_error(last, e)))?;
    }
    let snapshot = load_snapshot(&config.snapshot_dir())?;
    Ok((wal, Opened { records, report, snapshot, started }))
}

fn load_snapshot(dir: &Path) -> Result<Option<LoadedSnapshot>> {
    let action = "reading the latest snapshot (a snapshot of another schema was written by another \
                  version of lakehouse: move the data directory aside or use that version)";
    let storage = |e: StorageError| DataflowError::storage(action, e);
    let Some(raw) =
        latest_snapshot_raw(dir, &[SNAPSHOT_SCHEMA, SCHEMA_INLINE_RECORDS]).map_err(|e| storage(e.into()))?
    else {
        return Ok(None);
    };
    let mut meta: SnapshotMeta = raw.decode().map_err(|e| storage(e.into()))?;
    // Only schema 1 keeps records inline (and has no segments).
    let inline = meta.records.take().filter(|_| raw.schema == SCHEMA_INLINE_RECORDS);
    if raw.schema == SCHEMA_INLINE_RECORDS && (inline.is_none() || !meta.playbook.is_empty()) {
        let reason = "a schema-1 snapshot must hold its records inline and no segments".to_owned();
        return Err(storage(StorageError::Corrupt { path: raw.path, reason }));
    }
    let path = dir.join(&meta.workers_file);
    if meta.version != raw.version {
        let reason = format!("snapshot {} claims version {}", raw.version, meta.version);
        return Err(storage(StorageError::Corrupt { path: raw.path, reason }));
    }
    let found = file_crc(&path).map_err(|e| storage(e.into()))?;
    check_size_crc(&path, found, meta.workers_bytes, meta.workers_crc32).map_err(storage)?;
    let workers = read_workers(&path).map_err(|e| storage(e.into()))?;
    if workers.len() != meta.workers {
        let reason = format!("expected {} workers, found {}", meta.workers, workers.len());
        return Err(storage(StorageError::Corrupt { path, reason }));
    }
    let records = match inline {
        // The next snapshot refers to this segment instead of rewriting the records (until
        // then it is an orphan, and rewritten by the next start).
        Some(records) if !records.is_empty() => {
            let migrate = "writing a schema-1 snapshot's playbook records as a segment";
            let lines = encode_records(&records).map_err(|e| {
                let reason = e.to_string();
                DataflowError::storage(migrate, WalError::Encode { path: dir.to_path_buf(), reason })
            })?;
            let segment = write_segment(dir, meta.version, &[], &lines, records.len())
                .map_err(|e| DataflowError::storage(migrate, e))?;
            meta.playbook.push(segment);
            records
        }
        Some(_) => Vec::new(),
        None => read_segments(dir, &meta.playbook).map_err(storage)?,
    };
    Ok(Some(LoadedSnapshot { meta, workers, records }))
}

/// Checks a file's size and CRC-32, `found`, against what a snapshot recorded.
fn check_size_crc(path: &Path, found: (u64, u32), bytes: u64, crc32: u32) -> std::result::Result<(), StorageError> {
    let (found_bytes, found_crc) = found;
    if (found_bytes, found_crc) != (bytes, crc32) {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "expected {bytes} bytes with CRC-32 {crc32:08x}, found {found_bytes} bytes with CRC-32 {found_crc:08x}"
            ),
        });
    }
    Ok(())
}

/// Reads a playbook segment whole, checked against its recorded size and CRC-32.
fn read_segment(path: &Path, seg: &Segment) -> std::result::Result<Vec<u8>, StorageError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
    check_size_crc(path, (bytes.len() as u64, crc32fast::hash(&bytes)), seg.bytes, seg.crc32)?;
    Ok(bytes)
}

/// The records of a snapshot's playbook segments, checked against their sizes, checksums
/// and counts, in acceptance order.
fn read_segments(dir: &Path, segments: &[Segment]) -> std::result::Result<Vec<PlaybookRecord>, StorageError> {
    let mut records = Vec::with_capacity(segments.iter().map(|s| s.records).sum());
    for seg in segments {
        let path = dir.join(&seg.file);
        let bytes = read_segment(&path, seg)?;
        let corrupt = |reason: String| StorageError::Corrupt { path: path.clone(), reason };
        let before = records.len();
        for (i, line) in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let record = serde_json::from_slice(line).map_err(|e| corrupt(format!("line {}: {e}", i + 1)))?;
            records.push(record);
        }
        if records.len() - before != seg.records {
            return Err(corrupt(format!("expected {} records, found {}", seg.records, records.len() - before)));
        }
    }
    Ok(records)
}

/// `records` as segment lines (one JSON record and a newline each).
fn encode_records(records: &[PlaybookRecord]) -> std::result::Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(records.len() * 256);
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Writes `playbook-<version>.jsonl`: the bytes of `merge` (older segments, verified as
/// they are copied) followed by `lines` (holding `count` records, from [`encode_records`]),
/// atomically (temporary file, fsync, rename; the caller's `.bin` write fsyncs the
/// directory).
fn write_segment(
    dir: &Path,
    version: Version,
    merge: &[Segment],
    lines: &[u8],
    count: usize,
) -> std::result::Result<Segment, StorageError> {
    static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
    let file = segment_file_name(version);
    let path = dir.join(&file);
    fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let tmp = dir.join(format!(".{file}.tmp-{}-{}", std::process::id(), TMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
    let written = (|| -> std::result::Result<Segment, StorageError> {
        let out = fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(|e| io_error(&tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
        let mut hasher = crc32fast::Hasher::new();
        let (mut bytes, mut records) = (0u64, count);
        for seg in merge {
            let old = read_segment(&dir.join(&seg.file), seg)?;
            hasher.update(&old);
            bytes += old.len() as u64;
            records += seg.records;
            out.write_all(&old).map_err(|e| io_error(&tmp, e))?;
        }
        hasher.update(lines);
        bytes += lines.len() as u64;
        out.write_all(lines).map_err(|e| io_error(&tmp, e))?;
        let out = out.into_inner().map_err(|e| io_error(&tmp, e.into_error()))?;
        out.sync_all().map_err(|e| io_error(&tmp, e))?;
        Ok(Segment { file: file.clone(), records, bytes, crc32: hasher.finalize() })
    })();
    let result = written.and_then(|seg| fs::rename(&tmp, &path).map(|()| seg).map_err(|e| io_error(&path, e).into()));
    if result.is_err() {
        // Best effort: the original error is what matters.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// How many of `segments` (oldest first) a snapshot adding `new_bytes` of records keeps as
/// they are; the rest are merged with the new records into one file. Like a binary
/// counter, the newest file is merged while it is no larger than everything newer, so sizes
/// at least double from newest to oldest. Nothing new: nothing merged.
fn plan_merge(segments: &[Segment], new_bytes: u64) -> usize {
    let mut keep = segments.len();
    let mut newer = new_bytes;
    while keep > 0 && newer > 0 && segments[keep - 1].bytes <= newer {
        keep -= 1;
        newer += segments[keep].bytes;
    }
    keep
}

/// Feeds the snapshot and the log tail through the running dataflow and waits until all of it
/// is visible. Also returns the loaded snapshot's playbook segments, which the next
/// snapshot builds on.
pub(super) fn recover(shared: &Shared, opened: Opened, timeout: Duration) -> Result<(RecoveryInfo, Vec<Segment>)> {
    let Opened { records, report, snapshot, started } = opened;
    let mut info = RecoveryInfo { log_records: records.len(), log: report, ..RecoveryInfo::default() };
    let mut in_snapshot: HashSet<String> = HashSet::new();
    let mut segments = Vec::new();
    if let Some(LoadedSnapshot { meta, workers, records: restored }) = snapshot {
        info.snapshot_version = Some(meta.version);
        info.snapshot_workers = workers.len();
        info.snapshot_tombstones = meta.tombstones.len();
        info.snapshot_records = restored.len();
        info.snapshot_segments = meta.playbook.len();
        segments = meta.playbook;
        in_snapshot = restored.iter().map(|r| r.record_id.0.clone()).collect();
        let mut ops: Vec<WorkerOp> = workers.into_iter().map(WorkerOp::Upsert).collect();
        ops.extend(meta.tombstones.into_iter().map(|(id, at)| WorkerOp::Delete { id: WorkerId(id), at }));
        let records = restored
            .into_iter()
            .map(|mut r| {
                r.restored = true;
                r
            })
            .collect();
        shared.submit(|_| Input::Restore { ops, records }, false)?;
    }
    let snapshot_version = info.snapshot_version;
    for (version, input) in records {
        info.max_version = info.max_version.max(version);
        if snapshot_version.is_some_and(|s| version <= s) {
            info.covered += 1;
            continue;
        }
        if let Input::Record(r) = &input {
            if in_snapshot.contains(&r.record_id.0) {
                info.duplicate_records += 1;
                continue;
            }
        }
        // Re-stamped with a fresh version (above everything ever issued) but in the same
        // order, so the dataflow decides everything as it did the first time.
        shared.submit(move |_| input, false)?;
        info.replayed += 1;
    }
    info.max_version = info.max_version.max(snapshot_version.unwrap_or(0));
    let target = shared.last_issued();
    if !shared.wait_visible_blocking(target, timeout) {
        return Err(DataflowError::Start {
            reason: format!("the recovered state did not become visible within {timeout:?}"),
        });
    }
    info.elapsed = started.elapsed();
    tracing::info!(
        snapshot_version = ?info.snapshot_version,
        snapshot_workers = info.snapshot_workers,
        snapshot_tombstones = info.snapshot_tombstones,
        snapshot_records = info.snapshot_records,
        snapshot_segments = info.snapshot_segments,
        log_records = info.log_records,
        covered = info.covered,
        replayed = info.replayed,
        duplicate_records = info.duplicate_records,
        torn_tail_bytes = info.log.truncated_bytes,
        secs = info.elapsed.as_secs_f64(),
        "recovery: snapshot and write-ahead log replayed"
    );
    if let Some(msg) = &info.log.message {
        tracing::warn!(%msg, "recovery cut a torn or corrupt tail off the write-ahead log");
    }
    Ok((info, segments))
}

/// A consistent copy of the state at one version. Taken while writes wait (see
/// [`Durability::checkpoint`]), so it shares what it can (workers and playbook entries are
/// `Arc`s) and leaves sorting and converting to [`Durability::write`]: a deep copy of the
/// playbook, which only grows, held writes for seconds after an hour of fills. Of the
/// playbook it takes only the records accepted since the last snapshot: the earlier ones
/// are in that snapshot's segments.
struct Cut {
    version: Version,
    workers: Vec<Arc<WorkerRecord>>,
    tombstones: Vec<(String, i64)>,
    new_records: Vec<SharedEntry>,
}

impl Cut {
    fn copy(state: &EngineState, version: Version) -> Cut {
        let workers = state.workers.read().values().cloned().collect();
        let tombstones: Vec<(String, i64)> = state.tombstones.read().iter().map(|(k, v)| (k.clone(), *v)).collect();
        Cut { version, workers, tombstones, new_records: state.unsnapshotted_entries() }
    }
}

/// What [`Durability::write`] wrote.
struct Written {
    version: Version,
    /// The snapshot's playbook segments.
    playbook: Vec<Segment>,
    /// How many of the cut's new records it holds (all of them).
    new_records: usize,
}

/// Bookkeeping of the snapshots; its mutex also serialises snapshot writes.
struct Book {
    /// Last snapshot written or loaded.
    version: Option<Version>,
    /// When the last snapshot was written (or attempted, or the engine started).
    at: Instant,
    /// Logged writes counted at the last snapshot.
    writes: u64,
    /// Log records replayed at start and not yet covered by a snapshot: they count towards
    /// the next snapshot like new writes, so a long tail is not replayed at every restart.
    replayed: u64,
    /// No periodic attempt before this (set after a failure).
    retry_at: Option<Instant>,
    /// The playbook segments of the last snapshot written or loaded.
    playbook: Vec<Segment>,
}

/// The durability half of a running engine: snapshots and the recovery report.
pub(super) struct Durability {
    config: DurabilityConfig,
    recovery: Mutex<Option<RecoveryInfo>>,
    /// Set once recovery has completed; only then may a final snapshot be written.
    ready: AtomicBool,
    /// Set once the final snapshot was attempted.
    finished: AtomicBool,
    book: Mutex<Book>,
    /// The last snapshot's version (0: none), readable while a snapshot is being written.
    last_version: AtomicU64,
    snapshots_written: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Nanoseconds: cut pauses (sum, max) and file writes (sum); bytes written.
    pause_ns: AtomicU64,
    pause_max_ns: AtomicU64,
    write_ns: AtomicU64,
    bytes_written: AtomicU64,
    thread: Mutex<Option<(Sender<()>, JoinHandle<()>)>>,
}

impl Durability {
    pub(super) fn new(config: DurabilityConfig) -> Self {
        Durability {
            config,
            recovery: Mutex::new(None),
            ready: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            book: Mutex::new(Book {
                version: None,
                at: Instant::now(),
                writes: 0,
                replayed: 0,
                retry_at: None,
                playbook: Vec::new(),
            }),
            last_version: AtomicU64::new(0),
            snapshots_written: AtomicU64::new(0),
            last_error: Mutex::new(None),
            pause_ns: AtomicU64::new(0),
            pause_max_ns: AtomicU64::new(0),
            write_ns: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            thread: Mutex::new(None),
        }
    }

    /// Record the recovery (and the loaded snapshot's playbook segments) and allow snapshots.
    pub(super) fn set_ready(&self, info: RecoveryInfo, playbook: Vec<Segment>) {
        {
            let mut book = self.book.lock();
            book.version = info.snapshot_version;
            book.replayed = info.replayed as u64;
            book.playbook = playbook;
        }
        self.last_version.store(info.snapshot_version.unwrap_or(0), Ordering::Relaxed);
        *self.recovery.lock() = Some(info);
        self.ready.store(true, Ordering::Release);
    }

    pub(super) fn recovery(&self) -> Option<RecoveryInfo> {
        self.recovery.lock().clone()
    }

    pub(super) fn stats(&self, shared: &Shared) -> DurabilityStats {
        let (wal_fsyncs, wal_segments) =
            shared.wal.as_ref().map_or((0, 0), |w| (w.fsync_count(), w.segment_paths().len()));
        DurabilityStats {
            fsync: format!("{:?}", self.config.fsync),
            logged_writes: shared.logged_writes(),
            wal_fsyncs,
            wal_segments,
            last_snapshot_version: Some(self.last_version.load(Ordering::Relaxed)).filter(|v| *v > 0),
            snapshots_written: self.snapshots_written.load(Ordering::Relaxed),
            last_snapshot_error: self.last_error.lock().clone(),
            snapshot_pause_seconds: self.pause_ns.load(Ordering::Relaxed) as f64 / 1e9,
            snapshot_pause_max_seconds: self.pause_max_ns.load(Ordering::Relaxed) as f64 / 1e9,
            snapshot_write_seconds: self.write_ns.load(Ordering::Relaxed) as f64 / 1e9,
            snapshot_bytes_written: self.bytes_written.load(Ordering::Relaxed),
        }
    }

    /// Take a consistent cut of the live state and write it as a snapshot; `Ok(None)` if
    /// nothing was written since the last one.
    pub(super) fn checkpoint(&self, shared: &Shared, state: &EngineState) -> Result<Option<Version>> {
        if !self.ready.load(Ordering::Acquire) {
            return Err(DataflowError::Stopped);
        }
        let mut book = self.book.lock();
        let writes = shared.logged_writes();
        let asked = Instant::now();
        let result = shared.with_quiesced(DRAIN_TIMEOUT, |version| {
            if book.version == Some(version) {
                None
            } else {
                Some(Cut::copy(state, version))
            }
        });
        let paused = u64::try_from(asked.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.pause_ns.fetch_add(paused, Ordering::Relaxed);
        self.pause_max_ns.fetch_max(paused, Ordering::Relaxed);
        let cut = match result {
            Ok(Some(cut)) => cut,
            Ok(None) => {
                book.at = Instant::now();
                book.writes = writes;
                book.replayed = 0;
                return Ok(None);
            }
            Err(e) => {
                self.failed(&mut book, &e);
                return Err(e);
            }
        };
        match self.write(shared, &book.playbook, cut) {
            Ok(written) => {
                let v = written.version;
                self.succeeded(&mut book, state, written, writes);
                Ok(Some(v))
            }
            Err(e) => {
                self.failed(&mut book, &e);
                Err(e)
            }
        }
    }

    fn succeeded(&self, book: &mut Book, state: &EngineState, written: Written, writes: u64) {
        let Written { version, playbook, new_records } = written;
        // The snapshot holds them now; records accepted since its cut stay.
        state.forget_snapshotted(new_records);
        *book = Book { version: Some(version), at: Instant::now(), writes, replayed: 0, retry_at: None, playbook };
        self.last_version.store(version, Ordering::Relaxed);
        self.snapshots_written.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = None;
        tracing::info!(version, "snapshot written");
    }

    fn failed(&self, book: &mut Book, e: &DataflowError) {
        book.retry_at = Some(Instant::now() + RETRY_AFTER_FAILURE);
        *self.last_error.lock() = Some(e.to_string());
    }

    /// Write the files of `cut` (its new playbook records as a segment after `prior`, the
    /// last snapshot's), prune old snapshots and truncate the log behind them.
    fn write(&self, shared: &Shared, prior: &[Segment], cut: Cut) -> Result<Written> {
        let started = Instant::now();
        let written = self.write_files(shared, prior, cut);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.write_ns.fetch_add(took, Ordering::Relaxed);
        written
    }

    fn write_files(&self, shared: &Shared, prior: &[Segment], cut: Cut) -> Result<Written> {
        let dir = self.config.snapshot_dir();
        let v = cut.version;
        let name = workers_file_name(v);
        let path = dir.join(&name);
        let mut workers: Vec<WorkerRecord> = cut.workers.iter().map(|w| WorkerRecord::clone(w)).collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        write_workers(&path, &workers).map_err(|e| DataflowError::storage("writing the worker snapshot", e))?;
        let (workers_bytes, workers_crc32) =
            file_crc(&path).map_err(|e| DataflowError::storage("reading back the worker snapshot", e))?;
        let mut tombstones = cut.tombstones;
        tombstones.sort();
        let action = "writing the snapshot's playbook segment";
        let lines = encode_records(&accepted_records(&cut.new_records)).map_err(|e| {
            DataflowError::storage(action, WalError::Encode { path: dir.clone(), reason: e.to_string() })
        })?;
        let keep = plan_merge(prior, lines.len() as u64);
        let mut playbook = prior[..keep].to_vec();
        let mut bytes = workers_bytes;
        // Nothing new merges nothing (see `plan_merge`): no file to write.
        if !lines.is_empty() {
            let segment = write_segment(&dir, v, &prior[keep..], &lines, cut.new_records.len())
                .map_err(|e| DataflowError::storage(action, e))?;
            bytes += segment.bytes;
            playbook.push(segment);
        }
        let meta = SnapshotMeta {
            version: v,
            workers_file: name,
            workers: workers.len(),
            workers_bytes,
            workers_crc32,
            tombstones,
            playbook,
            records: None,
        };
        // Same directory as the parquet file: this call's directory fsync also makes the
        // parquet file's rename durable.
        let bin = write_snapshot(&dir, v, SNAPSHOT_SCHEMA, &meta)
            .map_err(|e| DataflowError::storage("writing the snapshot", e))?;
        bytes += fs::metadata(&bin).map_or(0, |m| m.len());
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
        let action = "pruning old snapshots";
        prune_snapshots(&dir, KEEP_SNAPSHOTS).map_err(|e| DataflowError::storage(action, e))?;
        let kept = remove_orphans(&dir).map_err(|e| DataflowError::storage(action, e))?;
        if kept.len() >= KEEP_SNAPSHOTS {
            if let (Some(oldest), Some(wal)) = (kept.iter().min(), shared.wal.as_ref()) {
                wal.truncate_through(*oldest)
                    .map_err(|e| DataflowError::storage("truncating the write-ahead log", e))?;
            }
        }
        Ok(Written { version: v, playbook: meta.playbook, new_records: cut.new_records.len() })
    }

    /// Whether the periodic trigger fires now.
    fn due(&self, shared: &Shared) -> bool {
        let book = self.book.lock();
        let writes = shared.logged_writes().saturating_sub(book.writes) + book.replayed;
        if writes == 0 || book.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        self.config.snapshot_every_writes.is_some_and(|n| writes >= n)
            || self.config.snapshot_interval.is_some_and(|i| book.at.elapsed() >= i)
    }

    /// Start the thread that takes periodic snapshots.
    pub(super) fn spawn_snapshotter(self: &Arc<Self>, shared: Arc<Shared>, state: Arc<EngineState>) -> Result<()> {
        let (interval, every) = (self.config.snapshot_interval, self.config.snapshot_every_writes);
        if interval.is_none() && every.is_none() {
            return Ok(());
        }
        let tick = interval.map_or(TICK, |i| i.clamp(Duration::from_millis(1), TICK));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let me = Arc::clone(self);
        let handle = std::thread::Builder::new()
            .name("lakehouse-snapshots".into())
            .spawn(move || loop {
                match stopped.recv_timeout(tick) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                if me.due(&shared) {
                    if let Err(e) = me.checkpoint(&shared, &state) {
                        tracing::error!(error = %e, "periodic snapshot failed; the log keeps everything, retrying later");
                    }
                }
            })
            .map_err(|e| DataflowError::Start { reason: format!("cannot spawn the snapshot thread: {e}") })?;
        *self.thread.lock() = Some((stop, handle));
        Ok(())
    }

    /// Stop the snapshot thread (waits for a snapshot in progress).
    pub(super) fn stop_snapshotter(&self) {
        let thread = self.thread.lock().take();
        if let Some((stop, handle)) = thread {
            drop(stop);
            if handle.join().is_err() {
                tracing::error!("the snapshot thread panicked");
            }
        }
    }

    /// Make [`Durability::finish`] a no-op (a simulated crash, or a failed dataflow).
    pub(super) fn skip_final_snapshot(&self) {
        self.finished.store(true, Ordering::Release);
    }

    /// At clean shutdown, once the dataflow has applied everything up to `applied_through`
    /// and stopped: flush the log and write a final snapshot (once).
    pub(super) fn finish(&self, shared: &Shared, state: &EngineState, applied_through: Version) {
        if !self.ready.load(Ordering::Acquire) || self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(wal) = shared.wal.as_ref() {
            if let Err(e) = wal.sync() {
                tracing::error!(error = %e, "could not flush the write-ahead log at shutdown");
            }
        }
        let mut book = self.book.lock();
        if book.version.is_some_and(|v| v >= applied_through) {
            tracing::info!(version = ?book.version, "shutdown: the last snapshot is current");
            return;
        }
        let writes = shared.logged_writes();
        match self.write(shared, &book.playbook, Cut::copy(state, applied_through)) {
            Ok(written) => self.succeeded(&mut book, state, written, writes),
            Err(e) => {
                tracing::error!(error = %e, "final snapshot failed; the log still holds every acknowledged write");
                self.failed(&mut book, &e);
            }
        }
    }
}

/// Removes worker parquet files and playbook segments no `.bin` snapshot refers to (a crash
/// between the writes, merged segments, pruned snapshots) and temporaries of other
/// processes; returns the versions of the `.bin` snapshots left. The segments of a kept
/// snapshot are read from its file (a corrupt or undecodable one cannot be loaded, so its
/// segments are not needed).
fn remove_orphans(dir: &Path) -> std::result::Result<Vec<Version>, WalError> {
    let names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .filter_map(|entry| entry.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    let kept: Vec<Version> = names.iter().filter_map(|n| parse_numbered(n, "snapshot-", ".bin")).collect();
    let mut segments: HashSet<String> = HashSet::new();
    for v in &kept {
        let meta = read_snapshot_raw(dir, *v)?.filter(|raw| raw.schema == SNAPSHOT_SCHEMA).map(|raw| raw.decode());
        if let Some(Ok(SnapshotMeta { playbook, .. })) = meta {
            segments.extend(playbook.into_iter().map(|s| s.file));
        }
    }
    let own_tmp = format!(".tmp-{}-", std::process::id());
    for name in &names {
        let orphan = parse_numbered(name, "workers-", ".parquet").is_some_and(|v| !kept.contains(&v))
            || (parse_numbered(name, "playbook-", ".jsonl").is_some() && !segments.contains(name));
        let temporary = (name.starts_with(".workers-") && name.contains(".parquet.tmp-"))
            || (name.starts_with(".playbook-") && name.contains(".jsonl.tmp-"));
        if orphan || (temporary && !name.contains(&own_tmp)) {
            let path = dir.join(name);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
    }
    Ok(kept)
}

/// Tracks each worker id's newest op stamp by the upsert operator's rule (an op applies if
/// its stamp is not older than the current one) and emits, per version, the ids whose
/// delete stamp changed: `Some(stamp)` when a delete became the newest op, `None` when an
/// upsert replaced a delete.
pub(crate) trait TrackTombstones<'s> {
    /// The tombstone changes of accepted ops.
    fn track_tombstones(self) -> Stream<'s, Version, Vec<(WorkerId, Option<i64>)>>;
}

impl<'s> TrackTombstones<'s> for Stream<'s, Version, Vec<(WorkerOp, Version)>> {
    fn track_tombstones(self) -> Stream<'s, Version, Vec<(WorkerId, Option<i64>)>> {
        // (newest stamp, whether that op was a delete) per id.
        let mut slots: HashMap<WorkerId, (i64, bool)> = HashMap::new();
        let pact = Exchange::new(|x: &(WorkerOp, Version)| route(x.0.id()));
        by_time(self, pact, "TrackTombstones", move |_t, ops, out| {
            let mut changed: HashMap<WorkerId, Option<i64>> = HashMap::new();
            for (op, _) in ops {
                // A refresh changes no record and leaves every stamp as it is.
                let Some(stamp) = op.stamp() else { continue };
                let deleted = matches!(op, WorkerOp::Delete { .. });
                let was_deleted = match slots.get_mut(op.id()) {
                    Some((s, _)) if stamp < *s => continue,
                    Some(slot) => std::mem::replace(slot, (stamp, deleted)).1,
                    None => {
                        slots.insert(op.id().clone(), (stamp, deleted));
                        false
                    }
                };
                if deleted || was_deleted {
                    changed.insert(op.id().clone(), deleted.then_some(stamp));
                }
            }
            out.extend(changed);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(bytes: u64) -> Segment {
        Segment { file: String::new(), records: 1, bytes, crc32: 0 }
    }

    #[test]
    fn segments_merge_like_a_binary_counter() {
        let mut segs: Vec<Segment> = Vec::new();
        let mut copied = 0u64;
        for n in 1..=64u64 {
            let keep = plan_merge(&segs, 100);
            let merged: u64 = segs[keep..].iter().map(|s| s.bytes).sum();
            copied += merged;
            segs.truncate(keep);
            segs.push(seg(merged + 100));
            // Equal-sized snapshots: one file per set bit of the count, oldest largest.
            assert_eq!(segs.len(), n.count_ones() as usize, "after {n}: {segs:?}");
            assert_eq!(segs.iter().map(|s| s.bytes).sum::<u64>(), 100 * n);
            assert!(segs.windows(2).all(|w| w[0].bytes > w[1].bytes), "{segs:?}");
        }
        // 64 snapshots: each record copied at most log2(64) = 6 times.
        assert!(copied <= 64 * 100 * 6, "{copied}");
        // Nothing new: nothing merged. A small addition after a big file keeps it.
        assert_eq!(plan_merge(&segs, 0), segs.len());
        assert_eq!(plan_merge(&[seg(10_000)], 100), 1);
        assert_eq!(plan_merge(&[seg(10_000), seg(100)], 100), 1);
    }
}
