//! Embedded mode and corpus generation: the only module that touches `dataflow` and `query_api`.
//!
//! Everything else in the harness speaks HTTP and the wire types in `queries`/`wire`;
//! if the server crates rename something, this file is the one to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dataflow::record::WorkerRecord;

/// Which embedder the embedded server uses (`--embedder`).
pub use dataflow::embed::EmbedderKind;

use crate::dates::iso_date;
use crate::error::LoadError;
use crate::queries::{CertDoc, WorkerDoc};

/// A worker record in wire shape (dates as `YYYY-MM-DD`).
pub fn to_doc(r: &WorkerRecord) -> WorkerDoc {
    WorkerDoc {
        id: r.id.as_str().to_owned(),
        name: r.name.clone(),
        role: r.role.clone(),
        city: r.city.clone(),
        state: r.state.clone(),
        skills: r.skills.clone(),
        certifications: r
            .certifications
            .iter()
            .map(|c| CertDoc { name: c.name.clone(), expires_on: iso_date(i64::from(c.expires_on)) })
            .collect(),
        years_experience: r.years_experience,
        hourly_rate_cents: r.hourly_rate_cents,
        shift: r.shift.clone(),
        available_from: iso_date(i64::from(r.available_from)),
        reliability_milli: r.reliability_milli,
        phone: r.phone.clone(),
        email: r.email.clone(),
        updated_at: Some(r.updated_at),
    }
}

/// Generates the deterministic corpus (`n` workers from `seed`) off the async runtime.
async fn generate(n: usize, seed: u64) -> Result<Vec<WorkerRecord>, LoadError> {
    tokio::task::spawn_blocking(move || dataflow::corpus::generate_corpus(n, seed))
        .await
        .map_err(|e| LoadError::Embedded(format!("corpus generation panicked: {e}")))
}

/// The corpus the server is (or would be) loaded with, in wire shape: used in gateway
/// mode to draw the query mix and ingest templates from the same workers.
pub async fn corpus_docs(n: usize, seed: u64) -> Result<Vec<WorkerDoc>, LoadError> {
    Ok(generate(n, seed).await?.iter().map(to_doc).collect())
}

/// An in-process Lakehouse server on 127.0.0.1 with a generated corpus.
///
/// The server runs on its own tokio runtime, so its handlers and the harness's
/// iteration tasks do not queue behind each other in one scheduler: like separate
/// processes, they share only the CPU.
pub struct EmbeddedServer {
    handle: query_api::ServerHandle,
    runtime: tokio::runtime::Runtime,
    url: String,
    // Holds the server's data directory when none was given; removed on drop.
    _scratch: Option<tempfile::TempDir>,
}

/// Server settings an embedded run can change (the `--server-*` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerTuning {
    /// Nice increment for the server's request threads.
    pub nice: i32,
    /// Searches the server runs at once (0: no limit).
    pub search_concurrency: usize,
    /// Timely worker threads of the server's dataflow.
    pub dataflow_threads: usize,
    /// Searches that read the server's indexes at once (0: no limit).
    pub index_readers: usize,
    /// Threads that run the server's searches (0: the server's default).
    pub search_threads: usize,
    /// How often the server's indexes merge their unmerged writes, ms.
    pub merge_interval_ms: u64,
}

impl Default for ServerTuning {
    fn default() -> Self {
        Self {
            nice: query_api::priority::DEFAULT_REQUEST_NICE,
            search_concurrency: query_api::server::DEFAULT_SEARCH_CONCURRENCY,
            dataflow_threads: dataflow::engine::EngineConfig::default().threads,
            index_readers: dataflow::engine::EngineConfig::default().index_readers,
            search_threads: 0,
            merge_interval_ms: dataflow::engine::EngineConfig::default().merge_interval().as_millis() as u64,
        }
    }
}

impl EmbeddedServer {
    /// Generates `workers` workers from `seed`, writes them as the corpus file, and
    /// starts the server on an ephemeral loopback port with the `embedder` chosen (printed
    /// on stderr; model paths from `LAKEHOUSE_MODEL_DIR` / `LAKEHOUSE_STATIC_MODEL`).
    /// Returns the server and the corpus in wire shape.
    pub async fn start(
        workers: usize,
        seed: u64,
        data_dir: Option<&Path>,
        embedder: EmbedderKind,
        tuning: ServerTuning,
    ) -> Result<(Self, Vec<WorkerDoc>), LoadError> {
        let paths = dataflow::embed::ModelPaths::from_env();
        let selected = tokio::task::spawn_blocking(move || dataflow::embed::select(embedder, &paths, 768, 1))
            .await
            .map_err(|e| LoadError::Embedded(format!("loading the embedder panicked: {e}")))?
            .map_err(|e| LoadError::Embedded(e.to_string()))?;
        eprintln!("embedder: {} — {}", selected.embedder.name(), selected.reason);
        let (scratch, dir): (Option<tempfile::TempDir>, PathBuf) = match data_dir {
            Some(d) => (None, d.to_owned()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("lakehouse-load-")
                    .tempdir()
                    .map_err(|e| LoadError::io(std::env::temp_dir(), e))?;
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| LoadError::io(&dir, e))?;
        let records = generate(workers, seed).await?;
        let docs: Vec<WorkerDoc> = records.iter().map(to_doc).collect();
        let corpus = dir.join("workers.parquet");
        let corpus_path = corpus.clone();
        tokio::task::spawn_blocking(move || {
            dataflow::corpus::write_workers(&corpus_path, &records)
                .map_err(|e| LoadError::Embedded(format!("{}: {e}", corpus_path.display())))
        })
        .await
        .map_err(|e| LoadError::Embedded(format!("writing corpus panicked: {e}")))??;
        let mut config = query_api::ServerConfig {
            corpus: Some(corpus),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: dir.join("server"),
            request_nice: tuning.nice,
            search_concurrency: tuning.search_concurrency,
            search_threads: tuning.search_threads,
            ..Default::default()
        };
        config.engine.threads = tuning.dataflow_threads;
        config.engine.index_readers = tuning.index_readers;
        config.engine.set_merge_interval(Duration::from_millis(tuning.merge_interval_ms));
        config.engine.embedder = Some(selected.embedder);
        let runtime = query_api::runtime("lakehouse-server")
            .map_err(|e| LoadError::Embedded(format!("starting the server runtime: {e}")))?;
        let handle = runtime
            .spawn(query_api::start(config))
            .await
            .map_err(|e| LoadError::Embedded(format!("server start panicked: {e}")))?
            .map_err(|e| LoadError::Embedded(e.to_string()))?;
        let url = format!("http://{}", handle.addr());
        Ok((Self { handle, runtime, url, _scratch: scratch }, docs))
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server gracefully, then its runtime.
    pub async fn shutdown(self) {
        let Self { handle, runtime, .. } = self;
        let _ = runtime.spawn(handle.shutdown()).await;
        // Dropping a runtime inside async code would block; this does not.
        runtime.shutdown_background();
    }
}
