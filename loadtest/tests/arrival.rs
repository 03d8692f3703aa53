//! Statistical properties of the arrival processes, with fixed seeds.

use std::time::Duration;

use loadtest::arrival::{ArrivalSpec, ArrivalState, Stage};

/// Arrival offsets (s) below `horizon` seconds.
fn offsets(spec: &ArrivalSpec, seed: u64, horizon: f64) -> Vec<(f64, ArrivalState)> {
    spec.schedule(seed).map(|a| (a.offset.as_secs_f64(), a.state)).take_while(|(t, _)| *t < horizon).collect()
}

/// Index of dispersion (variance ÷ mean) of counts in 1 s windows.
fn dispersion(times: &[(f64, ArrivalState)], horizon: usize) -> f64 {
    let mut counts = vec![0f64; horizon];
    for (t, _) in times {
        counts[*t as usize] += 1.0;
    }
    let mean = counts.iter().sum::<f64>() / horizon as f64;
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (horizon - 1) as f64;
    var / mean
}

fn mmpp(rate: f64) -> ArrivalSpec {
    ArrivalSpec::Mmpp { rate, burst_factor: 4.0, burst_fraction: 0.2, burst_mean_len: Duration::from_secs(2) }
}

fn within(actual: f64, want: f64, tol: f64) -> bool {
    (actual - want).abs() <= tol * want
}

#[test]
fn every_open_process_realises_its_mean_rate() {
    // Long enough that MMPP's overdispersed count is within ±5% by a wide margin (~5σ).
    let horizon = 20_000.0;
    let specs = [
        ArrivalSpec::Constant { rate: 200.0 },
        ArrivalSpec::Poisson { rate: 200.0 },
        mmpp(200.0),
        ArrivalSpec::Flash { rate: 200.0, at: Duration::from_secs(100), len: Duration::from_secs(5), factor: 10.0 },
    ];
    for spec in specs {
        let n = offsets(&spec, 11, horizon).len() as f64;
        let mut want = 200.0;
        if let ArrivalSpec::Flash { .. } = spec {
            // 5 s at 10×: 9 × 5 × 200 extra arrivals over the horizon.
            want += 9.0 * 5.0 * 200.0 / horizon;
        }
        assert!(within(n / horizon, want, 0.05), "{}: {} vs {want}", spec.name(), n / horizon);
    }
}

#[test]
fn poisson_gaps_have_unit_coefficient_of_variation() {
    let times = offsets(&ArrivalSpec::Poisson { rate: 100.0 }, 5, 2_000.0);
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    let cv = sd / mean;
    assert!((cv - 1.0).abs() < 0.03, "cv {cv}");
    assert!(within(mean, 0.01, 0.02), "mean gap {mean}");
    // Constant is the opposite extreme.
    let times = offsets(&ArrivalSpec::Constant { rate: 100.0 }, 5, 100.0);
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|g| (g - 0.01).abs() < 1e-9));
}

#[test]
fn mmpp_is_overdispersed_and_poisson_is_not() {
    let horizon = 3_000;
    let p = dispersion(&offsets(&ArrivalSpec::Poisson { rate: 200.0 }, 3, horizon as f64), horizon);
    let m = dispersion(&offsets(&mmpp(200.0), 3, horizon as f64), horizon);
    assert!((p - 1.0).abs() < 0.15, "poisson dispersion {p}");
    assert!(m > 2.0, "mmpp dispersion {m}");
}

#[test]
fn mmpp_spends_the_configured_fraction_in_burst() {
    let spec = mmpp(200.0);
    let horizon = 20_000.0;
    let mut burst = 0.0;
    for seg in spec.segments(9) {
        if seg.start >= horizon {
            break;
        }
        if seg.state == ArrivalState::Burst {
            burst += seg.end.min(horizon) - seg.start;
        }
    }
    let fraction = burst / horizon;
    assert!((fraction - 0.2).abs() < 0.02, "burst fraction {fraction}");
    // Arrival labels agree: burst arrivals are f·F / (1 - f + f·F) = 0.5 of all.
    let times = offsets(&spec, 9, 10_000.0);
    let share = times.iter().filter(|(_, s)| *s == ArrivalState::Burst).count() as f64 / times.len() as f64;
    assert!((share - 0.5).abs() < 0.05, "burst arrival share {share}");
}

#[test]
fn ramp_stages_get_their_rates_and_stop() {
    let spec = ArrivalSpec::Ramp {
        stages: vec![
            Stage { len: Duration::from_secs(100), rate: 100.0 },
            Stage { len: Duration::from_secs(200), rate: 400.0 },
            Stage { len: Duration::from_secs(100), rate: 100.0 },
        ],
    };
    let times = offsets(&spec, 4, f64::INFINITY);
    assert!(times.iter().all(|(t, _)| *t < 400.0), "nothing after the last stage");
    for (stage, (lo, hi, rate)) in
        [(0.0, 100.0, 100.0), (100.0, 300.0, 400.0), (300.0, 400.0, 100.0)].into_iter().enumerate()
    {
        let in_stage: Vec<_> = times.iter().filter(|(t, _)| *t >= lo && *t < hi).collect();
        let label = ArrivalState::Ramp(u32::try_from(stage).unwrap_or(0));
        assert!(in_stage.iter().all(|(_, s)| *s == label));
        let realised = in_stage.len() as f64 / (hi - lo);
        assert!(within(realised, rate, 0.05), "stage {stage}: {realised} vs {rate}");
    }
}

#[test]
fn flash_window_runs_at_factor_times_base() {
    let spec =
        ArrivalSpec::Flash { rate: 50.0, at: Duration::from_secs(200), len: Duration::from_secs(40), factor: 10.0 };
    let times = offsets(&spec, 8, 440.0);
    let flash: Vec<_> = times.iter().filter(|(_, s)| *s == ArrivalState::Flash).collect();
    assert!(flash.iter().all(|(t, _)| (200.0..240.0).contains(t)));
    let flash_rate = flash.len() as f64 / 40.0;
    let base_rate = (times.len() - flash.len()) as f64 / 400.0;
    assert!(within(flash_rate, 500.0, 0.05), "flash {flash_rate}");
    assert!(within(base_rate, 50.0, 0.05), "base {base_rate}");
    assert!(within(flash_rate / base_rate, 10.0, 0.08), "ratio");
}
