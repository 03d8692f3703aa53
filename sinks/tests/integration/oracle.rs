//! HNSW against exact search: recall, filters and exclusions.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sinks::{CollectionConfig, Filter, IndexKind, PointUpdate, SearchRequest, VectorCollection};

use crate::util::{clustered, payload};

fn loaded(n: usize, dim: usize) -> (VectorCollection, Vec<Vec<f32>>) {
    let mut cfg = CollectionConfig::new(dim);
    cfg.hnsw_threshold = 1_000;
    let col = VectorCollection::new("oracle", cfg).unwrap();
    let vs = clustered(n + 200, dim, 200, 7);
    let updates = (0..n).map(|i| PointUpdate::upsert(format!("p{i}"), vs[i].clone(), payload(i))).collect();
    assert!(col.apply(updates, 1).is_empty());
    assert!(col.wait_settled(Duration::from_secs(300)), "graph never settled: {:?}", col.stats());
    assert_eq!(col.stats().kind, IndexKind::Hnsw);
    (col, vs)
}

#[test]
fn hnsw_recall_at_10_against_exact_on_20k() {
    let n = 20_000;
    let (col, vs) = loaded(n, 96);
    let mut hit = 0;
    let mut total = 0;
    for q in &vs[n..n + 100] {
        let req = SearchRequest::new(q.clone(), 10);
        let got: HashSet<_> = col.search(&req).unwrap().into_iter().map(|p| p.id).collect();
        let want = col.search_exact(&req).unwrap();
        assert_eq!(want.len(), 10);
        total += want.len();
        hit += want.iter().filter(|p| got.contains(&p.id)).count();
    }
    let recall = hit as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 = {recall}");

    // Filters and exclusions are never violated and never starve the result.
    for (i, q) in vs[n..n + 50].iter().enumerate() {
        let city = format!("city{}", i % 10);
        let first = col.search(&SearchRequest::new(q.clone(), 10)).unwrap();
        let mut req = SearchRequest::new(q.clone(), 10);
        req.filter = Filter::default().with("city", &city);
        req.exclude = first.iter().map(|p| p.id.as_str().to_owned()).collect();
        let hits = col.search(&req).unwrap();
        assert_eq!(hits.len(), 10);
        for h in &hits {
            let idx: usize = h.id.as_str()[1..].parse().unwrap();
            assert_eq!(idx % 10, i % 10, "filter violated by {}", h.id.as_str());
            assert!(!req.exclude.contains(h.id.as_str()), "excluded id returned");
        }
        // A predicate rejecting most ids still yields k results (exact fallback).
        let mut req = SearchRequest::new(q.clone(), 10);
        req.predicate = Some(Arc::new(|id: &str| id.ends_with('7')));
        let hits = col.search(&req).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.id.as_str().ends_with('7')));
    }
}

#[test]
fn selective_filter_returns_k_while_k_match() {
    let (col, vs) = loaded(3_000, 32);
    // role0 & city0 → i % 20 == 0 → 150 points; exclude all but 3 of them.
    let mut req = SearchRequest::new(vs[3_000].clone(), 10);
    req.filter = Filter::default().with("city", "CITY0").with("role", "role0");
    req.exclude = (0..3_000).filter(|i| i % 20 == 0).skip(3).map(|i| format!("p{i}")).collect();
    let hits = col.search(&req).unwrap();
    assert_eq!(hits.len(), 3, "exactly the 3 non-excluded matches");
    let unknown =
        SearchRequest { filter: Filter::default().with("city", "atlantis"), ..SearchRequest::new(vs[0].clone(), 5) };
    assert!(col.search(&unknown).unwrap().is_empty());
}

/// Updates overwrite their slot and the indexer relinks the node in place; new ids take the
/// slots of deleted points. After moving half the points, deleting a tenth and adding as
/// many new ones, the graph still answers like exact search, was never rebuilt, and did
/// not grow.
#[test]
fn in_place_updates_and_reused_slots_keep_recall_without_a_rebuild() {
    let n = 20_000;
    let (col, vs) = loaded(n, 96);
    let before = col.stats();
    let moved = clustered(n / 2 + n / 10, 96, 200, 11);
    let mut version = 2;
    // Move every even point to a new place with a new city, 500 per version.
    let evens: Vec<usize> = (0..n).step_by(2).collect();
    for chunk in evens.chunks(500) {
        let updates = chunk.iter().map(|&i| PointUpdate::upsert(format!("p{i}"), moved[i / 2].clone(), payload(i + 1)));
        assert!(col.apply(updates.collect(), version).is_empty());
        version += 1;
    }
    // Delete a tenth (odd points), then add as many new ids.
    let gone: Vec<usize> = (1..n).step_by(2).take(n / 10).collect();
    assert!(col.apply(gone.iter().map(|i| PointUpdate::delete(format!("p{i}"))).collect(), version).is_empty());
    version += 1;
    let fresh = (0..n / 10).map(|j| PointUpdate::upsert(format!("q{j}"), moved[n / 2 + j].clone(), payload(j)));
    assert!(col.apply(fresh.collect(), version).is_empty());
    assert!(col.wait_settled(Duration::from_secs(300)), "never settled: {:?}", col.stats());
    let after = col.stats();
    assert_eq!(after.live, n);
    assert_eq!(after.rebuilds, before.rebuilds, "churn below the thresholds must not rebuild: {after:?}");
    assert!(after.graph_len <= before.graph_len, "new ids reuse dead slots: {before:?} → {after:?}");

    let mut hit = 0;
    let mut total = 0;
    let mut queries: Vec<&Vec<f32>> = vs[n..n + 50].iter().collect();
    queries.extend(&moved[..50]);
    for q in queries {
        let req = SearchRequest::new(q.clone(), 10);
        let got = col.search(&req).unwrap();
        let ids: HashSet<_> = got.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids.len(), got.len(), "no id twice");
        let want = col.search_exact(&req).unwrap();
        total += want.len();
        hit += want.iter().filter(|p| ids.contains(&p.id)).count();
        // A moved point's filter follows its new payload.
        let mut req = SearchRequest::new(q.clone(), 10);
        req.filter = Filter::default().with("city", "city3");
        for h in col.search(&req).unwrap() {
            let i: usize = h.id.as_str()[1..].parse().unwrap();
            let city = if h.id.as_str().starts_with('q') {
                i % 10
            } else if i % 2 == 0 {
                (i + 1) % 10
            } else {
                i % 10
            };
            assert_eq!(city, 3, "{} does not have city3 any more", h.id.as_str());
        }
    }
    let recall = hit as f64 / total as f64;
    assert!(recall >= 0.95, "recall@10 after in-place churn = {recall}");
}

/// An update that leaves the vector where it was (a payload-only change) keeps the node's
/// links: nothing waits to be relinked, and filters follow the new payload at once.
#[test]
fn payload_only_updates_keep_links_and_move_filters() {
    let (col, vs) = loaded(3_000, 32);
    let updates = (0..100)
        .map(|i| PointUpdate::upsert(format!("p{i}"), vs[i].clone(), vec![("city".into(), "elsewhere".into())]));
    assert!(col.apply(updates.collect(), 2).is_empty());
    col.merge();
    let stats = col.stats();
    assert_eq!((stats.pending, stats.overlay), (0, 0), "{stats:?}");
    assert!(stats.settled);
    let mut req = SearchRequest::new(vs[7].clone(), 10);
    req.filter = Filter::default().with("city", "elsewhere");
    let hits = col.search(&req).unwrap();
    assert_eq!(hits.len(), 10);
    assert_eq!(hits[0].id.as_str(), "p7");
    req.filter = Filter::default().with("city", "city7");
    assert!(col.search(&req).unwrap().iter().all(|h| h.id.as_str() != "p7"));
    // A moved point does wait for its relink (and is found meanwhile).
    assert!(col.apply(vec![PointUpdate::upsert("p8", vs[3_100].clone(), payload(8))], 3).is_empty());
    assert_eq!(col.search(&SearchRequest::new(vs[3_100].clone(), 1)).unwrap()[0].id.as_str(), "p8");
}
