//! Batch jobs beside the stream: a parquet job and live writes against the sequential model,
//! all-or-nothing visibility of a file, cancel, bad input, restarts, re-embed and rebuild.

mod common;
use common::write_edited;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, StringArray};
use arrow_schema::{DataType, Field};
use dataflow::commands::{Version, WorkerOp};
use dataflow::corpus::{generate_workers, write_workers};
use dataflow::embed::hashing::HashingEmbedder;
use dataflow::embed::Embedder;
use dataflow::engine::durable::DurabilityConfig;
use dataflow::engine::{Engine, EngineConfig, Filters, SearchQuery};
use dataflow::jobs::{IndexName, JobError, JobInfo, JobSpec, JobState, JobsConfig};
use dataflow::record::WorkerRecord;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(60);
const T0: i64 = 1_800_000_000_000;

fn config(jobs: JobsConfig) -> EngineConfig {
    let mut cfg = EngineConfig { threads: 2, dim: 128, jobs, ..EngineConfig::default() };
    cfg.workers_index.hnsw_threshold = 100_000;
    cfg.playbook_index.hnsw_threshold = 8;
    cfg
}

fn engine(jobs: JobsConfig) -> Engine {
    Engine::start(config(jobs)).unwrap()
}

fn slow(batch_rows: usize, pause_ms: u64) -> JobsConfig {
    JobsConfig { batch_rows, batch_pause: Duration::from_millis(pause_ms), ..JobsConfig::default() }
}

fn ingest(path: &Path) -> JobSpec {
    JobSpec::IngestParquet { paths: vec![path.to_path_buf()] }
}

fn load(e: &Engine, workers: Vec<WorkerRecord>) -> Version {
    let v = e.upsert_workers(workers).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    v
}

fn sorted_workers(e: &Engine) -> Vec<WorkerRecord> {
    let mut out: Vec<WorkerRecord> = e.all_workers().iter().map(|w| WorkerRecord::clone(w)).collect();
    out.sort();
    out
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn finished(e: &Engine, id: &str) -> JobInfo {
    let info = e.jobs().wait(id, WAIT).unwrap();
    assert!(info.state.is_terminal(), "job did not finish: {info:?}");
    info
}

/// The sequential model: apply every version's ops in version order, newest stamp wins,
/// ties to the later write, a delete leaves its stamp.
fn model(mut versions: Vec<(Version, Vec<WorkerOp>)>) -> Vec<WorkerRecord> {
    versions.sort_by_key(|(v, _)| *v);
    let mut state: HashMap<String, (i64, Option<WorkerRecord>)> = HashMap::new();
    for (_, ops) in versions {
        for op in ops {
            let stamp = op.stamp().unwrap();
            let id = op.id().0.clone();
            if state.get(&id).is_some_and(|(s, _)| stamp < *s) {
                continue;
            }
            let value = match op {
                WorkerOp::Upsert(r) => Some(r),
                WorkerOp::Delete { .. } | WorkerOp::Refresh { .. } => None,
            };
            state.insert(id, (stamp, value));
        }
    }
    let mut out: Vec<WorkerRecord> = state.into_values().filter_map(|(_, r)| r).collect();
    out.sort();
    out
}

#[test]
fn a_parquet_job_and_a_live_stream_end_in_the_sequential_models_state() {
    let e = Arc::new(engine(slow(200, 15)));
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut base = generate_workers(1_200, 1);
    base.iter_mut().for_each(|w| w.updated_at = T0 + 500);
    let v0 = load(&e, base.clone());
    // The file overlaps the base and the live stream: some of its rows are newer than what
    // is there, some older; live writes are older or newer than its rows.
    let mut file_rows = generate_workers(1_600, 2);
    file_rows.iter_mut().for_each(|w| w.updated_at = T0 + rng.random_range(0..1_000));
    let path = dir.path().join("drop.parquet");
    write_workers(&path, &file_rows).unwrap();

    let job = e.jobs().submit(ingest(&path)).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let live = {
        let (e, done) = (Arc::clone(&e), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(11);
            let pool = generate_workers(1_800, 3);
            let mut sent = Vec::new();
            let mut after = 0;
            while after < 100 {
                let i = rng.random_range(0..pool.len());
                let op = if rng.random_bool(0.2) {
                    WorkerOp::Delete { id: pool[i].id.clone(), at: T0 + rng.random_range(0..1_000) }
                } else {
                    let mut w = pool[i].clone();
                    w.updated_at = T0 + rng.random_range(0..1_000);
                    WorkerOp::Upsert(w)
                };
                let v = e.submit_ops(vec![op.clone()]).unwrap();
                sent.push((v, vec![op]));
                if done.load(Ordering::Acquire) {
                    after += 1;
                }
                std::thread::sleep(Duration::from_micros(300));
            }
            sent
        })
    };
    let info = finished(&e, &job.id.0);
    done.store(true, Ordering::Release);
    let sent = live.join().unwrap();
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    assert_eq!(info.progress.rows_read, 1_600);
    assert_eq!(info.progress.rows_accepted, 1_600);
    assert_eq!(info.committed.len(), 1);
    let vf = info.committed[0].version;
    assert_eq!(info.visible_version, Some(vf));
    assert!(
        sent.iter().any(|(v, _)| *v < vf) && sent.iter().any(|(v, _)| *v > vf),
        "the live stream must straddle the file"
    );
    let last = sent.iter().map(|(v, _)| *v).max().unwrap();
    assert!(e.wait_visible_blocking(last, WAIT));

    let mut versions = sent;
    versions.push((v0, base.into_iter().map(WorkerOp::Upsert).collect()));
    versions.push((vf, file_rows.into_iter().map(WorkerOp::Upsert).collect()));
    let want = model(versions);
    let got = sorted_workers(&e);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the engine's workers differ from the sequential model");
    let index: HashSet<String> = e.workers_index().ids();
    let ids: HashSet<String> = want.iter().map(|w| w.id.0.clone()).collect();
    assert_eq!(index, ids, "the index holds exactly the model's live workers");
}

#[test]
fn a_reader_polling_during_jobs_never_sees_part_of_a_file() {
    const N: usize = 600;
    let e = Arc::new(engine(JobsConfig { batch_rows: 64, ..JobsConfig::default() }));
    let dir = tempfile::tempdir().unwrap();
    let mut base = generate_workers(N, 5);
    for w in &mut base {
        w.shift = "day".into();
        w.name = "round 0".into();
        w.updated_at = T0;
    }
    load(&e, base.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (e, stop) = (Arc::clone(&e), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut polls = 0u64;
            let mut nights_seen = HashSet::new();
            while !stop.load(Ordering::Acquire) {
                // The record map: every worker carries the same round's name.
                let names: HashSet<String> = e.all_workers().iter().map(|w| w.name.clone()).collect();
                assert_eq!(names.len(), 1, "a reader saw part of a file in the records: {names:?}");
                // The index: the night-shift filter matches nobody or everybody, and the hits'
                // records are of one round (index and records at one version).
                let q = SearchQuery {
                    text: "warehouse forklift operator".into(),
                    k: 1_000,
                    filters: Filters { shift: Some("night".into()), ..Filters::default() },
                    ..SearchQuery::default()
                };
                let hits = e.search(&q).unwrap().hits;
                assert!(hits.is_empty() || hits.len() == N, "a reader saw part of a file in the index: {}", hits.len());
                let rounds: HashSet<&str> = hits.iter().map(|h| h.worker.name.as_str()).collect();
                assert!(rounds.len() <= 1, "index and records of different versions: {rounds:?}");
                assert!(hits.iter().all(|h| h.worker.shift == "night"));
                nights_seen.insert(hits.len());
                polls += 1;
            }
            (polls, nights_seen)
        })
    };
    for round in 1..=8i64 {
        let rows: Vec<WorkerRecord> = base
            .iter()
            .map(|w| {
                let mut w = w.clone();
                w.shift = if round % 2 == 1 { "night" } else { "day" }.into();
                w.name = format!("round {round}");
                w.updated_at = T0 + round;
                w
            })
            .collect();
        let path = dir.path().join(format!("round-{round}.parquet"));
        write_workers(&path, &rows).unwrap();
        let job = e.jobs().submit(ingest(&path)).unwrap();
        let info = finished(&e, &job.id.0);
        assert_eq!(info.state, JobState::Succeeded, "{info:?}");
        assert_eq!(e.worker(base[0].id.as_str()).unwrap().name, format!("round {round}"));
    }
    stop.store(true, Ordering::Release);
    let (polls, nights_seen) = reader.join().unwrap();
    assert!(polls > 8, "the reader polled only {polls} times");
    assert!(nights_seen.contains(&0) && nights_seen.contains(&N), "both states were observed: {nights_seen:?}");
}

#[test]
fn cancel_leaves_the_index_as_before_the_job() {
    let e = engine(slow(50, 20));
    let dir = tempfile::tempdir().unwrap();
    let mut base = generate_workers(300, 9);
    base.iter_mut().for_each(|w| w.updated_at = T0);
    load(&e, base.clone());
    let before = sorted_workers(&e);
    let before_ids = e.workers_index().ids();
    let mut rows = generate_workers(2_000, 10);
    rows.iter_mut().for_each(|w| w.updated_at = T0 + 1);
    let path = dir.path().join("big.parquet");
    write_workers(&path, &rows).unwrap();

    let running = e.jobs().submit(ingest(&path)).unwrap();
    let queued = e.jobs().submit(ingest(&path)).unwrap();
    wait_until("the job to read rows", || e.jobs().get(&running.id.0).unwrap().progress.rows_read > 0);
    assert_eq!(e.jobs().get(&queued.id.0).unwrap().state, JobState::Queued, "one job per index at a time");

    let q = e.jobs().cancel(&queued.id.0).unwrap();
    assert_eq!(q.state, JobState::Cancelled);
    assert_eq!(q.started_at_ms, None, "a cancelled queued job never runs");
    let r = e.jobs().cancel(&running.id.0).unwrap();
    assert_eq!(r.state, JobState::Cancelled, "{r:?}");
    assert!(r.cancel_requested);
    assert!(r.progress.rows_read < 2_000, "cancelled mid-file");
    assert!(r.committed.is_empty() && r.visible_version.is_none());

    // Nothing of the file is visible, now or later.
    let probe = e.upsert_workers(vec![]).unwrap();
    assert!(e.wait_visible_blocking(probe, WAIT));
    assert_eq!(sorted_workers(&e), before);
    assert_eq!(e.workers_index().ids(), before_ids);
    assert!(e.dead_letters().is_empty());
    assert!(matches!(e.jobs().cancel(&running.id.0), Err(JobError::Finished { state: JobState::Cancelled, .. })));
    assert!(matches!(e.jobs().cancel("job-999999"), Err(JobError::NotFound { .. })));

    // A finished job can't be cancelled; the queue goes on after a cancel.
    let small = dir.path().join("small.parquet");
    write_workers(&small, &rows[1_990..]).unwrap();
    let ok = e.jobs().submit(ingest(&small)).unwrap();
    let info = finished(&e, &ok.id.0);
    assert_eq!(info.state, JobState::Succeeded);
    assert!(matches!(e.jobs().cancel(&ok.id.0), Err(JobError::Finished { state: JobState::Succeeded, .. })));
    assert_eq!(e.live_workers(), 310);
}

fn column(name: &str) -> usize {
    dataflow::corpus::worker_schema().index_of(name).unwrap()
}

/// Submit `paths` and expect the job to fail with nothing changed; returns its error.
fn fails_with_nothing_changed(e: &Engine, paths: Vec<PathBuf>) -> String {
    let before = sorted_workers(e);
    let job = e.jobs().submit(JobSpec::IngestParquet { paths }).unwrap();
    let info = finished(e, &job.id.0);
    assert_eq!(info.state, JobState::Failed, "{info:?}");
    assert!(info.committed.is_empty());
    let probe = e.upsert_workers(vec![]).unwrap();
    assert!(e.wait_visible_blocking(probe, WAIT));
    assert_eq!(sorted_workers(e), before, "a failed job changed what is visible");
    info.error.unwrap()
}

#[test]
fn bad_files_fail_or_reject_rows_naming_file_row_and_column() {
    let e = engine(JobsConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let mut base = generate_workers(100, 3);
    base.iter_mut().for_each(|w| w.updated_at = T0);
    load(&e, base);
    // Two sets of 50 new ids.
    let mut more = generate_workers(200, 4);
    more.iter_mut().for_each(|w| w.updated_at = T0 + 1);
    let extra: Vec<WorkerRecord> = more.split_off(150);
    let fresh: Vec<WorkerRecord> = more.split_off(100);

    // A missing file is refused at submission, naming it.
    let missing = dir.path().join("nowhere.parquet");
    match e.jobs().submit(ingest(&missing)) {
        Err(JobError::InvalidSpec { field: "path", reason }) => assert!(reason.contains("nowhere.parquet"), "{reason}"),
        other => panic!("expected an invalid path, got {other:?}"),
    }
    // Not parquet.
    let text = dir.path().join("notes.parquet");
    std::fs::write(&text, "id,name\nw-1,Ann\n").unwrap();
    let err = fails_with_nothing_changed(&e, vec![text.clone()]);
    assert!(err.contains("notes.parquet") && err.contains("not a parquet file"), "{err}");
    // A missing column.
    let no_role = dir.path().join("no_role.parquet");
    write_edited(&no_role, &fresh, |fields, cols| {
        let i = column("role");
        fields.remove(i);
        cols.remove(i);
    });
    let err = fails_with_nothing_changed(&e, vec![no_role]);
    assert!(err.contains("no_role.parquet") && err.contains("missing required column \"role\""), "{err}");
    // A mistyped column.
    let int_city = dir.path().join("int_city.parquet");
    write_edited(&int_city, &fresh, |fields, cols| {
        let i = column("city");
        fields[i] = Field::new("city", DataType::Int64, false);
        cols[i] = Arc::new(Int64Array::from_iter_values(0..50));
    });
    let err = fails_with_nothing_changed(&e, vec![int_city.clone()]);
    assert!(err.contains("int_city.parquet") && err.contains("column \"city\": expected Utf8, found Int64"), "{err}");
    // A directory with one bad file among good ones: nothing of the good ones is applied.
    let mixed = dir.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    write_workers(&mixed.join("a.parquet"), &fresh[..25]).unwrap();
    std::fs::copy(&int_city, mixed.join("b.parquet")).unwrap();
    write_workers(&mixed.join("c.parquet"), &fresh[25..]).unwrap();
    std::fs::write(mixed.join("README.txt"), "not a data file, ignored").unwrap();
    let err = fails_with_nothing_changed(&e, vec![mixed.clone()]);
    assert!(err.contains("b.parquet") && err.contains("\"city\""), "{err}");
    // An empty directory.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = fails_with_nothing_changed(&e, vec![empty]);
    assert!(err.contains("no .parquet files"), "{err}");

    // Bad rows are rejected on their own: a null in a required column, a value the
    // validator refuses; the rest of the file is applied.
    let rows = dir.path().join("rows.parquet");
    write_edited(&rows, &extra, |fields, cols| {
        let i = column("name");
        fields[i] = Field::new("name", DataType::Utf8, true);
        let names: Vec<Option<String>> =
            extra.iter().enumerate().map(|(r, w)| (r != 3).then(|| w.name.clone())).collect();
        cols[i] = Arc::new(StringArray::from(names));
        let s = column("state");
        let states: Vec<String> =
            extra.iter().enumerate().map(|(r, w)| if r == 7 { "Texas".into() } else { w.state.clone() }).collect();
        cols[s] = Arc::new(StringArray::from(states));
    });
    std::fs::remove_file(mixed.join("b.parquet")).unwrap();
    std::fs::copy(&rows, mixed.join("b.parquet")).unwrap();
    let job = e.jobs().submit(JobSpec::IngestParquet { paths: vec![mixed.clone()] }).unwrap();
    let info = finished(&e, &job.id.0);
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    assert_eq!(info.progress.files_total, 3);
    assert_eq!(info.committed.len(), 3);
    assert_eq!(info.progress.rows_read, 25 + 50 + 25);
    assert_eq!(info.progress.rows_rejected, 2);
    let by_row: HashMap<u64, _> = info.rejections.iter().map(|r| (r.row, r)).collect();
    assert!(by_row[&3].file.ends_with("b.parquet") && by_row[&3].column == "name", "{:?}", by_row[&3]);
    assert!(by_row[&3].reason.contains("null"), "{:?}", by_row[&3]);
    assert_eq!(by_row[&7].column, "state");
    assert_eq!(by_row[&7].id.as_deref(), Some(extra[7].id.as_str()));
    let dead = e.dead_letters();
    assert_eq!(dead.len(), 2);
    for d in &dead {
        let src = d.source.as_ref().expect("a job's dead letter names its source");
        assert!(src.file.ends_with("b.parquet") && [3, 7].contains(&src.row) && src.job == job.id.0, "{d:?}");
        assert_eq!(d.version, info.committed[1].version);
    }
    assert_eq!(e.live_workers(), 100 + 50 + 48, "the good rows of all three files are live");
    assert!(e.worker(extra[3].id.as_str()).is_none() && e.worker(extra[7].id.as_str()).is_none());
    // Each file is its own version, in name order.
    let versions: Vec<Version> = info.committed.iter().map(|c| c.version).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(info.visible_version, versions.last().copied());
}

#[test]
fn jobs_survive_a_restart_resumed_or_failed_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let durable = |jobs: JobsConfig| {
        let mut cfg = config(jobs);
        cfg.durability = Some(DurabilityConfig {
            snapshot_interval: None,
            snapshot_every_writes: None,
            ..DurabilityConfig::new(&data)
        });
        Engine::start(cfg).unwrap()
    };
    let mut rows = generate_workers(1_000, 12);
    rows.iter_mut().for_each(|w| w.updated_at = T0);
    let first = dir.path().join("first.parquet");
    let second = dir.path().join("second.parquet");
    write_workers(&first, &rows[..400]).unwrap();
    write_workers(&second, &rows[400..]).unwrap();

    // A two-file job interrupted in its second file: resumed, it skips the first.
    let e = durable(slow(50, 30));
    let job = e.jobs().submit(JobSpec::IngestParquet { paths: vec![first.clone(), second.clone()] }).unwrap();
    let queued = e.jobs().submit(JobSpec::Reembed).unwrap();
    wait_until("the first file to be committed", || e.jobs().get(&job.id.0).unwrap().committed.len() == 1);
    let committed_version = e.jobs().get(&job.id.0).unwrap().committed[0].version;
    e.crash();
    drop(e);
    assert!(data.join("jobs").join(format!("{}.json", job.id.0)).exists());

    let e = durable(JobsConfig::default());
    let info = finished(&e, &job.id.0);
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    assert_eq!(info.attempts, 2);
    assert_eq!(info.committed.len(), 2);
    assert_eq!(info.committed[0].version, committed_version, "the committed file was not read again");
    assert_eq!(e.live_workers(), 1_000);
    let re = finished(&e, &queued.id.0);
    assert_eq!(re.state, JobState::Succeeded, "the queued job ran after the restart: {re:?}");
    e.shutdown();
    drop(e);

    // A job interrupted more often than allowed is marked failed, with the reason.
    let e = durable(slow(20, 50));
    let job = e.jobs().submit(ingest(&first)).unwrap();
    wait_until("the job to run", || e.jobs().get(&job.id.0).unwrap().progress.rows_read > 0);
    e.crash();
    drop(e);
    let e = durable(JobsConfig { max_attempts: 1, ..JobsConfig::default() });
    let info = e.jobs().get(&job.id.0).unwrap();
    assert_eq!(info.state, JobState::Failed, "{info:?}");
    assert!(info.error.as_deref().unwrap().contains("interrupted by a restart"), "{info:?}");
    // Ids continue after the restart.
    let next = e.jobs().submit(JobSpec::Reembed).unwrap();
    assert!(next.id > job.id, "{} after {}", next.id, job.id);
    assert_eq!(e.jobs().list().len(), 4);
}

/// The hashing embedder, or its vectors reversed once `flip` is set: a stand-in for a new
/// embedder model.
struct Flippable {
    inner: HashingEmbedder,
    flip: AtomicBool,
}

impl Embedder for Flippable {
    fn name(&self) -> &str {
        "flippable"
    }

    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = self.inner.embed(text);
        if self.flip.load(Ordering::Acquire) {
            v.reverse();
        }
        v
    }
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

#[test]
fn reembed_runs_every_live_worker_through_the_embedder_again() {
    let embedder = Arc::new(Flippable { inner: HashingEmbedder::new(128).unwrap(), flip: AtomicBool::new(false) });
    let mut cfg = config(JobsConfig::default());
    cfg.embedder = Some(embedder.clone());
    let e = Engine::start(cfg).unwrap();
    let mut workers = generate_workers(400, 21);
    workers.iter_mut().for_each(|w| w.updated_at = T0);
    load(&e, workers.clone());
    let deleted = workers[0].id.clone();
    let v = e.delete_worker(deleted.as_str(), T0 + 1).unwrap();
    assert!(e.wait_visible_blocking(v, WAIT));
    let before = sorted_workers(&e);

    embedder.flip.store(true, Ordering::Release);
    let w = &workers[5];
    let new = normalized(embedder.embed(&w.embedding_text()));
    assert!(!close(&e.workers_index().vector(w.id.as_str()).unwrap(), &new), "still the old vectors");
    let job = e.jobs().submit(JobSpec::Reembed).unwrap();
    let info = finished(&e, &job.id.0);
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    assert_eq!(info.progress.rows_total, 399);
    assert_eq!(info.progress.rows_accepted, 399);
    for w in &workers[1..] {
        let stored = e.workers_index().vector(w.id.as_str()).unwrap();
        assert!(close(&stored, &normalized(embedder.embed(&w.embedding_text()))), "{} was not re-embedded", w.id);
    }
    assert_eq!(sorted_workers(&e), before, "re-embedding changes no record");
    assert!(e.worker(deleted.as_str()).is_none(), "a refresh does not resurrect a deleted worker");
    assert!(!e.workers_index().contains(deleted.as_str()));
}

#[test]
fn rebuild_index_rebuilds_the_named_index_while_searches_go_on() {
    let mut cfg = config(JobsConfig::default());
    cfg.workers_index.hnsw_threshold = 200;
    let e = Engine::start(cfg).unwrap();
    load(&e, generate_workers(600, 31));
    assert!(e.wait_indexed(WAIT));
    let before = e.stats().workers_index.rebuilds;
    let job = e.jobs().submit(JobSpec::RebuildIndex { index: IndexName::Workers }).unwrap();
    let q = SearchQuery { text: "forklift operator".into(), k: 5, ..SearchQuery::default() };
    while !e.jobs().get(&job.id.0).unwrap().state.is_terminal() {
        assert_eq!(e.search(&q).unwrap().hits.len(), 5);
    }
    let info = finished(&e, &job.id.0);
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    assert_eq!(info.progress.rows_total, 600);
    assert!(e.stats().workers_index.rebuilds > before, "no rebuild happened");
    let pb = e.jobs().submit(JobSpec::RebuildIndex { index: IndexName::PlaybookMemory }).unwrap();
    assert_eq!(finished(&e, &pb.id.0).state, JobState::Succeeded);
}
