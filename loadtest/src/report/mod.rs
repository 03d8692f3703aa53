//! Run records (iterations, steps, freshness), the collector that gathers them, and output writing.
//!
//! Records keep raw nanosecond offsets from run start; latencies are derived on
//! demand so the parquet files, the histograms and the table agree by construction.

pub mod parquet;
pub mod summary;
pub mod table;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::arrival::ArrivalState;
use crate::error::LoadError;
use crate::failure::FailureReason;
use crate::scenarios::{IterationPlan, RunClock, ScenarioKind};

pub use summary::{FreshnessStats, Histograms, LatencyStats, RunMeta, ScenarioStats, Summary};

/// One timed HTTP call inside a scenario iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRecord {
    /// Route label, e.g. `POST /v1/search`.
    pub step: &'static str,
    /// When the step should have started (see `scenarios::steps` for the rule), ns from run start.
    pub intended_ns: u64,
    /// When the request was sent, ns from run start.
    pub sent_ns: u64,
    /// When the response was read, ns from run start.
    pub end_ns: u64,
    /// HTTP status; 0 for transport errors and dropped iterations.
    pub status: u16,
    /// Whether the call and the checks on its response passed.
    pub ok: bool,
    /// Why not.
    pub failure: Option<FailureReason>,
}

impl StepRecord {
    /// Coordinated-omission-corrected latency: end − intended, µs.
    pub fn corrected_us(&self) -> u64 {
        self.end_ns.saturating_sub(self.intended_ns) / 1_000
    }

    /// Service latency as the client saw it: end − sent, µs.
    pub fn uncorrected_us(&self) -> u64 {
        self.end_ns.saturating_sub(self.sent_ns) / 1_000
    }
}

/// How an iteration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check passed.
    Ok,
    /// A step or check failed.
    Failed(FailureReason),
    /// Never started: the in-flight cap was reached at its intended time.
    Dropped,
    /// Still running when the drain deadline passed; cancelled.
    Aborted,
}

impl Outcome {
    /// `ok`, `failed`, `dropped` or `aborted`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed(_) => "failed",
            Self::Dropped => "dropped",
            Self::Aborted => "aborted",
        }
    }

    /// The reason code, for anything but `Ok`.
    pub fn failure(self) -> Option<FailureReason> {
        match self {
            Self::Ok => None,
            Self::Failed(r) => Some(r),
            Self::Dropped => Some(FailureReason::Dropped),
            Self::Aborted => Some(FailureReason::Aborted),
        }
    }
}

/// One scenario iteration: its plan, its steps and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IterationRecord {
    /// Which scenario.
    pub scenario: ScenarioKind,
    /// Iteration number (unique per run).
    pub iteration: u64,
    /// Arrival state at the intended start.
    pub arrival: ArrivalState,
    /// Intended start, ns from run start.
    pub intended_ns: u64,
    /// The steps, in order (empty when dropped or aborted).
    pub steps: Vec<StepRecord>,
    /// How it ended.
    pub outcome: Outcome,
}

impl IterationRecord {
    /// A record for an iteration that never started or was cancelled.
    pub fn unstarted(plan: &IterationPlan, clock: RunClock, outcome: Outcome) -> Self {
        Self {
            scenario: plan.scenario,
            iteration: plan.iteration,
            arrival: plan.arrival,
            intended_ns: clock.ns(plan.intended),
            steps: Vec::new(),
            outcome,
        }
    }

    /// Whether it ran (ok or failed), as opposed to dropped/aborted.
    pub fn executed(&self) -> bool {
        matches!(self.outcome, Outcome::Ok | Outcome::Failed(_))
    }

    /// When the first request was sent (intended start if none was).
    pub fn sent_ns(&self) -> u64 {
        self.steps.first().map_or(self.intended_ns, |s| s.sent_ns)
    }

    /// When the last response was read (intended start if none was).
    pub fn end_ns(&self) -> u64 {
        self.steps.last().map_or(self.intended_ns, |s| s.end_ns)
    }

    /// Scenario latency corrected for coordinated omission: last end − intended start, µs.
    pub fn corrected_us(&self) -> u64 {
        self.end_ns().saturating_sub(self.intended_ns) / 1_000
    }

    /// Scenario latency from the first send: last end − first sent, µs.
    pub fn uncorrected_us(&self) -> u64 {
        self.end_ns().saturating_sub(self.sent_ns()) / 1_000
    }
}

/// Kind of ingest write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// `POST /v1/workers`.
    Upsert,
    /// `DELETE /v1/workers/{id}`.
    Delete,
}

impl WriteOp {
    /// `upsert` or `delete`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Upsert => "upsert",
            Self::Delete => "delete",
        }
    }
}

/// One ingest write and when search first reflected it.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshnessRecord {
    /// Worker id written.
    pub id: String,
    /// Upsert or delete.
    pub op: WriteOp,
    /// Write sent, ns from run start.
    pub sent_ns: u64,
    /// Write acknowledged (2xx read), ns from run start; `None` if the write failed.
    pub acked_ns: Option<u64>,
    /// First search response reflecting the write, ns from run start.
    pub visible_ns: Option<u64>,
    /// The acknowledged version.
    pub version: Option<u64>,
    /// Write acked and visible within the deadline.
    pub ok: bool,
    /// Why not.
    pub failure: Option<FailureReason>,
}

impl FreshnessRecord {
    /// Write sent → visible, ms.
    pub fn freshness_ms(&self) -> Option<f64> {
        self.visible_ns.map(|v| v.saturating_sub(self.sent_ns) as f64 / 1e6)
    }

    /// Write sent → acknowledged, ms.
    pub fn ack_ms(&self) -> Option<f64> {
        self.acked_ns.map(|a| a.saturating_sub(self.sent_ns) as f64 / 1e6)
    }
}

/// Live counts, for the progress bar.
#[derive(Debug, Default)]
pub struct LiveCounts {
    /// Iterations finished (ok or failed).
    pub completed: AtomicU64,
    /// Iterations failed.
    pub failed: AtomicU64,
    /// Iterations dropped.
    pub dropped: AtomicU64,
    /// Ingest writes finished.
    pub writes: AtomicU64,
}

/// A record on its way to the writer thread.
enum Row {
    Iteration(IterationRecord),
    Freshness(FreshnessRecord),
}

type Writer = std::thread::JoinHandle<Result<Histograms, LoadError>>;

/// Thread-safe sink for records. Records go over a channel to a thread of their own, which
/// counts them into the histograms and streams them to the run's parquet files
/// ([`parquet::RunTables`]), so nothing is kept per iteration: memory stays flat over
/// hours-long runs.
pub struct Collector {
    tx: Mutex<Option<std::sync::mpsc::Sender<Row>>>,
    writer: Mutex<Option<Writer>>,
    /// Live counts.
    pub live: LiveCounts,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("live", &self.live).finish_non_exhaustive()
    }
}

impl Collector {
    /// Opens the run's tables in `dir` (rows tagged `run_id`) and starts the writer thread.
    pub fn create(dir: &Path, run_id: &str) -> Result<Self, LoadError> {
        let mut tables = parquet::RunTables::create(dir, run_id)?;
        let mut histograms = Histograms::new()?;
        let (tx, rx) = std::sync::mpsc::channel::<Row>();
        let writer = std::thread::Builder::new()
            .name("lakehouse-load-writer".into())
            .spawn(move || {
                // After a write error the records are still counted (the summary stays
                // right); the error is returned once the run is over.
                let mut failed = None;
                for row in rx {
                    let written = match row {
                        Row::Iteration(it) => {
                            histograms.add_iteration(&it)?;
                            if failed.is_some() {
                                continue;
                            }
                            tables.push_iteration(it)
                        }
                        Row::Freshness(f) => {
                            histograms.add_freshness(&f);
                            if failed.is_some() {
                                continue;
                            }
                            tables.push_freshness(f)
                        }
                    };
                    if let Err(e) = written {
                        failed = Some(e);
                    }
                }
                match failed {
                    Some(e) => Err(e),
                    None => tables.close().map(|()| histograms),
                }
            })
            .map_err(|e| LoadError::io(dir, e))?;
        Ok(Self { tx: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)), live: LiveCounts::default() })
    }

    fn send(&self, row: Row) {
        if let Some(tx) = self.tx.lock().as_ref() {
            // The writer only stops early on a histogram error, which `finish` reports.
            let _ = tx.send(row);
        }
    }

    /// Stores a finished (or dropped/aborted) iteration.
    pub fn push_iteration(&self, record: IterationRecord) {
        let counter = match record.outcome {
            Outcome::Ok => None,
            Outcome::Failed(_) | Outcome::Aborted => Some(&self.live.failed),
            Outcome::Dropped => Some(&self.live.dropped),
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if record.executed() {
            self.live.completed.fetch_add(1, Ordering::Relaxed);
        }
        self.send(Row::Iteration(record));
    }

    /// Stores an ingest write's freshness record.
    pub fn push_freshness(&self, record: FreshnessRecord) {
        self.live.writes.fetch_add(1, Ordering::Relaxed);
        self.send(Row::Freshness(record));
    }

    /// Closes the sink: later records are ignored. Waits for the writer to finish the
    /// parquet files and returns the histograms of everything stored.
    pub fn finish(&self) -> Result<Histograms, LoadError> {
        drop(self.tx.lock().take());
        let writer = self.writer.lock().take().ok_or_else(|| LoadError::Writer("finished twice".into()))?;
        writer.join().map_err(|_| LoadError::Writer("the thread panicked".into()))?
    }
}

/// Writes the rest of a run's outputs into `out` (the parquet tables are streamed by the
/// [`Collector`]): `summary.json` and `hist/*.hdr`.
pub fn write_outputs(out: &Path, summary: &Summary, histograms: &Histograms) -> Result<(), LoadError> {
    fs::create_dir_all(out).map_err(|e| LoadError::io(out, e))?;
    summary::write_histograms(&out.join("hist"), histograms)?;
    let json = serde_json::to_vec_pretty(summary)
        .map_err(|e| LoadError::io(out.join("summary.json"), std::io::Error::other(e)))?;
    let path = out.join("summary.json");
    fs::write(&path, json).map_err(|e| LoadError::io(path, e))
}
