//! `lakehouse`: generate a corpus, or serve the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
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
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Embedding dimension of the built-in hashing embedder.
        #[arg(long, default_value_t = 768)]
        dim: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    match Cli::parse().command {
        Command::Generate { workers, seed, out } => {
            let corpus = dataflow::corpus::generate_corpus(workers, seed);
            dataflow::corpus::write_workers(&out, &corpus).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} workers to {}", corpus.len(), out.display());
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
            dim,
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
            config.engine.dim = dim;
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
    }
    Ok(())
}
