//! Embedding benchmarks: one ~150-character staffing text at dim 768 (target ≤ 10 µs),
//! a batch of 100 texts, and a query-cache hit; then a short query through the static
//! embedder and through MiniLM, when their files are present (`scripts/run` or
//! `scripts/setup-model` + `lakehouse embed distill`; paths as for `lakehouse serve`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::embed::{select, Embedder, EmbedderKind, HashingEmbedder, ModelPaths, QueryCache};

/// A typical `WorkerRecord::embedding_text` (~150 characters).
const TEXT: &str = "forklift operator in Houston, TX. night shift. skills: pallet jack, inventory, \
                    loading dock, RF scanner. certifications: OSHA-10, CDL-A";

const ROLES: &[&str] = &["forklift operator", "welder", "registered nurse", "line cook", "cdl-a driver"];
const CITIES: &[&str] = &["Houston, TX", "Dallas, TX", "Phoenix, AZ", "Chicago, IL"];

fn batch_texts() -> Vec<String> {
    (0..100)
        .map(|i| {
            format!(
                "{} in {}. day shift. skills: safety, teamwork, skill-{i}, inventory control. certifications: OSHA-10",
                ROLES[i % ROLES.len()],
                CITIES[i % CITIES.len()]
            )
        })
        .collect()
}

fn bench_embed(c: &mut Criterion) {
    let e = HashingEmbedder::default();
    let mut g = c.benchmark_group("hashing_embedder");

    g.throughput(Throughput::Elements(1));
    g.bench_function("embed_150_chars_dim768", |b| b.iter(|| e.embed(black_box(TEXT))));

    let owned = batch_texts();
    let texts: Vec<&str> = owned.iter().map(String::as_str).collect();
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("embed_batch_100_dim768", |b| b.iter(|| e.embed_batch(black_box(&texts))));
    g.finish();

    let cache = QueryCache::new(1024);
    cache.get_or_embed(&e, "forklift operator houston night shift");
    c.bench_function("query_cache_hit", |b| {
        b.iter(|| cache.get_or_embed(&e, black_box("Forklift operator  Houston night shift")))
    });
}

/// A coordinator's query (what the query path embeds on a cache miss).
const QUERY: &str = "semi driver with hazmat endorsement dallas";

fn bench_models(c: &mut Criterion) {
    let paths = ModelPaths::from_env();
    for kind in [EmbedderKind::Static, EmbedderKind::Minilm] {
        let e = match select(kind, &paths, 768, 1) {
            Ok(s) => s.embedder,
            Err(err) => {
                eprintln!("skipping {kind:?}: {err}");
                continue;
            }
        };
        let mut g = c.benchmark_group(format!("{kind:?}_embedder").to_lowercase());
        g.throughput(Throughput::Elements(1));
        g.bench_function("embed_query", |b| b.iter(|| e.embed(black_box(QUERY))));
        g.bench_function("embed_150_chars", |b| b.iter(|| e.embed(black_box(TEXT))));
        g.finish();
    }
}

criterion_group!(benches, bench_embed, bench_models);
criterion_main!(benches);
