//! The engine handle: the one narrow door through which the API reaches the dataflow.
//!
//! [`Engine::start`] spawns the timely workers and builds the pipeline; writes go in through
//! [`Engine::upsert_workers`], [`Engine::delete_worker`] and [`Engine::record_playbook`],
//! each returning the version it was given; [`Engine::wait_visible`] waits until a version
//! is applied to every index (read-your-writes); searches read the materialized indexes.
//!
//! # Notes
//! Versions are dataflow timestamps: microseconds since the Unix epoch, strictly increasing.
//! One sequencer (a mutex) stamps every write and pushes it into a bounded channel in
//! version order; the first timely worker of the process drains the channel into the
//! dataflow's inputs. The worker advances its inputs to a "floor" it claims from the same
//! sequencer, so a version below the floor can never be issued later — and because the
//! floor follows the wall clock, every process's inputs advance together, which is what
//! lets the same dataflow run on several processes with one notion of "visible".
//!
//! With [`EngineConfig::durability`] set, every write is logged before it is acknowledged
//! and the state is snapshotted and recovered at start; [`durable`] explains how that keeps
//! version order while concurrent writers share fsyncs.

pub mod boost;
pub mod durable;
mod host;
pub mod results;
pub mod search;
pub mod state;
pub mod visibility;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex, RwLock};
use sinks::{CollectionConfig, CollectionStats, ShardedMap, VectorCollection};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::Input as _;
use timely::WorkerConfig;

use crate::commands::{DeadLetter, Input, PlaybookRecord, RecordId, Version, WorkerOp};
use crate::embed::cache::{CacheStats, QueryCache};
use crate::embed::hashing::HashingEmbedder;
use crate::embed::Embedder;
use crate::error::{DataflowError, Result};
use crate::jobs::{Jobs, JobsConfig};
use crate::record::{WorkerId, WorkerRecord};
use crate::validators::fill::{validate_fill, FillJob};
use crate::validators::Violation;
use crate::wal::{Wal, WalError};
use durable::{Durability, DurabilityConfig, DurabilityStats, RecoveryInfo, StorageError};
use state::{EngineState, PlaybookEntry, RecordOutcome};

pub use search::{Filters, SearchHit, SearchOutcome, SearchQuery};

/// Engine settings.
#[derive(Clone)]
pub struct EngineConfig {
    /// Timely worker threads in this process. The default is 1: the dataflow needs a few
    /// percent of a core even at 500 writes/s, and on a box that searches saturate, every
    /// hop between two workers waits for a core (with 2, playbook records were 6–26 ms and
    /// freshness 3–30 ms slower at the median, `docs/BENCHMARKS.md`, session 7). More
    /// threads shard the work by worker id.
    pub threads: usize,
    /// The embedder; `None` uses the built-in hashing embedder at `dim`.
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Embedding dimension for the default embedder.
    pub dim: usize,
    /// Worker index settings (its `dim` is overwritten with the embedder's).
    pub workers_index: CollectionConfig,
    /// Playbook index settings (its `dim` is overwritten with the embedder's).
    pub playbook_index: CollectionConfig,
    /// Writes (single or batched) queued in front of the dataflow before writers wait.
    pub channel_capacity: usize,
    /// Query-embedding cache entries.
    pub query_cache: usize,
    /// Search-result cache entries (0 disables it); see [`results`].
    pub result_cache: usize,
    /// Log writes, snapshot and recover in this directory; `None` keeps everything in memory.
    pub durability: Option<DurabilityConfig>,
    /// Batch jobs (their records go to `<durability dir>/jobs`).
    pub jobs: JobsConfig,
    /// Searches that read the indexes at once; more wait for a turn, holding nothing an
    /// apply waits for (0, the default: no limit). In session 7, when a search held the
    /// visibility gate for its whole graph walk and an apply waited for every holder, one
    /// turn per core halved those waits and the median record and visibility delay in a
    /// saturated closed loop, but cost ~4% of completed scenarios in an overloaded open loop,
    /// where cheap searches (cache hits, the freshness probe) then queue behind graph walks
    /// (`docs/BENCHMARKS.md`). Searches now hold the gate only briefly (see
    /// [`state::EngineState::visibility`]).
    pub index_readers: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let mut playbook_index = CollectionConfig::new(768);
        playbook_index.hnsw_threshold = 1_000;
        EngineConfig {
            threads: 1,
            embedder: None,
            dim: 768,
            workers_index: CollectionConfig::new(768),
            playbook_index,
            channel_capacity: 4_096,
            query_cache: 10_000,
            result_cache: 10_000,
            durability: None,
            jobs: JobsConfig::default(),
            index_readers: 0,
        }
    }
}

impl EngineConfig {
    /// How often the worker index merges its unmerged writes (see
    /// [`CollectionConfig::merge_interval`]).
    pub fn merge_interval(&self) -> Duration {
        self.workers_index.merge_interval
    }

    /// Set how often both indexes merge their unmerged writes.
    pub fn set_merge_interval(&mut self, every: Duration) {
        self.workers_index.merge_interval = every;
        self.playbook_index.merge_interval = every;
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("threads", &self.threads)
            .field("dim", &self.dim)
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

/// A point-in-time view of the engine.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EngineStats {
    /// Every write at or below this version is in every index.
    pub visible_version: Version,
    /// Now minus the visible version, in ms: how stale a search may be.
    pub lag_ms: f64,
    /// Live workers.
    pub live_workers: usize,
    /// The worker index.
    pub workers_index: CollectionStats,
    /// The playbook index.
    pub playbook_index: CollectionStats,
    /// Query-embedding cache.
    #[serde(skip)]
    pub cache: CacheStats,
    /// Search-result cache.
    pub result_cache: results::ResultCacheStats,
    /// Waits of index applies for searches to leave the visibility gate.
    pub gate_waits: state::GateWaitStats,
    /// How long writes took from their version stamp to visible.
    pub visibility_delay: visibility::VisibilityDelayStats,
    /// Searches that waited for a turn to read the indexes (see
    /// [`EngineConfig::index_readers`]; 0 when turns are off).
    pub read_turn_waits: u64,
    /// `false` once a timely worker panicked (see [`Engine::dataflow_alive`]).
    pub dataflow_alive: bool,
    /// Timely times opened for the versions handed to the dataflow: versions that queued
    /// together share one, so this is at most the number of versions.
    pub dataflow_times: u64,
    /// Dead letters recorded since start.
    pub dead_letters: u64,
    /// The embedder's name.
    pub embedder: String,
}

/// One version's input on its way to the feeder.
struct Command {
    version: Version,
    input: Input,
}

/// A version whose log append has been started, until it is released to the feeder.
enum Pending {
    /// The append is running.
    Appending,
    /// Durable; released once every lower version is resolved.
    Durable(Input),
    /// The append failed; the version is skipped.
    Failed,
}

struct Sequencer {
    /// The last version issued.
    last: Version,
    /// Versions below this can no longer be issued (the feeder's inputs are past them).
    floor: Version,
    /// Issued versions not yet handed to the feeder, in version order (durable engines).
    pending: BTreeMap<Version, Pending>,
    /// A snapshot is taking its cut: no new versions until it is done.
    paused: bool,
    /// Shutting down: no new versions at all.
    closed: bool,
    /// The feeder is stopping: resolved versions are no longer handed to it.
    sealed: bool,
    /// The lowest version whose log append failed (the log is poisoned from there on).
    failed_at: Option<Version>,
}

impl Sequencer {
    fn new(last: Version) -> Self {
        Sequencer {
            last,
            floor: 0,
            pending: BTreeMap::new(),
            paused: false,
            closed: false,
            sealed: false,
            failed_at: None,
        }
    }

    /// Every version at or below this has been handed to the feeder (or abandoned).
    fn released_through(&self) -> Version {
        self.pending.first_key_value().map_or(self.last, |(v, _)| v.saturating_sub(1))
    }
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Whether a log error leaves the log unusable (so later writes must not be acknowledged).
fn poisons(e: &WalError) -> bool {
    !matches!(e, WalError::Encode { .. } | WalError::RecordTooLarge { .. })
}

struct Shared {
    seq: Mutex<Sequencer>,
    /// Signalled whenever pending versions are released.
    released: Condvar,
    tx: Sender<Command>,
    rx: Receiver<Command>,
    /// Channel slots: issued-but-unreleased versions plus queued commands never exceed it.
    capacity: usize,
    visible: tokio::sync::watch::Sender<Version>,
    feeder: Mutex<Option<std::thread::Thread>>,
    shutdown: AtomicBool,
    /// The write-ahead log of a durable engine.
    wal: Option<Wal<Input>>,
    /// Acknowledged logged writes.
    logged: AtomicU64,
    /// A timely worker of this process panicked: writes can no longer become visible.
    failed: AtomicBool,
    /// Test hook: the feeding worker panics on its next turn.
    inject_panic: AtomicBool,
    /// Stamp-to-visible delay of every write.
    delays: visibility::VisibilityDelays,
    /// Timely times the feeder opened: versions drained together share one (see [`drain`]).
    times: AtomicU64,
}

/// Marks the dataflow failed when a timely worker unwinds.
struct FailFlag<'a>(&'a AtomicBool);

impl Drop for FailFlag<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
            tracing::error!("a timely worker panicked: the dataflow is down; reads keep being served");
        }
    }
}

impl Shared {
    /// Stamp and enqueue an input; with `log` (and a log), append it to the log first and
    /// return only once it is durable and acknowledged (see [`durable`]). Waits (without
    /// holding the sequencer) while the channel is full or a snapshot takes its cut, so the
    /// feeding worker can always claim its floor. Unlogged submits of a durable engine
    /// (recovery's replay) bypass the pending set, so they must not overlap logged ones.
    fn submit(&self, make: impl FnOnce(Version) -> Input, log: bool) -> Result<Version> {
        let wal = if log { self.wal.as_ref() } else { None };
        let mut make = Some(make);
        let (version, input) = loop {
            if self.failed.load(Ordering::Acquire) {
                return Err(DataflowError::Stopped);
            }
            {
                let mut s = self.seq.lock();
                if s.closed {
                    return Err(DataflowError::Stopped);
                }
                if !s.paused && self.tx.len() + s.pending.len() < self.capacity {
                    let v = (s.last + 1).max(now_micros()).max(s.floor);
                    s.last = v;
                    let input = (make.take().ok_or(DataflowError::Stopped)?)(v);
                    if wal.is_none() {
                        self.tx.try_send(Command { version: v, input }).map_err(|_| DataflowError::Stopped)?;
                        self.delays.issued(v);
                        drop(s);
                        self.unpark_feeder();
                        return Ok(v);
                    }
                    s.pending.insert(v, Pending::Appending);
                    break (v, input);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        let Some(wal) = wal else { return Err(DataflowError::Stopped) };
        // Outside the sequencer lock: concurrent writers share one write and one fsync.
        let appended = wal.append(version, &input);
        let mut s = self.seq.lock();
        let own_error = match appended {
            Ok(()) => {
                s.pending.insert(version, Pending::Durable(input));
                None
            }
            Err(e) => {
                if poisons(&e) {
                    s.failed_at = Some(s.failed_at.map_or(version, |f| f.min(version)));
                }
                s.pending.insert(version, Pending::Failed);
                Some(e)
            }
        };
        let released = self.release(&mut s);
        // Acknowledge only once every lower version is resolved: the acknowledged writes are
        // then exactly what the dataflow has seen, a version-order prefix of the log.
        while s.pending.contains_key(&version) {
            self.released.wait(&mut s);
        }
        let failed_below = s.failed_at.filter(|f| *f < version);
        drop(s);
        if released {
            self.unpark_feeder();
        }
        match (own_error, failed_below) {
            (Some(e), _) => Err(DataflowError::storage("appending to the write-ahead log", e)),
            (None, Some(f)) => Err(DataflowError::storage(
                "appending to the write-ahead log",
                StorageError::EarlierWriteFailed { version: f },
            )),
            (None, None) => {
                self.logged.fetch_add(1, Ordering::Relaxed);
                Ok(version)
            }
        }
    }

    /// Hand the resolved versions at the front of the pending set to the feeder, in order.
    /// Returns whether any command was sent.
    fn release(&self, s: &mut Sequencer) -> bool {
        let (sealed, failed_at) = (s.sealed, s.failed_at);
        let mut sent = false;
        let mut popped = false;
        while let Some(entry) = s.pending.first_entry() {
            if matches!(entry.get(), Pending::Appending) {
                break;
            }
            let (version, pending) = entry.remove_entry();
            popped = true;
            let Pending::Durable(input) = pending else { continue };
            // Above a failed append nothing is applied: its replay could differ.
            if sealed || failed_at.is_some_and(|f| f < version) {
                continue;
            }
            // The slot was reserved when the version was issued, so the channel has room.
            if self.tx.try_send(Command { version, input }).is_err() {
                tracing::error!(version, "the feeder channel refused a released write");
            } else {
                // Only writes handed to the dataflow are timed (not failed or abandoned ones).
                self.delays.issued(version);
                sent = true;
            }
        }
        if popped {
            self.released.notify_all();
        }
        sent
    }

    fn unpark_feeder(&self) {
        if let Some(t) = self.feeder.lock().as_ref() {
            t.unpark();
        }
    }

    /// The lowest version that can still be handed to the feeder; everything below is in the
    /// channel (or abandoned).
    fn claim_floor(&self) -> Version {
        let mut s = self.seq.lock();
        let f = match s.pending.first_key_value() {
            // An issued version is not in the channel yet: the inputs must not pass it.
            Some((&p, _)) => p.max(s.floor),
            None => (s.last + 1).max(now_micros()).max(s.floor),
        };
        s.floor = f;
        f
    }

    /// The last version issued.
    fn last_issued(&self) -> Version {
        self.seq.lock().last
    }

    fn logged_writes(&self) -> u64 {
        self.logged.load(Ordering::Relaxed)
    }

    fn visible(&self) -> Version {
        *self.visible.borrow()
    }

    fn wait_visible_blocking(&self, version: Version, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.visible() < version {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }

    /// Stop issuing versions, wait until every issued one is applied (or abandoned), run
    /// `f(last issued)` on the quiet state, and resume.
    fn with_quiesced<T>(&self, timeout: Duration, f: impl FnOnce(Version) -> T) -> Result<T> {
        {
            let mut s = self.seq.lock();
            if s.closed {
                return Err(DataflowError::Stopped);
            }
            s.paused = true;
        }
        struct Resume<'a>(&'a Shared);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.seq.lock().paused = false;
            }
        }
        let _resume = Resume(self);
        let deadline = Instant::now() + timeout;
        loop {
            let (idle, last) = {
                let s = self.seq.lock();
                (s.pending.is_empty(), s.last)
            };
            if idle && self.visible() >= last {
                return Ok(f(last));
            }
            if Instant::now() >= deadline {
                return Err(DataflowError::storage("taking a snapshot", StorageError::Stalled(timeout)));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Refuse new writes, give in-flight logged writes up to `timeout` to resolve, and stop
    /// handing anything more to the feeder. Returns the version through which everything
    /// acknowledged has been handed to the feeder.
    fn close(&self, timeout: Duration) -> Version {
        self.seq.lock().closed = true;
        let deadline = Instant::now() + timeout;
        loop {
            let mut s = self.seq.lock();
            if s.pending.is_empty() || Instant::now() >= deadline {
                if !s.pending.is_empty() {
                    tracing::warn!(
                        pending = s.pending.len(),
                        "shutdown: log appends still running; they stay in the log for the next start"
                    );
                }
                s.sealed = true;
                return s.released_through();
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The running engine.
pub struct Engine {
    shared: Arc<Shared>,
    state: Arc<EngineState>,
    cache: QueryCache,
    records: AtomicU64,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
    started: Instant,
    durable: Option<Arc<Durability>>,
    stopped: AtomicBool,
    jobs: Jobs,
    /// Turns to read the indexes (see [`EngineConfig::index_readers`]).
    readers: Option<search::ReaderTurns>,
}

impl Engine {
    /// Start the timely workers and the pipeline. With [`EngineConfig::durability`], first
    /// recover: load the latest snapshot, replay the log behind it, and return once all of it
    /// is visible (errors are [`DataflowError::Storage`]: unreadable files, a corrupt log
    /// before its last segment, a snapshot of another schema).
    pub fn start(config: EngineConfig) -> Result<Engine> {
        if config.threads == 0 || config.threads > 64 {
            return Err(DataflowError::Config { reason: format!("threads must be in 1..=64, got {}", config.threads) });
        }
        let embedder: Arc<dyn Embedder> = match &config.embedder {
            Some(e) => Arc::clone(e),
            None => Arc::new(HashingEmbedder::new(config.dim)?),
        };
        let mut wcfg = config.workers_index.clone();
        wcfg.dim = embedder.dim();
        let mut pcfg = config.playbook_index.clone();
        pcfg.dim = embedder.dim();
        let state = Arc::new(EngineState {
            workers_index: VectorCollection::new("workers", wcfg)?,
            playbook_index: VectorCollection::new("playbook_memory", pcfg)?,
            workers: RwLock::new(Default::default()),
            visibility: RwLock::new(()),
            playbook: RwLock::new(ShardedMap::new()),
            unsnapshotted: config.durability.is_some().then(|| Mutex::new(Vec::new())),
            outcomes: RwLock::new(ShardedMap::new()),
            tombstones: RwLock::new(ShardedMap::new()),
            query_workers: RwLock::new(Default::default()),
            placements: RwLock::new(Default::default()),
            dead_letters: Mutex::new(VecDeque::new()),
            dead_letter_total: AtomicU64::new(0),
            embedder,
            results: results::ResultCache::new(config.result_cache),
            gate_waits: Default::default(),
        });
        if let Some(d) = &config.durability {
            durable::check_embedder(d, state.embedder.name(), state.embedder.dim())?;
        }
        // Read the files before any thread starts, so a bad data directory fails fast.
        let (wal, opened) = match config.durability.as_ref().map(durable::open).transpose()? {
            Some((wal, opened)) => (Some(wal), Some(opened)),
            None => (None, None),
        };
        let jobs_dir = config.durability.as_ref().map(|d| d.dir.join("jobs"));
        let jobs =
            Jobs::open(config.jobs.clone(), jobs_dir).map_err(|e| DataflowError::Start { reason: e.to_string() })?;
        let seed = opened.as_ref().map_or(0, |o| o.max_version());
        let capacity = config.channel_capacity.max(1);
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let (visible, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            // Versions after a restart exceed every version ever issued before.
            seq: Mutex::new(Sequencer::new(seed)),
            released: Condvar::new(),
            tx,
            rx,
            capacity,
            visible,
            feeder: Mutex::new(None),
            shutdown: AtomicBool::new(false),
            wal,
            logged: AtomicU64::new(0),
            times: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            inject_panic: AtomicBool::new(false),
            delays: Default::default(),
        });
        let track_tombstones = config.durability.is_some();
        let timely_config = timely::Config {
            communication: timely::CommunicationConfig::Process(config.threads),
            worker: WorkerConfig::default(),
        };
        let (s, st) = (Arc::clone(&shared), Arc::clone(&state));
        let guards = timely::execute(timely_config, move |worker| run_worker(worker, &s, &st, track_tombstones))
            .map_err(|reason| DataflowError::Start { reason })?;
        let engine = Engine {
            shared,
            state,
            cache: QueryCache::new(config.query_cache),
            records: AtomicU64::new(0),
            guards: Mutex::new(Some(guards)),
            started: Instant::now(),
            durable: config.durability.clone().map(|c| Arc::new(Durability::new(c))),
            stopped: AtomicBool::new(false),
            jobs,
            readers: (config.index_readers > 0).then(|| search::ReaderTurns::new(config.index_readers)),
        };
        if let (Some(d), Some(opened), Some(dcfg)) = (&engine.durable, opened, &config.durability) {
            // On error the engine is dropped: its dataflow stops, and no snapshot is written
            // because recovery never completed.
            let (info, playbook) = durable::recover(&engine.shared, opened, dcfg.recovery_timeout)?;
            // The replayed log is not traffic: its delays would dominate the tail.
            engine.shared.delays.reset();
            d.set_ready(info, playbook);
            d.spawn_snapshotter(Arc::clone(&engine.shared), Arc::clone(&engine.state))?;
        }
        // Jobs run (and interrupted ones resume) only on the recovered state.
        let host = host::EngineHost::new(Arc::clone(&engine.shared), Arc::clone(&engine.state));
        engine.jobs.start(Arc::new(host)).map_err(|e| DataflowError::Start { reason: e.to_string() })?;
        Ok(engine)
    }

    /// Batch jobs (parquet ingest, re-embed, index rebuild): submit, follow, cancel.
    pub fn jobs(&self) -> &Jobs {
        &self.jobs
    }

    /// Insert or replace workers, all at one version (readers see all of them or none).
    pub fn upsert_workers(&self, records: Vec<WorkerRecord>) -> Result<Version> {
        self.submit_ops(records.into_iter().map(WorkerOp::Upsert).collect())
    }

    /// Apply a batch of ops at one version. A durable engine returns once the batch is in
    /// the log (and every lower version is resolved); a storage fault is
    /// [`DataflowError::Storage`].
    pub fn submit_ops(&self, ops: Vec<WorkerOp>) -> Result<Version> {
        self.shared.submit(|_| Input::Workers(ops), true)
    }

    /// Delete a worker (a no-op in the indexes if it doesn't exist).
    pub fn delete_worker(&self, id: &str, at_ms: i64) -> Result<Version> {
        self.submit_ops(vec![WorkerOp::Delete { id: WorkerId(id.to_owned()), at: at_ms }])
    }

    /// Submit a playbook record; the fill validator decides it inside the dataflow.
    /// Returns its version and id; [`Engine::record_outcome`] tells the decision once that
    /// version is visible.
    pub fn record_playbook(&self, query: String, job: FillJob, worker_ids: Vec<String>) -> Result<(Version, RecordId)> {
        let n = self.records.fetch_add(1, Ordering::Relaxed);
        let mut rid = None;
        let v = self.shared.submit(
            |v| {
                let id = RecordId(format!("pb-{v}-{n}"));
                rid = Some(id.clone());
                Input::Record(PlaybookRecord {
                    record_id: id,
                    query,
                    job,
                    worker_ids: worker_ids.into_iter().map(WorkerId).collect(),
                    restored: false,
                })
            },
            true,
        )?;
        Ok((v, rid.ok_or(DataflowError::Stopped)?))
    }

    /// The decision on a record, once its version is visible.
    pub fn record_outcome(&self, id: &RecordId) -> Option<RecordOutcome> {
        self.state.outcome(id)
    }

    /// An accepted playbook record (also one restored from a snapshot or the log).
    pub fn playbook_entry(&self, id: &RecordId) -> Option<PlaybookEntry> {
        self.state.playbook.read().get(id.0.as_str()).map(|e| PlaybookEntry::clone(e))
    }

    /// Write a snapshot of the live state now (durable engines; `Ok(None)` otherwise, or when
    /// nothing was written since the last one). Writes pause while the cut is taken.
    pub fn checkpoint(&self) -> Result<Option<Version>> {
        match &self.durable {
            Some(d) => d.checkpoint(&self.shared, &self.state),
            None => Ok(None),
        }
    }

    /// What recovery did at start (durable engines).
    pub fn recovery(&self) -> Option<RecoveryInfo> {
        self.durable.as_ref().and_then(|d| d.recovery())
    }

    /// Log and snapshot counters (durable engines).
    pub fn durability_stats(&self) -> Option<DurabilityStats> {
        self.durable.as_ref().map(|d| d.stats(&self.shared))
    }

    /// Every write at or below this version is applied to every index.
    pub fn visible_version(&self) -> Version {
        *self.shared.visible.borrow()
    }

    /// Wait until `version` is visible; false on timeout.
    pub async fn wait_visible(&self, version: Version, timeout: Duration) -> bool {
        let mut rx = self.shared.visible.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|v| *v >= version)).await;
        matches!(waited, Ok(Ok(_)))
    }

    /// Blocking form of [`Engine::wait_visible`], for threads outside an async runtime.
    pub fn wait_visible_blocking(&self, version: Version, timeout: Duration) -> bool {
        self.shared.wait_visible_blocking(version, timeout)
    }

    /// A live worker's record.
    pub fn worker(&self, id: &str) -> Option<Arc<WorkerRecord>> {
        self.state.workers.read().get(id).cloned()
    }

    /// Number of live workers.
    pub fn live_workers(&self) -> usize {
        self.state.workers.read().len()
    }

    /// All live workers (unordered), e.g. for a snapshot or a model comparison.
    pub fn all_workers(&self) -> Vec<Arc<WorkerRecord>> {
        self.state.workers.read().values().cloned().collect()
    }

    /// Refused writes, oldest first (at most the last 100,000).
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state.dead_letters.lock().iter().cloned().collect()
    }

    /// Check a proposed fill against the live workers and recorded placements.
    pub fn validate_fill(&self, job: &FillJob, worker_ids: &[String]) -> Vec<Violation> {
        let workers = self.state.workers.read();
        let proposed: Vec<(String, Option<&WorkerRecord>)> =
            worker_ids.iter().map(|id| (id.clone(), workers.get(id).map(|r| r.as_ref()))).collect();
        let placements = self.state.placements.read();
        let placed = |w: &str| placements.get(w).cloned().unwrap_or_default();
        validate_fill(job, &proposed, &placed)
    }

    /// The worker vector index (read side), e.g. for recall measurements.
    pub fn workers_index(&self) -> &VectorCollection {
        &self.state.workers_index
    }

    /// The embedder in use.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.state.embedder
    }

    /// Current statistics.
    pub fn stats(&self) -> EngineStats {
        let visible = self.visible_version();
        EngineStats {
            visible_version: visible,
            lag_ms: now_micros().saturating_sub(visible) as f64 / 1000.0,
            live_workers: self.live_workers(),
            workers_index: self.state.workers_index.stats(),
            playbook_index: self.state.playbook_index.stats(),
            cache: self.cache.stats(),
            result_cache: self.state.results.stats(),
            gate_waits: self.state.gate_waits.stats(),
            visibility_delay: self.shared.delays.stats(),
            read_turn_waits: self.readers.as_ref().map_or(0, search::ReaderTurns::waited),
            dataflow_times: self.shared.times.load(Ordering::Relaxed),
            dataflow_alive: self.dataflow_alive(),
            dead_letters: self.state.dead_letter_total.load(Ordering::Relaxed),
            embedder: self.state.embedder.name().to_owned(),
        }
    }

    /// Whether the dataflow is running: `false` once a timely worker has panicked (writes
    /// then fail with [`DataflowError::Stopped`]; searches keep answering from the indexes).
    pub fn dataflow_alive(&self) -> bool {
        !self.shared.failed.load(Ordering::Acquire)
    }

    /// Test hook: make the feeding timely worker panic, as a bug inside an operator would.
    #[doc(hidden)]
    pub fn inject_dataflow_panic(&self) {
        self.shared.inject_panic.store(true, Ordering::Release);
        self.shared.unpark_feeder();
    }

    /// Block until the worker index is settled (HNSW built and nothing pending), or timeout.
    pub fn wait_indexed(&self, timeout: Duration) -> bool {
        self.state.workers_index.wait_settled(timeout)
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stop accepting writes, let in-flight ones finish (up to 30 s), let the dataflow drain
    /// what it has, and join the workers; a durable engine then flushes the log and writes a
    /// final snapshot. Idempotent.
    pub fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        // First, while writes are still accepted: a running job stops between batches.
        self.jobs.stop();
        if let Some(d) = &self.durable {
            d.stop_snapshotter();
        }
        if !self.dataflow_alive() {
            // A worker panicked: its peers can never finish the dataflow, and joining them
            // would hang. Leave them parked; the log holds every acknowledged write, so no
            // snapshot is taken from a state that may be missing some of them.
            self.shared.close(Duration::ZERO);
            if let Some(d) = &self.durable {
                d.skip_final_snapshot();
                d.stop_snapshotter();
            }
            if let Some(g) = self.guards.lock().take() {
                std::mem::forget(g);
            }
            tracing::error!("engine stopped after a dataflow panic; restart to recover from the log");
            return;
        }
        let applied_through = self.shared.close(Duration::from_secs(30));
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.unpark_feeder();
        if let Some(g) = self.guards.lock().take() {
            for r in g.join() {
                if let Err(e) = r {
                    tracing::error!("timely worker failed: {e}");
                }
            }
        }
        if let Some(d) = &self.durable {
            d.finish(&self.shared, &self.state, applied_through);
        }
    }
}

impl Engine {
    /// Stop the way a crash leaves the files: no final snapshot and no extra log flush, so
    /// the log holds exactly what acknowledged writes put there. For recovery tests.
    #[cfg(feature = "testing")]
    pub fn crash(&self) {
        if let Some(d) = &self.durable {
            d.skip_final_snapshot();
        }
        self.shutdown();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One timely worker: build the dataflow; the first worker of the process feeds it.
fn run_worker(worker: &mut timely::worker::Worker, shared: &Shared, state: &Arc<EngineState>, tombstones: bool) {
    let _flag = FailFlag(&shared.failed);
    let probe = ProbeHandle::new();
    let peers = worker.peers();
    let (mut ops_in, mut rec_in) = worker.dataflow::<Version, _, _>(|scope| {
        let (ops_in, ops) = scope.new_input::<Vec<(WorkerOp, Version)>>();
        let (rec_in, records) = scope.new_input::<Vec<PlaybookRecord>>();
        // This engine runs one process: all its peers are local.
        crate::pipeline::build(ops, records, Arc::clone(state), &probe, tombstones, peers);
        (ops_in, rec_in)
    });
    if worker.index() != 0 {
        // Only the feeder drives inputs; the others must drop theirs or the frontier stalls.
        drop(ops_in);
        drop(rec_in);
        while worker.step_or_park(Some(Duration::from_millis(50))) {}
        return;
    }
    *shared.feeder.lock() = Some(std::thread::current());
    let heartbeat = Duration::from_millis(50);
    let mut last_advance = Instant::now();
    loop {
        assert!(!shared.inject_panic.load(Ordering::Acquire), "injected dataflow panic (test hook)");
        let mut received = drain(shared, &mut ops_in, &mut rec_in);
        let stopping = shared.shutdown.load(Ordering::Acquire);
        if received || stopping || last_advance.elapsed() >= heartbeat {
            let floor = shared.claim_floor();
            received |= drain(shared, &mut ops_in, &mut rec_in);
            // The second drain may already have taken writes stamped after the floor was
            // claimed (the input is then past it): never move an input backwards.
            let next = floor.max(*ops_in.time());
            ops_in.advance_to(next);
            rec_in.advance_to(next);
            ops_in.flush();
            rec_in.flush();
            last_advance = Instant::now();
        }
        if stopping {
            break;
        }
        worker.step_or_park(if received { Some(Duration::ZERO) } else { Some(heartbeat) });
        let frontier = probe.with_frontier(|f| f.first().copied());
        let visible = frontier.map(|f| f.saturating_sub(1)).unwrap_or(Version::MAX);
        // This worker is the only sender. The delays are recorded before the version is
        // published, so whoever waited for it finds its delay counted.
        if visible > *shared.visible.borrow() {
            shared.delays.visible(visible, now_micros());
            shared.visible.send_replace(visible);
        }
    }
    drop(ops_in);
    drop(rec_in);
    while worker.step() {}
    shared.visible.send_replace(Version::MAX);
}

type OpsInput = timely::dataflow::InputHandleVec<Version, (WorkerOp, Version)>;
type RecordsInput = timely::dataflow::InputHandleVec<Version, PlaybookRecord>;

/// Move queued commands into the inputs. Returns whether any moved.
///
/// Consecutive commands share one timely time, the version of the first of them, as long as
/// no worker op follows a record in the run: every operator applies a time's worker ops (in
/// arrival order, which is version order) before it answers its records' claims, and
/// decides records in id order (version order), so each record still sees exactly the
/// writes of its own and earlier versions. The data keep their own versions. The time is the
/// run's lowest version, so the visible frontier passes a version only once its data are
/// applied (the inputs then move to the claimed floor, above every drained version).
/// Timely's progress tracking costs about the same per time whatever the time carries, and
/// under load several writes queue between two of the feeder's turns.
fn drain(shared: &Shared, ops_in: &mut OpsInput, rec_in: &mut RecordsInput) -> bool {
    let queued: Vec<Command> = shared.rx.try_iter().collect();
    let any = !queued.is_empty();
    let runs: Vec<(usize, Version)> =
        coalesce(&queued).into_iter().map(|r| (r.len(), queued[r.start].version)).collect();
    shared.times.fetch_add(runs.len() as u64, Ordering::Relaxed);
    let mut commands = queued.into_iter();
    for (len, time) in runs {
        ops_in.advance_to(time);
        rec_in.advance_to(time);
        for Command { version: v, input } in commands.by_ref().take(len) {
            match input {
                Input::Workers(ops) => ops.into_iter().for_each(|op| ops_in.send((op, v))),
                Input::Record(r) => rec_in.send(r),
                Input::Restore { ops, records } => {
                    ops.into_iter().for_each(|op| ops_in.send((op, v)));
                    records.into_iter().for_each(|r| rec_in.send(r));
                }
            }
        }
    }
    any
}

/// Split commands (in version order) into runs that may share one time: a run ends where a
/// command carrying worker ops follows one carrying a record.
fn coalesce(commands: &[Command]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut has_record) = (0, false);
    for (i, c) in commands.iter().enumerate() {
        let (ops, record) = match &c.input {
            Input::Workers(_) => (true, false),
            Input::Record(_) => (false, true),
            Input::Restore { .. } => (true, true),
        };
        if ops && has_record {
            groups.push(start..i);
            (start, has_record) = (i, false);
        }
        has_record |= record;
    }
    if start < commands.len() {
        groups.push(start..commands.len());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{PlaybookRecord, RecordId};
    use crate::validators::fill::FillJob;

    fn record(v: Version) -> Command {
        let job = FillJob { role: "welder".into(), city: "Austin".into(), state: "TX".into(), count: 1, dates: None };
        let r = PlaybookRecord {
            record_id: RecordId(format!("pb-{v}-0")),
            query: "welder".into(),
            job,
            worker_ids: Vec::new(),
            restored: false,
        };
        Command { version: v, input: Input::Record(r) }
    }

    fn ops(v: Version) -> Command {
        Command { version: v, input: Input::Workers(Vec::new()) }
    }

    #[test]
    fn a_run_shares_a_time_until_a_write_follows_a_record() {
        let cmds = vec![ops(1), ops(2), record(3), record(4), ops(5), record(6), ops(7), ops(8)];
        assert_eq!(coalesce(&cmds), vec![0..4, 4..6, 6..8]);
        assert_eq!(coalesce(&[record(1), record(2)]), vec![0..2]);
        assert_eq!(coalesce(&[record(1), ops(2)]), vec![0..1, 1..2]);
        let restore = Command { version: 3, input: Input::Restore { ops: Vec::new(), records: Vec::new() } };
        assert_eq!(coalesce(&[ops(1), ops(2), restore, ops(4)]), vec![0..3, 3..4]);
        assert!(coalesce(&[]).is_empty());
    }
}
