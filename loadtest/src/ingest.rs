//! Concurrent ingest: Poisson-timed worker upserts and deletes, each probed for freshness.
//!
//! Writes are a mix of updates to base-corpus workers (changed rate, reliability,
//! experience; never role or location, so scenario markets stay stable), new workers
//! with ids `w-9xxxxxx`, and ~10% deletes. Deletes only touch workers this ingester
//! created, so scenario checks against the base corpus stay meaningful.
//!
//! Freshness: after a write returns `{version}`, the prober searches with
//! `min_version = version`, the worker's own text and filters on its role, city,
//! state and shift, until the id appears with its new name (upsert: every upsert
//! renames, so updates of existing workers are observable too) or disappears (delete). The time
//! from write-sent to that response is the freshness; not visible within
//! [`IngestPlan::visibility_timeout`] of the send is a failure.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use crate::arrival::ArrivalSpec;
use crate::client::{ApiClient, Call};
use crate::dates::now_unix_ms;
use crate::executor::Stop;
use crate::failure::FailureReason;
use crate::queries::WorkerDoc;
use crate::report::{Collector, FreshnessRecord, WriteOp};
use crate::scenarios::{mix_seed, RunClock};
use crate::wire::{Filters, SearchRequest, VersionResponse};

/// Fraction of writes that are deletes (when the ingester has workers to delete).
pub const DELETE_FRACTION: f64 = 0.10;
/// Default fraction of upserts that create new workers (the rest update base workers;
/// `--ingest-new-fraction`).
pub const NEW_FRACTION: f64 = 0.5;
/// First numeric suffix of ingester-created ids (`w-9000000`).
const FIRST_NEW_ID: u64 = 9_000_000;
/// Seed stream of the ingest schedule.
const INGEST_STREAM: u64 = 0x1A6E_5700;

/// Ingest settings.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestPlan {
    /// Mean writes per second (Poisson).
    pub rate: f64,
    /// How long to write.
    pub duration: Duration,
    /// Seed.
    pub seed: u64,
    /// At most this many writes (with their probes) in flight; more are recorded as dropped.
    pub max_in_flight: usize,
    /// A write not visible this long after it was sent is a freshness failure.
    pub visibility_timeout: Duration,
    /// Results requested by the probe search.
    pub probe_k: usize,
    /// Pause between probe searches.
    pub probe_interval: Duration,
    /// Fraction of upserts that create new workers (the rest update base workers).
    pub new_fraction: f64,
}

impl IngestPlan {
    /// Defaults for `rate` writes/s over `duration`: 5 s visibility; k=20 probes (the
    /// written worker ranks first among the few sharing its role, city, state and shift;
    /// k=50 cost 2–3% of the box under load in hits built, serialised and parsed); and room
    /// for every write of a visibility window in flight (so writes are dropped only when
    /// the target is slower than the freshness deadline allows anyway).
    pub fn new(rate: f64, duration: Duration, seed: u64) -> Self {
        let visibility = Duration::from_secs(5);
        let window = (rate.max(0.0) * visibility.as_secs_f64() * 1.2).ceil();
        Self {
            rate,
            duration,
            seed,
            max_in_flight: if window.is_finite() { (window as usize).clamp(64, 100_000) } else { 64 },
            visibility_timeout: visibility,
            probe_k: 20,
            probe_interval: Duration::from_millis(5),
            new_fraction: NEW_FRACTION,
        }
    }
}

/// Shared state of one ingester.
struct Ingester {
    client: ApiClient,
    base: Arc<Vec<WorkerDoc>>,
    plan: IngestPlan,
    clock: RunClock,
    sink: Arc<Collector>,
    /// Workers this ingester created and has not deleted (acked writes only).
    live: Mutex<Vec<WorkerDoc>>,
    next_id: AtomicU64,
    last_updated_at: AtomicI64,
    /// Ids with a write being made or probed. An update never picks one: a second write to
    /// the same worker would win (newest `updated_at`), and the first write's probe would
    /// wait in vain for a name the server rightly replaced.
    in_flight: Mutex<HashSet<String>>,
}

const FIRST: [&str; 8] = ["Ana", "Luis", "Mei", "Tomas", "Keisha", "Omar", "Priya", "Jack"];
const LAST: [&str; 8] = ["Ruiz", "Chen", "Okafor", "Novak", "Silva", "Haddad", "Kowalski", "Park"];

impl Ingester {
    /// A strictly increasing `updated_at` above `floor` (the stored record's), so every
    /// write wins last-writer-wins even within one millisecond or against a corpus
    /// stamped in the future.
    fn updated_at(&self, floor: i64) -> i64 {
        let now = now_unix_ms().max(floor.saturating_add(1));
        let bump = |prev: i64| now.max(prev + 1);
        match self.last_updated_at.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| Some(bump(p))) {
            Ok(prev) | Err(prev) => bump(prev),
        }
    }

    /// Chooses the next write: delete one of ours, create a new worker, or update a base one.
    fn next_write(&self, rng: &mut StdRng) -> Option<(WriteOp, WorkerDoc)> {
        if rng.random::<f64>() < DELETE_FRACTION {
            let mut live = self.live.lock();
            if !live.is_empty() {
                let i = rng.random_range(0..live.len());
                return Some((WriteOp::Delete, live.swap_remove(i)));
            }
        }
        let drawn = rng.random_range(0..self.base.len().max(1));
        // The next worker from the drawn one with no write in flight (the drawn one in all
        // but a tiny corpus).
        let busy = self.in_flight.lock();
        let n = self.base.len();
        let pick = (0..n).map(|k| (drawn + k) % n).find(|&i| !busy.contains(&self.base[i].id)).unwrap_or(drawn);
        drop(busy);
        let template = self.base.get(pick)?;
        let mut w = template.clone();
        let (first, last) = (FIRST[rng.random_range(0..FIRST.len())], LAST[rng.random_range(0..LAST.len())]);
        // A new name on every upsert: the probe waits for the hit to carry it, so an
        // update of an existing worker is only "visible" once search serves the new row.
        w.name = format!("{first} {last} {}", rng.random_range(1..1000u32));
        if rng.random::<f64>() < self.plan.new_fraction {
            let n = self.next_id.fetch_add(1, Ordering::Relaxed);
            w.id = format!("w-{n:07}");
            w.email = format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), n);
            w.phone = format!("555-{:03}-{:04}", rng.random_range(100..1000u32), n % 10_000);
        } else {
            w.hourly_rate_cents = rng.random_range(1500..6000u32);
            w.reliability_milli = rng.random_range(500..=1000u32);
            w.years_experience = w.years_experience.saturating_add(1);
        }
        w.updated_at = Some(self.updated_at(template.updated_at.unwrap_or(0)));
        Some((WriteOp::Upsert, w))
    }

    /// Performs one write and probes until it is visible; returns its record.
    async fn write_and_probe(&self, op: WriteOp, doc: WorkerDoc) -> FreshnessRecord {
        let call: Call<VersionResponse> = match op {
            WriteOp::Upsert => self.client.upsert_worker(&doc).await,
            WriteOp::Delete => self.client.delete_worker(&doc.id).await,
        };
        let mut rec = FreshnessRecord {
            id: doc.id.clone(),
            op,
            sent_ns: self.clock.ns(call.sent),
            acked_ns: None,
            visible_ns: None,
            version: None,
            ok: false,
            failure: None,
        };
        let version = match call.result {
            Ok(v) => v.version,
            Err(e) => {
                rec.failure = Some(e.reason());
                if op == WriteOp::Delete {
                    // Not deleted after all: keep it deletable.
                    self.live.lock().push(doc);
                }
                return rec;
            }
        };
        rec.acked_ns = Some(self.clock.ns(call.end));
        rec.version = Some(version);
        let deadline = call.sent + self.plan.visibility_timeout;
        match self.probe(&doc, op, version, deadline).await {
            Some(visible) => {
                rec.visible_ns = Some(self.clock.ns(visible));
                rec.ok = true;
            }
            None => rec.failure = Some(FailureReason::NotVisible),
        }
        // Only a visible worker is deletable: the server 404s deletes of ids it does not
        // serve yet, which would count a harness race as a failed write.
        if rec.ok && op == WriteOp::Upsert && doc.id.starts_with(crate::queries::INGEST_ID_PREFIX) {
            self.live.lock().push(doc);
        }
        rec
    }

    /// Searches until the write shows; the instant of the first reflecting response.
    async fn probe(&self, doc: &WorkerDoc, op: WriteOp, version: u64, deadline: Instant) -> Option<Instant> {
        let mut req = SearchRequest::plain(doc.probe_text(), self.plan.probe_k);
        req.filters = Filters {
            city: Some(doc.city.clone()),
            state: Some(doc.state.clone()),
            role: Some(doc.role.clone()),
            shift: Some(doc.shift.clone()).filter(|s| !s.is_empty()),
        };
        req.min_version = Some(version);
        let want_present = op == WriteOp::Upsert;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if let Ok(call) = timeout(left, self.client.search(&req)).await {
                if let Ok(resp) = &call.result {
                    let present = resp.results.iter().any(|h| h.id == doc.id && (!want_present || h.name == doc.name));
                    if present == want_present {
                        return (call.end <= deadline).then_some(call.end);
                    }
                }
            }
            sleep(self.plan.probe_interval).await;
        }
    }
}

/// One ingester's work, apart from the HTTP client it writes with.
#[derive(Debug)]
pub struct IngestJob {
    /// The base corpus (workers to update; their markets for new workers).
    pub base: Arc<Vec<WorkerDoc>>,
    /// Rate, duration and probing.
    pub plan: IngestPlan,
    /// The run's clock.
    pub clock: RunClock,
    /// Where freshness rows go.
    pub sink: Arc<Collector>,
    /// Stops writing early.
    pub stop: Stop,
    /// The client's per-request timeout (it bounds the drain at the end).
    pub request_timeout: Duration,
}

/// [`run`] on a thread of its own (`lakehouse-ingest`), with a single-threaded runtime and an
/// HTTP client, so connections too, of its own; resolves to what [`run`] returns.
///
/// The scenarios' tasks share their runtime's threads, and an embedded server shares the
/// cores. Run there, the ingester's timers, write acks and probe answers would wait in that
/// runtime's queue behind the scenario steps of a burst, and the harness's own backlog
/// would count as freshness (on this project's machine it was not measurable, see
/// `docs/BENCHMARKS.md`, session 14). A thread that mostly sleeps is run soon after it
/// wakes. If the thread or its runtime cannot start, the ingester runs on the caller's
/// runtime.
pub fn spawn_dedicated(url: &str, job: IngestJob) -> impl std::future::Future<Output = u64> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let timeout = job.request_timeout;
    let job = Arc::new(Mutex::new(Some(job)));
    let (take, thread_url) = (job.clone(), url.to_owned());
    // A thread that cannot start drops `tx` unsent; so does one whose runtime cannot start,
    // and the job is then still here to run.
    let started = std::thread::Builder::new().name("lakehouse-ingest".into()).spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return tracing::warn!(error = %e, "no runtime for the ingester; it shares the scenarios'"),
        };
        if let Some(job) = take.lock().take() {
            let _ = tx.send(runtime.block_on(run(ApiClient::new(&thread_url, timeout), job)));
        }
    });
    if let Err(e) = &started {
        tracing::warn!(error = %e, "no thread for the ingester; it shares the scenarios'");
    }
    let url = url.to_owned();
    async move {
        if let Ok(aborted) = rx.await {
            return aborted;
        }
        let Some(job) = job.lock().take() else {
            return 0; // it started and did not finish (a panic, already reported)
        };
        run(ApiClient::new(&url, timeout), job).await
    }
}

/// Streams writes at `plan.rate`/s until the duration or `stop`, then waits for the
/// in-flight probes (bounded by the client timeout plus the visibility timeout).
/// Returns the number of writes aborted at the drain deadline.
pub async fn run(client: ApiClient, job: IngestJob) -> u64 {
    let IngestJob { base, plan, clock, sink, stop, request_timeout } = job;
    if plan.rate <= 0.0 || base.is_empty() {
        return 0;
    }
    let ingester = Arc::new(Ingester {
        client,
        base,
        plan: plan.clone(),
        clock,
        sink,
        live: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(FIRST_NEW_ID),
        last_updated_at: AtomicI64::new(0),
        in_flight: Mutex::new(HashSet::new()),
    });
    let mut rng = StdRng::seed_from_u64(mix_seed(plan.seed, INGEST_STREAM));
    let schedule = ArrivalSpec::Poisson { rate: plan.rate }.schedule(mix_seed(plan.seed, INGEST_STREAM + 1));
    let mut tasks = JoinSet::new();
    let spawned = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    for arrival in schedule {
        if arrival.offset >= plan.duration || stop.is_set() {
            break;
        }
        let at = clock.start + arrival.offset;
        tokio::select! {
            biased;
            () = stop.wait() => break,
            () = sleep_until(at) => {}
        }
        let Some((op, doc)) = ingester.next_write(&mut rng) else {
            break;
        };
        ingester.in_flight.lock().insert(doc.id.clone());
        if tasks.len() >= plan.max_in_flight {
            ingester.in_flight.lock().remove(&doc.id);
            ingester.sink.push_freshness(FreshnessRecord {
                id: doc.id.clone(),
                op,
                sent_ns: clock.ns(at),
                acked_ns: None,
                visible_ns: None,
                version: None,
                ok: false,
                failure: Some(FailureReason::Dropped),
            });
            if op == WriteOp::Delete {
                ingester.live.lock().push(doc);
            }
            continue;
        }
        spawned.fetch_add(1, Ordering::Relaxed);
        let (ing, finished) = (ingester.clone(), finished.clone());
        tasks.spawn(async move {
            let id = doc.id.clone();
            let rec = ing.write_and_probe(op, doc).await;
            ing.in_flight.lock().remove(&id);
            ing.sink.push_freshness(rec);
            finished.fetch_add(1, Ordering::Relaxed);
        });
        while tasks.try_join_next().is_some() {}
    }
    let deadline = Instant::now() + request_timeout + plan.visibility_timeout;
    loop {
        tokio::select! {
            joined = tasks.join_next() => if joined.is_none() { break },
            () = sleep_until(deadline) => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break;
            }
        }
    }
    spawned.load(Ordering::Relaxed).saturating_sub(finished.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> WorkerDoc {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": "Ana Ruiz", "role": "welder", "city": "Austin", "state": "TX"
        }))
        .expect("doc")
    }

    /// An ingester whose writes are never sent (its outputs go to a directory dropped with it).
    fn ingester(plan: IngestPlan, in_flight: &[&str]) -> (Ingester, tempfile::TempDir) {
        let out = tempfile::tempdir().expect("tempdir");
        let ing = Ingester {
            client: ApiClient::new("http://127.0.0.1:9", Duration::from_secs(1)),
            base: Arc::new(vec![doc("w-1"), doc("w-2"), doc("w-3")]),
            plan,
            clock: RunClock { start: Instant::now() },
            sink: Arc::new(Collector::create(out.path(), "run-test").expect("collector")),
            live: Mutex::default(),
            next_id: AtomicU64::new(FIRST_NEW_ID),
            last_updated_at: AtomicI64::new(0),
            in_flight: Mutex::new(in_flight.iter().map(|s| s.to_string()).collect()),
        };
        (ing, out)
    }

    #[test]
    fn the_new_fraction_sets_how_many_upserts_create_workers() {
        for (fraction, lo, hi) in [(0.0, 0, 0), (0.1, 60, 140), (0.5, 420, 580), (1.0, 1_000, 1_000)] {
            let (ing, _out) = ingester(
                IngestPlan { new_fraction: fraction, ..IngestPlan::new(10.0, Duration::from_secs(1), 1) },
                &[],
            );
            let mut rng = StdRng::seed_from_u64(5);
            // Nothing is ever acked here, so no delete finds a worker: every write upserts.
            let created = (0..1_000)
                .filter(|_| matches!(ing.next_write(&mut rng), Some((WriteOp::Upsert, w)) if w.id.starts_with("w-9")))
                .count();
            assert!((lo..=hi).contains(&created), "new fraction {fraction}: {created} of 1000 created");
        }
    }

    #[test]
    fn an_update_never_picks_a_worker_with_a_write_in_flight() {
        let (ing, _out) = ingester(IngestPlan::new(10.0, Duration::from_secs(1), 1), &["w-1", "w-3"]);
        let mut rng = StdRng::seed_from_u64(3);
        let mut updates = 0;
        for _ in 0..200 {
            if let Some((WriteOp::Upsert, w)) = ing.next_write(&mut rng) {
                if !w.id.starts_with("w-9") {
                    assert_eq!(w.id, "w-2", "an update picked a worker with a write in flight");
                    updates += 1;
                }
            }
        }
        assert!(updates > 50, "updates of base workers were drawn: {updates}");
    }
}
