//! Coordinated omission: a stalled server shows up in corrected latency or as dropped rows.

use std::sync::Arc;
use std::time::Duration;

use loadtest::arrival::ArrivalSpec;
use loadtest::executor::LoadModel;
use loadtest::scenarios::Weights;
use loadtest::{run, CorpusSource, RunConfig, Target};

use crate::fake::{corpus, FakeServer, Mode, Stall};
use crate::parquet_io::read_table;

fn config(url: String, max_in_flight: usize, out: &std::path::Path) -> RunConfig {
    let mut c = RunConfig::new(Target::Gateway { url, corpus: CorpusSource::Docs(Arc::new(corpus())) });
    c.load = LoadModel::Open { arrival: ArrivalSpec::Constant { rate: 100.0 }, max_in_flight };
    c.weights = Weights::parse("profile_swap=1").expect("weights");
    c.duration = Duration::from_secs(2);
    c.out_dir = out.to_owned();
    c.ready_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(5);
    c
}

/// With an in-flight cap of 1, arrivals during a 500 ms stall cannot start: each is a
/// dropped row, not a missing sample.
#[tokio::test]
async fn arrivals_behind_a_stall_are_dropped_not_omitted() {
    let stall = Stall { nth_search: 20, len: Duration::from_millis(500), blocking: false };
    let fake = FakeServer::start(Mode::Right, Some(stall)).await;
    let out = tempfile::tempdir().expect("tempdir");
    let report = run(config(fake.url(), 1, out.path())).await.expect("run");
    let s = &report.summary;
    let scheduled = s.total.runs + s.total.dropped + s.total.aborted;
    assert!((195..=200).contains(&scheduled), "2 s at 100/s: {scheduled}");
    assert!(s.total.dropped >= 35, "the stall's arrivals are dropped: {}", s.total.dropped);
    assert_eq!(s.total.failed, 0, "{:?}", s.total.failures);
    assert!(s.total.latency.max_ms >= 500.0, "the stalled iteration: {}", s.total.latency.max_ms);
    assert!(s.total.fail_pct > 15.0, "drops count against the run: {}", s.total.fail_pct);

    let steps = read_table(&out.path().join("steps.parquet"));
    let dropped_rows = steps
        .iter()
        .filter(|r| r.get("failure_reason").map(String::as_str) == Some("dropped"))
        .inspect(|r| assert_eq!(r["status"], "0"))
        .count() as u64;
    assert_eq!(dropped_rows, s.total.dropped);
    let scen = read_table(&out.path().join("scenarios.parquet"));
    assert_eq!(scen.len() as u64, scheduled, "one scenarios row per arrival");
}

/// A blocking stall freezes the current-thread runtime, scheduler included: ~50
/// arrivals go out late. Latency from the intended start sees the stall; latency
/// from the send does not.
#[tokio::test(flavor = "current_thread")]
async fn corrected_latency_sees_what_uncorrected_hides() {
    let stall = Stall { nth_search: 40, len: Duration::from_millis(500), blocking: true };
    let fake = FakeServer::start(Mode::Right, Some(stall)).await;
    let out = tempfile::tempdir().expect("tempdir");
    let report = run(config(fake.url(), 1000, out.path())).await.expect("run");
    let t = &report.summary.total;
    assert_eq!(t.dropped, 0);
    assert_eq!(t.failed, 0, "{:?}", t.failures);
    assert!(t.latency.p99_ms >= 250.0, "corrected p99 {}", t.latency.p99_ms);
    assert!(
        t.latency.p99_ms > 3.0 * t.uncorrected.p99_ms,
        "corrected p99 {} vs uncorrected p99 {}",
        t.latency.p99_ms,
        t.uncorrected.p99_ms
    );
    assert!(fake.searches() >= 390, "all iterations still ran");
}
