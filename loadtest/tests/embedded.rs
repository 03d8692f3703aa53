//! End to end against the real server started in-process (embedded mode).

use std::time::Duration;

use loadtest::arrival::ArrivalSpec;
use loadtest::executor::LoadModel;
use loadtest::scenarios::ScenarioKind;
use loadtest::{run, RunConfig, Target};

use crate::parquet_io::read_table;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_run_passes_all_six_scenarios() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut c = RunConfig::new(Target::Embedded { workers: 2000, data_dir: None });
    c.duration = Duration::from_secs(4);
    c.load = LoadModel::Open {
        arrival: ArrivalSpec::Mmpp {
            rate: 40.0,
            burst_factor: 4.0,
            burst_fraction: 0.2,
            burst_mean_len: Duration::from_secs(1),
        },
        max_in_flight: 256,
    };
    c.ingest_rate = 20.0;
    c.out_dir = out.path().to_owned();
    c.ready_timeout = Duration::from_secs(120);
    let report = run(c).await.expect("embedded run");
    let s = &report.summary;
    assert!(report.passed());
    for kind in ScenarioKind::ALL {
        let st = s.scenario(kind.name()).expect("stats");
        assert!(st.runs > 0, "{kind} ran");
        assert_eq!(st.failed + st.dropped + st.aborted, 0, "{kind}: {:?}", st.failures);
    }
    assert_eq!(s.freshness.failed, 0, "{:?}", s.freshness.failures);
    let steps = read_table(&out.path().join("steps.parquet"));
    assert!(!steps.is_empty());
    // The server's counters at the end of the load, with the index applies of the ingest.
    let metrics = std::fs::read_to_string(out.path().join(loadtest::SERVER_METRICS_FILE)).expect("metrics");
    let applies = metric(&metrics, "lakehouse_index_applies_total");
    assert!(applies > 0.0, "{metrics}");
    // repeat_cache asks the same search five times in a row: the result cache answers.
    let cache_hits = metric(&metrics, "lakehouse_result_cache_hits_total");
    assert!(cache_hits > 0.0, "{metrics}");
}

/// The value of an unlabelled Prometheus sample `name`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}
