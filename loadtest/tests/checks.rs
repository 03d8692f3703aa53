//! Every scenario check can fail: wrong answers from the fake fail with the right reason,
//! right answers pass (so the checks are not vacuous).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use loadtest::arrival::ArrivalState;
use loadtest::client::ApiClient;
use loadtest::failure::FailureReason;
use loadtest::queries::QueryMix;
use loadtest::report::{IterationRecord, Outcome};
use loadtest::scenarios::steps::{GET_WORKER, RECORD, SEARCH, VALIDATE_EMAIL, VALIDATE_FILL};
use loadtest::scenarios::{run_iteration, Counters, IterationPlan, RunClock, ScenarioEnv, ScenarioKind};
use tokio::time::Instant;

use crate::fake::{corpus, FakeServer, Mode};

fn env(url: &str, timeout: Duration) -> ScenarioEnv {
    ScenarioEnv {
        client: ApiClient::new(url, timeout),
        mix: Arc::new(QueryMix::from_workers(&corpus()).expect("mix")),
        k: 10,
        clock: RunClock { start: Instant::now() },
        counters: Counters::default(),
        failures: Default::default(),
        today: loadtest::dates::today(),
        seed: 7,
    }
}

async fn run_on(env: &ScenarioEnv, kind: ScenarioKind) -> IterationRecord {
    run_iteration(
        env,
        IterationPlan { iteration: 1, scenario: kind, intended: Instant::now(), arrival: ArrivalState::Base },
    )
    .await
}

async fn run_one(mode: Mode, kind: ScenarioKind) -> (IterationRecord, ScenarioEnv) {
    let fake = FakeServer::start(mode, None).await;
    let env = env(&fake.url(), Duration::from_secs(1));
    let rec = run_on(&env, kind).await;
    (rec, env)
}

fn labels(rec: &IterationRecord) -> Vec<&'static str> {
    rec.steps.iter().map(|s| s.step).collect()
}

#[tokio::test]
async fn right_answers_pass_every_scenario() {
    for kind in ScenarioKind::ALL {
        let (rec, _) = run_one(Mode::Right, kind).await;
        assert_eq!(rec.outcome, Outcome::Ok, "{kind}: {rec:?}");
        assert!(rec.steps.iter().all(|s| s.ok && s.status == 200), "{kind}: {rec:?}");
        assert!(rec.corrected_us() >= rec.uncorrected_us());
    }
}

#[tokio::test]
async fn step_sequences_match_the_workflows() {
    let (rec, _) = run_one(Mode::Right, ScenarioKind::ColdSearchEmail).await;
    assert_eq!(labels(&rec), [SEARCH, GET_WORKER, VALIDATE_EMAIL]);
    let (rec, _) = run_one(Mode::Right, ScenarioKind::SurgeFillValidate).await;
    assert_eq!(labels(&rec), [SEARCH, VALIDATE_FILL, RECORD]);
    let (rec, _) = run_one(Mode::Right, ScenarioKind::RepeatCache).await;
    assert_eq!(labels(&rec), [SEARCH; 5]);
    let (rec, _) = run_one(Mode::Right, ScenarioKind::PlaybookRecordReplay).await;
    assert_eq!(labels(&rec), [SEARCH, RECORD, SEARCH]);
    // Step intended times chain: each step is due when the previous one ended.
    for pair in rec.steps.windows(2) {
        assert_eq!(pair[1].intended_ns, pair[0].end_ns);
    }
}

#[tokio::test]
async fn wrong_answers_fail_with_the_right_reason() {
    use FailureReason as R;
    use ScenarioKind as S;
    let cases = [
        (Mode::SwapOverlap, S::ProfileSwap, R::OverlapInSwap),
        (Mode::TopkShuffle, S::RepeatCache, R::TopkChanged),
        (Mode::RejectMessages, S::ColdSearchEmail, R::ValidatorRejected),
        (Mode::RejectMessages, S::SmsValidate, R::ValidatorRejected),
        (Mode::RejectFill, S::SurgeFillValidate, R::ValidatorRejected),
        (Mode::ConflictAlways, S::SurgeFillValidate, R::RecordConflict),
        (Mode::RecordReject, S::SurgeFillValidate, R::RecordRejected),
        (Mode::RecordReject, S::PlaybookRecordReplay, R::RecordRejected),
        (Mode::NoBoost, S::PlaybookRecordReplay, R::NotBoosted),
        (Mode::EmptySearch, S::ColdSearchEmail, R::NoResults),
        (Mode::EmptySearch, S::ProfileSwap, R::NoResults),
        (Mode::EmptySearch, S::PlaybookRecordReplay, R::NoResults),
        (Mode::EmptySearch, S::SurgeFillValidate, R::NoResults),
        (Mode::MarketHidden, S::SurgeFillValidate, R::NoResults),
        (Mode::Search500, S::RepeatCache, R::Http5xx),
        (Mode::Worker404, S::SmsValidate, R::Http4xx),
    ];
    for (mode, kind, want) in cases {
        let (rec, _) = run_one(mode, kind).await;
        assert_eq!(rec.outcome, Outcome::Failed(want), "{mode:?} {kind}: {rec:?}");
        let last = rec.steps.last().expect("a step ran");
        assert!(!last.ok, "{mode:?} {kind}: the failing step is marked");
        assert_eq!(last.failure, Some(want), "{mode:?} {kind}");
    }
}

#[tokio::test]
async fn surge_retries_after_booking_conflicts_then_fails() {
    let (rec, env) = run_one(Mode::ConflictOnce, ScenarioKind::SurgeFillValidate).await;
    assert_eq!(rec.outcome, Outcome::Ok, "{rec:?}");
    assert_eq!(labels(&rec), [SEARCH, VALIDATE_FILL, RECORD, SEARCH, VALIDATE_FILL, RECORD]);
    assert_eq!(rec.steps[2].failure, Some(FailureReason::RecordConflict));
    assert_eq!(env.counters.surge_retries.load(Ordering::SeqCst), 1);
    let (rec, env) = run_one(Mode::ConflictAlways, ScenarioKind::SurgeFillValidate).await;
    let tries = loadtest::scenarios::fill::SURGE_ATTEMPTS;
    assert_eq!(rec.steps.len(), 3 * tries, "{tries} tries, then no more: {rec:?}");
    assert_eq!(env.counters.surge_retries.load(Ordering::SeqCst), tries as u64 - 1);
    // A conflict on the last try fails the scenario as a conflict, not as another rejection.
    assert_eq!(rec.outcome, Outcome::Failed(FailureReason::RecordConflict), "{rec:?}");
    assert_eq!(rec.steps[3 * tries - 1].failure, Some(FailureReason::RecordConflict));
}

#[tokio::test]
async fn a_full_market_is_a_right_answer_once_the_validator_confirms_it() {
    let (rec, env) = run_one(Mode::MarketBooked, ScenarioKind::SurgeFillValidate).await;
    assert_eq!(rec.outcome, Outcome::Ok, "{rec:?}");
    // The filtered search, the whole market, then the left-out workers as one fill (the
    // fake market has fewer than 100).
    assert_eq!(labels(&rec), [SEARCH, SEARCH, VALIDATE_FILL], "{rec:?}");
    assert_eq!(env.counters.market_booked.load(Ordering::SeqCst), 1);
    assert!(env.failures.examples().is_empty());
}

#[tokio::test]
async fn a_market_check_that_finds_a_free_worker_fails_and_says_which() {
    let (rec, env) = run_one(Mode::MarketHidden, ScenarioKind::SurgeFillValidate).await;
    assert_eq!(rec.outcome, Outcome::Failed(FailureReason::NoResults), "{rec:?}");
    assert_eq!(labels(&rec), [SEARCH, SEARCH, VALIDATE_FILL], "{rec:?}");
    let examples = env.failures.examples();
    assert_eq!(examples.len(), 1, "{examples:?}");
    let e = &examples[0];
    assert_eq!((e.scenario, e.reason), ("surge_fill_validate", "no_results"));
    // The fake found w-0000001, booked the first left out (w-0000002) and left the rest free.
    assert!(e.detail.contains("free [w-0000003, w-0000004"), "{}", e.detail);
    assert!(e.detail.contains("found [w-0000001]"), "{}", e.detail);
    assert_eq!(env.counters.market_changed_by_ingest.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_worker_the_ingester_created_meanwhile_is_a_race_and_the_fill_is_retried() {
    let (rec, env) = run_one(Mode::MarketJoined, ScenarioKind::SurgeFillValidate).await;
    assert_eq!(rec.outcome, Outcome::Ok, "{rec:?}");
    // The check finds the new worker free; the retried search finds it and the fill goes on.
    assert_eq!(labels(&rec), [SEARCH, SEARCH, VALIDATE_FILL, SEARCH, VALIDATE_FILL, RECORD], "{rec:?}");
    assert_eq!(env.counters.market_changed_by_ingest.load(Ordering::SeqCst), 1);
    assert_eq!(env.counters.market_booked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn topk_change_with_new_version_is_ingest_not_failure() {
    let (rec, env) = run_one(Mode::TopkShuffleNewVersion, ScenarioKind::RepeatCache).await;
    assert_eq!(rec.outcome, Outcome::Ok, "{rec:?}");
    assert!(env.counters.changed_by_ingest.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn transport_failures_are_classified() {
    let fake = FakeServer::start(Mode::SlowSearch, None).await;
    let env = env(&fake.url(), Duration::from_millis(200));
    let rec = run_on(&env, ScenarioKind::ProfileSwap).await;
    assert_eq!(rec.outcome, Outcome::Failed(FailureReason::Timeout));
    assert_eq!(rec.steps[0].status, 0);

    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("ephemeral port").port();
    let env = self::env(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1));
    let rec = run_on(&env, ScenarioKind::ColdSearchEmail).await;
    assert_eq!(rec.outcome, Outcome::Failed(FailureReason::Connect));
}
