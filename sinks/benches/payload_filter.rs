//! Filter candidates: intersecting the posting lists of city, state and role on 100k slots.
//!
//! `cargo bench -p sinks --bench payload_filter`
//!
//! The store keeps its posting lists as roaring bitmaps. `sorted_vec_gallop` is the
//! previous representation (sorted `Vec`s intersected by galloping `retain`), kept here
//! only as the side-by-side baseline. Sizes are the 100k corpus's biggest market: lists of
//! ~9.4k (city), ~11k (state) and ~8.3k (role) slots with ~780 in common.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sinks::payload::{slots, PayloadStore};
use sinks::InternalId;

const N: u32 = 100_000;

/// Rows with the corpus's skew: the popular value first, others uniform.
fn rows() -> Vec<Vec<(String, String)>> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut pick = |p: f64, popular: &str, key: &str, others: u32| {
        if rng.random_bool(p) {
            popular.to_owned()
        } else {
            format!("{key}-{}", rng.random_range(0..others))
        }
    };
    (0..N)
        .map(|_| {
            let city = pick(0.094, "new york", "city", 73);
            let state = if city == "new york" { "ny".to_owned() } else { pick(0.02, "ny", "state", 37) };
            let role = pick(0.083, "warehouse associate", "role", 50);
            vec![("city".into(), city), ("state".into(), state), ("role".into(), role)]
        })
        .collect()
}

fn gallop(list: &[InternalId], from: usize, s: InternalId) -> usize {
    let from = from.min(list.len());
    let rest = &list[from..];
    let mut bound = 1;
    while bound < rest.len() && rest[bound - 1] < s {
        bound *= 2;
    }
    let lo = bound / 2;
    let hi = bound.min(rest.len());
    from + lo + rest[lo..hi].partition_point(|x| *x < s)
}

fn sorted_vec_gallop(lists: &[&Vec<InternalId>]) -> Vec<InternalId> {
    let mut lists = lists.to_vec();
    lists.sort_by_key(|l| l.len());
    let mut out = lists[0].clone();
    for list in &lists[1..] {
        let mut at = 0;
        out.retain(|s| {
            at = gallop(list, at, *s);
            list.get(at) == Some(s)
        });
    }
    out
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let mut store = PayloadStore::default();
    let want = [("city", "new york"), ("state", "ny"), ("role", "warehouse associate")];
    let mut vecs: Vec<Vec<InternalId>> = vec![Vec::new(); want.len()];
    for (i, row) in rows.iter().enumerate() {
        store.set(InternalId(i as u32), row);
        for (list, (k, v)) in vecs.iter_mut().zip(want) {
            if row.iter().any(|(rk, rv)| rk == k && rv == v) {
                list.push(InternalId(i as u32));
            }
        }
    }
    let must: Vec<(u32, u32)> =
        want.iter().map(|(k, v)| (store.lookup(k).unwrap(), store.lookup(v).unwrap())).collect();
    let refs: Vec<&Vec<InternalId>> = vecs.iter().collect();
    let expect = sorted_vec_gallop(&refs);
    let got: Vec<InternalId> = slots(&store.candidates(&must).unwrap()).collect();
    assert_eq!(got, expect, "both representations give the same candidates");

    let mut g = c.benchmark_group("filter_candidates_100k");
    g.bench_function("roaring", |b| b.iter(|| slots(&store.candidates(black_box(&must)).unwrap()).count()));
    g.bench_function("sorted_vec_gallop", |b| b.iter(|| sorted_vec_gallop(black_box(&refs)).len()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
