//! Starting and stopping a server: engine, corpus load through the dataflow, socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataflow::engine::durable::DurabilityConfig;
use dataflow::engine::{Engine, EngineConfig};
use dataflow::wal::{FsyncPolicy, DEFAULT_SEGMENT_BYTES};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{app, AppState};

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Parquet corpus loaded at start, if any.
    pub corpus: Option<PathBuf>,
    /// Listen address (port 0 picks a free one).
    pub addr: SocketAddr,
    /// Where durable state goes: the write-ahead log in `data_dir/wal`, snapshots in
    /// `data_dir/snapshots`. A directory holding a snapshot is recovered at start and the
    /// corpus is not loaded again.
    pub data_dir: PathBuf,
    /// Required on write routes when set.
    pub api_key: Option<String>,
    /// Engine settings (its `durability` is set from `data_dir` and the fields below).
    pub engine: EngineConfig,
    /// When log appends are fsynced (`Always`: group commit, a write is acknowledged after an
    /// fsync that covers it).
    pub fsync: FsyncPolicy,
    /// Snapshot at least this often while writes arrive (`None`: not by time).
    pub snapshot_interval: Option<Duration>,
    /// Snapshot after this many acknowledged writes (`None`: not by count).
    pub snapshot_every_writes: Option<u64>,
    /// Write-ahead log segment size in bytes.
    pub wal_segment_bytes: u64,
    /// Accept a data directory indexed by another embedder and re-embed it (otherwise such a
    /// start fails with `DataflowError::EmbedderMismatch`).
    pub reembed: bool,
    /// Nice increment for request threads, so the dataflow runs first when both have work
    /// (0: equal priority; see [`crate::priority`]).
    pub request_nice: i32,
    /// Searches that may run at once on the search pool; more wait, in arrival order,
    /// without holding a thread (0: no limit). Read-your-writes searches (their own pool)
    /// and result-cache hits answered inline do not count. Bounding them leaves CPU for the
    /// dataflow and the write path when reads alone could fill every core.
    pub search_concurrency: usize,
    /// Threads that run searches (0: [`crate::pools::default_search_threads`]); more
    /// searches wait for one, in arrival order.
    pub search_threads: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            corpus: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 4110)),
            data_dir: PathBuf::from("data"),
            api_key: None,
            engine: EngineConfig::default(),
            fsync: FsyncPolicy::Always,
            snapshot_interval: Some(Duration::from_secs(300)),
            snapshot_every_writes: Some(100_000),
            wal_segment_bytes: DEFAULT_SEGMENT_BYTES,
            reembed: false,
            request_nice: crate::priority::DEFAULT_REQUEST_NICE,
            search_concurrency: DEFAULT_SEARCH_CONCURRENCY,
            search_threads: 0,
        }
    }
}

/// Why a server could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The engine failed to start or to load the corpus.
    #[error(transparent)]
    Engine(#[from] dataflow::DataflowError),
    /// The corpus file is unusable.
    #[error(transparent)]
    Corpus(#[from] dataflow::corpus::CorpusError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The corpus did not become visible in time.
    #[error("the corpus did not become visible within {0:?}")]
    LoadTimeout(Duration),
    /// A startup task failed.
    #[error("startup task failed: {0}")]
    Task(String),
}

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    engine: Arc<Engine>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    load: Duration,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The engine behind the server.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Time from start to corpus visible.
    pub fn load_time(&self) -> Duration {
        self.load
    }

    /// Stop accepting, drain in-flight requests, stop the engine (which flushes the log and
    /// writes a final snapshot).
    pub async fn shutdown(mut self) {
        self.stop_serving().await;
        let engine = Arc::clone(&self.engine);
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
    }

    /// Resolve when the server task ends (after SIGTERM or ctrl-c: no new connections,
    /// in-flight requests drained), then stop the engine: log flushed, final snapshot.
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let engine = Arc::clone(&self.engine);
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
        tracing::info!("shut down cleanly");
    }

    async fn stop_serving(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// Start the engine (recovering `data_dir`), load the corpus through the dataflow if the data
/// directory holds no snapshot yet, bind and serve.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, StartError> {
    let started = Instant::now();
    let mut ecfg = config.engine.clone();
    ecfg.durability = Some(DurabilityConfig {
        fsync: config.fsync,
        snapshot_interval: config.snapshot_interval,
        snapshot_every_writes: config.snapshot_every_writes,
        segment_bytes: config.wal_segment_bytes,
        reembed: config.reembed,
        ..DurabilityConfig::new(config.data_dir.clone())
    });
    // The engine's threads inherit the nice value of the thread that creates them, and
    // blocking-pool threads are lowered by the first request they run: start it on a thread
    // of its own, created by this (async, never lowered) one.
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("engine-start".into())
        .spawn(move || {
            let _ = tx.send(Engine::start(ecfg));
        })
        .map_err(|e| StartError::Task(e.to_string()))?;
    let engine = rx.await.map_err(|e| StartError::Task(e.to_string()))??;
    let engine = Arc::new(engine);
    // The first snapshot marks the initial load complete: until one exists, a start (e.g.
    // after a crash mid-load) loads the corpus again; newest-wins makes that idempotent.
    let seeded = engine.recovery().is_some_and(|r| r.snapshot_version.is_some());
    let corpus = match config.corpus.clone() {
        Some(path) if seeded => {
            tracing::info!(corpus = %path.display(), "the data directory holds a snapshot; the corpus is not loaded again");
            None
        }
        other => other,
    };
    if let Some(path) = corpus {
        let e = Arc::clone(&engine);
        let last = tokio::task::spawn_blocking(move || -> Result<u64, StartError> {
            let mut last = 0;
            for batch in dataflow::corpus::open_workers(&path, 8_192)? {
                last = e.upsert_workers(batch?)?;
            }
            Ok(last)
        })
        .await
        .map_err(|e| StartError::Task(e.to_string()))??;
        let limit = Duration::from_secs(600);
        if !engine.wait_visible(last, limit).await {
            return Err(StartError::LoadTimeout(limit));
        }
        tracing::info!(
            workers = engine.live_workers(),
            secs = started.elapsed().as_secs_f64(),
            "corpus loaded and searchable"
        );
    }
    if !seeded {
        let e = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || e.checkpoint()).await.map_err(|e| StartError::Task(e.to_string()))??;
    }
    let load = started.elapsed();
    let listener =
        TcpListener::bind(config.addr).await.map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let mut state = AppState::new(Arc::clone(&engine), config.api_key.clone());
    state.request_nice = config.request_nice;
    state.searches = Arc::new(crate::pools::BlockingPool::searches(config.search_threads));
    state.search_slots =
        (config.search_concurrency > 0).then(|| Arc::new(tokio::sync::Semaphore::new(config.search_concurrency)));
    let router = app(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let signal = async move {
            tokio::select! {
                _ = stopped => {}
                _ = shutdown_signal() => {}
            }
        };
        if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(signal).await {
            tracing::error!("server error: {e}");
        }
    });
    Ok(ServerHandle { addr, engine, stop: Some(stop), task: Some(task), load })
}

/// Resolves on Ctrl-C or SIGTERM (never, if neither can be listened for). The server stops
/// on it; the load harness's embedded runs stop with it.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// How long an idle blocking-pool thread (searches and writes run there) is kept. Tokio's
/// default of 10 s lets the pool shrink between bursts and regrow with fresh threads, each
/// of which first faults in its stack and its graph-walk visited set (4 bytes per point).
pub const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(600);

/// Default for [`ServerConfig::search_concurrency`]: no limit.
///
/// A limit trades read throughput for write latency when the box is overloaded. In 5-minute
/// MMPP runs at 1,000 scenarios/s ×1.5 with 500 writes/s, 8 slots cut the write-ack p99 from
/// 133 to 22 ms and freshness p99 from 330 to 208 ms, but twice as many scenarios were
/// dropped at the harness's in-flight cap (3.2% vs 1.6%). 4 slots cost 23% of closed-loop
/// throughput, because a search that holds a slot can wait on the index lock while a write
/// is applied, and the cores idle (`docs/BENCHMARKS.md`).
pub const DEFAULT_SEARCH_CONCURRENCY: usize = 0;

/// Most blocking-pool threads (jobs' requests, start-up work, tokio's own file I/O): as
/// many as the search pool's default, instead of tokio's 512. Searches and writes have
/// pools of their own (see [`crate::pools`]).
pub fn max_blocking_threads() -> usize {
    crate::pools::default_search_threads()
}

/// The multi-threaded runtime the server runs on (`lakehouse serve` and embedded runs).
pub fn runtime(thread_name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(thread_name)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .max_blocking_threads(max_blocking_threads())
        .enable_all()
        .build()
}
