//! The Go system's failure: small, churned HNSW indexes under concurrent writes. Here the
//! threshold is tiny so the collection crosses exact ↔ HNSW over and over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sinks::{CollectionConfig, PointUpdate, SearchRequest, VectorCollection};

use crate::util::{clustered, payload};

fn small(threshold: usize) -> Arc<VectorCollection> {
    let mut cfg = CollectionConfig::new(16);
    cfg.hnsw_threshold = threshold;
    cfg.insert_chunk = 8;
    Arc::new(VectorCollection::new("playbook_memory", cfg).unwrap())
}

#[test]
fn seed_degenerate_sequence_has_zero_errors() {
    let col = small(32);
    let vs = clustered(2_000, 16, 20, 3);
    // Empty index: a search returns nothing, not an error.
    assert!(col.search(&SearchRequest::new(vs[0].clone(), 5)).unwrap().is_empty());
    // One insert.
    assert!(col.apply(vec![PointUpdate::upsert("r0", vs[0].clone(), vec![])], 1).is_empty());
    assert_eq!(col.search(&SearchRequest::new(vs[0].clone(), 5)).unwrap()[0].id.as_str(), "r0");
    // Many concurrent inserts.
    std::thread::scope(|s| {
        for t in 0..8 {
            let col = &col;
            let vs = &vs;
            s.spawn(move || {
                for i in 0..100 {
                    let n = 1 + t * 100 + i;
                    assert!(col
                        .apply(vec![PointUpdate::upsert(format!("r{n}"), vs[n].clone(), vec![])], n as u64)
                        .is_empty());
                    assert!(!col.search(&SearchRequest::new(vs[n].clone(), 3)).unwrap().is_empty());
                }
            });
        }
    });
    assert_eq!(col.stats().live, 801);
    // Delete everything, then add again.
    col.apply((0..801).map(|n| PointUpdate::delete(format!("r{n}"))).collect(), 10_000);
    assert_eq!(col.stats().live, 0);
    assert!(col.search(&SearchRequest::new(vs[5].clone(), 5)).unwrap().is_empty());
    col.apply(vec![PointUpdate::upsert("again", vs[5].clone(), vec![])], 10_001);
    let hits = col.search(&SearchRequest::new(vs[5].clone(), 5)).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id.as_str(), "again");
    assert!(col.wait_settled(Duration::from_secs(60)));
    assert_eq!(col.stats().graph_panics, 0);
}

#[test]
fn eight_writers_eight_readers_no_panic_and_exact_final_state() {
    let col = small(64);
    let vs = clustered(4_000, 16, 30, 11);
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        for r in 0..8 {
            let (col, vs, stop) = (&col, &vs, &stop);
            s.spawn(move || {
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let k = 1 + i % 7;
                    let hits = col.search(&SearchRequest::new(vs[i % vs.len()].clone(), k)).unwrap();
                    assert!(hits.len() <= k);
                    let ids: std::collections::HashSet<_> = hits.iter().map(|h| &h.id).collect();
                    assert_eq!(ids.len(), hits.len(), "duplicate ids in a result");
                    i += 8;
                }
            });
        }
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (col, vs) = (&col, &vs);
                s.spawn(move || {
                    // Each writer owns ids w*1000.. so the final state is known.
                    for round in 0..300usize {
                        let id = format!("w{w}-{}", round % 150);
                        let u = if round % 5 == 4 {
                            PointUpdate::delete(id)
                        } else {
                            PointUpdate::upsert(id, vs[(w * 500 + round) % vs.len()].clone(), payload(round))
                        };
                        assert!(col.apply(vec![u], (w * 1000 + round) as u64).is_empty());
                    }
                })
            })
            .collect();
        for h in writers {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    // Sequential model of the same writes.
    let mut want = std::collections::HashSet::new();
    for w in 0..8 {
        for round in 0..300usize {
            let id = format!("w{w}-{}", round % 150);
            if round % 5 == 4 {
                want.remove(&id);
            } else {
                want.insert(id);
            }
        }
    }
    assert_eq!(col.ids(), want);
    assert!(col.wait_settled(Duration::from_secs(60)));
    assert_eq!(col.stats().graph_panics, 0);
    // Every live point finds itself first.
    for id in want.iter().take(50) {
        let v = col.vector(id).unwrap();
        let hits = col.search(&SearchRequest::new(v, 1)).unwrap();
        assert!((hits[0].score - 1.0).abs() < 1e-3, "{id} did not find an identical vector");
    }
}

#[test]
fn bad_vectors_are_refused_individually() {
    let col = small(32);
    let rejected = col.apply(
        vec![
            PointUpdate::upsert("nan", vec![f32::NAN; 16], vec![]),
            PointUpdate::upsert("short", vec![1.0; 3], vec![]),
            PointUpdate::upsert("zero", vec![0.0; 16], vec![]),
            PointUpdate::upsert("ok", vec![1.0; 16], vec![]),
        ],
        1,
    );
    let names: Vec<_> = rejected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(names, vec!["nan", "short", "zero"]);
    assert_eq!(col.ids().into_iter().collect::<Vec<_>>(), vec!["ok".to_owned()]);
    assert!(col.search(&SearchRequest::new(vec![1.0; 3], 1)).is_err());
    assert!(col.search(&SearchRequest::new(vec![1.0; 16], 0)).is_err());
}

#[test]
fn a_requested_rebuild_is_done_for_both_index_kinds() {
    let mut cfg = CollectionConfig::new(8);
    cfg.hnsw_threshold = 50;
    let col = VectorCollection::new("rebuild", cfg).unwrap();
    let point = |i: usize| {
        let v: Vec<f32> = (0..8).map(|d| ((i * 7 + d * 3) % 11) as f32 + 1.0).collect();
        PointUpdate::upsert(format!("p{i}"), v, vec![])
    };
    // Exact: a rebuild reclaims dead slots.
    assert!(col.apply((0..20).map(point).collect(), 1).is_empty());
    col.apply((0..5).map(|i| PointUpdate::delete(format!("p{i}"))).collect(), 2);
    let ticket = col.request_rebuild();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !col.rebuilt(ticket) {
        assert!(std::time::Instant::now() < deadline, "exact rebuild not done");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(col.stats().tombstones, 0);
    // HNSW: a rebuild builds a new graph holding every live point.
    assert!(col.apply((20..200).map(point).collect(), 3).is_empty());
    assert!(col.wait_settled(Duration::from_secs(60)));
    let before = col.stats().rebuilds;
    let ticket = col.request_rebuild();
    while !col.rebuilt(ticket) {
        assert!(std::time::Instant::now() < deadline, "graph rebuild not done");
        std::thread::sleep(Duration::from_millis(2));
    }
    let s = col.stats();
    assert!(s.rebuilds > before, "{s:?}");
    assert_eq!(s.live, 195, "{s:?}");
    assert!(col.wait_settled(Duration::from_secs(60)));
}
