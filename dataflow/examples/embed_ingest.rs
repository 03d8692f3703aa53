//! Ingest with a chosen embedder: parquet → every worker embedded, indexed and searchable
//! through the engine (the same path as `lakehouse serve --corpus`).
//!
//! `cargo run --release -p dataflow --example embed_ingest -- [WORKERS] [EMBEDDER]`
//! (defaults 100000 and `static`; model paths as for `lakehouse serve`). Writes its corpus
//! under `data/` (shared with `engine_bench`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dataflow::corpus::{generate_corpus, open_workers, write_workers};
use dataflow::embed::{select, EmbedderKind, ModelPaths};
use dataflow::engine::{Engine, EngineConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let kind: EmbedderKind = args.next().unwrap_or_else(|| "static".into()).parse()?;
    let path = PathBuf::from(format!("data/bench_workers_{n}.parquet"));
    if !path.exists() {
        write_workers(&path, &generate_corpus(n, 42))?;
    }
    let t0 = Instant::now();
    let selected = select(kind, &ModelPaths::from_env(), 768, 1)?;
    let load = t0.elapsed();
    println!(
        "embedder: {} ({}), loaded in {:.1} ms",
        selected.embedder.name(),
        selected.reason,
        load.as_secs_f64() * 1e3
    );
    let config = EngineConfig { embedder: Some(selected.embedder), ..EngineConfig::default() };
    let t1 = Instant::now();
    let engine = Engine::start(config)?;
    let (mut last, mut rows) = (0, 0);
    for batch in open_workers(&path, 8_192)? {
        let batch = batch?;
        rows += batch.len();
        last = engine.upsert_workers(batch)?;
    }
    assert!(engine.wait_visible_blocking(last, Duration::from_secs(3_600)), "not visible in an hour");
    let searchable = t1.elapsed();
    println!(
        "parquet -> all {rows} workers embedded and searchable: {:.1} s ({:.0} workers/s); end to end with model load {:.1} s",
        searchable.as_secs_f64(),
        rows as f64 / searchable.as_secs_f64(),
        (load + searchable).as_secs_f64()
    );
    assert!(engine.wait_indexed(Duration::from_secs(3_600)), "HNSW not built in an hour");
    println!("parquet -> HNSW graph holds every worker: {:.1} s", t1.elapsed().as_secs_f64());
    engine.shutdown();
    Ok(())
}
