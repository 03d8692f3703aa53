//! Dataflow upsert throughput: batches of worker upserts through validate → upsert →
//! embed → index sink until visible.
//!
//! `cargo bench -p dataflow --bench upsert`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataflow::corpus::generate_workers;
use dataflow::engine::{Engine, EngineConfig};

fn upsert(c: &mut Criterion) {
    let engine = Engine::start(EngineConfig::default()).unwrap();
    let base = generate_workers(10_000, 42);
    let v = engine.upsert_workers(base.clone()).unwrap();
    assert!(engine.wait_visible_blocking(v, Duration::from_secs(120)));
    let mut stamp = 1i64 << 50;
    let mut g = c.benchmark_group("dataflow_upsert_visible");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("batch_1000_of_10k_live", |b| {
        b.iter(|| {
            let batch: Vec<_> = base[..1_000]
                .iter()
                .map(|w| {
                    stamp += 1;
                    let mut w = w.clone();
                    w.updated_at = stamp;
                    w.years_experience += 1;
                    w
                })
                .collect();
            let v = engine.upsert_workers(batch).unwrap();
            black_box(engine.wait_visible_blocking(v, Duration::from_secs(60)))
        })
    });
    g.finish();
}

criterion_group!(benches, upsert);
criterion_main!(benches);
