//! Side-by-side peer benchmark, Rust side: our `VectorCollection` (hnsw_rs build, flattened
//! graph search) on the same vectors that `bench/peers/peer_bench.py` gives to faiss-cpu's
//! `IndexHNSWFlat` and hnswlib. `bash bench/peers/run.sh` runs both sides and the report.
//!
//! ```text
//! cargo run --release -p sinks --example peer_bench -- --data data/peer --set hashing|clustered|all \
//!     [--n 100000] [--queries 500] [--ef 16,32,64,128] [--target 0.95] [--raw-hnsw]
//! ```
//!
//! `--raw-hnsw` also builds and searches a plain hnsw_rs index (same vectors and parameters,
//! its own search) and writes `hnsw_rs.json`: a diagnostic that separates the quality of the
//! graph hnsw_rs builds from our flattened copy and search.
//!
//! # Data layout (`<data>/<set>/`, never committed)
//! - `meta.json`: `{"set", "n", "queries", "dim", "k", "seed", "generator", "files"}`; the
//!   data are regenerated when it differs from what this program would write.
//! - `base.f32` (`n × dim`) and `queries.f32` (`queries × dim`): raw little-endian f32,
//!   row-major, every row L2-normalised.
//! - `gt_ids.i32` and `gt_scores.f32` (`queries × k`): exact top-k by inner product, best
//!   first, ties broken by the lower row index (brute force, all cores).
//!
//! Sets: `hashing` is the generated worker corpus (`generate_workers(n, 42)`) embedded by
//! the `HashingEmbedder`, queried by "role city skill" texts of workers `(i * 7919) % n`;
//! `clustered` is 1,000 Gaussian centres (N(0, I), normalised) with points
//! `centre + N(0, σ²I)`, σ = 0.5/√dim (noise norm ≈ 0.5), re-normalised, seed 7.
//!
//! # What is measured
//! Build: from `apply` of all `n` points (one batch) to `wait_settled` (hnsw_rs builds the
//! graph on 2 rayon threads, then it is flattened). Search: one thread, one query per call,
//! after a warm-up pass, at each ef. Recall@10 against the ground-truth ids, and a
//! tie-aware recall (a hit counts when its exact score reaches the 10th true score). Memory:
//! VmRSS after settling minus VmRSS before the points were handed over.
//! Writes `<data>/<set>/ours.json` and prints one JSON line per (set, ef).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dataflow::corpus::generate_workers;
use dataflow::embed::{Embedder, HashingEmbedder};
use hnsw_rs::prelude::{DistDot, Hnsw, Neighbour};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sinks::simd::{dot, normalize};
use sinks::{CollectionConfig, PointUpdate, ScoredPoint, SearchRequest, VectorCollection};

const DIM: usize = 768;
const K: usize = 10;
const M: usize = 16;
const EF_CONSTRUCTION: usize = 100;
const CENTRES: usize = 1_000;
const CLUSTER_SEED: u64 = 7;
const CORPUS_SEED: u64 = 42;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    data: PathBuf,
    sets: Vec<String>,
    n: usize,
    queries: usize,
    efs: Vec<usize>,
    target: f64,
    raw_hnsw: bool,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        data: PathBuf::from("data/peer"),
        sets: vec!["hashing".into(), "clustered".into()],
        n: 100_000,
        queries: 500,
        efs: vec![16, 32, 64, 128],
        target: 0.95,
        raw_hnsw: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(val()?),
            "--set" => {
                a.sets = match val()?.as_str() {
                    "all" => vec!["hashing".into(), "clustered".into()],
                    s @ ("hashing" | "clustered") => vec![s.to_owned()],
                    other => return Err(format!("unknown set {other} (hashing|clustered|all)").into()),
                }
            }
            "--n" => a.n = val()?.parse()?,
            "--queries" => a.queries = val()?.parse()?,
            "--ef" => a.efs = val()?.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?,
            "--target" => a.target = val()?.parse()?,
            "--raw-hnsw" => a.raw_hnsw = true,
            "-h" | "--help" => {
                println!("peer_bench --data DIR --set hashing|clustered|all [--n N] [--queries Q] [--ef 16,32,64,128] [--target 0.95] [--raw-hnsw]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.n < 2 * K || a.queries == 0 || a.efs.is_empty() {
        return Err("need --n >= 20, --queries >= 1 and at least one ef".into());
    }
    a.efs.sort_unstable();
    a.efs.dedup();
    Ok(a)
}

fn status_kb(field: &str) -> f64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn rss_mb() -> f64 {
    status_kb("VmRSS:") / 1024.0
}

/// A JSON number, or `null` when not finite.
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> Res<()> {
    let mut w = BufWriter::new(fs::File::create(path)?);
    for r in rows {
        for x in r {
            w.write_all(&x.to_le_bytes())?;
        }
    }
    w.flush()?;
    Ok(())
}

fn read_f32(path: &Path, dim: usize) -> Res<Vec<Vec<f32>>> {
    let bytes = fs::read(path)?;
    if bytes.len() % (4 * dim) != 0 {
        return Err(format!("{}: size {} is not a multiple of {dim} f32", path.display(), bytes.len()).into());
    }
    let flat: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(flat.chunks_exact(dim).map(<[f32]>::to_vec).collect())
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let n = dot(&v, &v).sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn gaussian(rng: &mut StdRng) -> f32 {
    // Box–Muller; u1 in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn gen_hashing(n: usize, queries: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let emb = HashingEmbedder::default();
    assert_eq!(emb.dim(), DIM, "HashingEmbedder default dimension changed");
    let workers = generate_workers(n, CORPUS_SEED);
    let base: Vec<Vec<f32>> = workers.iter().map(|w| emb.embed(&w.embedding_text())).collect();
    let qs = (0..queries)
        .map(|i| {
            let w = &workers[(i * 7919) % workers.len()];
            let skill = w.skills.first().map_or("", String::as_str);
            emb.embed(&format!("{} {} {}", w.role, w.city, skill))
        })
        .collect();
    (base, qs)
}

fn gen_clustered(n: usize, queries: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut rng = StdRng::seed_from_u64(CLUSTER_SEED);
    let centres: Vec<Vec<f32>> =
        (0..CENTRES).map(|_| normalised((0..DIM).map(|_| gaussian(&mut rng)).collect())).collect();
    let sigma = 0.5 / (DIM as f32).sqrt();
    let point = |rng: &mut StdRng| {
        let c = &centres[rng.random_range(0..CENTRES)];
        normalised(c.iter().map(|x| x + sigma * gaussian(rng)).collect())
    };
    let base = (0..n).map(|_| point(&mut rng)).collect();
    let qs = (0..queries).map(|_| point(&mut rng)).collect();
    (base, qs)
}

/// Exact top-k per query (ids and scores, best first; ties to the lower id), all cores.
fn ground_truth(base: &[Vec<f32>], queries: &[Vec<f32>], k: usize) -> Vec<Vec<(u32, f32)>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = queries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|q| {
                            let mut top: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
                            for (i, v) in base.iter().enumerate() {
                                let sc = dot(q, v);
                                if top.len() == k && sc <= top[k - 1].1 {
                                    continue;
                                }
                                let pos = top.iter().position(|&(_, t)| sc > t).unwrap_or(top.len());
                                top.insert(pos, (i as u32, sc));
                                top.truncate(k);
                            }
                            top
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("ground-truth thread panicked")).collect()
    })
}

fn meta_json(set: &str, n: usize, queries: usize) -> String {
    let (seed, generator) = match set {
        "hashing" => (
            CORPUS_SEED,
            "dataflow::corpus::generate_workers(n, 42) -> embedding_text() -> HashingEmbedder::default(); \
             queries: \\\"{role} {city} {skills[0]}\\\" of worker (i*7919) % n",
        ),
        _ => (CLUSTER_SEED, "1000 centres N(0,I) normalised; point = centre + N(0, (0.5/sqrt(dim))^2 I), normalised"),
    };
    format!(
        "{{\"set\": \"{set}\", \"n\": {n}, \"queries\": {queries}, \"dim\": {DIM}, \"k\": {K}, \"seed\": {seed}, \
         \"generator\": \"{generator}\", \"dtype\": \"little-endian f32 / i32, row-major\", \
         \"files\": {{\"base\": \"base.f32\", \"queries\": \"queries.f32\", \"gt_ids\": \"gt_ids.i32\", \
         \"gt_scores\": \"gt_scores.f32\"}}}}\n"
    )
}

struct Data {
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    gt: Vec<Vec<(u32, f32)>>,
    /// Queries whose k-th true score is shared by a point outside the top-k.
    boundary_ties: usize,
}

/// Load the set, generating it (and its ground truth) when missing or stale.
fn prepare(dir: &Path, set: &str, n: usize, queries: usize) -> Res<Data> {
    let meta = meta_json(set, n, queries);
    let files = ["base.f32", "queries.f32", "gt_ids.i32", "gt_scores.f32", "gt_info.json"];
    let fresh = fs::read_to_string(dir.join("meta.json")).is_ok_and(|m| m == meta)
        && files.iter().all(|f| dir.join(f).exists());
    if fresh {
        let base = read_f32(&dir.join("base.f32"), DIM)?;
        let qs = read_f32(&dir.join("queries.f32"), DIM)?;
        let ids = fs::read(dir.join("gt_ids.i32"))?;
        let scores = read_f32(&dir.join("gt_scores.f32"), K)?;
        if base.len() != n || qs.len() != queries || scores.len() != queries || ids.len() != queries * K * 4 {
            return Err(format!("{}: files do not match meta.json; delete the folder", dir.display()).into());
        }
        let gt = ids
            .chunks_exact(4 * K)
            .zip(&scores)
            .map(|(row, sc)| {
                row.chunks_exact(4)
                    .zip(sc)
                    .map(|(b, s)| (i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u32, *s))
                    .collect()
            })
            .collect();
        let info = fs::read_to_string(dir.join("gt_info.json"))?;
        let boundary_ties = info
            .split(':')
            .nth(1)
            .and_then(|s| s.trim().trim_end_matches('}').trim().parse().ok())
            .ok_or("bad gt_info.json")?;
        eprintln!("[{set}] loaded {n} x {DIM} + {queries} queries from {}", dir.display());
        return Ok(Data { base, queries: qs, gt, boundary_ties });
    }
    let t = Instant::now();
    fs::create_dir_all(dir)?;
    let _ = fs::remove_file(dir.join("meta.json"));
    let (base, qs) = if set == "hashing" { gen_hashing(n, queries) } else { gen_clustered(n, queries) };
    for (i, v) in base.iter().chain(&qs).enumerate() {
        let norm = dot(v, v).sqrt();
        if v.len() != DIM || !norm.is_finite() || (norm - 1.0).abs() >= 1e-3 {
            return Err(format!("[{set}] row {i}: dim {} norm {norm}: not a unit vector", v.len()).into());
        }
    }
    eprintln!("[{set}] generated in {:.1} s; computing exact top-{K}", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut gt = ground_truth(&base, &qs, K + 1);
    // A point outside the top-k scoring the same as the k-th (a duplicate vector) makes id
    // recall ambiguous for that query: counted here, and the tie-aware recall allows for it.
    let boundary_ties = gt.iter().filter(|r| r.len() > K && r[K].1 >= r[K - 1].1 - 1e-6).count();
    gt.iter_mut().for_each(|r| r.truncate(K));
    eprintln!("[{set}] ground truth in {:.1} s ({boundary_ties} queries tie at the k-th)", t.elapsed().as_secs_f64());
    write_f32(&dir.join("base.f32"), &base)?;
    write_f32(&dir.join("queries.f32"), &qs)?;
    let mut w = BufWriter::new(fs::File::create(dir.join("gt_ids.i32"))?);
    for row in &gt {
        for (id, _) in row {
            w.write_all(&(*id as i32).to_le_bytes())?;
        }
    }
    w.flush()?;
    let scores: Vec<Vec<f32>> = gt.iter().map(|r| r.iter().map(|x| x.1).collect()).collect();
    write_f32(&dir.join("gt_scores.f32"), &scores)?;
    fs::write(dir.join("gt_info.json"), format!("{{\"boundary_ties\": {boundary_ties}}}\n"))?;
    fs::write(dir.join("meta.json"), meta)?; // last: marks the set complete
    Ok(Data { base, queries: qs, gt, boundary_ties })
}

/// Id recall and tie-aware recall of `found` against the truth for query `qi`.
fn recall(data: &Data, qi: usize, found: &[u32]) -> (f64, f64) {
    let truth = &data.gt[qi];
    let kth = truth[K - 1].1;
    let q = &data.queries[qi];
    let mut hits = 0;
    let mut tie_hits = 0;
    for &id in found.iter().take(K) {
        if truth.iter().any(|t| t.0 == id) {
            hits += 1;
        }
        if dot(q, &data.base[id as usize]) >= kth - 1e-5 {
            tie_hits += 1;
        }
    }
    (hits as f64 / K as f64, tie_hits as f64 / K as f64)
}

struct EfRow {
    ef: usize,
    recall: f64,
    recall_ties: f64,
    qps: f64,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    extra: bool,
}

/// Times `search(qi)` for every query, one at a time, after a warm-up on the first 50,
/// and scores the ids it returns.
fn time_queries<R>(
    data: &Data,
    ef: usize,
    search: impl Fn(usize) -> Res<R>,
    ids: impl Fn(&R) -> Res<Vec<u32>>,
) -> Res<EfRow> {
    let nq = data.queries.len();
    for qi in 0..nq.min(50) {
        search(qi)?; // warm-up
    }
    let mut lat = Vec::with_capacity(nq);
    let mut results = Vec::with_capacity(nq);
    let t = Instant::now();
    for qi in 0..nq {
        let t1 = Instant::now();
        let hits = search(qi)?;
        lat.push(t1.elapsed().as_secs_f64() * 1e6);
        results.push(hits);
    }
    let secs = t.elapsed().as_secs_f64();
    let (mut rs, mut rt) = (0.0, 0.0);
    for (qi, hits) in results.iter().enumerate() {
        let (a, b) = recall(data, qi, &ids(hits)?);
        rs += a;
        rt += b;
    }
    lat.sort_by(f64::total_cmp);
    let nqf = nq as f64;
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    Ok(EfRow {
        ef,
        recall: rs / nqf,
        recall_ties: rt / nqf,
        qps: nqf / secs,
        mean_us: secs * 1e6 / nqf,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        extra: false,
    })
}

fn run_ef(col: &VectorCollection, data: &Data, ef: usize) -> Res<EfRow> {
    let req = |q: &Vec<f32>| SearchRequest { ef: Some(ef), ..SearchRequest::new(q.clone(), K) };
    let reqs: Vec<SearchRequest> = data.queries.iter().map(req).collect();
    time_queries(
        data,
        ef,
        |qi| Ok(col.search(&reqs[qi])?),
        |hits: &Vec<ScoredPoint>| Ok(hits.iter().map(|h| h.id.as_str().parse::<u32>()).collect::<Result<_, _>>()?),
    )
}

/// Runs every listed ef, then doubles ef (up to 1024) until one reaches the target recall.
fn sweep(args: &Args, set: &str, engine: &str, mut run: impl FnMut(usize) -> Res<EfRow>) -> Res<Vec<EfRow>> {
    let mut rows = Vec::new();
    for &ef in &args.efs {
        let r = run(ef)?;
        println!("{}", row_json(engine, set, &r));
        rows.push(r);
    }
    let mut ef = *args.efs.last().unwrap_or(&128);
    while !rows.iter().any(|r| r.recall >= args.target) && ef < 1024 {
        ef *= 2;
        let mut r = run(ef)?;
        r.extra = true;
        println!("{}", row_json(engine, set, &r));
        rows.push(r);
    }
    Ok(rows)
}

fn at_target_json(args: &Args, rows: &[EfRow]) -> String {
    rows.iter().find(|r| r.recall >= args.target).map_or("null".into(), |r| {
        format!("{{\"ef\": {}, \"recall\": {}, \"qps\": {}}}", r.ef, num(r.recall), num(r.qps))
    })
}

/// Diagnostic (`--raw-hnsw`): hnsw_rs alone, same parameters and vectors, searched through
/// its own `search`. Tells a graph-quality problem (hnsw_rs's build) from one in our
/// flattened copy or its search. Writes `hnsw_rs.json`.
fn bench_raw_hnsw(args: &Args, set: &str, data: &Data) -> Res<()> {
    // Same preparation as the collection: unit length shrunk by 1e-6 (DistDot asserts).
    let prep = |v: &Vec<f32>| {
        let mut v = v.clone();
        normalize(&mut v);
        v
    };
    let base: Vec<Vec<f32>> = data.base.iter().map(prep).collect();
    let queries: Vec<Vec<f32>> = data.queries.iter().map(prep).collect();
    let rss_before = rss_mb();
    let t = Instant::now();
    let hnsw: Hnsw<'_, f32, DistDot> = Hnsw::new(M, base.len(), 16, EF_CONSTRUCTION, DistDot);
    let refs: Vec<(&[f32], usize)> = base.iter().enumerate().map(|(i, v)| (v.as_slice(), i)).collect();
    hnsw.parallel_insert_slice(&refs);
    let build_s = t.elapsed().as_secs_f64();
    let rss_after = rss_mb();
    eprintln!("[{set}] hnsw_rs alone: built in {build_s:.1} s; RSS {rss_before:.0} -> {rss_after:.0} MB");
    let rows = sweep(args, set, "hnsw_rs", |ef| {
        time_queries(
            data,
            ef,
            |qi| Ok(hnsw.search(&queries[qi], K, ef)),
            |hits: &Vec<Neighbour>| Ok(hits.iter().map(|n| n.d_id as u32).collect()),
        )
    })?;
    let body = format!(
        "{{\"engine\": \"hnsw_rs\", \"set\": \"{set}\", \"n\": {}, \"queries\": {}, \"dim\": {DIM}, \"k\": {K}, \
         \"m\": {M}, \"ef_construction\": {EF_CONSTRUCTION}, \"build_s\": {}, \"mem_mb\": {}, \"target_recall\": {}, \
         \"at_target\": {}, \"results\": [{}]}}\n",
        args.n,
        args.queries,
        num(build_s),
        num(rss_after - rss_before),
        num(args.target),
        at_target_json(args, &rows),
        rows.iter().map(|r| row_json("hnsw_rs", set, r)).collect::<Vec<_>>().join(", ")
    );
    fs::write(args.data.join(set).join("hnsw_rs.json"), body)?;
    Ok(())
}

fn row_json(engine: &str, set: &str, r: &EfRow) -> String {
    format!(
        "{{\"engine\": \"{engine}\", \"set\": \"{set}\", \"ef\": {}, \"recall\": {}, \"recall_ties\": {}, \"qps\": {}, \
         \"mean_us\": {}, \"p50_us\": {}, \"p99_us\": {}, \"extra\": {}}}",
        r.ef,
        num(r.recall),
        num(r.recall_ties),
        num(r.qps),
        num(r.mean_us),
        num(r.p50_us),
        num(r.p99_us),
        r.extra
    )
}

fn bench_set(args: &Args, set: &str) -> Res<()> {
    let dir = args.data.join(set);
    let data = prepare(&dir, set, args.n, args.queries)?;
    let boundary_ties = data.boundary_ties;

    let mut cfg = CollectionConfig::new(DIM);
    // validate() refuses thresholds below 2; 2 means "HNSW from the first points on".
    cfg.hnsw_threshold = 2;
    cfg.hnsw.m = M;
    cfg.hnsw.ef_construction = EF_CONSTRUCTION;
    let col = VectorCollection::new(&format!("peer-{set}"), cfg)?;

    let rss_before = rss_mb();
    let updates: Vec<PointUpdate> =
        data.base.iter().enumerate().map(|(i, v)| PointUpdate::upsert(i.to_string(), v.clone(), vec![])).collect();
    let t = Instant::now();
    let rejected = col.apply(updates, 1);
    let apply_s = t.elapsed().as_secs_f64();
    if !rejected.is_empty() {
        return Err(format!("[{set}] {} points rejected, first: {:?}", rejected.len(), rejected[0]).into());
    }
    eprintln!("[{set}] applied {} points in {apply_s:.2} s; waiting for the graph…", args.n);
    if !col.wait_settled(Duration::from_secs(4 * 3600)) {
        return Err(format!("[{set}] not settled after 4 h: {:?}", col.stats()).into());
    }
    let build_s = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300)); // let the indexer go idle
    let rss_after = rss_mb();
    let stats = col.stats();
    eprintln!(
        "[{set}] settled in {build_s:.1} s: {:?} graph_len={} pending={} panics={}; RSS {rss_before:.0} -> {rss_after:.0} MB",
        stats.kind, stats.graph_len, stats.pending, stats.graph_panics
    );

    // Our ground truth must agree with the collection's own exact oracle.
    let mut oracle_disagree = 0;
    for (qi, q) in data.queries.iter().enumerate().take(20) {
        let hits = col.search_exact(&SearchRequest::new(q.clone(), K))?;
        let ids: Vec<u32> = hits.iter().map(|h| h.id.as_str().parse::<u32>()).collect::<Result<_, _>>()?;
        if recall(&data, qi, &ids).1 < 1.0 {
            oracle_disagree += 1;
        }
    }

    let rows = sweep(args, set, "ours", |ef| run_ef(&col, &data, ef))?;
    let at_json = at_target_json(args, &rows);
    let body = format!(
        "{{\"engine\": \"ours\", \"set\": \"{set}\", \"n\": {}, \"queries\": {}, \"dim\": {DIM}, \"k\": {K}, \
         \"m\": {M}, \"ef_construction\": {EF_CONSTRUCTION}, \"build_threads\": {}, \"search_threads\": 1, \
         \"build_s\": {}, \"apply_s\": {}, \"rss_before_mb\": {}, \"rss_after_mb\": {}, \"mem_mb\": {}, \
         \"peak_rss_mb\": {}, \"vector_mb\": {}, \"graph_len\": {}, \"pending\": {}, \"graph_panics\": {}, \
         \"kind\": \"{:?}\", \"oracle_disagreements_of_20\": {oracle_disagree}, \"gt_boundary_ties\": {boundary_ties}, \
         \"target_recall\": {}, \"at_target\": {at_json}, \"results\": [{}]}}\n",
        args.n,
        args.queries,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        num(build_s),
        num(apply_s),
        num(rss_before),
        num(rss_after),
        num(rss_after - rss_before),
        num(status_kb("VmHWM:") / 1024.0),
        num(stats.vector_bytes as f64 / (1024.0 * 1024.0)),
        stats.graph_len,
        stats.pending,
        stats.graph_panics,
        stats.kind,
        num(args.target),
        rows.iter().map(|r| row_json("ours", set, r)).collect::<Vec<_>>().join(", ")
    );
    fs::write(dir.join("ours.json"), body)?;
    eprintln!("[{set}] wrote {}", dir.join("ours.json").display());
    drop(col);
    if args.raw_hnsw {
        bench_raw_hnsw(args, set, &data)?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let args = parse_args()?;
    for set in &args.sets {
        bench_set(&args, set)?;
    }
    Ok(())
}
