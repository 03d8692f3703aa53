//! Retrieval quality of the embedders on staffing queries, and their query-embedding latency.
//!
//! `cargo run --release -p dataflow --example embed_eval -- [WORKERS] [EMBEDDERS]`
//! (defaults 5000 and `hashing,static,minilm`; model paths as for `lakehouse serve`:
//! `LAKEHOUSE_MODEL_DIR`, `LAKEHOUSE_STATIC_MODEL`, defaults under `data/models/`).
//!
//! The corpus is `generate_corpus(WORKERS, 42)`; the queries are `dataflow/eval/queries.jsonl`
//! (hand-written: `keyword` queries use the corpus's own words, `paraphrase` queries synonyms
//! and descriptions it never uses). A worker is relevant to a query when its role is one of the
//! query's `roles` (and its city is the query's `city`, if given). Ranking is exact cosine over
//! the whole corpus. Reported per embedder and query kind: MRR (reciprocal rank of the first
//! relevant worker) and recall@10 = relevant workers in the top 10 / min(10, relevant workers).

use std::collections::HashSet;
use std::time::Instant;

use dataflow::corpus::generate_corpus;
use dataflow::embed::{select, EmbedderKind, ModelPaths};

#[derive(serde::Deserialize)]
struct Query {
    id: String,
    kind: String,
    query: String,
    roles: Vec<String>,
    city: Option<String>,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let kinds: Vec<EmbedderKind> = args
        .next()
        .unwrap_or_else(|| "hashing,static,minilm".into())
        .split(',')
        .map(|k| k.parse())
        .collect::<Result<_, _>>()?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/eval/queries.jsonl");
    let queries: Vec<Query> =
        std::fs::read_to_string(path)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let corpus = generate_corpus(n, 42);
    let roles: HashSet<&str> = corpus.iter().map(|w| w.role.as_str()).collect();
    for q in &queries {
        if let Some(r) = q.roles.iter().find(|r| !roles.contains(r.as_str())) {
            return Err(format!("query {}: role {r:?} is not in the corpus", q.id).into());
        }
    }
    let texts: Vec<String> = corpus.iter().map(|w| w.embedding_text()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let relevant: Vec<Vec<bool>> = queries
        .iter()
        .map(|q| {
            corpus.iter().map(|w| q.roles.contains(&w.role) && q.city.as_ref().is_none_or(|c| *c == w.city)).collect()
        })
        .collect();
    let empty: Vec<&str> =
        queries.iter().zip(&relevant).filter(|(_, r)| !r.contains(&true)).map(|(q, _)| q.id.as_str()).collect();
    println!(
        "corpus: {} workers (generate_corpus({n}, 42)); {} queries; no relevant worker: {empty:?}",
        corpus.len(),
        queries.len()
    );
    println!();
    println!("| embedder | dim | keyword MRR | keyword recall@10 | paraphrase MRR | paraphrase recall@10 | corpus embed | query p50 | query p99 |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let paths = ModelPaths::from_env();
    for kind in kinds {
        let sel = select(kind, &paths, 768, 2)?;
        let e = sel.embedder;
        let t0 = Instant::now();
        let docs = e.embed_batch(&refs);
        let corpus_secs = t0.elapsed().as_secs_f64();
        // Query latency: each query embedded alone (no cache), 20 rounds after a warm-up.
        let mut lat = Vec::new();
        let rounds = if e.name().starts_with("minilm") { 3 } else { 20 };
        for q in &queries {
            e.embed(&q.query);
        }
        for _ in 0..rounds {
            for q in &queries {
                let t = Instant::now();
                std::hint::black_box(e.embed(&q.query));
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        lat.sort_by(f64::total_cmp);
        let mut sums: std::collections::BTreeMap<&str, (f64, f64, usize)> = Default::default();
        for (q, rel) in queries.iter().zip(&relevant) {
            let total_rel = rel.iter().filter(|r| **r).count();
            if total_rel == 0 {
                continue;
            }
            let v = e.embed(&q.query);
            let mut scored: Vec<(f32, usize)> =
                docs.iter().enumerate().map(|(i, d)| (d.iter().zip(&v).map(|(a, b)| a * b).sum(), i)).collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let first = scored.iter().position(|(_, i)| rel[*i]).map_or(0.0, |p| 1.0 / (p as f64 + 1.0));
            let hits = scored.iter().take(10).filter(|(_, i)| rel[*i]).count();
            let recall = hits as f64 / total_rel.min(10) as f64;
            let s = sums.entry(q.kind.as_str()).or_default();
            s.0 += first;
            s.1 += recall;
            s.2 += 1;
        }
        let get = |k: &str| sums.get(k).map_or((f64::NAN, f64::NAN), |s| (s.0 / s.2 as f64, s.1 / s.2 as f64));
        let (km, kr) = get("keyword");
        let (pm, pr) = get("paraphrase");
        println!(
            "| {} | {} | {km:.3} | {kr:.3} | {pm:.3} | {pr:.3} | {corpus_secs:.1} s | {:.1} µs | {:.1} µs |",
            e.name(),
            e.dim(),
            pct(&lat, 0.5),
            pct(&lat, 0.99)
        );
    }
    Ok(())
}
