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

pub mod search;
pub mod state;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::{Mutex, RwLock};
use sinks::{CollectionConfig, CollectionStats, VectorCollection};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::Input;
use timely::WorkerConfig;

use crate::commands::{DeadLetter, PlaybookRecord, RecordId, Version, WorkerOp};
use crate::embed::cache::{CacheStats, QueryCache};
use crate::embed::hashing::HashingEmbedder;
use crate::embed::Embedder;
use crate::error::{DataflowError, Result};
use crate::record::{WorkerId, WorkerRecord};
use crate::validators::fill::{validate_fill, FillJob};
use crate::validators::Violation;
use state::{EngineState, RecordOutcome};

pub use search::{Filters, SearchHit, SearchOutcome, SearchQuery};

/// Engine settings.
#[derive(Clone)]
pub struct EngineConfig {
    /// Timely worker threads in this process.
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        let mut playbook_index = CollectionConfig::new(768);
        playbook_index.hnsw_threshold = 1_000;
        EngineConfig {
            threads: 2,
            embedder: None,
            dim: 768,
            workers_index: CollectionConfig::new(768),
            playbook_index,
            channel_capacity: 4_096,
            query_cache: 10_000,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig").field("threads", &self.threads).field("dim", &self.dim).finish_non_exhaustive()
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
    /// Dead letters recorded since start.
    pub dead_letters: u64,
    /// The embedder's name.
    pub embedder: String,
}

enum Command {
    Workers(Vec<WorkerOp>, Version),
    Record(PlaybookRecord, Version),
}

struct Sequencer {
    last: Version,
    floor: Version,
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

struct Shared {
    seq: Mutex<Sequencer>,
    tx: Sender<Command>,
    rx: Receiver<Command>,
    visible: tokio::sync::watch::Sender<Version>,
    feeder: Mutex<Option<std::thread::Thread>>,
    shutdown: AtomicBool,
}

impl Shared {
    /// Stamp and enqueue a command; waits (without holding the sequencer) while the
    /// channel is full, so the feeding worker can always claim its floor.
    fn submit(&self, make: impl FnOnce(Version) -> Command) -> Result<Version> {
        let mut make = Some(make);
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                return Err(DataflowError::Stopped);
            }
            {
                let mut s = self.seq.lock();
                if !self.tx.is_full() {
                    let v = (s.last + 1).max(now_micros()).max(s.floor);
                    s.last = v;
                    let cmd = (make.take().expect("make is used once"))(v);
                    self.tx.try_send(cmd).map_err(|_| DataflowError::Stopped)?;
                    drop(s);
                    if let Some(t) = self.feeder.lock().as_ref() {
                        t.unpark();
                    }
                    return Ok(v);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// The lowest version that can still be issued; everything below is in the channel.
    fn claim_floor(&self) -> Version {
        let mut s = self.seq.lock();
        let f = (s.last + 1).max(now_micros()).max(s.floor);
        s.floor = f;
        f
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
}

impl Engine {
    /// Start the timely workers and the pipeline.
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
            workers: RwLock::new(HashMap::new()),
            playbook: RwLock::new(HashMap::new()),
            outcomes: RwLock::new(HashMap::new()),
            placements: RwLock::new(HashMap::new()),
            dead_letters: Mutex::new(VecDeque::new()),
            dead_letter_total: AtomicU64::new(0),
            embedder,
        });
        let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity.max(1));
        let (visible, _) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            seq: Mutex::new(Sequencer { last: 0, floor: 0 }),
            tx,
            rx,
            visible,
            feeder: Mutex::new(None),
            shutdown: AtomicBool::new(false),
        });
        let timely_config = timely::Config {
            communication: timely::CommunicationConfig::Process(config.threads),
            worker: WorkerConfig::default(),
        };
        let (s, st) = (Arc::clone(&shared), Arc::clone(&state));
        let guards = timely::execute(timely_config, move |worker| run_worker(worker, &s, &st))
            .map_err(|reason| DataflowError::Start { reason })?;
        Ok(Engine {
            shared,
            state,
            cache: QueryCache::new(config.query_cache),
            records: AtomicU64::new(0),
            guards: Mutex::new(Some(guards)),
            started: Instant::now(),
        })
    }

    /// Insert or replace workers, all at one version (readers see all of them or none).
    pub fn upsert_workers(&self, records: Vec<WorkerRecord>) -> Result<Version> {
        self.submit_ops(records.into_iter().map(WorkerOp::Upsert).collect())
    }

    /// Apply a batch of ops at one version.
    pub fn submit_ops(&self, ops: Vec<WorkerOp>) -> Result<Version> {
        self.shared.submit(|v| Command::Workers(ops, v))
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
        let v = self.shared.submit(|v| {
            let id = RecordId(format!("pb-{v}-{n}"));
            rid = Some(id.clone());
            Command::Record(
                PlaybookRecord {
                    record_id: id,
                    query,
                    job,
                    worker_ids: worker_ids.into_iter().map(WorkerId).collect(),
                },
                v,
            )
        })?;
        Ok((v, rid.ok_or(DataflowError::Stopped)?))
    }

    /// The decision on a record, once its version is visible.
    pub fn record_outcome(&self, id: &RecordId) -> Option<RecordOutcome> {
        self.state.outcome(id)
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
        let deadline = Instant::now() + timeout;
        while self.visible_version() < version {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
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
            dead_letters: self.state.dead_letter_total.load(Ordering::Relaxed),
            embedder: self.state.embedder.name().to_owned(),
        }
    }

    /// Block until the worker index is settled (HNSW built and nothing pending), or timeout.
    pub fn wait_indexed(&self, timeout: Duration) -> bool {
        self.state.workers_index.wait_settled(timeout)
    }

    /// Time since start.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stop accepting writes, let the dataflow drain what it has, and join the workers.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        if let Some(t) = self.shared.feeder.lock().as_ref() {
            t.unpark();
        }
        if let Some(g) = self.guards.lock().take() {
            for r in g.join() {
                if let Err(e) = r {
                    tracing::error!("timely worker failed: {e}");
                }
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One timely worker: build the dataflow; the first worker of the process feeds it.
fn run_worker(worker: &mut timely::worker::Worker, shared: &Shared, state: &Arc<EngineState>) {
    let probe = ProbeHandle::new();
    let (mut ops_in, mut rec_in) = worker.dataflow::<Version, _, _>(|scope| {
        let (ops_in, ops) = scope.new_input::<Vec<(WorkerOp, Version)>>();
        let (rec_in, records) = scope.new_input::<Vec<PlaybookRecord>>();
        crate::pipeline::build(ops, records, Arc::clone(state), &probe);
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
        let mut received = drain(&shared.rx, &mut ops_in, &mut rec_in);
        let stopping = shared.shutdown.load(Ordering::Acquire);
        if received || stopping || last_advance.elapsed() >= heartbeat {
            let floor = shared.claim_floor();
            received |= drain(&shared.rx, &mut ops_in, &mut rec_in);
            ops_in.advance_to(floor);
            rec_in.advance_to(floor);
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
        shared.visible.send_if_modified(|v| {
            if visible > *v {
                *v = visible;
                true
            } else {
                false
            }
        });
    }
    drop(ops_in);
    drop(rec_in);
    while worker.step() {}
    shared.visible.send_replace(Version::MAX);
}

type OpsInput = timely::dataflow::InputHandleVec<Version, (WorkerOp, Version)>;
type RecordsInput = timely::dataflow::InputHandleVec<Version, PlaybookRecord>;

/// Move queued commands into the inputs, each at its version. Returns whether any moved.
fn drain(rx: &Receiver<Command>, ops_in: &mut OpsInput, rec_in: &mut RecordsInput) -> bool {
    let mut any = false;
    loop {
        match rx.try_recv() {
            Ok(Command::Workers(ops, v)) => {
                ops_in.advance_to(v);
                rec_in.advance_to(v);
                for op in ops {
                    ops_in.send((op, v));
                }
                any = true;
            }
            Ok(Command::Record(r, v)) => {
                ops_in.advance_to(v);
                rec_in.advance_to(v);
                rec_in.send(r);
                any = true;
            }
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return any,
        }
    }
}
