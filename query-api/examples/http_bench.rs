//! Search over HTTP on loopback against the same searches in-process, in one run, and the
//! playbook record → replay latency.
//!
//! `cargo run --release -p query-api --example http_bench -- [WORKERS] [SECONDS] [CONCURRENCY] [cached]`
//! (defaults 100000, 20, 8; the search-result cache is off unless `cached` is given). Writes the corpus to `data/` if missing; durable state goes to a
//! temporary directory. The two modes alternate (in-process, HTTP, in-process, HTTP; each
//! phase SECONDS/2) so background work such as the indexer's last inserts hits both alike.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataflow::engine::SearchQuery;
use serde_json::json;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let conc: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let path = PathBuf::from(format!("data/bench_workers_{n}.parquet"));
    let corpus = dataflow::corpus::generate_corpus(n, 42);
    if !path.exists() {
        dataflow::corpus::write_workers(&path, &corpus).expect("write corpus");
    }
    let state = tempfile::tempdir().expect("tempdir");
    // Without the search-result cache: 2,000 queries repeated for 20 s would otherwise be
    // cache hits, and this compares the search path, not the cache. (`cached` in the
    // arguments keeps it on.)
    let cached = std::env::args().any(|a| a == "cached");
    let mut engine = dataflow::engine::EngineConfig::default();
    if !cached {
        engine.result_cache = 0;
    }
    let config = query_api::ServerConfig {
        engine,
        corpus: Some(path),
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: state.path().to_path_buf(),
        ..Default::default()
    };
    let server = query_api::start(config).await.expect("start");
    let engine = Arc::clone(server.engine());
    println!(
        "{} workers loaded in {:.1}s; waiting for the HNSW graph",
        engine.live_workers(),
        server.load_time().as_secs_f64()
    );
    let e = Arc::clone(&engine);
    tokio::task::spawn_blocking(move || e.wait_indexed(Duration::from_secs(3_600))).await.unwrap();
    let queries: Arc<Vec<String>> = Arc::new(
        (0..2_000)
            .map(|i| {
                let w = &corpus[(i * 7_919) % corpus.len()];
                format!("{} {} {}", w.role, w.city, w.skills.first().cloned().unwrap_or_default())
            })
            .collect(),
    );

    let client = reqwest::Client::new();
    let url = format!("http://{}/v1/search", server.addr());
    let phase = Duration::from_secs_f64(secs as f64 / 2.0);
    let (mut inproc_n, mut http_n) = (0u64, 0u64);
    for round in 0..2 {
        inproc_n += in_process(&engine, &queries, conc, phase, round);
        http_n += over_http(&client, &url, &queries, conc, phase, round).await;
    }
    let (inproc, http) = (inproc_n as f64 / secs as f64, http_n as f64 / secs as f64);
    println!("search k=10, {conc} concurrent, {secs}s each: in-process {inproc:.0}/s, HTTP {http:.0}/s, HTTP/in-process = {:.2}", http / inproc);

    // Record → replay: record one worker for a query, then search with use_playbook and
    // min_version = the record's version; time from sending the record to the replay answer.
    let base = format!("http://{}", server.addr());
    let mut lat = Vec::new();
    for i in 0..300 {
        let w = &corpus[(i * 131) % n];
        let q = format!("{} in {} #{i}", w.role, w.city);
        let t = Instant::now();
        let r: serde_json::Value = client
            .post(format!("{base}/v1/playbooks/record"))
            .json(&json!({"query": q, "role": w.role, "city": w.city, "state": w.state, "worker_ids": [w.id.0]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let v = r["version"].as_u64().expect("accepted");
        let s = client
            .post(format!("{base}/v1/search"))
            .json(&json!({"query": q, "k": 10, "use_playbook": true, "min_version": v, "filters": {"role": w.role, "city": w.city}}))
            .send()
            .await
            .unwrap();
        assert!(s.status().is_success());
        let _ = s.bytes().await;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "playbook record -> replay (HTTP, sequential, 300 rounds): p50 {:.2} ms, p99 {:.2} ms",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    server.shutdown().await;
}

/// `conc` blocking threads calling `engine.search` for `phase`; returns the searches done.
fn in_process(
    engine: &Arc<dataflow::engine::Engine>,
    queries: &Arc<Vec<String>>,
    conc: usize,
    phase: Duration,
    round: usize,
) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + phase;
    let threads: Vec<_> = (0..conc)
        .map(|t| {
            let (e, q, done) = (Arc::clone(engine), Arc::clone(queries), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut i = t * 97 + round * 1_000;
                while Instant::now() < deadline {
                    let text = q[i % q.len()].clone();
                    e.search(&SearchQuery { text, k: 10, ..Default::default() }).expect("search");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    done.load(Ordering::Relaxed)
}

/// `conc` tasks with a keep-alive client on loopback for `phase`; returns the searches done.
async fn over_http(
    client: &reqwest::Client,
    url: &str,
    queries: &Arc<Vec<String>>,
    conc: usize,
    phase: Duration,
    round: usize,
) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + phase;
    let tasks: Vec<_> = (0..conc)
        .map(|t| {
            let (client, url, q, done) = (client.clone(), url.to_string(), Arc::clone(queries), Arc::clone(&done));
            tokio::spawn(async move {
                let mut i = t * 97 + round * 1_000;
                while Instant::now() < deadline {
                    let r =
                        client.post(&url).json(&json!({"query": q[i % q.len()], "k": 10})).send().await.expect("send");
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}
