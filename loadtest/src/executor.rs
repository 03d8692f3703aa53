//! The one executor: starts iterations open-loop (from an `ArrivalSchedule`) or closed-loop.
//!
//! Open loop: a scheduler sleeps until each intended start and spawns the iteration
//! if fewer than `max_in_flight` are running; otherwise it records the iteration as
//! dropped (never silently skipped). Latency is measured from the intended start, so
//! a stall shows up in the corrected numbers even when nothing could be sent on time.
//!
//! The scheduler runs on its own OS thread (tokio's blocking pool) and sleeps with
//! `std::thread::sleep`: tokio's timer wheel has 1 ms ticks, which would start every
//! iteration up to a millisecond late and bias corrected latency by as much; a
//! dedicated thread wakes within tens of microseconds and is not delayed by a busy
//! runtime. The summary reports the remaining lag (`schedule_lag`).
//!
//! Closed loop: `users` tasks each run iterations back to back; the intended start is
//! the moment the previous iteration ended, so corrected equals uncorrected.
//!
//! Both stop taking new iterations at the run duration (or on [`Stop`]), then drain:
//! in-flight iterations finish, each request bounded by the client timeout, and
//! whatever is still running after `drain_timeout` is aborted and recorded as such.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::runtime::Handle;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::arrival::{ArrivalSpec, ArrivalState};
use crate::report::{Collector, IterationRecord, Outcome};
use crate::scenarios::{mix_seed, run_iteration, IterationPlan, ScenarioEnv, Weights};

/// How iterations are started.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadModel {
    /// `users` virtual users loop back to back.
    Closed {
        /// Number of concurrent users.
        users: usize,
    },
    /// Iterations start at scheduled times, capped in flight.
    Open {
        /// The arrival process.
        arrival: ArrivalSpec,
        /// At most this many iterations in flight; arrivals beyond are dropped.
        max_in_flight: usize,
    },
}

/// What the executor runs and for how long.
#[derive(Clone, Debug)]
pub struct ExecPlan {
    /// Open or closed loop.
    pub load: LoadModel,
    /// Scenario mix.
    pub weights: Weights,
    /// Load phase length.
    pub duration: Duration,
    /// Seed for the schedule and scenario choice.
    pub seed: u64,
    /// Optional cap on iterations started (or dropped).
    pub max_iterations: Option<u64>,
    /// How long in-flight iterations may finish after the load phase.
    pub drain_timeout: Duration,
}

/// What the executor observed about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecStats {
    /// Length of the load phase (until the duration, schedule end or stop).
    pub elapsed: Duration,
    /// Iterations aborted at the drain deadline.
    pub aborted: u64,
}

/// A cloneable stop signal (Ctrl-C, or a test).
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<(AtomicBool, Notify)>);

impl Stop {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal; waiters wake, later checks see it.
    pub fn trigger(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
        self.0 .1.notify_waiters();
    }

    /// Whether it has fired.
    pub fn is_set(&self) -> bool {
        self.0 .0.load(Ordering::SeqCst)
    }

    /// Resolves once the signal fires.
    pub async fn wait(&self) {
        let notified = self.0 .1.notified();
        tokio::pin!(notified);
        // Register before checking the flag, so a trigger in between is not lost.
        notified.as_mut().enable();
        if self.is_set() {
            return;
        }
        notified.await;
    }
}

/// Seed stream for open-loop scenario choice (kept apart from per-iteration rngs).
const PICKER_STREAM: u64 = 0xC401_CE00;
/// Seed stream base for closed-loop users.
const USER_STREAM: u64 = 0x05E2_0000;
/// The scheduler thread re-checks the stop signal at least this often.
const STOP_POLL: Duration = Duration::from_millis(20);
/// Finished task handles are pruned every this many arrivals.
const PRUNE_EVERY: u64 = 1024;

type Pending = Arc<Mutex<HashMap<u64, IterationPlan>>>;

/// Everything the iteration tasks share with the executor.
#[derive(Clone)]
struct Shared {
    env: Arc<ScenarioEnv>,
    sink: Arc<Collector>,
    pending: Pending,
    stop: Stop,
}

impl Shared {
    /// Spawns one iteration holding its in-flight slot until it ends (or is aborted);
    /// the pending entry lets a drain abort account for it.
    fn spawn(&self, rt: &Handle, plan: IterationPlan, slot: OwnedSemaphorePermit) -> JoinHandle<()> {
        self.pending.lock().insert(plan.iteration, plan);
        let me = self.clone();
        rt.spawn(async move {
            let _slot = slot;
            me.run_tracked(plan).await;
        })
    }

    async fn run_tracked(&self, plan: IterationPlan) {
        let record = run_iteration(&self.env, plan).await;
        self.pending.lock().remove(&plan.iteration);
        self.sink.push_iteration(record);
    }
}

/// Runs the plan against `env`, recording into `sink`. Returns when every iteration
/// has finished or been aborted.
pub async fn execute(env: Arc<ScenarioEnv>, plan: &ExecPlan, sink: Arc<Collector>, stop: Stop) -> ExecStats {
    let start = env.clock.start;
    let shared = Shared { env, sink, pending: Arc::default(), stop };
    let (load_end, handles) = match &plan.load {
        LoadModel::Open { arrival, max_in_flight } => {
            let (shared, plan, arrival, cap) = (shared.clone(), plan.clone(), arrival.clone(), *max_in_flight);
            let rt = Handle::current();
            tokio::task::spawn_blocking(move || schedule_open(&shared, &rt, &plan, &arrival, cap))
                .await
                // A panicked scheduler stops the load phase; its iterations still drain below.
                .unwrap_or_else(|_| (Instant::now(), Vec::new()))
        }
        LoadModel::Closed { users } => {
            let mut handles = spawn_closed(&shared, plan, *users);
            let end = wait_load_phase(&mut handles, start + plan.duration, &shared.stop).await;
            (end, handles)
        }
    };
    let elapsed = load_end.saturating_duration_since(start);
    drain(handles, Instant::now() + plan.drain_timeout).await;
    let leftovers: Vec<IterationPlan> = shared.pending.lock().drain().map(|(_, p)| p).collect();
    let aborted = leftovers.len() as u64;
    for p in leftovers {
        shared.sink.push_iteration(IterationRecord::unstarted(&p, shared.env.clock, Outcome::Aborted));
    }
    ExecStats { elapsed, aborted }
}

/// Sleeps this (non-runtime) thread until `at`; `false` if the stop signal fired first.
fn sleep_until_precise(at: Instant, stop: &Stop) -> bool {
    loop {
        if stop.is_set() {
            return false;
        }
        let now = Instant::now();
        if now >= at {
            return true;
        }
        std::thread::sleep((at - now).min(STOP_POLL));
    }
}

/// The open-loop scheduler, on a blocking thread. Returns the end of the load phase
/// and the handles of the iterations still possibly running.
fn schedule_open(
    shared: &Shared,
    rt: &Handle,
    plan: &ExecPlan,
    arrival: &ArrivalSpec,
    max_in_flight: usize,
) -> (Instant, Vec<JoinHandle<()>>) {
    let start = shared.env.clock.start;
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut picker = StdRng::seed_from_u64(mix_seed(plan.seed, PICKER_STREAM));
    let max = plan.max_iterations.unwrap_or(u64::MAX);
    let mut handles = Vec::new();
    let mut last_offset = Duration::ZERO;
    let mut taken = 0u64;
    for (n, arrival) in (0..max).zip(arrival.schedule(plan.seed)) {
        taken = n + 1;
        if arrival.offset >= plan.duration {
            return (start + plan.duration, handles);
        }
        last_offset = arrival.offset;
        let at = start + arrival.offset;
        if !sleep_until_precise(at, &shared.stop) {
            return (Instant::now(), handles);
        }
        let it = IterationPlan {
            iteration: n,
            scenario: plan.weights.pick(&mut picker),
            intended: at,
            arrival: arrival.state,
        };
        match slots.clone().try_acquire_owned() {
            Ok(slot) => handles.push(shared.spawn(rt, it, slot)),
            Err(_) => shared.sink.push_iteration(IterationRecord::unstarted(&it, shared.env.clock, Outcome::Dropped)),
        }
        if n % PRUNE_EVERY == 0 {
            handles.retain(|h| !h.is_finished());
        }
    }
    if taken == max {
        // The iteration cap ended the load phase at the last arrival.
        (start + last_offset, handles)
    } else {
        // The schedule itself ended: a ramp's last stage.
        (start + plan.duration.min(arrival_horizon(arrival)), handles)
    }
}

/// When a finite schedule ends (a ramp's total length); zero for infinite ones.
fn arrival_horizon(arrival: &ArrivalSpec) -> Duration {
    match arrival {
        ArrivalSpec::Ramp { stages } => stages.iter().map(|s| s.len).sum(),
        ArrivalSpec::Constant { .. }
        | ArrivalSpec::Poisson { .. }
        | ArrivalSpec::Mmpp { .. }
        | ArrivalSpec::Flash { .. } => Duration::ZERO,
    }
}

/// Spawns the closed-loop users.
fn spawn_closed(shared: &Shared, plan: &ExecPlan, users: usize) -> Vec<JoinHandle<()>> {
    let deadline = shared.env.clock.start + plan.duration;
    let next = Arc::new(AtomicU64::new(0));
    let max = plan.max_iterations.unwrap_or(u64::MAX);
    (0..users.max(1))
        .map(|user| {
            let (shared, next, weights) = (shared.clone(), next.clone(), plan.weights);
            let mut rng = StdRng::seed_from_u64(mix_seed(plan.seed, USER_STREAM + user as u64));
            tokio::spawn(async move {
                while !shared.stop.is_set() && Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= max {
                        break;
                    }
                    let it = IterationPlan {
                        iteration: n,
                        scenario: weights.pick(&mut rng),
                        intended: Instant::now(),
                        arrival: ArrivalState::Closed,
                    };
                    shared.pending.lock().insert(n, it);
                    shared.run_tracked(it).await;
                }
            })
        })
        .collect()
}

/// Waits for the closed-loop load phase: until the deadline, a stop, or all users done.
async fn wait_load_phase(handles: &mut [JoinHandle<()>], deadline: Instant, stop: &Stop) -> Instant {
    let all_done = async {
        for h in handles.iter_mut() {
            let _ = h.await;
        }
    };
    tokio::select! {
        () = all_done => Instant::now().min(deadline),
        () = sleep_until(deadline) => deadline,
        () = stop.wait() => Instant::now(),
    }
}

/// Lets in-flight tasks finish until `deadline`, then aborts the rest.
async fn drain(handles: Vec<JoinHandle<()>>, deadline: Instant) {
    let mut expired = false;
    for mut h in handles {
        // Already-finished handles may have been awaited during the load phase.
        if h.is_finished() {
            continue;
        }
        if !expired {
            tokio::select! {
                _ = &mut h => continue,
                () = sleep_until(deadline) => expired = true,
            }
        }
        h.abort();
        let _ = h.await;
    }
}
