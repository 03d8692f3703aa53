//! Starting and stopping a server: engine, corpus load through the dataflow, socket.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataflow::engine::{Engine, EngineConfig};
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
    /// Where durable state goes.
    pub data_dir: PathBuf,
    /// Required on write routes when set.
    pub api_key: Option<String>,
    /// Engine settings.
    pub engine: EngineConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            corpus: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 4110)),
            data_dir: PathBuf::from("data"),
            api_key: None,
            engine: EngineConfig::default(),
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

    /// Stop accepting, drain in-flight requests, stop the engine.
    pub async fn shutdown(mut self) {
        self.stop_serving().await;
        let engine = Arc::clone(&self.engine);
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
    }

    /// Resolve when the server task ends (e.g. after a signal).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let engine = Arc::clone(&self.engine);
        let _ = tokio::task::spawn_blocking(move || engine.shutdown()).await;
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

/// Start the engine, load the corpus through the dataflow, bind and serve.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, StartError> {
    let started = Instant::now();
    let ecfg = config.engine.clone();
    let engine = tokio::task::spawn_blocking(move || Engine::start(ecfg))
        .await
        .map_err(|e| StartError::Task(e.to_string()))??;
    let engine = Arc::new(engine);
    if let Some(path) = config.corpus.clone() {
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
    let load = started.elapsed();
    let listener =
        TcpListener::bind(config.addr).await.map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.addr, source })?;
    let router = app(AppState::new(Arc::clone(&engine), config.api_key.clone()));
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

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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
