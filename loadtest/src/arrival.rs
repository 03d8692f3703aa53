//! Arrival processes: the one `ArrivalSchedule` that yields intended start offsets.
//!
//! Every open-loop process is a Poisson process whose rate is piecewise constant over
//! [`Segment`]s (constant rate is the exception: evenly spaced arrivals). The segments
//! come from [`RateSegments`]: one infinite segment for Poisson, alternating base/burst
//! segments of exponential length for MMPP, consecutive stages for ramp, and a
//! base/flash/base triple for flash crowds. The schedule then draws exponential gaps;
//! when a gap crosses a segment end it restarts at the boundary with the next rate,
//! which is exact because the exponential is memoryless.
//!
//! # Notes
//! - Schedules are reproducible: the same spec and seed give the same offsets.
//! - MMPP preserves the configured mean rate: with burst fraction `f` and factor `F`,
//!   the base rate is `rate / (1 - f + f·F)` and the burst rate `F` times that, so the
//!   time-weighted mean is `rate`. Mean burst sojourn is `burst_mean_len`, mean base
//!   sojourn `burst_mean_len · (1 - f) / f`, so the long-run time fraction in burst is `f`.
//! - A ramp stops producing arrivals after its last stage.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which phase of the arrival process an iteration was scheduled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArrivalState {
    /// Steady (Poisson, constant, MMPP base, flash outside the window).
    Base,
    /// MMPP burst state.
    Burst,
    /// Ramp stage, 0-based.
    Ramp(u32),
    /// Inside the flash-crowd window.
    Flash,
    /// Closed loop: no schedule, users loop back to back.
    Closed,
}

impl fmt::Display for ArrivalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Base => f.write_str("base"),
            Self::Burst => f.write_str("burst"),
            Self::Ramp(stage) => write!(f, "ramp:{stage}"),
            Self::Flash => f.write_str("flash"),
            Self::Closed => f.write_str("closed"),
        }
    }
}

/// One ramp stage: hold `rate` arrivals/s for `len`.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    /// How long the stage lasts.
    pub len: Duration,
    /// Mean arrivals per second during the stage.
    pub rate: f64,
}

/// Parses `--stages "10s:100,20s:400,10s:100"` (duration:rate pairs).
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (len, rate) =
            part.split_once(':').ok_or_else(|| format!("stage `{part}`: expected DURATION:RATE, e.g. `10s:100`"))?;
        let len = crate::units::parse_duration(len).map_err(|e| format!("stage `{part}`: {e}"))?;
        let rate: f64 = rate.trim().parse().map_err(|_| format!("stage `{part}`: rate `{rate}` is not a number"))?;
        stages.push(Stage { len, rate });
    }
    if stages.is_empty() {
        return Err("no stages given".into());
    }
    Ok(stages)
}

/// An open-loop arrival process, as configured on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum ArrivalSpec {
    /// Evenly spaced arrivals at `rate`/s.
    Constant {
        /// Arrivals per second.
        rate: f64,
    },
    /// Poisson arrivals (exponential gaps) at mean `rate`/s.
    Poisson {
        /// Mean arrivals per second.
        rate: f64,
    },
    /// Two-state Markov-modulated Poisson process with mean `rate`/s.
    Mmpp {
        /// Time-weighted mean arrivals per second.
        rate: f64,
        /// Burst rate ÷ base rate (≥ 1).
        burst_factor: f64,
        /// Long-run fraction of time in the burst state, in (0, 1).
        burst_fraction: f64,
        /// Mean length of one burst.
        burst_mean_len: Duration,
    },
    /// Piecewise-constant Poisson rate over consecutive stages.
    Ramp {
        /// The stages, in order.
        stages: Vec<Stage>,
    },
    /// Poisson at `rate`, multiplied by `factor` inside `[at, at + len)`.
    Flash {
        /// Base rate outside the window.
        rate: f64,
        /// Window start, from run start.
        at: Duration,
        /// Window length.
        len: Duration,
        /// Rate multiplier inside the window.
        factor: f64,
    },
}

/// A configuration problem in an [`ArrivalSpec`]: the flag and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrivalError {
    /// The offending flag.
    pub flag: &'static str,
    /// What is wrong.
    pub message: String,
}

fn check(ok: bool, flag: &'static str, message: &str) -> Result<(), ArrivalError> {
    if ok {
        Ok(())
    } else {
        Err(ArrivalError { flag, message: message.to_owned() })
    }
}

fn positive_rate(rate: f64) -> Result<(), ArrivalError> {
    check(rate.is_finite() && rate > 0.0, "--rate", "must be a positive number of scenarios per second")
}

impl ArrivalSpec {
    /// Short name as used by `--arrival`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Constant { .. } => "constant",
            Self::Poisson { .. } => "poisson",
            Self::Mmpp { .. } => "mmpp",
            Self::Ramp { .. } => "ramp",
            Self::Flash { .. } => "flash",
        }
    }

    /// Checks the parameters; the error names the flag to fix.
    pub fn validate(&self) -> Result<(), ArrivalError> {
        match self {
            Self::Constant { rate } | Self::Poisson { rate } => positive_rate(*rate),
            Self::Mmpp { rate, burst_factor, burst_fraction, burst_mean_len } => {
                positive_rate(*rate)?;
                check(burst_factor.is_finite() && *burst_factor >= 1.0, "--burst-factor", "must be ≥ 1")?;
                check(
                    *burst_fraction > 0.0 && *burst_fraction < 1.0,
                    "--burst-fraction",
                    "must be strictly between 0 and 1",
                )?;
                check(!burst_mean_len.is_zero(), "--burst-mean-len", "must be positive")
            }
            Self::Ramp { stages } => {
                check(!stages.is_empty(), "--stages", "needs at least one stage")?;
                check(stages.iter().all(|s| !s.len.is_zero()), "--stages", "every stage needs a positive duration")?;
                check(
                    stages.iter().all(|s| s.rate.is_finite() && s.rate >= 0.0),
                    "--stages",
                    "every stage rate must be ≥ 0",
                )?;
                check(stages.iter().any(|s| s.rate > 0.0), "--stages", "at least one stage needs a positive rate")
            }
            Self::Flash { rate, len, factor, .. } => {
                positive_rate(*rate)?;
                check(!len.is_zero(), "--flash-len", "must be positive")?;
                check(factor.is_finite() && *factor > 0.0, "--flash-factor", "must be positive")
            }
        }
    }

    /// The rate segments of this process (see the module docs). Constant rate is one
    /// infinite segment, like Poisson.
    pub fn segments(&self, seed: u64) -> RateSegments {
        RateSegments {
            spec: self.clone(),
            rng: StdRng::seed_from_u64(seed ^ 0x5EED_5E65),
            t: 0.0,
            index: 0,
            in_burst: false,
        }
    }

    /// The arrival schedule for this process. Same spec and seed, same offsets.
    pub fn schedule(&self, seed: u64) -> ArrivalSchedule {
        let kind = match self {
            Self::Constant { rate } => ScheduleKind::Constant { rate: *rate, n: 0 },
            Self::Poisson { .. } | Self::Mmpp { .. } | Self::Ramp { .. } | Self::Flash { .. } => {
                ScheduleKind::Modulated(Box::new(Modulated {
                    segments: self.segments(seed),
                    current: None,
                    t: 0.0,
                    rng: StdRng::seed_from_u64(seed),
                }))
            }
        };
        ArrivalSchedule { kind }
    }
}

/// A stretch of time with a constant arrival rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// Start, seconds from run start.
    pub start: f64,
    /// End (exclusive), seconds from run start; `f64::INFINITY` for the last.
    pub end: f64,
    /// Mean arrivals per second within the segment.
    pub rate: f64,
    /// The label given to arrivals in this segment.
    pub state: ArrivalState,
}

/// The (possibly random, possibly infinite) sequence of rate segments of a process.
#[derive(Clone, Debug)]
pub struct RateSegments {
    spec: ArrivalSpec,
    rng: StdRng,
    t: f64,
    index: u64,
    in_burst: bool,
}

/// A standard exponential draw (mean 1).
fn exp1(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random();
    // `u` is in [0, 1), so `1 - u` is in (0, 1] and the log is finite.
    -(1.0 - u).ln()
}

impl Iterator for RateSegments {
    type Item = Segment;

    fn next(&mut self) -> Option<Segment> {
        let start = self.t;
        let index = self.index;
        self.index += 1;
        let (end, rate, state) = match &self.spec {
            ArrivalSpec::Constant { rate } | ArrivalSpec::Poisson { rate } => {
                if index > 0 {
                    return None;
                }
                (f64::INFINITY, *rate, ArrivalState::Base)
            }
            ArrivalSpec::Mmpp { rate, burst_factor, burst_fraction, burst_mean_len } => {
                let f = *burst_fraction;
                let base_rate = rate / (1.0 - f + f * burst_factor);
                let burst_len = burst_mean_len.as_secs_f64();
                self.in_burst = if index == 0 {
                    // Start in the stationary distribution, so short runs are unbiased too.
                    self.rng.random::<f64>() < f
                } else {
                    !self.in_burst
                };
                if self.in_burst {
                    let len = exp1(&mut self.rng) * burst_len;
                    (start + len, base_rate * burst_factor, ArrivalState::Burst)
                } else {
                    let len = exp1(&mut self.rng) * burst_len * (1.0 - f) / f;
                    (start + len, base_rate, ArrivalState::Base)
                }
            }
            ArrivalSpec::Ramp { stages } => {
                let stage = stages.get(usize::try_from(index).ok()?)?;
                (
                    start + stage.len.as_secs_f64(),
                    stage.rate,
                    ArrivalState::Ramp(u32::try_from(index).unwrap_or(u32::MAX)),
                )
            }
            ArrivalSpec::Flash { rate, at, len, factor } => match index {
                0 => (at.as_secs_f64(), *rate, ArrivalState::Base),
                1 => (at.as_secs_f64() + len.as_secs_f64(), rate * factor, ArrivalState::Flash),
                2 => (f64::INFINITY, *rate, ArrivalState::Base),
                _ => return None,
            },
        };
        self.t = end;
        Some(Segment { start, end, rate, state })
    }
}

/// One scheduled arrival: when the iteration should start and in which state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    /// Intended start, from run start.
    pub offset: Duration,
    /// The process state at that time.
    pub state: ArrivalState,
}

/// Intended start offsets of an open-loop run, in increasing order.
///
/// An iterator: infinite for every process but ramp. The executor stops taking
/// arrivals at the run duration.
#[derive(Clone, Debug)]
pub struct ArrivalSchedule {
    kind: ScheduleKind,
}

#[derive(Clone, Debug)]
enum ScheduleKind {
    Constant { rate: f64, n: u64 },
    // Boxed: two StdRngs make this ~30× the size of `Constant`.
    Modulated(Box<Modulated>),
}

/// A Poisson process over rate segments: the current segment and the time so far.
#[derive(Clone, Debug)]
struct Modulated {
    segments: RateSegments,
    current: Option<Segment>,
    t: f64,
    rng: StdRng,
}

impl Iterator for ArrivalSchedule {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        match &mut self.kind {
            ScheduleKind::Constant { rate, n } => {
                let offset = *n as f64 / *rate;
                *n += 1;
                Some(Arrival { offset: Duration::from_secs_f64(offset), state: ArrivalState::Base })
            }
            ScheduleKind::Modulated(m) => loop {
                let Modulated { segments, current, t, rng } = &mut **m;
                let seg = match current {
                    Some(seg) => *seg,
                    None => {
                        let seg = segments.next()?;
                        *t = t.max(seg.start);
                        *current = Some(seg);
                        seg
                    }
                };
                if seg.rate > 0.0 {
                    let next = *t + exp1(rng) / seg.rate;
                    if next < seg.end {
                        *t = next;
                        return Some(Arrival { offset: Duration::from_secs_f64(next), state: seg.state });
                    }
                }
                if seg.end.is_infinite() {
                    return None;
                }
                // The gap crossed the boundary: restart there with the next rate.
                *t = seg.end;
                *current = None;
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule() {
        let spec = ArrivalSpec::Mmpp {
            rate: 100.0,
            burst_factor: 4.0,
            burst_fraction: 0.2,
            burst_mean_len: Duration::from_secs(2),
        };
        let a: Vec<_> = spec.schedule(7).take(1000).collect();
        let b: Vec<_> = spec.schedule(7).take(1000).collect();
        let c: Vec<_> = spec.schedule(8).take(1000).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0].offset <= w[1].offset));
    }

    #[test]
    fn parses_stages() {
        let s = parse_stages("10s:100, 20s:400,10s:0").unwrap_or_default();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].len, Duration::from_secs(20));
        assert!(parse_stages("10s").is_err());
        assert!(parse_stages("10s:x").is_err());
        assert!(parse_stages("").is_err());
    }

    #[test]
    fn validation_names_the_flag() {
        let bad = ArrivalSpec::Mmpp {
            rate: 10.0,
            burst_factor: 4.0,
            burst_fraction: 1.0,
            burst_mean_len: Duration::from_secs(1),
        };
        assert_eq!(bad.validate().map_err(|e| e.flag), Err("--burst-fraction"));
        let bad = ArrivalSpec::Poisson { rate: 0.0 };
        assert_eq!(bad.validate().map_err(|e| e.flag), Err("--rate"));
    }

    #[test]
    fn ramp_ends_after_last_stage() {
        let spec = ArrivalSpec::Ramp { stages: vec![Stage { len: Duration::from_secs(1), rate: 50.0 }] };
        let all: Vec<_> = spec.schedule(1).collect();
        assert!(!all.is_empty());
        assert!(all.iter().all(|a| a.offset < Duration::from_secs(1)));
    }
}
