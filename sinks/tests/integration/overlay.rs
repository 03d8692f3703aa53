//! The overlay: commits never wait for a search, and unmerged writes answer exactly like
//! merged ones. A merge interval of an hour keeps writes in the overlay until `merge()`.

use std::collections::HashSet;
use std::sync::mpsc;
use std::time::Duration;

use sinks::{CollectionConfig, Filter, IndexKind, PointUpdate, SearchRequest, VectorCollection};

use crate::util::{clustered, payload};

fn collection(n: usize, dim: usize, merge_every: Duration) -> (VectorCollection, Vec<Vec<f32>>) {
    let mut cfg = CollectionConfig::new(dim);
    cfg.hnsw_threshold = 1_000;
    cfg.merge_interval = merge_every;
    let col = VectorCollection::new("overlay", cfg).unwrap();
    let vs = clustered(n + 400, dim, 25, 21);
    let ups = (0..n).map(|i| PointUpdate::upsert(format!("p{i}"), vs[i].clone(), payload(i))).collect();
    assert!(col.apply(ups, 1).is_empty());
    col.merge();
    assert!(col.wait_settled(Duration::from_secs(60)));
    (col, vs)
}

fn ids(hits: &[sinks::ScoredPoint]) -> Vec<String> {
    hits.iter().map(|h| h.id.as_str().to_owned()).collect()
}

/// Unmerged upserts, moves, deletes and payload changes: the HNSW search finds what the
/// exact scan finds, before and after the merge, and the merge empties the overlay.
#[test]
fn unmerged_writes_answer_like_merged_ones() {
    let (col, vs) = collection(3_000, 24, Duration::from_secs(3_600));
    assert_eq!(col.stats().kind, IndexKind::Hnsw);
    let mut ups = Vec::new();
    for i in 0..60 {
        ups.push(PointUpdate::upsert(format!("new{i}"), vs[3_000 + i].clone(), payload(i))); // new
        ups.push(PointUpdate::upsert(format!("p{i}"), vs[3_100 + i].clone(), payload(i + 1))); // moved
        ups.push(PointUpdate::delete(format!("p{}", 100 + i))); // deleted
    }
    assert!(col.apply(ups, 2).is_empty());
    let stats = col.stats();
    assert_eq!((stats.overlay, stats.live), (180, 3_000), "{stats:?}");
    assert!(!stats.settled, "unmerged writes leave the collection unsettled");
    assert!(col.contains("new3") && !col.contains("p103"));
    assert!(col.vector("p5").unwrap().iter().zip(&vs[3_105]).all(|(a, b)| (a - b).abs() < 1e-5));
    assert_eq!(col.ids().len(), 3_000);

    let deleted: HashSet<String> = (100..160).map(|i| format!("p{i}")).collect();
    // The city each live id has now (`payload(i)` is city i % 10; moved points got i + 1).
    let city = |id: &str| {
        let n: usize = id.trim_start_matches("new").trim_start_matches('p').parse().unwrap();
        let moved = id.starts_with('p') && n < 60;
        (if moved { n + 1 } else { n }) % 10
    };
    let check = |when: &str| {
        for q in [0usize, 5, 40, 3_000, 3_105, 3_130, 104] {
            let mut req = SearchRequest::new(vs[q].clone(), 10);
            let got = col.search(&req).unwrap();
            let want = col.search_exact(&req).unwrap();
            let overlap = ids(&got).iter().filter(|id| ids(&want).contains(id)).count();
            assert!(overlap >= 9, "{when}, query {q}: {:?} against {:?}", ids(&got), ids(&want));
            assert!(got.iter().all(|h| !deleted.contains(h.id.as_str())), "{when}: {:?}", ids(&got));
            // Filtered on the new payload: a moved point is found under its new city.
            req.filter = Filter::default().with("city", "CITY6 ");
            let got = col.search(&req).unwrap();
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|h| city(h.id.as_str()) == 6 && !deleted.contains(h.id.as_str())), "{when}");
        }
        // The moved point is where it moved to, with its exact score.
        let hit = &col.search(&SearchRequest::new(vs[3_105].clone(), 1)).unwrap()[0];
        assert_eq!(hit.id.as_str(), "p5", "{when}");
        assert!((hit.score - 1.0).abs() < 1e-4);
        let hit = &col.search(&SearchRequest::new(vs[3_007].clone(), 1)).unwrap()[0];
        assert_eq!(hit.id.as_str(), "new7", "{when}");
    };
    check("in the overlay");
    col.merge();
    assert_eq!(col.stats().overlay, 0);
    assert_eq!(col.stats().live, 3_000);
    check("merged");
}

/// A commit returns while a search holds the collection's read lock, and a search that
/// began before it sees the new write when it finishes.
#[test]
fn a_commit_never_waits_for_a_search() {
    let (col, vs) = collection(1_500, 16, Duration::from_millis(5));
    let reader = col.reader();
    let req = SearchRequest::new(vs[1_600].clone(), 3);
    let walk = reader.walk(&req).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let refused =
                col.apply(vec![PointUpdate::upsert("late", vs[1_600].clone(), vec![]), PointUpdate::delete("p0")], 2);
            tx.send(refused.len()).unwrap();
        });
        // The read lock is still held here: a commit that waited for it would time out.
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(0), "the commit waited for the search");
        let (hits, scorer) = walk.finish();
        assert_eq!(hits[0].id.as_str(), "late", "{hits:?}");
        assert!(scorer.dot_with("p0", &vs[0]).is_none(), "p0 was deleted");
        assert!((scorer.dot_with("late", &vs[1_600]).unwrap() - 1.0).abs() < 1e-4);
    });
    drop(reader);
    // The indexer merges it meanwhile; the answer does not change.
    assert!(col.wait_settled(Duration::from_secs(30)));
    assert_eq!(col.search(&req).unwrap()[0].id.as_str(), "late");
    assert!(!col.contains("p0"));
}

/// A write that lands on one of a search's top k during its walk: the stale indexed copy is
/// dropped, the search walks again, and still returns k distinct, current hits.
#[test]
fn a_write_during_the_walk_replaces_the_stale_copy() {
    let (col, vs) = collection(2_000, 16, Duration::from_secs(3_600));
    let req = SearchRequest::new(vs[10].clone(), 5);
    let before = col.search_exact(&req).unwrap();
    let reader = col.reader();
    let walk = reader.walk(&req).unwrap();
    // Move the best hit (p10 itself) far away and delete the second.
    let second = before[1].id.as_str().to_owned();
    let far: Vec<f32> = vs[10].iter().map(|x| -x).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            col.apply(vec![PointUpdate::upsert("p10", far.clone(), vec![]), PointUpdate::delete(second.as_str())], 2)
        });
    });
    let walk = walk.try_finish().err().expect("the write cut the walk's top k: it must walk again");
    let (hits, _) = walk.retry().try_finish().ok().expect("nothing written since the retry");
    drop(reader);
    let got: HashSet<String> = ids(&hits).into_iter().collect();
    assert_eq!(got.len(), 5);
    assert!(!got.contains("p10") && !got.contains(&second), "{hits:?}");
    assert_eq!(ids(&hits), ids(&col.search(&req).unwrap()));
}
