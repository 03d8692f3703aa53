//! Exact and HNSW search on both sides of the threshold, HNSW search beside an overlay of
//! unmerged writes, and batch insert.
//!
//! `cargo bench -p sinks --bench index_search` (LAKEHOUSE_BENCH_LARGE=1 adds 100k points;
//! the graph build alone takes minutes there).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sinks::{CollectionConfig, PointUpdate, SearchRequest, VectorCollection};

const DIM: usize = 768;

fn clustered(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..1_000).map(|_| (0..DIM).map(|_| rng.random::<f32>() - 0.5).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.random_range(0..centres.len())];
            c.iter().map(|x| x + 0.3 * (rng.random::<f32>() - 0.5)).collect()
        })
        .collect()
}

fn collection(n: usize, threshold: usize) -> (VectorCollection, Vec<Vec<f32>>) {
    let mut cfg = CollectionConfig::new(DIM);
    cfg.hnsw_threshold = threshold;
    cfg.merge_interval = Duration::from_secs(3_600); // merged by hand
    let col = VectorCollection::new("bench", cfg).unwrap();
    let vs = clustered(n + 100, 1);
    let ups = (0..n).map(|i| PointUpdate::upsert(format!("p{i}"), vs[i].clone(), vec![])).collect();
    assert!(col.apply(ups, 1).is_empty());
    col.merge();
    assert!(col.wait_settled(Duration::from_secs(3_600)));
    (col, vs[n..].to_vec())
}

/// HNSW search while `m` writes wait in the overlay (each moves a point: hidden from the
/// walk, scanned exactly): what a search pays per merge interval of writes.
fn search_with_overlay(c: &mut Criterion) {
    let n = 10_000;
    let (col, queries) = collection(n, 1_000);
    let moved = clustered(512, 3);
    let mut g = c.benchmark_group("search_k10_overlay");
    g.sample_size(30);
    let mut written = 0;
    for m in [0usize, 32, 128, 512] {
        let ups = (written..m).map(|i| PointUpdate::upsert(format!("p{}", i * 17), moved[i].clone(), vec![]));
        assert!(col.apply(ups.collect(), 2 + m as u64).is_empty());
        written = m;
        assert_eq!(col.stats().overlay, m);
        let mut i = 0;
        g.bench_with_input(BenchmarkId::new("hnsw_10000", m), &m, |b, _| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(col.search(&SearchRequest::new(queries[i].clone(), 10)).unwrap())
            })
        });
    }
    g.finish();
}

fn search(c: &mut Criterion) {
    let mut sizes = vec![10_000];
    if std::env::var_os("LAKEHOUSE_BENCH_LARGE").is_some() {
        sizes.push(100_000);
    }
    let mut g = c.benchmark_group("search_k10");
    g.sample_size(30);
    for &n in &sizes {
        for (name, threshold) in [("exact", usize::MAX), ("hnsw", 1_000)] {
            let (col, queries) = collection(n, threshold);
            let mut i = 0;
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) % queries.len();
                    black_box(col.search(&SearchRequest::new(queries[i].clone(), 10)).unwrap())
                })
            });
        }
    }
    g.finish();
}

fn insert(c: &mut Criterion) {
    let vs = clustered(1_000, 2);
    let mut g = c.benchmark_group("apply_1000_upserts");
    g.sample_size(10);
    g.bench_function("exact", |b| {
        b.iter(|| {
            let mut cfg = CollectionConfig::new(DIM);
            cfg.hnsw_threshold = usize::MAX;
            let col = VectorCollection::new("bench", cfg).unwrap();
            let ups =
                vs.iter().enumerate().map(|(i, v)| PointUpdate::upsert(format!("p{i}"), v.clone(), vec![])).collect();
            // The commit, then the merge that moves it into the index.
            let refused = col.apply(ups, 1);
            col.merge();
            black_box(refused)
        })
    });
    g.finish();
}

criterion_group!(benches, search, search_with_overlay, insert);
criterion_main!(benches);
