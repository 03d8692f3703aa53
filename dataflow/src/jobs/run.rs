//! Running one job: parquet ingest (list, check, stage, submit per file), re-embed, rebuild.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::registry::{now_ms, Inner, Job, Phase};
use super::{CommittedFile, IndexName, JobHost, JobInfo, JobSpec, JobState, Rejection, MAX_REJECTION_SAMPLES};
use crate::commands::{DeadLetter, RowSource, Version, WorkerOp};
use crate::corpus::{open_workers, CorpusError};
use crate::error::DataflowError;
use crate::operators::validate::check_record;

/// How a run ended.
enum Outcome {
    /// Output visible at this version.
    Done(Version),
    /// Stopped by an error.
    Failed(String),
    /// Stopped by a cancel.
    Cancelled,
    /// The engine is stopping: the job stays `running`, to be resumed at the next start.
    Interrupted,
}

/// A running job and what it may touch.
struct Ctx<'a> {
    inner: &'a Inner,
    host: &'a dyn JobHost,
    job: &'a Job,
}

impl Ctx<'_> {
    /// Whether the run must stop now (engine stopping, or a cancel).
    fn halted(&self) -> Option<Outcome> {
        if self.inner.stop.load(Ordering::Acquire) {
            Some(Outcome::Interrupted)
        } else if self.job.cancel.load(Ordering::Acquire) {
            Some(Outcome::Cancelled)
        } else {
            None
        }
    }

    fn update(&self, f: impl FnOnce(&mut JobInfo)) {
        f(&mut self.job.slot.lock().info);
    }

    fn persist(&self) {
        let info = self.job.slot.lock().info.clone();
        self.inner.persist(&info);
    }

    /// Enter the submitting phase unless halted; `last`: the job's final output, after which
    /// it can no longer be cancelled. The check and the phase change share the lock that
    /// a cancel takes, so a cancel either lands before (and stops the job) or is refused.
    fn begin_submit(&self, last: bool) -> Result<(), Outcome> {
        let mut slot = self.job.slot.lock();
        if let Some(o) = self.halted() {
            return Err(o);
        }
        slot.phase = if last { Phase::Final } else { Phase::Submitting };
        Ok(())
    }

    fn end_submit(&self) {
        let mut slot = self.job.slot.lock();
        if slot.phase == Phase::Submitting {
            slot.phase = Phase::Open;
        }
    }

    /// Submit ops as one version; a stopping engine interrupts rather than fails the job.
    fn submit(&self, ops: Vec<WorkerOp>, what: &str) -> Result<Version, Outcome> {
        match self.host.submit(ops) {
            Ok(v) => Ok(v),
            Err(DataflowError::Stopped) => Err(Outcome::Interrupted),
            Err(e) => Err(Outcome::Failed(format!("{what}: {e}"))),
        }
    }

    fn wait_visible(&self, version: Version) -> Outcome {
        let deadline = Instant::now() + self.inner.config.visible_timeout;
        loop {
            if self.host.visible() >= version {
                return Outcome::Done(version);
            }
            if self.inner.stop.load(Ordering::Acquire) {
                return Outcome::Interrupted;
            }
            if Instant::now() >= deadline {
                return Outcome::Failed(format!(
                    "version {version} was submitted but did not become visible within {:?}",
                    self.inner.config.visible_timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// Run a queued job to its end. Returns whether it finished (false: skipped, or interrupted
/// by shutdown).
pub(super) fn run_job(inner: &Inner, host: &dyn JobHost, job: &Job) -> bool {
    let spec = {
        let mut slot = job.slot.lock();
        if slot.info.state != JobState::Queued {
            return false; // cancelled while queued
        }
        slot.phase = Phase::Open;
        let info = &mut slot.info;
        info.state = JobState::Running;
        info.attempts += 1;
        info.started_at_ms = Some(now_ms());
        info.finished_at_ms = None;
        info.error = None;
        info.spec.clone()
    };
    let ctx = Ctx { inner, host, job };
    ctx.persist();
    tracing::info!(job = %job.slot.lock().info.id, "job started");
    let outcome = match &spec {
        JobSpec::IngestParquet { paths } => ingest(&ctx, paths),
        JobSpec::Reembed => reembed(&ctx),
        JobSpec::RebuildIndex { index } => rebuild(&ctx, *index),
    };
    let info = {
        let mut slot = job.slot.lock();
        let info = &mut slot.info;
        match outcome {
            Outcome::Interrupted => {
                tracing::info!(job = %info.id, "job interrupted by shutdown; it is resumed at the next start");
                return false;
            }
            Outcome::Done(v) => {
                info.state = JobState::Succeeded;
                info.visible_version = Some(v);
            }
            Outcome::Failed(e) => {
                info.state = JobState::Failed;
                info.error = Some(e);
            }
            Outcome::Cancelled => info.state = JobState::Cancelled,
        }
        info.finished_at_ms = Some(now_ms());
        info.clone().with_rates(now_ms())
    };
    inner.persist(&info);
    match info.state {
        JobState::Failed => tracing::warn!(job = %info.id, error = ?info.error, "job failed"),
        JobState::Queued | JobState::Running | JobState::Succeeded | JobState::Cancelled => tracing::info!(
            job = %info.id,
            state = %info.state,
            rows = info.progress.rows_read,
            rows_per_sec = info.rows_per_sec,
            visible_version = ?info.visible_version,
            "job finished"
        ),
    }
    true
}

/// The files named by `paths`: a file as is, a directory as its `*.parquet` files (not
/// hidden ones) in name order.
fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if !meta.is_dir() {
            files.push(p.clone());
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !name.starts_with('.')
                    && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("parquet"))
                    && f.is_file()
            })
            .collect();
        if found.is_empty() {
            return Err(format!("{}: the directory holds no .parquet files", p.display()));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn ingest(ctx: &Ctx<'_>, paths: &[PathBuf]) -> Outcome {
    let files = match discover(paths) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(e),
    };
    // Every file's schema is checked before anything is submitted: one bad file among good
    // ones fails the job with nothing changed.
    let mut rows_total = 0u64;
    for f in &files {
        match open_workers(f, ctx.inner.config.batch_rows) {
            Ok(b) => rows_total += b.total_rows() as u64,
            Err(e) => return Outcome::Failed(e.to_string()),
        }
    }
    // A resumed job skips what it committed before the restart.
    let committed: HashSet<PathBuf> = ctx.job.slot.lock().info.committed.iter().map(|c| c.path.clone()).collect();
    ctx.update(|info| {
        let done = &info.committed;
        info.progress.files_total = files.len();
        info.progress.files_done = done.len();
        info.progress.rows_total = rows_total;
        info.progress.rows_accepted = done.iter().map(|c| c.rows_accepted).sum();
        info.progress.rows_rejected = done.iter().map(|c| c.rows_rejected).sum();
        info.progress.rows_read = info.progress.rows_accepted + info.progress.rows_rejected;
        let kept: HashSet<String> = done.iter().map(|c| c.path.display().to_string()).collect();
        info.rejections.retain(|r| kept.contains(&r.file));
    });
    let mut last = ctx.job.slot.lock().info.committed.iter().map(|c| c.version).max();
    for (i, file) in files.iter().enumerate() {
        if committed.contains(file) {
            continue;
        }
        let is_last = files[i + 1..].iter().all(|f| committed.contains(f));
        match ingest_file(ctx, file, is_last) {
            Ok(v) => last = Some(v),
            Err(o) => return o,
        }
    }
    match last {
        Some(v) => ctx.wait_visible(v),
        None => Outcome::Failed("no file was ingested".into()),
    }
}

/// A row refused by the reader or the validator.
fn reject(file: &str, row: usize, id: Option<String>, column: &str, reason: String) -> (DeadLetter, Rejection) {
    let source = RowSource { file: file.to_owned(), row: row as u64, job: String::new() };
    let dead = DeadLetter {
        version: 0,
        id: id.clone().unwrap_or_default(),
        field: column.to_owned(),
        reason: reason.clone(),
        source: Some(Box::new(source)),
    };
    (dead, Rejection { file: file.to_owned(), row: row as u64, column: column.to_owned(), id, reason })
}

/// Read, check and stage one file, then submit its accepted rows as one version.
fn ingest_file(ctx: &Ctx<'_>, file: &Path, is_last: bool) -> Result<Version, Outcome> {
    let name = file.display().to_string();
    let job_id = ctx.job.slot.lock().info.id.0.clone();
    let mut reader = open_workers(file, ctx.inner.config.batch_rows).map_err(|e| Outcome::Failed(e.to_string()))?;
    let mut ops = Vec::with_capacity(reader.total_rows());
    let mut dead: Vec<DeadLetter> = Vec::new();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    while let Some(batch) = reader.next_rows() {
        if let Some(o) = ctx.halted() {
            return Err(o);
        }
        let rows = batch.map_err(|e| Outcome::Failed(e.to_string()))?;
        let n = rows.len() as u64;
        let mut samples = Vec::new();
        for r in rows {
            let refused = match r.record {
                Ok(rec) => match check_record(&rec) {
                    None => {
                        ops.push(WorkerOp::Upsert(rec));
                        None
                    }
                    Some((column, reason)) => Some((column.to_owned(), reason)),
                },
                Err(CorpusError::Row { column, message, .. }) => Some((column, message)),
                Err(e) => Some(("row".to_owned(), e.to_string())),
            };
            if let Some((column, reason)) = refused {
                let (mut d, sample) = reject(&name, r.row, r.id, &column, reason);
                if let Some(s) = d.source.as_mut() {
                    s.job.clone_from(&job_id);
                }
                dead.push(d);
                samples.push(sample);
            }
        }
        let batch_rejected = samples.len() as u64;
        accepted += n - batch_rejected;
        rejected += batch_rejected;
        ctx.update(|info| {
            info.progress.rows_read += n;
            info.progress.rows_accepted += n - batch_rejected;
            info.progress.rows_rejected += batch_rejected;
            let room = MAX_REJECTION_SAMPLES.saturating_sub(info.rejections.len());
            info.rejections.extend(samples.into_iter().take(room));
        });
        if !ctx.inner.config.batch_pause.is_zero() {
            std::thread::sleep(ctx.inner.config.batch_pause);
        }
    }
    ctx.begin_submit(is_last)?;
    let submitted = ctx.submit(ops, &format!("{name}: submitting its rows"));
    ctx.end_submit();
    let version = submitted?;
    for d in &mut dead {
        d.version = version;
    }
    ctx.host.dead_letters(dead);
    ctx.update(|info| {
        info.committed.push(CommittedFile {
            path: file.to_path_buf(),
            version,
            rows_accepted: accepted,
            rows_rejected: rejected,
        });
        info.progress.files_done += 1;
    });
    ctx.persist();
    tracing::info!(file = %name, version, accepted, rejected, "job file submitted");
    Ok(version)
}

fn reembed(ctx: &Ctx<'_>) -> Outcome {
    let ids = ctx.host.live_worker_ids();
    let n = ids.len() as u64;
    ctx.update(|info| info.progress.rows_total = n);
    if let Err(o) = ctx.begin_submit(true) {
        return o;
    }
    let ops = ids.into_iter().map(|id| WorkerOp::Refresh { id }).collect();
    let version = match ctx.submit(ops, "submitting the refreshes") {
        Ok(v) => v,
        Err(o) => return o,
    };
    ctx.update(|info| {
        info.progress.rows_read = n;
        info.progress.rows_accepted = n;
    });
    ctx.wait_visible(version)
}

fn rebuild(ctx: &Ctx<'_>, index: IndexName) -> Outcome {
    let collection = ctx.host.collection(index);
    let live = collection.stats().live as u64;
    ctx.update(|info| info.progress.rows_total = live);
    if let Err(o) = ctx.begin_submit(true) {
        return o;
    }
    let ticket = collection.request_rebuild();
    let deadline = Instant::now() + ctx.inner.config.visible_timeout;
    while !collection.rebuilt(ticket) {
        if ctx.inner.stop.load(Ordering::Acquire) {
            return Outcome::Interrupted;
        }
        if Instant::now() >= deadline {
            return Outcome::Failed(format!("the {} index was not rebuilt in time", index.as_str()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    ctx.update(|info| {
        info.progress.rows_read = live;
        info.progress.rows_accepted = live;
    });
    Outcome::Done(ctx.host.visible())
}
