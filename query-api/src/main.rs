//! `lakehouse`: generate a corpus, or serve the API.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
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
        /// Directory for durable state.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
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
        Command::Serve { corpus, addr, data_dir, api_key, threads, dim } => {
            let mut config = ServerConfig { corpus, addr, data_dir, api_key, ..ServerConfig::default() };
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
