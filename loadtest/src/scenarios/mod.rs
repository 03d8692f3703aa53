//! Scenarios as data: six coordinator workflows, their weights, and one iteration runner.
//!
//! A scenario is a [`ScenarioKind`] plus a weight. Each kind's body is a short async
//! function (in [`search`] and [`fill`]) composed of the shared step functions in
//! [`steps`], which time and record every HTTP call. [`run_iteration`] is the only
//! entry point the executor uses.
//!
//! # Notes
//! - A failed check fails the scenario with a [`FailureReason`] and marks the step
//!   whose response violated it, so the failure is visible per step too.
//! - Scenarios prefer base-corpus workers over ingester-created ones (`w-9xxxxxx`),
//!   because the ingester may delete its own workers between two steps.

pub mod fill;
pub mod messages;
pub mod search;
pub mod steps;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::arrival::ArrivalState;
use crate::client::ApiClient;
use crate::failure::FailureReason;
use crate::queries::QueryMix;
use crate::report::{IterationRecord, Outcome};

pub use steps::Ctx;

/// The six coordinator workflows of the seed's multi-tier test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScenarioKind {
    /// search → GET top worker → draft email → validate email.
    ColdSearchEmail,
    /// filtered search with availability → validate a 2-worker fill → record it.
    SurgeFillValidate,
    /// search → search again excluding the first results → no overlap.
    ProfileSwap,
    /// the same query five times → same top-k (unless the version moved).
    RepeatCache,
    /// search → GET top worker → SMS draft → validate as SMS.
    SmsValidate,
    /// filtered search → record a low-ranked worker → replay with the playbook → boosted.
    PlaybookRecordReplay,
}

impl ScenarioKind {
    /// All kinds, in report order.
    pub const ALL: [Self; 6] = [
        Self::ColdSearchEmail,
        Self::SurgeFillValidate,
        Self::ProfileSwap,
        Self::RepeatCache,
        Self::SmsValidate,
        Self::PlaybookRecordReplay,
    ];

    /// The snake_case name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::ColdSearchEmail => "cold_search_email",
            Self::SurgeFillValidate => "surge_fill_validate",
            Self::ProfileSwap => "profile_swap",
            Self::RepeatCache => "repeat_cache",
            Self::SmsValidate => "sms_validate",
            Self::PlaybookRecordReplay => "playbook_record_replay",
        }
    }

    /// Looks a kind up by [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Position in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        match self {
            Self::ColdSearchEmail => 0,
            Self::SurgeFillValidate => 1,
            Self::ProfileSwap => 2,
            Self::RepeatCache => 3,
            Self::SmsValidate => 4,
            Self::PlaybookRecordReplay => 5,
        }
    }

    /// The seed report's weight (percent).
    pub fn default_weight(self) -> u32 {
        match self {
            Self::ColdSearchEmail => 35,
            Self::SurgeFillValidate | Self::ProfileSwap | Self::RepeatCache => 15,
            Self::SmsValidate | Self::PlaybookRecordReplay => 10,
        }
    }

    /// Runs this scenario's steps once.
    pub async fn run(self, ctx: &mut Ctx<'_>) -> Result<(), FailureReason> {
        match self {
            Self::ColdSearchEmail => search::cold_search_email(ctx).await,
            Self::SurgeFillValidate => fill::surge_fill_validate(ctx).await,
            Self::ProfileSwap => search::profile_swap(ctx).await,
            Self::RepeatCache => search::repeat_cache(ctx).await,
            Self::SmsValidate => search::sms_validate(ctx).await,
            Self::PlaybookRecordReplay => fill::playbook_record_replay(ctx).await,
        }
    }
}

impl fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a `--weights` value was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    /// The name is not one of the six scenarios.
    #[error("unknown scenario `{0}` (known: cold_search_email, surge_fill_validate, profile_swap, repeat_cache, sms_validate, playbook_record_replay)")]
    UnknownScenario(String),
    /// An entry is not `name=weight`.
    #[error("`{0}`: expected NAME=WEIGHT with a non-negative integer weight")]
    Malformed(String),
    /// All weights are zero: nothing would run.
    #[error("all weights are zero")]
    ZeroTotal,
}

/// Relative weights of the six scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights([u32; 6]);

impl Default for Weights {
    /// The seed's mix: 35/15/15/15/10/10.
    fn default() -> Self {
        Self(ScenarioKind::ALL.map(ScenarioKind::default_weight))
    }
}

impl Weights {
    /// All zero; fill with [`set`](Self::set), then [`check`](Self::check).
    pub fn zero() -> Self {
        Self([0; 6])
    }

    /// Sets one scenario's weight by name.
    pub fn set(&mut self, name: &str, weight: u32) -> Result<(), WeightError> {
        let kind = ScenarioKind::from_name(name).ok_or_else(|| WeightError::UnknownScenario(name.to_owned()))?;
        self.0[kind.index()] = weight;
        Ok(())
    }

    /// Rejects an all-zero mix.
    pub fn check(self) -> Result<Self, WeightError> {
        if self.total() == 0 {
            Err(WeightError::ZeroTotal)
        } else {
            Ok(self)
        }
    }

    /// Parses `name=w,name=w,...`; unnamed scenarios get weight 0.
    pub fn parse(text: &str) -> Result<Self, WeightError> {
        let mut w = Self::zero();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part.split_once('=').ok_or_else(|| WeightError::Malformed(part.to_owned()))?;
            let weight: u32 = weight.trim().parse().map_err(|_| WeightError::Malformed(part.to_owned()))?;
            w.set(name.trim(), weight)?;
        }
        w.check()
    }

    /// One scenario's weight.
    pub fn get(self, kind: ScenarioKind) -> u32 {
        self.0[kind.index()]
    }

    /// Sum of all weights.
    pub fn total(self) -> u64 {
        self.0.iter().map(|&w| u64::from(w)).sum()
    }

    /// Picks a scenario with probability proportional to its weight.
    pub fn pick<R: Rng + ?Sized>(self, rng: &mut R) -> ScenarioKind {
        let total = self.total().max(1);
        let mut x = rng.random_range(0..total);
        for kind in ScenarioKind::ALL {
            let w = u64::from(self.get(kind));
            if x < w {
                return kind;
            }
            x -= w;
        }
        // Unreachable with a non-zero total; the first weighted kind is a safe answer.
        ScenarioKind::ALL.into_iter().find(|k| self.get(*k) > 0).unwrap_or(ScenarioKind::ColdSearchEmail)
    }
}

/// Monotonic run clock: converts instants to nanoseconds since run start.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    /// Run start.
    pub start: Instant,
}

impl RunClock {
    /// Nanoseconds from run start to `t` (0 if before).
    pub fn ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Run-wide counters of notable non-failures.
#[derive(Debug, Default)]
pub struct Counters {
    /// repeat_cache saw different top-k because the version moved (ingest), not a failure.
    pub changed_by_ingest: AtomicU64,
    /// surge_fill_validate retried after a concurrent booking.
    pub surge_retries: AtomicU64,
    /// surge_fill_validate found fewer than two available workers, and the fill validator
    /// confirmed every other worker of the market is booked for the window: a correct
    /// answer to a request nobody can fill, not a failure.
    pub market_booked: AtomicU64,
    /// playbook_record_replay's recorded worker was itself rewritten by ingest between the
    /// two searches, so its rank is not comparable; its boost was checked instead.
    pub replay_changed_by_ingest: AtomicU64,
    /// playbook_record_replay's first page had no worker a record could visibly lift, so
    /// it searched deeper.
    pub replay_deepened: AtomicU64,
    /// surge_fill_validate proposed a worker the run's own ingester deleted before the fill
    /// was recorded (`unknown_worker`), and retried without it.
    pub fill_changed_by_ingest: AtomicU64,
    /// surge_fill_validate's check of a full market found one of the run's own
    /// ingester-created workers free (created after the search, so it may not have been
    /// visible to it) or gone (deleted since the market was listed), and retried.
    pub market_changed_by_ingest: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Failed checks kept with what they saw, at most this many per run (the counts by
/// reason cover all of them).
pub const FAILURE_EXAMPLES: usize = 20;

/// A failed check with what the harness saw, for the summary: enough to tell a server's
/// wrong answer from a race without re-running.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FailureExample {
    /// Scenario name.
    pub scenario: &'static str,
    /// Iteration number (reproducible from the run seed).
    pub iteration: u64,
    /// Failure reason (the counted label).
    pub reason: &'static str,
    /// What the check saw.
    pub detail: String,
}

/// The first [`FAILURE_EXAMPLES`] failed checks that said what they saw.
#[derive(Debug, Default)]
pub struct FailureLog(Mutex<Vec<FailureExample>>);

impl FailureLog {
    /// Keeps `e` unless [`FAILURE_EXAMPLES`] are kept already.
    pub fn push(&self, e: FailureExample) {
        let mut kept = self.0.lock();
        if kept.len() < FAILURE_EXAMPLES {
            kept.push(e);
        }
    }

    /// The examples kept so far.
    pub fn examples(&self) -> Vec<FailureExample> {
        self.0.lock().clone()
    }
}

/// What every scenario iteration shares: the client, the query mix and settings.
#[derive(Debug)]
pub struct ScenarioEnv {
    /// HTTP client.
    pub client: ApiClient,
    /// Query mix.
    pub mix: Arc<QueryMix>,
    /// Default top-k.
    pub k: usize,
    /// Run clock.
    pub clock: RunClock,
    /// Counters.
    pub counters: Counters,
    /// Failed checks with details.
    pub failures: FailureLog,
    /// "Today" (days since epoch) for date windows; fixed per run for reproducibility.
    pub today: i64,
    /// Run seed.
    pub seed: u64,
}

/// One planned iteration: what to run and when it should have started.
#[derive(Clone, Copy, Debug)]
pub struct IterationPlan {
    /// Iteration number, unique per run.
    pub iteration: u64,
    /// Which scenario.
    pub scenario: ScenarioKind,
    /// Intended start.
    pub intended: Instant,
    /// Arrival state label.
    pub arrival: ArrivalState,
}

/// SplitMix64: decorrelates per-iteration seeds derived from consecutive numbers.
pub fn mix_seed(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs one iteration and returns its record (steps and outcome).
pub async fn run_iteration(env: &ScenarioEnv, plan: IterationPlan) -> IterationRecord {
    let rng = StdRng::seed_from_u64(mix_seed(env.seed, plan.iteration));
    let mut ctx = Ctx::new(env, rng, plan.intended);
    let result = plan.scenario.run(&mut ctx).await;
    if let (Err(reason), Some(detail)) = (result, ctx.take_detail()) {
        env.failures.push(FailureExample {
            scenario: plan.scenario.name(),
            iteration: plan.iteration,
            reason: reason.code(),
            detail,
        });
    }
    IterationRecord {
        scenario: plan.scenario,
        iteration: plan.iteration,
        arrival: plan.arrival,
        intended_ns: env.clock.ns(plan.intended),
        steps: ctx.into_steps(),
        outcome: match result {
            Ok(()) => Outcome::Ok,
            Err(reason) => Outcome::Failed(reason),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_and_reject() {
        let w = Weights::parse("profile_swap=3, repeat_cache=1").unwrap_or_default();
        assert_eq!(w.get(ScenarioKind::ProfileSwap), 3);
        assert_eq!(w.get(ScenarioKind::ColdSearchEmail), 0);
        assert_eq!(Weights::parse("nope=1"), Err(WeightError::UnknownScenario("nope".into())));
        assert_eq!(Weights::parse("profile_swap=0"), Err(WeightError::ZeroTotal));
        assert!(matches!(Weights::parse("profile_swap"), Err(WeightError::Malformed(_))));
        assert_eq!(Weights::default().total(), 100);
    }

    #[test]
    fn pick_follows_weights() {
        let w = Weights::default();
        let mut rng = StdRng::seed_from_u64(3);
        let mut counts = [0u32; 6];
        for _ in 0..100_000 {
            counts[w.pick(&mut rng).index()] += 1;
        }
        for kind in ScenarioKind::ALL {
            let share = f64::from(counts[kind.index()]) / 1000.0;
            let want = f64::from(kind.default_weight());
            assert!((share - want).abs() < 1.0, "{kind}: {share} vs {want}");
        }
        let only = Weights::parse("sms_validate=1").unwrap_or_default();
        assert!((0..100).all(|_| only.pick(&mut rng) == ScenarioKind::SmsValidate));
    }
}
