//! HDR histograms of a run and the JSON `Summary` built from them.
//!
//! # Notes
//! - Latencies are recorded in microseconds with 3 significant digits, clamped to 1 h.
//! - `runs` counts executed iterations (ok + failed). `fail_pct` is
//!   (failed + dropped + aborted) ÷ (runs + dropped + aborted): an iteration the
//!   harness could not start because the target was too slow is a failure to serve.
//! - Latency statistics cover executed iterations only, failed ones included: a user
//!   waited for them too.

use std::collections::BTreeMap;
use std::fs;
use std::io::BufWriter;
use std::path::Path;

use hdrhistogram::serialization::{Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::error::LoadError;
use crate::report::{FreshnessRecord, IterationRecord, Outcome};
use crate::scenarios::ScenarioKind;
use crate::threshold::ThresholdResult;

/// Highest trackable latency: one hour, in µs.
const MAX_US: u64 = 3_600_000_000;

fn new_hist() -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, MAX_US, 3)
        .map_err(|e| LoadError::Histogram { name: "new".into(), message: format!("{e:?}") })
}

/// Corrected and uncorrected latency histograms plus outcome counts for one group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Corrected latency, µs.
    pub corrected: Histogram<u64>,
    /// Uncorrected latency, µs.
    pub uncorrected: Histogram<u64>,
    /// Executed (ok + failed).
    pub runs: u64,
    /// Failed.
    pub failed: u64,
    /// Dropped.
    pub dropped: u64,
    /// Aborted.
    pub aborted: u64,
    /// Failures by reason code.
    pub failures: BTreeMap<&'static str, u64>,
}

impl Group {
    fn new() -> Result<Self, LoadError> {
        Ok(Self {
            corrected: new_hist()?,
            uncorrected: new_hist()?,
            runs: 0,
            failed: 0,
            dropped: 0,
            aborted: 0,
            failures: BTreeMap::new(),
        })
    }

    fn add(&mut self, ok: bool, failure: Option<&'static str>, corrected: u64, uncorrected: u64) {
        self.runs += 1;
        if !ok {
            self.failed += 1;
        }
        if let Some(code) = failure {
            *self.failures.entry(code).or_default() += 1;
        }
        self.corrected.saturating_record(corrected);
        self.uncorrected.saturating_record(uncorrected);
    }
}

/// Every histogram of a run.
#[derive(Clone, Debug)]
pub struct Histograms {
    /// All scenarios together.
    pub total: Group,
    /// Per scenario.
    pub scenarios: BTreeMap<ScenarioKind, Group>,
    /// Per (scenario, step label), steps in first-seen order.
    pub steps: BTreeMap<ScenarioKind, Vec<(&'static str, Group)>>,
    /// Write sent → visible, µs (ok writes).
    pub freshness: Histogram<u64>,
    /// Write sent → acked, µs.
    pub ack: Histogram<u64>,
    /// Harness schedule lag: first send − intended start, µs (executed iterations).
    pub lag: Histogram<u64>,
    /// Ingest write counts.
    pub writes: WriteTally,
}

/// Ingest writes counted as they arrive.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteTally {
    /// Writes attempted.
    pub writes: u64,
    /// Upserts attempted.
    pub upserts: u64,
    /// Deletes attempted.
    pub deletes: u64,
    /// Acked and visible within the deadline.
    pub ok: u64,
    /// Failed or not visible in time.
    pub failed: u64,
    /// Failures by reason code.
    pub failures: BTreeMap<&'static str, u64>,
}

impl Histograms {
    /// Empty histograms, one group per scenario.
    pub fn new() -> Result<Self, LoadError> {
        let mut h = Self {
            total: Group::new()?,
            scenarios: BTreeMap::new(),
            steps: BTreeMap::new(),
            freshness: new_hist()?,
            ack: new_hist()?,
            lag: new_hist()?,
            writes: WriteTally::default(),
        };
        for kind in ScenarioKind::ALL {
            h.scenarios.insert(kind, Group::new()?);
            h.steps.insert(kind, Vec::new());
        }
        Ok(h)
    }

    /// Builds all histograms from the records.
    pub fn build(iterations: &[IterationRecord], freshness: &[FreshnessRecord]) -> Result<Self, LoadError> {
        let mut h = Self::new()?;
        for it in iterations {
            h.add_iteration(it)?;
        }
        for f in freshness {
            h.add_freshness(f);
        }
        Ok(h)
    }

    /// Counts one iteration (and its steps).
    pub fn add_iteration(&mut self, it: &IterationRecord) -> Result<(), LoadError> {
        let code = it.outcome.failure().map(|r| r.code());
        tally(&mut self.total, it, code);
        if it.executed() {
            self.lag.saturating_record(it.sent_ns().saturating_sub(it.intended_ns) / 1_000);
        }
        if let Some(group) = self.scenarios.get_mut(&it.scenario) {
            tally(group, it, code);
        }
        let Some(steps) = self.steps.get_mut(&it.scenario) else {
            return Ok(());
        };
        for s in &it.steps {
            let idx = match steps.iter().position(|(label, _)| *label == s.step) {
                Some(i) => i,
                None => {
                    steps.push((s.step, Group::new()?));
                    steps.len() - 1
                }
            };
            steps[idx].1.add(s.ok, s.failure.map(|r| r.code()), s.corrected_us(), s.uncorrected_us());
        }
        Ok(())
    }

    /// Counts one ingest write.
    pub fn add_freshness(&mut self, f: &FreshnessRecord) {
        if let (true, Some(ms)) = (f.ok, f.freshness_ms()) {
            self.freshness.saturating_record((ms * 1e3) as u64);
        }
        if let Some(ms) = f.ack_ms() {
            self.ack.saturating_record((ms * 1e3) as u64);
        }
        let w = &mut self.writes;
        w.writes += 1;
        match f.op {
            super::WriteOp::Upsert => w.upserts += 1,
            super::WriteOp::Delete => w.deletes += 1,
        }
        if f.ok {
            w.ok += 1;
        } else {
            w.failed += 1;
            *w.failures.entry(f.failure.map_or("unknown", |r| r.code())).or_default() += 1;
        }
    }
}

fn tally(group: &mut Group, it: &IterationRecord, code: Option<&'static str>) {
    match it.outcome {
        Outcome::Ok | Outcome::Failed(_) => {
            group.add(it.outcome == Outcome::Ok, code, it.corrected_us(), it.uncorrected_us())
        }
        Outcome::Dropped => {
            group.dropped += 1;
            *group.failures.entry("dropped").or_default() += 1;
        }
        Outcome::Aborted => {
            group.aborted += 1;
            *group.failures.entry("aborted").or_default() += 1;
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl LatencyStats {
    /// Percentiles of a µs histogram, in ms; all zero when empty.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1e3;
        Self {
            count: h.len(),
            mean_ms: h.mean() / 1e3,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Counts and latencies of one scenario, step or the total.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioStats {
    /// Scenario name, step label, or `TOTAL`.
    pub name: String,
    /// Executed iterations (ok + failed).
    pub runs: u64,
    /// Failed iterations.
    pub failed: u64,
    /// Dropped iterations (never started).
    pub dropped: u64,
    /// Aborted iterations (cancelled at drain).
    pub aborted: u64,
    /// (failed + dropped + aborted) ÷ scheduled, percent.
    pub fail_pct: f64,
    /// Executed per second of load phase.
    pub rate_per_s: f64,
    /// Corrected latency (from intended start).
    pub latency: LatencyStats,
    /// Uncorrected latency (from send).
    pub uncorrected: LatencyStats,
    /// Failures by reason code.
    pub failures: BTreeMap<String, u64>,
    /// Per-step rows (empty for steps themselves).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<ScenarioStats>,
}

impl ScenarioStats {
    fn of(name: &str, g: &Group, elapsed_s: f64, steps: Vec<ScenarioStats>) -> Self {
        let scheduled = g.runs + g.dropped + g.aborted;
        let bad = g.failed + g.dropped + g.aborted;
        Self {
            name: name.to_owned(),
            runs: g.runs,
            failed: g.failed,
            dropped: g.dropped,
            aborted: g.aborted,
            fail_pct: if scheduled == 0 { 0.0 } else { 100.0 * bad as f64 / scheduled as f64 },
            rate_per_s: if elapsed_s > 0.0 { g.runs as f64 / elapsed_s } else { 0.0 },
            latency: LatencyStats::of(&g.corrected),
            uncorrected: LatencyStats::of(&g.uncorrected),
            failures: g.failures.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            steps,
        }
    }
}

/// Ingest freshness: how long writes took to become visible to search.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FreshnessStats {
    /// Writes attempted.
    pub writes: u64,
    /// Upserts attempted.
    pub upserts: u64,
    /// Deletes attempted.
    pub deletes: u64,
    /// Writes acked and visible within the deadline.
    pub ok: u64,
    /// Writes that failed or were not visible in time.
    pub failed: u64,
    /// failed ÷ writes, percent.
    pub fail_pct: f64,
    /// Writes per second of load phase.
    pub rate_per_s: f64,
    /// Sent → visible (ok writes).
    pub visible: LatencyStats,
    /// Sent → acked.
    pub ack: LatencyStats,
    /// Failures by reason code.
    pub failures: BTreeMap<String, u64>,
}

/// Facts about the run that the records don't carry.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunMeta {
    /// Run id (`run-<timestamp>`).
    pub run_id: String,
    /// Wall-clock start, ms since the epoch.
    pub started_at_ms: i64,
    /// `gateway` or `embedded`.
    pub mode: String,
    /// Base URL hit.
    pub target: String,
    /// Arrival process name (`closed`, `mmpp`, ...).
    pub arrival: String,
    /// Mean target rate (open loop).
    pub rate: Option<f64>,
    /// Users (closed) or in-flight cap (open).
    pub concurrency: usize,
    /// Configured duration, s.
    pub duration_s: f64,
    /// Actual load-phase length, s.
    pub elapsed_s: f64,
    /// Run seed.
    pub seed: u64,
    /// Corpus size used for the query mix.
    pub workers: usize,
    /// Ingest writes/s (0 = off).
    pub ingest_rate: f64,
    /// Configured fraction of ingest upserts that create new workers.
    pub ingest_new_fraction: f64,
    /// Output directory.
    pub out_dir: String,
    /// Scenario weights by name.
    pub weights: BTreeMap<String, u32>,
}

/// The run summary: printed as one JSON object on stderr and saved as `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Run facts.
    #[serde(flatten)]
    pub meta: RunMeta,
    /// Executed iterations.
    pub scenarios_total: u64,
    /// Executed iterations per second.
    pub scenarios_per_s: f64,
    /// All scenarios together.
    pub total: ScenarioStats,
    /// Per scenario, in report order, with per-step rows.
    pub scenarios: Vec<ScenarioStats>,
    /// Ingest freshness.
    pub freshness: FreshnessStats,
    /// How late the harness sent first requests (first send − intended start). Large
    /// values mean the load generator, not the target, was the bottleneck.
    pub schedule_lag: LatencyStats,
    /// Notable non-failures (`changed_by_ingest`, `surge_retries`).
    pub counters: BTreeMap<String, u64>,
    /// The first failed checks, with what each saw (see
    /// [`crate::scenarios::FailureExample`]).
    pub failure_examples: Vec<crate::scenarios::FailureExample>,
    /// Threshold verdicts.
    pub thresholds: Vec<ThresholdResult>,
    /// No threshold violated.
    pub passed: bool,
}

impl Summary {
    /// Summarises the histograms and counts (thresholds are filled in later).
    pub fn build(meta: RunMeta, h: &Histograms, counters: BTreeMap<String, u64>) -> Self {
        let elapsed = meta.elapsed_s;
        let scenarios = ScenarioKind::ALL
            .iter()
            .filter_map(|kind| {
                let g = h.scenarios.get(kind)?;
                let steps = h
                    .steps
                    .get(kind)
                    .map(|s| s.iter().map(|(label, g)| ScenarioStats::of(label, g, elapsed, Vec::new())).collect())
                    .unwrap_or_default();
                Some(ScenarioStats::of(kind.name(), g, elapsed, steps))
            })
            .collect();
        let total = ScenarioStats::of("TOTAL", &h.total, elapsed, Vec::new());
        let w = &h.writes;
        let mut fs = FreshnessStats {
            writes: w.writes,
            upserts: w.upserts,
            deletes: w.deletes,
            ok: w.ok,
            failed: w.failed,
            visible: LatencyStats::of(&h.freshness),
            ack: LatencyStats::of(&h.ack),
            failures: w.failures.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            ..FreshnessStats::default()
        };
        if fs.writes > 0 {
            fs.fail_pct = 100.0 * fs.failed as f64 / fs.writes as f64;
        }
        if elapsed > 0.0 {
            fs.rate_per_s = fs.writes as f64 / elapsed;
        }
        Self {
            scenarios_total: total.runs,
            scenarios_per_s: total.rate_per_s,
            meta,
            total,
            scenarios,
            freshness: fs,
            schedule_lag: LatencyStats::of(&h.lag),
            counters,
            failure_examples: Vec::new(),
            thresholds: Vec::new(),
            passed: true,
        }
    }

    /// The stats of one scenario by name.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioStats> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

fn write_hist(path: &Path, h: &Histogram<u64>) -> Result<(), LoadError> {
    let file = fs::File::create(path).map_err(|e| LoadError::io(path, e))?;
    let mut w = BufWriter::new(file);
    V2Serializer::new()
        .serialize(h, &mut w)
        .map_err(|e| LoadError::Histogram { name: path.display().to_string(), message: format!("{e:?}") })?;
    std::io::Write::flush(&mut w).map_err(|e| LoadError::io(path, e))
}

/// Writes `hist/<scenario>.hdr` (corrected), `hist/<scenario>.uncorrected.hdr`,
/// `hist/total*.hdr`, `hist/freshness.hdr` and `hist/ack.hdr`: V2 format, values in µs.
pub fn write_histograms(dir: &Path, h: &Histograms) -> Result<(), LoadError> {
    fs::create_dir_all(dir).map_err(|e| LoadError::io(dir, e))?;
    let mut groups: Vec<(&str, &Group)> = vec![("total", &h.total)];
    groups.extend(h.scenarios.iter().map(|(k, g)| (k.name(), g)));
    for (name, g) in groups {
        write_hist(&dir.join(format!("{name}.hdr")), &g.corrected)?;
        write_hist(&dir.join(format!("{name}.uncorrected.hdr")), &g.uncorrected)?;
    }
    write_hist(&dir.join("freshness.hdr"), &h.freshness)?;
    write_hist(&dir.join("ack.hdr"), &h.ack)
}
