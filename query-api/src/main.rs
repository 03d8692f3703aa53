//! `lakehouse`: generate a corpus, or serve the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use dataflow::embed::{EmbedderKind, ModelPaths};
use dataflow::wal::FsyncPolicy;
use query_api::ServerConfig;

// mimalloc: 4–5× the throughput of glibc malloc for the dataflow's many small allocations
// (measured; see the notes on timely/differential).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "lakehouse", version, about = "Staffing-match vector engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// When write-ahead log appends are fsynced.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Fsync {
    /// Group commit: a write is acknowledged after an fsync that covers it.
    Always,
    /// A write is acknowledged once written to the OS; fsync every `--fsync-batch-ms` (a
    /// power loss can lose that much, a process crash nothing).
    Batch,
    /// Never fsync appends (the OS decides); for measurements.
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic worker corpus (plus the 200-worker validator pool) as parquet.
    Generate {
        /// Workers to generate (the validator pool is added on top).
        #[arg(long, default_value_t = 100_000)]
        workers: usize,
        /// Random seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Output parquet file.
        #[arg(long, default_value = "data/workers_100k.parquet")]
        out: PathBuf,
        /// Added to every `updated_at`: a later "drop" of the same ids that wins newest-wins
        /// over an earlier corpus (e.g. for an ingest job).
        #[arg(long, default_value_t = 0)]
        updated_at_offset_ms: i64,
    },
    /// Submit parquet files (or directories of them) to a running server as one ingest job,
    /// follow it with a progress bar, and exit non-zero unless it succeeds.
    Ingest {
        /// Parquet files or directories; the server reads them (paths are made absolute here).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The server.
        #[arg(long, default_value = "http://127.0.0.1:4110")]
        gateway: String,
        /// API key of the server's write routes.
        #[arg(long, env = "LAKEHOUSE_API_KEY")]
        api_key: Option<String>,
        /// Milliseconds between progress polls.
        #[arg(long, default_value_t = 250)]
        poll_ms: u64,
    },
    /// Start the engine, load the corpus through the dataflow, and serve the REST API.
    Serve {
        /// Parquet corpus to load at start.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:4110")]
        addr: SocketAddr,
        /// Directory for durable state (write-ahead log and snapshots); recovered at start.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// When write-ahead log appends are fsynced.
        #[arg(long, value_enum, default_value_t = Fsync::Always)]
        fsync: Fsync,
        /// Milliseconds between background fsyncs with `--fsync batch`.
        #[arg(long, default_value_t = 10)]
        fsync_batch_ms: u64,
        /// Seconds between snapshots while writes arrive (0: not by time).
        #[arg(long, default_value_t = 300)]
        snapshot_interval_secs: u64,
        /// Acknowledged writes between snapshots (0: not by count).
        #[arg(long, default_value_t = 100_000)]
        snapshot_every_writes: u64,
        /// Write-ahead log segment size in bytes.
        #[arg(long, default_value_t = dataflow::wal::DEFAULT_SEGMENT_BYTES)]
        wal_segment_bytes: u64,
        /// API key required on write routes.
        #[arg(long, env = "LAKEHOUSE_API_KEY")]
        api_key: Option<String>,
        /// Timely worker threads.
        #[arg(long, default_value_t = dataflow::engine::EngineConfig::default().threads)]
        threads: usize,
        /// Searches that read the indexes at once; more wait for a turn, so index applies
        /// wait for fewer of them (0: no limit).
        #[arg(long, default_value_t = dataflow::engine::EngineConfig::default().index_readers)]
        index_readers: usize,
        /// Embedding dimension of the built-in hashing embedder.
        #[arg(long, default_value_t = 768)]
        dim: usize,
        /// Embedder: auto = the distilled static model if present, else MiniLM if its files
        /// are present, else hashing (model paths: LAKEHOUSE_MODEL_DIR, LAKEHOUSE_STATIC_MODEL).
        #[arg(long, default_value = "auto")]
        embedder: EmbedderKind,
        /// MiniLM threads.
        #[arg(long, default_value_t = 1)]
        embed_threads: usize,
        /// Accept a data directory indexed by another embedder and re-embed it with this one.
        #[arg(long)]
        reembed: bool,
        /// Nice increment for request threads (searches), so writes reach the indexes first
        /// under load; 0 (the default) runs them at the dataflow's priority.
        #[arg(long, default_value_t = query_api::priority::DEFAULT_REQUEST_NICE, value_parser = clap::value_parser!(i32).range(0..=19))]
        request_nice: i32,
        /// Searches that may run at once; more wait their turn without a thread, leaving CPU
        /// for the write path when reads overload the box (0: no limit).
        #[arg(long, default_value_t = query_api::server::DEFAULT_SEARCH_CONCURRENCY)]
        search_concurrency: usize,
        /// Threads that run searches; more searches wait for one, in arrival order
        /// (0: 8 per core, at least 16).
        #[arg(long, default_value_t = 0)]
        search_threads: usize,
        /// How often the indexes merge committed writes into their indexed points, ms. A
        /// write is searchable at once either way; a merge waits for the searches in flight
        /// and stalls new ones meanwhile, and between merges every search scans the unmerged
        /// writes exactly.
        #[arg(long, default_value_t = dataflow::engine::EngineConfig::default().merge_interval().as_millis() as u64)]
        merge_interval_ms: u64,
    },
    /// Embedding models: distill the static embedder from MiniLM.
    Embed {
        #[command(subcommand)]
        command: EmbedCommand,
    },
}

#[derive(Subcommand)]
enum EmbedCommand {
    /// Distill the static embedder from all-MiniLM-L6-v2 (run scripts/setup-model first).
    Distill {
        /// MiniLM model directory [default: $LAKEHOUSE_MODEL_DIR or data/models/all-MiniLM-L6-v2].
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Output file [default: $LAKEHOUSE_STATIC_MODEL or data/models/static-minilm-l6-v2.lhs].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Output dimension (PCA).
        #[arg(long, default_value_t = dataflow::embed::distill::DEFAULT_DIM)]
        dim: usize,
        /// Threads for the forward passes.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Generated worker profiles whose token frequencies are blended into the weighting (0: Zipf only).
        #[arg(long, default_value_t = 0)]
        domain_sample: usize,
    },
}

fn main() -> anyhow::Result<()> {
    query_api::runtime("lakehouse")?.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Generate { workers, seed, out, updated_at_offset_ms } => {
            let mut corpus = dataflow::corpus::generate_corpus(workers, seed);
            corpus.iter_mut().for_each(|w| w.updated_at = w.updated_at.saturating_add(updated_at_offset_ms));
            dataflow::corpus::write_workers(&out, &corpus).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} workers to {}", corpus.len(), out.display());
        }
        Command::Ingest { files, gateway, api_key, poll_ms } => {
            use std::io::IsTerminal;
            let opts = query_api::ingest::IngestOptions {
                files,
                gateway,
                api_key,
                poll: Duration::from_millis(poll_ms.max(10)),
                progress: std::io::stderr().is_terminal(),
            };
            let info = query_api::ingest::run(&opts).await?;
            let p = &info.progress;
            println!(
                "{} {}: {} rows read, {} accepted, {} rejected, {} of {} files, {:.0} rows/s, visible at version {}",
                info.id,
                info.state,
                p.rows_read,
                p.rows_accepted,
                p.rows_rejected,
                p.files_done,
                p.files_total,
                info.rows_per_sec,
                info.visible_version.map_or_else(|| "-".to_owned(), |v| v.to_string())
            );
            for r in &info.rejections {
                println!("  rejected {}: row {}: column {:?}: {}", r.file, r.row, r.column, r.reason);
            }
            if info.state != dataflow::jobs::JobState::Succeeded {
                anyhow::bail!(
                    "job {} {}: {}",
                    info.id,
                    info.state,
                    info.error.as_deref().unwrap_or("no error recorded")
                );
            }
        }
        Command::Serve {
            corpus,
            addr,
            data_dir,
            fsync,
            fsync_batch_ms,
            snapshot_interval_secs,
            snapshot_every_writes,
            wal_segment_bytes,
            api_key,
            threads,
            index_readers,
            dim,
            embedder,
            embed_threads,
            reembed,
            request_nice,
            search_concurrency,
            search_threads,
            merge_interval_ms,
        } => {
            let fsync = match fsync {
                Fsync::Always => FsyncPolicy::Always,
                Fsync::Batch => FsyncPolicy::Batch { interval: Duration::from_millis(fsync_batch_ms.max(1)) },
                Fsync::Never => FsyncPolicy::Never,
            };
            let mut config = ServerConfig {
                corpus,
                addr,
                data_dir,
                api_key,
                fsync,
                snapshot_interval: (snapshot_interval_secs > 0).then(|| Duration::from_secs(snapshot_interval_secs)),
                snapshot_every_writes: (snapshot_every_writes > 0).then_some(snapshot_every_writes),
                wal_segment_bytes,
                ..ServerConfig::default()
            };
            config.engine.threads = threads;
            config.engine.index_readers = index_readers;
            config.engine.set_merge_interval(Duration::from_millis(merge_interval_ms));
            config.engine.dim = dim;
            config.reembed = reembed;
            config.request_nice = request_nice;
            config.search_concurrency = search_concurrency;
            config.search_threads = search_threads;
            let selected = dataflow::embed::select(embedder, &ModelPaths::from_env(), dim, embed_threads)?;
            println!("embedder: {} — {}", selected.embedder.name(), selected.reason);
            config.engine.embedder = Some(selected.embedder);
            let server = query_api::start(config).await?;
            let e = server.engine();
            println!(
                "lakehouse listening on http://{} ({} workers, embedder {}, loaded in {:.1}s)",
                server.addr(),
                e.live_workers(),
                e.embedder().name(),
                server.load_time().as_secs_f64()
            );
            server.wait().await;
        }
        Command::Embed { command: EmbedCommand::Distill { model_dir, out, dim, threads, domain_sample } } => {
            let paths = ModelPaths::from_env();
            let out = out.unwrap_or(paths.static_model);
            let mut config = dataflow::embed::DistillConfig::new(model_dir.unwrap_or(paths.model_dir));
            config.dim = dim;
            config.minilm.threads = threads;
            if domain_sample > 0 {
                config.domain_texts =
                    dataflow::corpus::generate_corpus(domain_sample, 7).iter().map(|w| w.embedding_text()).collect();
            }
            let report = tokio::task::spawn_blocking(move || dataflow::embed::distill(&config, &out).map(|r| (r, out)))
                .await??;
            let (report, out) = report;
            println!(
                "wrote {} ({}, {} tokens through MiniLM in {:.1}s, {:.1}s in all)",
                out.display(),
                report.header.id,
                report.tokens_embedded,
                report.embed_time.as_secs_f64(),
                report.total_time.as_secs_f64()
            );
        }
    }
    Ok(())
}
