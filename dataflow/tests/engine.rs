//! The engine end to end: writes through the dataflow, read back from the indexes, and the
//! dataflow against a sequential model.

use std::collections::HashMap;
use std::time::Duration;

use dataflow::commands::WorkerOp;
use dataflow::corpus::generate_corpus;
use dataflow::engine::state::RecordOutcome;
use dataflow::engine::{Engine, EngineConfig, Filters, SearchQuery};
use dataflow::record::{WorkerId, WorkerRecord};
use dataflow::validators::fill::{DateRange, FillJob};
use proptest::prelude::*;

const WAIT: Duration = Duration::from_secs(30);

fn engine(threads: usize) -> Engine {
    let mut cfg = EngineConfig { threads, dim: 128, ..EngineConfig::default() };
    cfg.workers_index.hnsw_threshold = 500;
    cfg.playbook_index.hnsw_threshold = 8;
    Engine::start(cfg).unwrap()
}

/// An engine with `threads` workers and a generated corpus of `n`, all of it visible.
fn loaded(threads: usize, n: usize, seed: u64) -> (Engine, Vec<WorkerRecord>) {
    let e = engine(threads);
    let corpus = generate_corpus(n, seed);
    let v = e.upsert_workers(corpus.clone()).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    (e, corpus)
}

/// Two workers of one role in different cities.
fn two_cities_of_one_role(corpus: &[WorkerRecord]) -> (&WorkerRecord, &WorkerRecord) {
    corpus
        .iter()
        .find_map(|a| corpus.iter().find(|b| b.role == a.role && b.city != a.city).map(|b| (a, b)))
        .expect("a role in two cities")
}

/// An undated job for one worker in `w`'s market.
fn one_worker_job(w: &WorkerRecord) -> FillJob {
    FillJob { role: w.role.clone(), city: w.city.clone(), state: w.state.clone(), count: 1, dates: None }
}

fn query(text: &str, k: usize) -> SearchQuery {
    SearchQuery { text: text.into(), k, ..Default::default() }
}

#[test]
fn corpus_loads_and_searches_with_filters() {
    let e = engine(2);
    let corpus = generate_corpus(2_000, 42);
    let v = e.upsert_workers(corpus.clone()).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    assert_eq!(e.live_workers(), corpus.len());
    let w = &corpus[17];
    let mut q = query(&format!("{} in {}", w.role, w.city), 10);
    q.filters = Filters { city: Some(w.city.to_uppercase()), ..Default::default() };
    let out = e.search(&q).unwrap();
    assert!(!out.hits.is_empty());
    assert!(out.hits.iter().all(|h| h.worker.city == w.city), "city filter violated");
    assert!(out.version >= v);
    // exclude_ids is honoured.
    let first: Vec<String> = out.hits.iter().map(|h| h.id.clone()).collect();
    q.exclude_ids = first.clone();
    let swap = e.search(&q).unwrap();
    assert!(swap.hits.iter().all(|h| !first.contains(&h.id)));
    assert!(e.wait_indexed(Duration::from_secs(120)));
    assert_eq!(e.stats().workers_index.kind, sinks::IndexKind::Hnsw);
}

#[test]
fn newest_updated_at_wins_and_delete_retracts() {
    let e = engine(2);
    let mut w = dataflow::corpus::generate_workers(1, 1).remove(0);
    w.updated_at = 1_000;
    let v1 = e.upsert_workers(vec![w.clone()]).unwrap();
    let mut older = w.clone();
    older.updated_at = 500;
    older.city = "Nowhere".into();
    let v2 = e.upsert_workers(vec![older]).unwrap();
    assert!(v2 > v1);
    assert!(e.wait_visible_blocking(v2, WAIT));
    assert_eq!(e.worker(w.id.as_str()).unwrap().city, w.city, "an older updated_at must not win");
    let mut newer = w.clone();
    newer.updated_at = 2_000;
    newer.role = "welder".into();
    let v3 = e.upsert_workers(vec![newer]).unwrap();
    assert!(e.wait_visible_blocking(v3, WAIT));
    assert_eq!(e.worker(w.id.as_str()).unwrap().role, "welder");
    let v4 = e.delete_worker(w.id.as_str(), 3_000).unwrap();
    assert!(e.wait_visible_blocking(v4, WAIT));
    assert!(e.worker(w.id.as_str()).is_none());
    assert!(e.search(&query("welder", 5)).unwrap().hits.is_empty());
    // A late upsert older than the delete does not resurrect it.
    let mut late = w.clone();
    late.updated_at = 2_500;
    let v5 = e.upsert_workers(vec![late]).unwrap();
    assert!(e.wait_visible_blocking(v5, WAIT));
    assert!(e.worker(w.id.as_str()).is_none());
    // Each of the five writes had its stamp-to-visible delay measured, once.
    let d = e.stats().visibility_delay;
    assert_eq!(d.count, 5, "{d:?}");
    assert!(d.max_seconds > 0.0 && d.max_seconds < WAIT.as_secs_f64(), "{d:?}");
}

#[test]
fn invalid_writes_go_to_dead_letters() {
    let e = engine(1);
    let mut bad = dataflow::corpus::generate_workers(2, 3);
    bad[0].state = "Texas".into();
    bad[1].name = " ".into();
    let v = e.upsert_workers(bad).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    let dead = e.dead_letters();
    assert_eq!(dead.len(), 2);
    let fields: Vec<_> = dead.iter().map(|d| d.field.as_str()).collect();
    assert!(fields.contains(&"state") && fields.contains(&"name"), "{dead:?}");
    assert!(dead.iter().all(|d| d.version == v));
    assert_eq!(e.live_workers(), 0);
}

#[test]
fn playbook_records_are_validated_in_the_dataflow_and_boost() {
    let (e, corpus) = loaded(2, 1_500, 9);
    let w = &corpus[3];
    let text = format!("{} {}", w.role, w.city);
    let mut q = query(&text, 10);
    q.filters = Filters { role: Some(w.role.clone()), city: Some(w.city.clone()), ..Default::default() };
    let before = e.search(&q).unwrap();
    let last = before.hits.last().unwrap().clone();
    let job = |count| FillJob {
        role: w.role.clone(),
        city: w.city.clone(),
        state: w.state.clone(),
        count,
        dates: Some(DateRange::new(100, 102)),
    };
    let (rv, rid) = e.record_playbook(text.clone(), job(1), vec![last.id.clone()]).unwrap();
    assert!(e.wait_visible_blocking(rv, WAIT));
    assert_eq!(e.record_outcome(&rid), Some(RecordOutcome::Accepted));
    q.use_playbook = true;
    let after = e.search(&q).unwrap();
    let rank_before = before.hits.iter().position(|h| h.id == last.id).unwrap();
    let hit = after.hits.iter().find(|h| h.id == last.id).expect("boosted worker present");
    assert!(hit.playbook_boost > 0.0);
    assert!(after.hits.iter().position(|h| h.id == last.id).unwrap() < rank_before.max(1));
    // The same worker on overlapping dates is refused; an unknown worker is refused.
    let (rv, rid) = e.record_playbook(text.clone(), job(1), vec![last.id.clone()]).unwrap();
    assert!(e.wait_visible_blocking(rv, WAIT));
    match e.record_outcome(&rid) {
        Some(RecordOutcome::Rejected(v)) => assert!(v.iter().any(|x| x.code == "overlapping_placement"), "{v:?}"),
        other => panic!("expected rejection, got {other:?}"),
    }
    let (rv, rid) = e.record_playbook(text, job(1), vec!["w-9999999".into()]).unwrap();
    assert!(e.wait_visible_blocking(rv, WAIT));
    assert!(
        matches!(e.record_outcome(&rid), Some(RecordOutcome::Rejected(v)) if v.iter().any(|x| x.code == "unknown_worker"))
    );
}

#[test]
fn a_shallow_playbook_search_is_the_top_of_a_deep_one() {
    // Exact index (below the HNSW threshold): the deep search scores every worker, so its
    // top k is the true answer a shallow search must return, boosted workers included.
    let (e, corpus) = loaded(1, 400, 11);
    let w = &corpus[0];
    let text = format!("{} {}", w.role, w.city);
    let same_market: Vec<&WorkerRecord> = corpus.iter().filter(|c| c.role == w.role && c.city == w.city).collect();
    let all = e.search(&query(&text, 400)).unwrap();
    // Boost the market's workers that rank lowest by similarity: only their boost can lift
    // them into a shallow top k.
    let mut low: Vec<&str> = all
        .hits
        .iter()
        .rev()
        .filter(|h| same_market.iter().any(|c| c.id.as_str() == h.id))
        .map(|h| h.id.as_str())
        .take(2)
        .collect();
    assert_eq!(low.len(), 2, "the generated market has at least two workers");
    low.sort_unstable();
    let job = FillJob { role: w.role.clone(), city: w.city.clone(), state: w.state.clone(), count: 2, dates: None };
    let ids: Vec<String> = low.iter().map(|s| s.to_string()).collect();
    let (rv, rid) = e.record_playbook(text.clone(), job, ids).unwrap();
    assert!(e.wait_visible_blocking(rv, WAIT));
    assert_eq!(e.record_outcome(&rid), Some(RecordOutcome::Accepted));
    for k in [1, 3, 10] {
        let mut shallow = query(&text, k);
        shallow.use_playbook = true;
        let mut deep = query(&text, 400);
        deep.use_playbook = true;
        let (shallow, deep) = (e.search(&shallow).unwrap(), e.search(&deep).unwrap());
        let ids = |hits: &[dataflow::engine::SearchHit]| -> Vec<String> { hits.iter().map(|h| h.id.clone()).collect() };
        assert_eq!(ids(&shallow.hits), ids(&deep.hits[..k]), "k = {k}");
        // The same scores, up to the rounding of two scoring paths (scan and lookup).
        assert!(shallow.hits.iter().zip(&deep.hits).all(|(a, b)| (a.score - b.score).abs() < 1e-5), "k = {k}");
        if k == 10 {
            assert!(shallow.hits.iter().any(|h| low.contains(&h.id.as_str())), "a boosted worker made the top 10");
        }
    }
    // The same with a role filter and the deep answer's best worker excluded.
    let mut deep = query(&text, 400);
    deep.use_playbook = true;
    deep.filters = Filters { role: Some(w.role.clone()), ..Default::default() };
    let best = e.search(&deep).unwrap().hits[0].id.clone();
    deep.exclude_ids = vec![best.clone()];
    let mut shallow = deep.clone();
    shallow.k = 3;
    let (shallow, deep) = (e.search(&shallow).unwrap(), e.search(&deep).unwrap());
    let ids = |hits: &[dataflow::engine::SearchHit]| -> Vec<String> { hits.iter().map(|h| h.id.clone()).collect() };
    assert_eq!(ids(&shallow.hits), ids(&deep.hits[..3]));
    assert!(shallow.hits.iter().all(|h| h.id != best && h.worker.role == w.role));
}

#[test]
fn a_request_filled_in_a_second_market_boosts_in_both() {
    let (e, corpus) = loaded(1, 400, 17);
    let (a, b) = two_cities_of_one_role(&corpus);
    let text = format!("{} needed this week", a.role);
    // The second record adds a market to a request text the index already holds.
    let (v1, _) = e.record_playbook(text.clone(), one_worker_job(a), vec![a.id.0.clone()]).unwrap();
    assert!(e.wait_visible_blocking(v1, WAIT));
    let (v2, rid) = e.record_playbook(text.clone(), one_worker_job(b), vec![b.id.0.clone()]).unwrap();
    assert!(e.wait_visible_blocking(v2, WAIT));
    assert_eq!(e.record_outcome(&rid), Some(RecordOutcome::Accepted));
    for w in [a, b] {
        let mut q = query(&text, 10);
        q.use_playbook = true;
        // Spacing and case as a client might send them.
        q.filters =
            Filters { role: Some(w.role.to_uppercase()), city: Some(format!(" {} ", w.city)), ..Default::default() };
        let out = e.search(&q).unwrap();
        let hit = out.hits.iter().find(|h| h.id == w.id.0).expect("the filled worker is found in its market");
        assert!(hit.playbook_boost > 0.0, "boosted in {}: {hit:?}", w.city);
    }
}

#[test]
fn a_filtered_search_takes_its_boost_from_requests_filled_in_its_market() {
    let (e, corpus) = loaded(1, 400, 13);
    // Two markets of one role: `here` is searched, `there` is filled far more often for
    // requests worded exactly like the search.
    let (here, there) = two_cities_of_one_role(&corpus);
    let text = format!("{} {}", here.role, here.city);
    let mut last = 0;
    // More distinct texts than the boost consults (BOOST_RECORDS), each embedding like the
    // search itself, all filled in the other market.
    for i in 0..dataflow::engine::search::BOOST_RECORDS + 8 {
        let (rv, _) = e
            .record_playbook(format!("{text}{}", "!".repeat(i + 1)), one_worker_job(there), vec![there.id.0.clone()])
            .unwrap();
        last = rv;
    }
    // One slightly less similar request filled in the searched market.
    let (rv, rid) = e.record_playbook(format!("{text} today"), one_worker_job(here), vec![here.id.0.clone()]).unwrap();
    assert!(e.wait_visible_blocking(rv.max(last), WAIT));
    assert_eq!(e.record_outcome(&rid), Some(RecordOutcome::Accepted));
    let mut q = query(&text, 10);
    q.use_playbook = true;
    q.filters = Filters { role: Some(here.role.clone()), city: Some(here.city.clone()), ..Default::default() };
    let out = e.search(&q).unwrap();
    let hit = out.hits.iter().find(|h| h.id == here.id.0).expect("the worker filled here is found");
    assert!(hit.playbook_boost > 0.0, "the market's own fill boosts it: {hit:?}");
    // Unfiltered, the other market's requests are the nearest and boost their worker.
    q.filters = Filters::default();
    q.k = 400;
    let out = e.search(&q).unwrap();
    assert!(out.hits.iter().any(|h| h.id == there.id.0 && h.playbook_boost > 0.0));
}

#[test]
fn concurrent_records_into_a_fresh_playbook_index_all_succeed() {
    let (e, corpus) = loaded(2, 400, 5);
    let e = std::sync::Arc::new(e);
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let e = std::sync::Arc::clone(&e);
            let w = corpus[i].clone();
            std::thread::spawn(move || {
                let job = FillJob {
                    role: w.role.clone(),
                    city: w.city.clone(),
                    state: w.state.clone(),
                    count: 1,
                    dates: None,
                };
                let (rv, rid) =
                    e.record_playbook(format!("{} near {}", w.role, w.city), job, vec![w.id.0.clone()]).unwrap();
                assert!(e.wait_visible_blocking(rv, WAIT));
                e.record_outcome(&rid)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(RecordOutcome::Accepted));
    }
    let stats = e.stats();
    assert_eq!(stats.playbook_index.live, 50);
    assert_eq!(stats.playbook_index.graph_panics, 0);
}

/// A record sees the writes of its own and earlier versions, never later ones, however the
/// feeder groups versions that queued together: eight threads each record a fill of their
/// workers and delete them right after (or first delete, then record), so writes and records
/// queue in front of the dataflow interleaved.
#[test]
fn a_record_is_decided_as_of_its_version_when_writes_queue_around_it() {
    let (e, corpus) = loaded(1, 400, 9);
    let e = std::sync::Arc::new(e);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let e = std::sync::Arc::clone(&e);
            let mine: Vec<WorkerRecord> = corpus[t * 40..(t + 1) * 40].to_vec();
            std::thread::spawn(move || {
                let mut decided = Vec::new();
                for (i, w) in mine.iter().enumerate() {
                    let record = |e: &Engine| {
                        let text = format!("{} near {}", w.role, w.city);
                        e.record_playbook(text, one_worker_job(w), vec![w.id.0.clone()]).unwrap()
                    };
                    let delete = |e: &Engine| e.delete_worker(&w.id.0, w.updated_at + 1).unwrap();
                    let (rv, rid, dv) = if i % 2 == 0 {
                        let (rv, rid) = record(&e);
                        (rv, rid, delete(&e))
                    } else {
                        let dv = delete(&e);
                        let (rv, rid) = record(&e);
                        (rv, rid, dv)
                    };
                    decided.push((rv < dv, rv.max(dv), rid));
                }
                decided
            })
        })
        .collect();
    let mut decided = Vec::new();
    for h in handles {
        decided.extend(h.join().unwrap());
    }
    let last = decided.iter().map(|d| d.1).max().unwrap();
    assert!(e.wait_visible_blocking(last, WAIT));
    for (before_delete, _, rid) in decided {
        let outcome = e.record_outcome(&rid).expect("decided");
        assert_eq!(
            outcome == RecordOutcome::Accepted,
            before_delete,
            "{rid:?}: recorded {} its worker's delete, decided {outcome:?}",
            if before_delete { "before" } else { "after" }
        );
    }
}

/// A write that arrives alone opens one timely time of its own.
#[test]
fn a_write_alone_opens_one_dataflow_time() {
    let (e, corpus) = loaded(1, 50, 3);
    let before = e.stats().dataflow_times;
    for w in &corpus[..5] {
        let mut w = w.clone();
        w.updated_at += 1;
        let v = e.upsert_workers(vec![w]).unwrap();
        assert!(e.wait_visible_blocking(v, WAIT));
    }
    assert_eq!(e.stats().dataflow_times - before, 5);
}

fn record(i: u8, stamp: i64, city: &str) -> WorkerRecord {
    let mut r = dataflow::corpus::generate_workers(1, 7).remove(0);
    r.id = WorkerId(format!("w-{i:07}"));
    r.updated_at = stamp;
    r.city = city.into();
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// The dataflow ends in the sequential model's state for random upsert/delete batches.
    #[test]
    fn dataflow_matches_sequential_model(batches in proptest::collection::vec(
        proptest::collection::vec((0u8..12, any::<bool>(), 0i64..50, 0usize..3), 1..12), 1..12)) {
        let e = engine(2);
        let cities = ["Austin", "Boston", "Denver"];
        let mut model: HashMap<String, (i64, Option<String>)> = HashMap::new();
        let mut last = 0;
        for batch in batches {
            let mut ops = Vec::new();
            for (id, upsert, stamp, city) in batch {
                let key = format!("w-{id:07}");
                let cur = model.get(&key).map(|x| x.0);
                if cur.is_none_or(|c| stamp >= c) {
                    model.insert(key.clone(), (stamp, upsert.then(|| cities[city].to_owned())));
                }
                ops.push(if upsert { WorkerOp::Upsert(record(id, stamp, cities[city])) } else { WorkerOp::Delete { id: WorkerId(key), at: stamp } });
            }
            last = e.submit_ops(ops).unwrap();
        }
        prop_assert!(e.wait_visible_blocking(last, WAIT));
        let want: HashMap<String, String> = model.into_iter().filter_map(|(k, (_, c))| c.map(|c| (k, c))).collect();
        let got: HashMap<String, String> = e.all_workers().into_iter().map(|r| (r.id.0.clone(), r.city.clone())).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn many_concurrent_writers_never_move_the_input_backwards() {
    // Regression: a write stamped just after the feeder claimed its floor could be drained
    // before the feeder advanced its inputs to that floor, which panicked the worker.
    let e = std::sync::Arc::new(engine(2));
    let base = dataflow::corpus::generate_workers(800, 4);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let e = std::sync::Arc::clone(&e);
            let mine: Vec<WorkerRecord> = base[t * 100..(t + 1) * 100].to_vec();
            std::thread::spawn(move || {
                let mut last = 0;
                for round in 0..20 {
                    for w in &mine {
                        let mut w = w.clone();
                        w.updated_at += round;
                        last = e.upsert_workers(vec![w]).unwrap();
                    }
                }
                last
            })
        })
        .collect();
    let last = handles.into_iter().map(|h| h.join().unwrap()).max().unwrap();
    assert!(e.wait_visible_blocking(last, WAIT), "the dataflow stopped making progress");
    assert_eq!(e.live_workers(), 800);
}

/// The search-result cache answers repeats, survives writes that can't change an answer, and
/// never serves an answer a write has changed: each cached answer equals a fresh search.
#[test]
fn result_cache_is_exact_under_writes() {
    // Both exact, so the two engines must agree result for result.
    let mut cfg = EngineConfig { threads: 2, dim: 128, ..EngineConfig::default() };
    cfg.workers_index.hnsw_threshold = 100_000;
    let e = Engine::start(cfg).unwrap();
    let mut fresh_cfg = EngineConfig { threads: 1, dim: 128, result_cache: 0, ..EngineConfig::default() };
    fresh_cfg.workers_index.hnsw_threshold = 100_000; // exact: the oracle
    let oracle = Engine::start(fresh_cfg).unwrap();
    let corpus = generate_corpus(1_500, 7);
    for eng in [&e, &oracle] {
        let v = eng.upsert_workers(corpus.clone()).unwrap();
        assert!(eng.wait_visible_blocking(v, WAIT));
    }
    let w = &corpus[3];
    let q = query(&format!("{} {}", w.role, w.city), 10);
    let ids = |eng: &Engine| eng.search(&q).unwrap().hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
    let first = ids(&e);
    assert_eq!(ids(&e), first);
    let s = e.stats().result_cache;
    assert!(s.hits >= 1, "a repeat is a cache hit: {s:?}");

    // An unrelated write (another role and city, far from the query): still a hit.
    let mut far = corpus[0].clone();
    far.id = WorkerId("far-1".into());
    far.role = "zzzz qqqq".into();
    far.city = "Xyzzy".into();
    far.skills = vec!["none".into()];
    let v = e.upsert_workers(vec![far]).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    let before = e.stats().result_cache;
    assert_eq!(ids(&e), first);
    let after = e.stats().result_cache;
    assert_eq!(after.hits, before.hits + 1, "an unrelated write keeps the answer: {after:?}");

    // A worker that matches the query exactly must enter the answer at once.
    let mut near = w.clone();
    near.id = WorkerId("near-1".into());
    for eng in [&e, &oracle] {
        let v = eng.upsert_workers(vec![near.clone()]).unwrap();
        assert!(eng.wait_visible_blocking(v, WAIT));
    }
    let now = ids(&e);
    assert!(now.contains(&"near-1".to_string()), "a better worker must invalidate the cached answer: {now:?}");
    let s = e.stats().result_cache;
    assert!(s.invalidated >= 1 && s.unprovable == 0, "proven stale, not given up on: {s:?}");

    // Deleting a worker in the answer removes it from the next answer.
    let gone = now[0].clone();
    let v = e.delete_worker(&gone, i64::MAX / 2).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    assert!(!ids(&e).contains(&gone), "a deleted worker must leave the cached answer");

    // Random writes and repeats: the cached engine agrees with the uncached exact oracle.
    let v = oracle.delete_worker(&gone, i64::MAX / 2).unwrap();
    assert!(oracle.wait_visible_blocking(v, WAIT));
    let more = dataflow::corpus::generate_workers(200, 99);
    for (i, chunk) in more.chunks(20).enumerate() {
        for eng in [&e, &oracle] {
            let v = eng.upsert_workers(chunk.to_vec()).unwrap();
            assert!(eng.wait_visible_blocking(v, WAIT));
        }
        for j in 0..5 {
            let t = &corpus[(i * 31 + j * 7) % corpus.len()];
            let q = query(&format!("{} {}", t.role, t.city), 5);
            let a: Vec<String> = e.search(&q).unwrap().hits.into_iter().map(|h| h.id).collect();
            let b: Vec<String> = oracle.search(&q).unwrap().hits.into_iter().map(|h| h.id).collect();
            assert_eq!(a, b, "round {i}, query {j}");
        }
    }
}

/// With one turn to read the indexes, concurrent searches take turns while writes keep
/// being applied: every search answers, and every write becomes visible.
#[test]
fn searches_take_turns_while_writes_apply() {
    let mut cfg = EngineConfig { threads: 1, dim: 128, index_readers: 1, ..EngineConfig::default() };
    cfg.workers_index.hnsw_threshold = 500;
    let e = std::sync::Arc::new(Engine::start(cfg).unwrap());
    let corpus = generate_corpus(800, 5);
    let v = e.upsert_workers(corpus.clone()).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    let searchers: Vec<_> = (0..4)
        .map(|t| {
            let (e, corpus) = (std::sync::Arc::clone(&e), corpus.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let w = &corpus[(t * 50 + i) % corpus.len()];
                    let out = e.search(&query(&format!("{} {}", w.role, w.city), 5)).unwrap();
                    assert_eq!(out.hits.len(), 5);
                }
            })
        })
        .collect();
    for (i, mut w) in dataflow::corpus::generate_workers(20, 77).into_iter().enumerate() {
        w.id = WorkerId(format!("turns-{i}"));
        let v = e.upsert_workers(vec![w]).unwrap();
        assert!(e.wait_visible_blocking(v, WAIT));
    }
    for s in searchers {
        s.join().unwrap();
    }
    assert_eq!(e.live_workers(), corpus.len() + 20);
    assert!(e.stats().read_turn_waits > 0, "four searchers on one turn must have waited");
}

/// `search_cached` (the server's answer on an async thread) gives exactly what `search`
/// would, or nothing: never before the answer is cached, never a stale one, never for a
/// query the cache does not cover, and its misses are left for the search to count.
#[test]
fn search_cached_answers_only_what_search_would() {
    let (e, corpus) = loaded(1, 800, 3);
    let w = &corpus[5];
    let q = query(&format!("{} {}", w.role, w.city), 10);
    let ids = |hits: &[dataflow::engine::SearchHit]| hits.iter().map(|h| h.id.clone()).collect::<Vec<_>>();

    // A boosted search (never result-cached) caches the text's embedding, so the inline try
    // below reaches the result cache, misses, and must leave the miss uncounted.
    let boosted = SearchQuery { use_playbook: true, ..q.clone() };
    e.search(&boosted).unwrap();
    assert!(e.search_cached(&boosted).is_none(), "a boosted search is never answered from the cache");
    let embeds = e.stats().cache;
    assert!(e.search_cached(&q).is_none(), "nothing is cached yet");
    assert_eq!(e.stats().result_cache.misses, 0, "the inline try counts no miss");
    assert_eq!(e.stats().cache.hits, embeds.hits, "an unused embedding is not a hit");
    let searched = e.search(&q).unwrap();
    assert_eq!(e.stats().result_cache.misses, 1);
    let cached = e.search_cached(&q).expect("a repeat is answered inline");
    assert_eq!(ids(&cached.hits), ids(&searched.hits));
    assert!(cached.version >= searched.version);
    assert_eq!(e.stats().result_cache.hits, 1);
    assert_eq!(e.stats().cache.hits, embeds.hits + 2, "the search's and the inline answer's");

    // A write that changes the answer: no inline answer (the stale one is dropped), and the
    // search that follows has the new worker, which the next inline answer then keeps.
    let mut near = w.clone();
    near.id = WorkerId("near-inline".into());
    let v = e.upsert_workers(vec![near]).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    assert!(e.search_cached(&q).is_none(), "a cached answer the write changed was served");
    let now = ids(&e.search(&q).unwrap().hits);
    assert!(now.contains(&"near-inline".to_string()), "{now:?}");
    assert_eq!(ids(&e.search_cached(&q).expect("cached again").hits), now);
}

/// Searches (plain, cached, inline), writes and index merges at once: the locks they take
/// (the index's read lock, the visibility gate, the overlay) never deadlock, every write is
/// visible in the index as soon as its version is, and every search answers.
#[test]
fn searches_writes_and_merges_interleave() {
    let mut cfg = EngineConfig { threads: 1, dim: 128, ..EngineConfig::default() };
    cfg.workers_index.hnsw_threshold = 500;
    cfg.workers_index.merge_interval = Duration::from_millis(1);
    let e = std::sync::Arc::new(Engine::start(cfg).unwrap());
    let corpus = generate_corpus(800, 6);
    let v = e.upsert_workers(corpus.clone()).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let mut threads = Vec::new();
    for t in 0..4 {
        let (e, corpus, stop) = (std::sync::Arc::clone(&e), corpus.clone(), std::sync::Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut answered = 0;
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let w = &corpus[(t * 13 + i % 7) % corpus.len()]; // repeats: cache hits too
                let q = query(&format!("{} {}", w.role, w.city), 5);
                if e.search_cached(&q).is_none() {
                    assert_eq!(e.search(&q).unwrap().hits.len(), 5);
                }
                answered += 1;
            }
            answered
        }));
    }
    {
        let (e, stop) = (std::sync::Arc::clone(&e), std::sync::Arc::clone(&stop));
        threads.push(std::thread::spawn(move || {
            let mut merges = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                e.workers_index().merge();
                merges += 1;
            }
            merges
        }));
    }
    let writer = {
        let e = std::sync::Arc::clone(&e);
        std::thread::spawn(move || {
            for (i, mut w) in dataflow::corpus::generate_workers(40, 78).into_iter().enumerate() {
                w.id = WorkerId(format!("mix-{i}"));
                let v = e.upsert_workers(vec![w.clone()]).unwrap();
                assert!(e.wait_visible_blocking(v, WAIT));
                assert!(e.workers_index().contains(&w.id.0), "visible version, missing point");
                if i % 3 == 0 {
                    let v = e.delete_worker(&w.id.0, i64::MAX / 2).unwrap();
                    assert!(e.wait_visible_blocking(v, WAIT));
                    assert!(!e.workers_index().contains(&w.id.0), "visible delete, point still there");
                }
            }
            done_tx.send(()).unwrap();
        })
    };
    // A deadlock shows as the writer never finishing.
    done_rx.recv_timeout(Duration::from_secs(120)).expect("writes stopped: a lock cycle?");
    writer.join().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        assert!(t.join().unwrap() > 0, "every thread made progress");
    }
    assert_eq!(e.live_workers(), corpus.len() + 40 - 14);
}
