//! The write path's per-worker maps: a plain `HashMap` against [`ShardedMap`].
//!
//! `cargo bench -p sinks --bench sharded_map`
//!
//! `lookup`: 20 lookups of existing worker ids in a 150k-entry map (a search reads about
//! that many records). `grow`: 150k inserts into an empty map (the total is about the same;
//! what sharding changes is that no single insert rehashes more than 1/64 of the map).
//! `doubling_insert`: the one insert that doubles a full 114,688-entry table (the 100k
//! corpus plus ingest reaches it about a minute into a run), against the doubling of one
//! shard of a `ShardedMap` that size (1,792 entries): the longest a single insert takes.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use sinks::ShardedMap;

const N: usize = 150_000;

fn id(i: usize) -> String {
    format!("w-{i:07}")
}

fn bench(c: &mut Criterion) {
    let keys: Vec<String> = (0..N).map(id).collect();
    let probe: Vec<&str> = (0..20).map(|i| keys[(i * 7_919) % N].as_str()).collect();

    let mut g = c.benchmark_group("lookup");
    let std_map: HashMap<String, u64> = keys.iter().cloned().zip(0..).collect();
    let fold: foldhash::HashMap<String, u64> = keys.iter().cloned().zip(0..).collect();
    let sharded: ShardedMap<String, u64> = keys.iter().cloned().zip(0..).collect();
    g.bench_function("std_siphash", |b| b.iter(|| probe.iter().map(|k| std_map[*k]).sum::<u64>()));
    g.bench_function("foldhash", |b| b.iter(|| probe.iter().map(|k| fold[*k]).sum::<u64>()));
    g.bench_function("sharded", |b| b.iter(|| probe.iter().filter_map(|k| sharded.get(*k)).sum::<u64>()));
    g.finish();

    let mut g = c.benchmark_group("grow");
    g.sample_size(10);
    g.bench_function("foldhash", |b| {
        b.iter(|| black_box(keys.iter().cloned().zip(0u64..).collect::<foldhash::HashMap<_, _>>()).len())
    });
    g.bench_function("sharded", |b| {
        b.iter(|| black_box(keys.iter().cloned().zip(0u64..).collect::<ShardedMap<_, _>>()).len())
    });
    g.finish();

    // 131,072 buckets hold 114,688 entries; the next insert doubles the table. A
    // `ShardedMap` of that size doubles one shard at a time: 2,048 buckets, 1,792 entries.
    let mut g = c.benchmark_group("doubling_insert");
    g.sample_size(20);
    for (name, full) in [("whole_map_114688", 114_688), ("one_shard_1792", 1_792)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let m: foldhash::HashMap<String, u64> = keys[..full].iter().cloned().zip(0..).collect();
                    assert_eq!(m.capacity(), full, "the table is exactly full");
                    m
                },
                |mut m| {
                    m.insert(id(N), 0);
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
