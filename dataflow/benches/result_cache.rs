//! Checking a cached answer against the writes since it was cached: the server does this on
//! its async threads for every search it answers from the cache (`Engine::search_cached`).
//!
//! 512 written workers (768 dims, about a second of the goal's ingest) against a cached
//! top 10, unfiltered and filtered on a role none of them has. `carried` reads each write's
//! record and vector from the change log, as the engine does. `resolved` makes the same
//! check after the lookups the engine made until session 14: each id in the record map,
//! and, when the filters let the worker in, in a map to its vector (the engine's was the
//! index's id tracker); a side-by-side ratio for what carrying them saves.
//!
//! `cargo bench -p dataflow --bench result_cache`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dataflow::corpus::generate_workers;
use dataflow::engine::results::{unaffected, Change, Lookup, ResultCache, ResultKey, Written};
use dataflow::engine::{Filters, SearchHit, SearchQuery};
use dataflow::record::WorkerRecord;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: usize = 768;
const WRITES: usize = 512;
const K: usize = 10;

fn unit(rng: &mut StdRng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn checks(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let workers = generate_workers(WRITES + K, 42);
    let query = unit(&mut rng);
    // The cached answer: k hits at similarity 0.99, which no random write reaches, so
    // every check runs to the end.
    let hits: Vec<SearchHit> = workers[..K]
        .iter()
        .map(|w| SearchHit {
            id: w.id.0.clone(),
            score: 0.99,
            similarity: 0.99,
            playbook_boost: 0.0,
            worker: Arc::new(w.clone()),
        })
        .collect();
    let changes: Vec<Change> = workers[K..]
        .iter()
        .map(|w| Change {
            version: 2,
            id: Arc::from(w.id.0.as_str()),
            now: Written::Worker(Arc::new(w.clone()), Arc::from(unit(&mut rng))),
        })
        .collect();
    let by_id = |c: &Change| match &c.now {
        Written::Worker(rec, v) => (Arc::clone(rec), Arc::clone(v)),
        Written::Deleted | Written::Unindexed => unreachable!("every change is a write"),
    };
    let records: foldhash::HashMap<String, Arc<WorkerRecord>> =
        changes.iter().map(|c| (c.id.to_string(), by_id(c).0)).collect();
    let vectors: foldhash::HashMap<String, Arc<[f32]>> =
        changes.iter().map(|c| (c.id.to_string(), by_id(c).1)).collect();

    let mut g = c.benchmark_group("result_cache_check_512_writes");
    g.throughput(Throughput::Elements(WRITES as u64));
    for (name, filters) in [
        ("unfiltered", Filters::default()),
        ("filtered", Filters { role: Some("astronaut".into()), ..Filters::default() }),
    ] {
        let q = SearchQuery { text: "forklift operator".into(), k: K, filters: filters.clone(), ..Default::default() };
        let key = ResultKey::of(&q, &q.text).expect("cacheable");
        let cache = ResultCache::new(16);
        cache.record(2, changes.clone());
        // Cached before the writes, once per iteration: a lookup that passes moves the entry
        // to the current version, so the next one would check nothing.
        let fresh = || cache.put(key.clone(), 1, &hits);
        g.bench_function(format!("carried/{name}"), |b| {
            b.iter_batched(
                fresh,
                |()| {
                    let l = cache.lookup(&key, |c, h| unaffected(c, &query, h, K, &filters, &[]), true);
                    assert!(matches!(l, Lookup::Hit(_)), "no write reaches the cached answer");
                    black_box(l)
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("resolved/{name}"), |b| {
            b.iter_batched(
                fresh,
                |()| {
                    let l = cache.lookup(
                        &key,
                        |c, h| {
                            let rec = records.get(c.id.as_ref());
                            if rec.is_some_and(|r| filters.matches(r)) {
                                black_box(vectors.get(c.id.as_ref()));
                            }
                            unaffected(c, &query, h, K, &filters, &[])
                        },
                        true,
                    );
                    assert!(matches!(l, Lookup::Hit(_)), "no write reaches the cached answer");
                    black_box(l)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, checks);
criterion_main!(benches);
