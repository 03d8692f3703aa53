//! Threshold rules: parsing, clear errors, and evaluation against a summary.

use std::collections::BTreeMap;

use loadtest::arrival::ArrivalState;
use loadtest::failure::FailureReason;
use loadtest::report::{Histograms, IterationRecord, Outcome, RunMeta, StepRecord, Summary};
use loadtest::scenarios::ScenarioKind;
use loadtest::threshold::{evaluate, Check, Rule, Scope, Stat};

fn rule(s: &str) -> Rule {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn parses_the_documented_forms() {
    assert_eq!(rule("p99<20ms").check, Check::Latency { stat: Stat::P99, limit_ms: 20.0 });
    assert_eq!(rule("p99<20ms").scope, Scope::Total);
    assert_eq!(rule("fail<0.1%").check, Check::FailPct(0.1));
    assert_eq!(rule("rate > 100/s").check, Check::MinRate(100.0));
    let r = rule("cold_search_email:p95<10ms");
    assert_eq!(r.scope, Scope::Scenario(ScenarioKind::ColdSearchEmail));
    assert_eq!(r.check, Check::Latency { stat: Stat::P95, limit_ms: 10.0 });
    assert_eq!(rule("max<1.5s").check, Check::Latency { stat: Stat::Max, limit_ms: 1500.0 });
    assert_eq!(rule("p999<800us").check, Check::Latency { stat: Stat::P999, limit_ms: 0.8 });
    assert_eq!(rule("mean<=3ms").check, Check::Latency { stat: Stat::Mean, limit_ms: 3.0 });
    assert_eq!(rule("freshness:p99<1s").scope, Scope::Freshness);
}

#[test]
fn malformed_rules_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Rule>().map(|_| ()).unwrap_err().to_string();
    assert!(err("p99").contains("expected METRIC<VALUE"));
    assert!(err("p98<10ms").contains("unknown metric `p98`"));
    assert!(err("p99<10").contains("missing unit"));
    assert!(err("p99>10ms").contains("takes `<`"));
    assert!(err("fail<1").contains("needs a `%`"));
    assert!(err("rate<5/s").contains("`rate` takes `>`"));
    assert!(err("rate>5").contains("needs `/s`"));
    assert!(err("nosuch:p99<1ms").contains("unknown scope `nosuch`"));
    assert!(err("fail<x%").contains("not a number"));
}

fn summary() -> Summary {
    // 100 profile_swap runs at 1..=100 ms, one failed; 1 dropped sms_validate.
    let mut its: Vec<IterationRecord> = (1..=100u64)
        .map(|ms| IterationRecord {
            scenario: ScenarioKind::ProfileSwap,
            iteration: ms,
            arrival: ArrivalState::Base,
            intended_ns: 0,
            steps: vec![StepRecord {
                step: "POST /v1/search",
                intended_ns: 0,
                sent_ns: 0,
                end_ns: ms * 1_000_000,
                status: 200,
                ok: ms != 50,
                failure: (ms == 50).then_some(FailureReason::NoResults),
            }],
            outcome: if ms == 50 { Outcome::Failed(FailureReason::NoResults) } else { Outcome::Ok },
        })
        .collect();
    its.push(IterationRecord {
        scenario: ScenarioKind::SmsValidate,
        iteration: 0,
        arrival: ArrivalState::Base,
        intended_ns: 0,
        steps: vec![],
        outcome: Outcome::Dropped,
    });
    let h = Histograms::build(&its, &[]).expect("histograms");
    let meta = RunMeta { elapsed_s: 10.0, ..RunMeta::default() };
    Summary::build(meta, &h, BTreeMap::new())
}

#[test]
fn evaluates_against_a_summary() {
    let s = summary();
    let verdict = |r: &str| evaluate(&[rule(r)], &s)[0].passed;
    // p99 of 1..=100 ms is 99 ms.
    assert!(verdict("p99<100ms"));
    assert!(!verdict("p99<90ms"));
    assert!(verdict("profile_swap:p50<51ms"));
    assert!(!verdict("profile_swap:max<100ms"));
    // 1 failed + 1 dropped of 101 scheduled ≈ 1.98%.
    assert!(verdict("fail<2%"));
    assert!(!verdict("fail<1.9%"));
    assert!(verdict("profile_swap:fail<1.01%"));
    assert!(!verdict("sms_validate:fail<50%"), "dropped counts as failed");
    // 100 runs over 10 s.
    assert!(verdict("rate>9.9/s"));
    assert!(!verdict("rate>10/s"));
    // A scope with no samples fails a latency rule rather than passing silently.
    assert!(!verdict("repeat_cache:p99<1s"));
    assert!(!verdict("freshness:p99<1s"));
    let results = evaluate(&[rule("p99<90ms")], &s);
    assert!(results[0].detail.contains("observed"), "{}", results[0].detail);
}
