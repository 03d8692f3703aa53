//! [`Jobs`]: the job registry, its per-index queues and runner threads, cancel and resume.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::run;
use super::store::JobStore;
use super::{IndexName, JobError, JobHost, JobId, JobInfo, JobSpec, JobState, JobsConfig};

/// How long [`Jobs::cancel`] waits for a running job to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    (crate::engine::now_micros() / 1_000) as i64
}

/// Whether a running job may still be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Queued, reading, or between two files: a cancel stops it.
    Open,
    /// A file's version is being submitted; the job is open again after it.
    Submitting,
    /// The job's last output is submitted (or being submitted): too late to cancel.
    Final,
}

/// A job's mutable part.
pub(super) struct Slot {
    pub(super) info: JobInfo,
    pub(super) phase: Phase,
}

/// One job.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) slot: Mutex<Slot>,
    /// Set by a cancel; the runner checks it between record batches and before submitting.
    pub(super) cancel: AtomicBool,
}

impl Job {
    fn new(seq: u64, info: JobInfo) -> Job {
        Job { seq, slot: Mutex::new(Slot { info, phase: Phase::Open }), cancel: AtomicBool::new(false) }
    }

    fn info(&self) -> JobInfo {
        self.slot.lock().info.clone().with_rates(now_ms())
    }
}

struct Table {
    jobs: BTreeMap<u64, Arc<Job>>,
    queues: HashMap<IndexName, VecDeque<u64>>,
    next: u64,
}

/// State shared by the registry and its runners.
pub(super) struct Inner {
    pub(super) config: JobsConfig,
    store: Option<JobStore>,
    table: Mutex<Table>,
    wake: Condvar,
    pub(super) stop: AtomicBool,
}

impl Inner {
    /// Write a job's record (if the engine has a data directory); a failure is logged; the
    /// job goes on, and the record is written again at its next change.
    pub(super) fn persist(&self, info: &JobInfo) {
        if let Some(store) = &self.store {
            if let Err(e) = store.save(info) {
                tracing::error!(job = %info.id, error = %e, "could not write the job record");
            }
        }
    }

    /// Forget the oldest finished jobs beyond [`JobsConfig::keep_finished`].
    fn prune(&self) {
        let mut table = self.table.lock();
        let finished: Vec<u64> =
            table.jobs.iter().filter(|(_, j)| j.slot.lock().info.state.is_terminal()).map(|(s, _)| *s).collect();
        let excess = finished.len().saturating_sub(self.config.keep_finished);
        for seq in finished.into_iter().take(excess) {
            if let Some(job) = table.jobs.remove(&seq) {
                if let Some(store) = &self.store {
                    let id = job.slot.lock().info.id.clone();
                    if let Err(e) = store.remove(&id) {
                        tracing::warn!(job = %id, error = %e, "could not remove an old job record");
                    }
                }
            }
        }
    }
}

/// The batch-job registry of an engine (see [the module docs](super)).
pub struct Jobs {
    inner: Arc<Inner>,
    runners: Mutex<Vec<JoinHandle<()>>>,
}

fn parse_seq(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("job-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Jobs {
    /// Open the registry: with `dir`, read the job records there (created if missing). No
    /// job runs until [`Jobs::start`].
    pub(crate) fn open(config: JobsConfig, dir: Option<PathBuf>) -> Result<Jobs, JobError> {
        let (store, loaded) = match dir {
            Some(dir) => {
                let (store, loaded) = JobStore::open(dir)?;
                (Some(store), loaded)
            }
            None => (None, Vec::new()),
        };
        let mut jobs = BTreeMap::new();
        for info in loaded {
            match parse_seq(&info.id.0) {
                Some(seq) => {
                    jobs.insert(seq, Arc::new(Job::new(seq, info)));
                }
                None => tracing::warn!(job = %info.id, "job record with an unexpected id ignored"),
            }
        }
        let next = jobs.keys().next_back().map_or(1, |s| s + 1);
        let queues = IndexName::ALL.into_iter().map(|i| (i, VecDeque::new())).collect();
        let inner = Arc::new(Inner {
            config,
            store,
            table: Mutex::new(Table { jobs, queues, next }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        Ok(Jobs { inner, runners: Mutex::new(Vec::new()) })
    }

    /// Resume the jobs a previous process left queued or running (or fail those interrupted
    /// too often), and start one runner thread per index.
    pub(crate) fn start(&self, host: Arc<dyn JobHost>) -> Result<(), JobError> {
        {
            let mut table = self.inner.table.lock();
            let Table { jobs, queues, .. } = &mut *table;
            for job in jobs.values() {
                let mut slot = job.slot.lock();
                let info = &mut slot.info;
                if info.state.is_terminal() {
                    continue;
                }
                if info.cancel_requested {
                    info.state = JobState::Cancelled;
                    info.finished_at_ms = Some(now_ms());
                    info.error = Some("cancelled before a restart interrupted it".into());
                } else if info.attempts >= self.inner.config.max_attempts {
                    info.state = JobState::Failed;
                    info.finished_at_ms = Some(now_ms());
                    info.error = Some(format!(
                        "interrupted by a restart {} times; not resumed again (submit it again)",
                        info.attempts
                    ));
                } else {
                    if info.state == JobState::Running {
                        tracing::info!(job = %info.id, "resuming a job a restart interrupted");
                    }
                    info.state = JobState::Queued;
                    queues.entry(info.spec.index()).or_default().push_back(job.seq);
                }
                self.inner.persist(info);
            }
        }
        let mut runners = self.runners.lock();
        for index in IndexName::ALL {
            let (inner, host) = (Arc::clone(&self.inner), Arc::clone(&host));
            let handle = std::thread::Builder::new()
                .name(format!("jobs-{}", index.as_str()))
                .spawn(move || runner(&inner, host.as_ref(), index))
                .map_err(|e| JobError::Store { path: PathBuf::from("<thread>"), source: e })?;
            runners.push(handle);
        }
        Ok(())
    }

    /// Queue a job. Paths of an ingest must exist now (they are read when the job runs).
    pub fn submit(&self, spec: JobSpec) -> Result<JobInfo, JobError> {
        if self.inner.stop.load(Ordering::Acquire) {
            return Err(JobError::Stopped);
        }
        if let JobSpec::IngestParquet { paths } = &spec {
            if paths.is_empty() {
                return Err(JobError::InvalidSpec { field: "path", reason: "no file given".into() });
            }
            for p in paths {
                if !p.exists() {
                    let reason = format!("{}: no such file or directory", p.display());
                    return Err(JobError::InvalidSpec { field: "path", reason });
                }
            }
        }
        let index = spec.index();
        let mut table = self.inner.table.lock();
        let seq = table.next;
        let info = JobInfo::new(JobId(format!("job-{seq:06}")), spec, now_ms());
        if let Some(store) = &self.inner.store {
            // Acknowledge a job only once its record is durable: it must survive a restart.
            store.save(&info)?;
        }
        table.next += 1;
        let job = Arc::new(Job::new(seq, info));
        let out = job.info();
        table.jobs.insert(seq, job);
        table.queues.entry(index).or_default().push_back(seq);
        drop(table);
        self.inner.wake.notify_all();
        tracing::info!(job = %out.id, spec = ?out.spec, "job queued");
        Ok(out)
    }

    fn find(&self, id: &str) -> Result<Arc<Job>, JobError> {
        let not_found = || JobError::NotFound { id: id.to_owned() };
        let seq = parse_seq(id).ok_or_else(not_found)?;
        self.inner.table.lock().jobs.get(&seq).cloned().ok_or_else(not_found)
    }

    /// A job.
    pub fn get(&self, id: &str) -> Result<JobInfo, JobError> {
        Ok(self.find(id)?.info())
    }

    /// Every job known, newest first.
    pub fn list(&self) -> Vec<JobInfo> {
        let jobs: Vec<Arc<Job>> = self.inner.table.lock().jobs.values().rev().cloned().collect();
        jobs.iter().map(|j| j.info()).collect()
    }

    /// Cancel a job: a queued one at once, a running one at its next record batch (waits up
    /// to 10 s for it to stop and returns its record). [`JobError::Committed`] once it is
    /// submitting its last output, [`JobError::Finished`] once it is over.
    pub fn cancel(&self, id: &str) -> Result<JobInfo, JobError> {
        let job = self.find(id)?;
        {
            let mut slot = job.slot.lock();
            let state = slot.info.state;
            match state {
                JobState::Succeeded | JobState::Failed | JobState::Cancelled => {
                    return Err(JobError::Finished { id: slot.info.id.clone(), state });
                }
                JobState::Queued => {
                    slot.info.state = JobState::Cancelled;
                    slot.info.cancel_requested = true;
                    slot.info.finished_at_ms = Some(now_ms());
                    self.inner.persist(&slot.info);
                    tracing::info!(job = %slot.info.id, "queued job cancelled");
                }
                JobState::Running => {
                    if slot.phase != Phase::Open {
                        return Err(JobError::Committed { id: slot.info.id.clone() });
                    }
                    job.cancel.store(true, Ordering::Release);
                    slot.info.cancel_requested = true;
                    self.inner.persist(&slot.info);
                }
            }
        }
        self.wait_job(&job, CANCEL_WAIT);
        Ok(job.info())
    }

    /// Wait until a job is finished (or `timeout` passes) and return its record.
    pub fn wait(&self, id: &str, timeout: Duration) -> Result<JobInfo, JobError> {
        let job = self.find(id)?;
        self.wait_job(&job, timeout);
        Ok(job.info())
    }

    fn wait_job(&self, job: &Job, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !job.slot.lock().info.state.is_terminal() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stop the runners: a running job stops at its next check and stays `running` in its
    /// record, to be resumed at the next start. Idempotent.
    pub(crate) fn stop(&self) {
        self.inner.stop.store(true, Ordering::Release);
        self.inner.wake.notify_all();
        for handle in self.runners.lock().drain(..) {
            if handle.join().is_err() {
                tracing::error!("a job runner panicked");
            }
        }
    }
}

/// One index's runner: its jobs one at a time, in submission order.
fn runner(inner: &Inner, host: &dyn JobHost, index: IndexName) {
    loop {
        let job = {
            let mut table = inner.table.lock();
            loop {
                if inner.stop.load(Ordering::Acquire) {
                    return;
                }
                let next = table.queues.get_mut(&index).and_then(|q| q.pop_front());
                match next {
                    Some(seq) => {
                        if let Some(job) = table.jobs.get(&seq) {
                            break Arc::clone(job);
                        }
                    }
                    None => {
                        inner.wake.wait_for(&mut table, Duration::from_millis(200));
                    }
                }
            }
        };
        let finished = run::run_job(inner, host, &job);
        if finished {
            inner.prune();
        }
    }
}
