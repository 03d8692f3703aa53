//! `run`: one load run from configuration to written report.
//!
//! Order: validate the config, create the output directory, bring up the target
//! (embedded server or gateway) and wait until it is ready, build the query mix, run
//! the executor and the ingester side by side, then summarise, judge thresholds and
//! write every output file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::arrival::ArrivalSpec;
use crate::client::ApiClient;
use crate::dates::{now_unix_ms, run_timestamp, today};
use crate::embedded::{self, EmbeddedServer};
use crate::error::LoadError;
use crate::executor::{self, ExecPlan, LoadModel, Stop};
use crate::ingest::{self, IngestJob, IngestPlan};
use crate::progress::Progress;
use crate::queries::{QueryMix, WorkerDoc};
use crate::report::{self, Collector, RunMeta, Summary};
use crate::scenarios::{Counters, RunClock, ScenarioEnv, ScenarioKind, Weights};
use crate::threshold::{self, Rule};
use crate::wire::SearchRequest;

/// Where the workers for the query mix and ingest come from (gateway mode).
#[derive(Clone, Debug)]
pub enum CorpusSource {
    /// Generate `workers` workers with the run seed, as the server was loaded.
    Generate {
        /// Corpus size.
        workers: usize,
    },
    /// Use these workers (tests, or a corpus loaded elsewhere).
    Docs(Arc<Vec<WorkerDoc>>),
}

/// What to load.
#[derive(Clone, Debug)]
pub enum Target {
    /// An already running server.
    Gateway {
        /// Base URL, e.g. `http://127.0.0.1:8080`.
        url: String,
        /// Workers to draw queries from.
        corpus: CorpusSource,
    },
    /// Start the server in-process with a generated corpus.
    Embedded {
        /// Corpus size.
        workers: usize,
        /// Server data directory (a temporary one if `None`).
        data_dir: Option<PathBuf>,
    },
}

/// Everything a run needs. [`RunConfig::new`] gives the defaults documented on `cli`.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// What to load.
    pub target: Target,
    /// Open or closed loop.
    pub load: LoadModel,
    /// Scenario mix.
    pub weights: Weights,
    /// Load phase length.
    pub duration: Duration,
    /// Ingest writes per second (0 = off).
    pub ingest_rate: f64,
    /// Fraction of ingest upserts that create new workers.
    pub ingest_new_fraction: f64,
    /// Output directory (created).
    pub out_dir: PathBuf,
    /// CI thresholds.
    pub thresholds: Vec<Rule>,
    /// Seed for schedules, scenario choice, queries and the corpus.
    pub seed: u64,
    /// Top-k of unfiltered searches.
    pub k: usize,
    /// Per-request client timeout.
    pub request_timeout: Duration,
    /// How long in-flight iterations may finish after the load phase.
    pub drain_timeout: Duration,
    /// How long to wait for the target to become ready.
    pub ready_timeout: Duration,
    /// Optional cap on iterations.
    pub max_iterations: Option<u64>,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Stop the load phase early on Ctrl-C (the report is still written).
    pub stop_on_ctrl_c: bool,
    /// Embedded: the server's embedder (the CLI defaults to `auto`; here hashing, which
    /// needs no model files).
    pub embedder: embedded::EmbedderKind,
    /// Embedded: the server's tuning.
    pub server: embedded::ServerTuning,
}

impl RunConfig {
    /// Defaults: 60 s of MMPP at 200 scenarios/s (burst ×4, 20% of the time, 2 s
    /// bursts), in-flight cap 256, the seed's weights, ingest 50/s when embedded (off
    /// against a gateway, whose data we should not change unasked), seed 42, k 10.
    pub fn new(target: Target) -> Self {
        let ingest_rate = match target {
            Target::Embedded { .. } => 50.0,
            Target::Gateway { .. } => 0.0,
        };
        Self {
            target,
            load: LoadModel::Open {
                arrival: ArrivalSpec::Mmpp {
                    rate: 200.0,
                    burst_factor: 4.0,
                    burst_fraction: 0.2,
                    burst_mean_len: Duration::from_secs(2),
                },
                max_in_flight: 256,
            },
            weights: Weights::default(),
            duration: Duration::from_secs(60),
            ingest_rate,
            ingest_new_fraction: ingest::NEW_FRACTION,
            out_dir: PathBuf::from("out").join(format!("run-{}", run_timestamp(now_unix_ms()))),
            thresholds: Vec::new(),
            seed: 42,
            k: 10,
            request_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            ready_timeout: Duration::from_secs(1_800),
            max_iterations: None,
            progress: false,
            stop_on_ctrl_c: false,
            embedder: embedded::EmbedderKind::Hashing,
            server: embedded::ServerTuning::default(),
        }
    }

    /// Checks values that clap cannot; errors name the flag.
    pub fn validate(&self) -> Result<(), LoadError> {
        if !(1..=1000).contains(&self.k) {
            return Err(LoadError::config("--k", "must be between 1 and 1000"));
        }
        if self.duration.is_zero() {
            return Err(LoadError::config("--duration", "must be positive"));
        }
        if !(self.ingest_rate.is_finite() && self.ingest_rate >= 0.0) {
            return Err(LoadError::config("--ingest-rate", "must be ≥ 0"));
        }
        if !(0.0..=1.0).contains(&self.ingest_new_fraction) {
            return Err(LoadError::config("--ingest-new-fraction", "must be between 0 and 1"));
        }
        if self.request_timeout.is_zero() {
            return Err(LoadError::config("--request-timeout", "must be positive"));
        }
        self.weights.check().map_err(|e| LoadError::config("--weights", e.to_string()))?;
        match &self.load {
            LoadModel::Closed { users } if *users == 0 => Err(LoadError::config("--concurrency", "must be at least 1")),
            LoadModel::Open { max_in_flight, .. } if *max_in_flight == 0 => {
                Err(LoadError::config("--concurrency", "must be at least 1"))
            }
            LoadModel::Open { arrival, .. } => arrival.validate().map_err(|e| LoadError::config(e.flag, e.message)),
            LoadModel::Closed { .. } => Ok(()),
        }
    }
}

/// The outcome of a run: the summary (with threshold verdicts) and where files went.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The summary, also in `summary.json`.
    pub summary: Summary,
    /// The output directory.
    pub out_dir: PathBuf,
}

impl RunReport {
    /// Whether every threshold held.
    pub fn passed(&self) -> bool {
        self.summary.passed
    }
}

/// Polls `/health` (and, if `want_results`, a search) until the target is ready.
async fn wait_ready(client: &ApiClient, mix: Option<&QueryMix>, timeout: Duration) -> Result<(), LoadError> {
    let start = Instant::now();
    let mut last_error;
    loop {
        last_error = match client.health().await {
            Err(e) => format!("GET /health: {e:?}"),
            // Load against an index still building its graph would measure exact scans.
            Ok(false) => "indexes still building (GET /health: indexes_settled=false)".into(),
            Ok(true) => match mix.and_then(|m| m.tuples().first()) {
                None => return Ok(()),
                Some(t) => {
                    let q = format!("{} {} {}", t.role, t.city, t.state);
                    let call = client.search(&SearchRequest::plain(q, 1)).await;
                    match call.result {
                        Ok(r) if !r.results.is_empty() => return Ok(()),
                        Ok(_) => "search returns no results yet (corpus still loading?)".into(),
                        Err(e) => format!("POST /v1/search: {e:?}"),
                    }
                }
            },
        };
        if start.elapsed() >= timeout {
            return Err(LoadError::NotReady {
                url: client.base().to_owned(),
                waited_s: start.elapsed().as_secs_f64(),
                last_error,
            });
        }
        sleep(Duration::from_millis(200)).await;
    }
}

/// Runs a load test and writes its report under `config.out_dir`.
pub async fn run(config: RunConfig) -> Result<RunReport, LoadError> {
    config.validate()?;
    let out = config.out_dir.clone();
    std::fs::create_dir_all(&out).map_err(|e| LoadError::io(&out, e))?;
    let started_at_ms = now_unix_ms();

    let (server, url, docs, mode, workers) = match &config.target {
        Target::Embedded { workers, data_dir } => {
            let (server, docs) =
                EmbeddedServer::start(*workers, config.seed, data_dir.as_deref(), config.embedder, config.server)
                    .await?;
            let url = server.url().to_owned();
            (Some(server), url, Arc::new(docs), "embedded", *workers)
        }
        Target::Gateway { url, corpus } => {
            let docs = match corpus {
                CorpusSource::Generate { workers } => Arc::new(embedded::corpus_docs(*workers, config.seed).await?),
                CorpusSource::Docs(d) => d.clone(),
            };
            let n = docs.len();
            (None, url.clone(), docs, "gateway", n)
        }
    };
    let result = drive(&config, &url, docs, mode, workers, started_at_ms).await;
    if let Some(server) = server {
        server.shutdown().await;
    }
    result
}

/// The part of a run after the target is up (so the embedded server always shuts down).
async fn drive(
    config: &RunConfig,
    url: &str,
    docs: Arc<Vec<WorkerDoc>>,
    mode: &str,
    workers: usize,
    started_at_ms: i64,
) -> Result<RunReport, LoadError> {
    let mix = QueryMix::from_workers(&docs)
        .ok_or_else(|| LoadError::config("--workers", "the corpus is empty: no queries to draw"))?;
    let client = ApiClient::new(url, config.request_timeout);
    let want_results = matches!(config.target, Target::Embedded { .. });
    wait_ready(&client, want_results.then_some(&mix), config.ready_timeout).await?;

    let run_id = format!("run-{}", run_timestamp(started_at_ms));
    let env = Arc::new(ScenarioEnv {
        client,
        mix: Arc::new(mix),
        k: config.k,
        clock: RunClock { start: Instant::now() },
        counters: Counters::default(),
        failures: Default::default(),
        today: today(),
        seed: config.seed,
    });
    // Rows stream to the output files as they complete (see `Collector`).
    let sink = Arc::new(Collector::create(&config.out_dir, &run_id)?);
    let stop = Stop::new();
    if config.stop_on_ctrl_c {
        let stop = stop.clone();
        tokio::spawn(async move {
            // SIGTERM too, the server's own signals: an embedded server shuts down on it, and
            // a harness that kept going would spend the rest of its duration on refused
            // connections.
            query_api::server::shutdown_signal().await;
            stop.trigger();
        });
    }
    let progress = config.progress.then(|| Progress::start(config.duration, env.clock.start, sink.clone()));
    let ingester = ingest::spawn_dedicated(
        url,
        IngestJob {
            base: docs,
            plan: IngestPlan {
                new_fraction: config.ingest_new_fraction,
                ..IngestPlan::new(config.ingest_rate, config.duration, config.seed)
            },
            clock: env.clock,
            sink: sink.clone(),
            stop: stop.clone(),
            request_timeout: config.request_timeout,
        },
    );
    let plan = ExecPlan {
        load: config.load.clone(),
        weights: config.weights,
        duration: config.duration,
        seed: config.seed,
        max_iterations: config.max_iterations,
        drain_timeout: config.drain_timeout,
    };
    let stats = executor::execute(env.clone(), &plan, sink.clone(), stop.clone()).await;
    // Scenarios are done: stop writing too, in case the schedule ended early.
    stop.trigger();
    let ingest_aborted = ingester.await;
    // The server's own counters at the end of the load (result cache, index applies, ...),
    // best effort: a gateway need not serve them.
    let server_metrics = env.client.metrics_text().await;
    if let Some(p) = progress {
        p.finish();
    }

    let histograms = sink.finish()?;
    let mut counters = BTreeMap::new();
    counters.insert("changed_by_ingest".to_owned(), env.counters.changed_by_ingest.load(Ordering::Relaxed));
    counters.insert("surge_retries".to_owned(), env.counters.surge_retries.load(Ordering::Relaxed));
    counters.insert("market_booked".to_owned(), env.counters.market_booked.load(Ordering::Relaxed));
    counters
        .insert("replay_changed_by_ingest".to_owned(), env.counters.replay_changed_by_ingest.load(Ordering::Relaxed));
    counters.insert("fill_changed_by_ingest".to_owned(), env.counters.fill_changed_by_ingest.load(Ordering::Relaxed));
    counters
        .insert("market_changed_by_ingest".to_owned(), env.counters.market_changed_by_ingest.load(Ordering::Relaxed));
    counters.insert("replay_deepened".to_owned(), env.counters.replay_deepened.load(Ordering::Relaxed));
    counters.insert("ingest_aborted".to_owned(), ingest_aborted);
    let (arrival, rate, concurrency) = match &config.load {
        LoadModel::Closed { users } => ("closed".to_owned(), None, *users),
        LoadModel::Open { arrival, max_in_flight } => (arrival.name().to_owned(), mean_rate(arrival), *max_in_flight),
    };
    let meta = RunMeta {
        run_id,
        started_at_ms,
        mode: mode.to_owned(),
        target: url.to_owned(),
        arrival,
        rate,
        concurrency,
        duration_s: config.duration.as_secs_f64(),
        elapsed_s: stats.elapsed.as_secs_f64(),
        seed: config.seed,
        workers,
        ingest_rate: config.ingest_rate,
        ingest_new_fraction: config.ingest_new_fraction,
        out_dir: config.out_dir.display().to_string(),
        weights: ScenarioKind::ALL.iter().map(|k| (k.name().to_owned(), config.weights.get(*k))).collect(),
    };
    let mut summary = Summary::build(meta, &histograms, counters);
    summary.failure_examples = env.failures.examples();
    summary.thresholds = threshold::evaluate(&config.thresholds, &summary);
    summary.passed = summary.thresholds.iter().all(|t| t.passed);
    report::write_outputs(&config.out_dir, &summary, &histograms)?;
    // Best effort, like fetching it: the report is written already.
    match server_metrics {
        Ok(text) => {
            let path = config.out_dir.join(SERVER_METRICS_FILE);
            if let Err(e) = std::fs::write(&path, text) {
                eprintln!("note: the server's /metrics were not saved: {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("note: the server's /metrics were not saved ({})", e.reason()),
    }
    Ok(RunReport { summary, out_dir: config.out_dir.clone() })
}

/// The server's `/metrics` at the end of the load phase, in the output directory.
pub const SERVER_METRICS_FILE: &str = "server-metrics.prom";

/// The configured mean rate of an open-loop process (ramp: time-weighted over stages).
fn mean_rate(arrival: &ArrivalSpec) -> Option<f64> {
    match arrival {
        ArrivalSpec::Constant { rate }
        | ArrivalSpec::Poisson { rate }
        | ArrivalSpec::Mmpp { rate, .. }
        | ArrivalSpec::Flash { rate, .. } => Some(*rate),
        ArrivalSpec::Ramp { stages } => {
            let total: f64 = stages.iter().map(|s| s.len.as_secs_f64()).sum();
            (total > 0.0).then(|| stages.iter().map(|s| s.rate * s.len.as_secs_f64()).sum::<f64>() / total)
        }
    }
}
