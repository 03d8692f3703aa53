//! Pass/fail thresholds: `p99<20ms`, `fail<0.1%`, `rate>100/s`, optionally `scenario:`-scoped.
//!
//! Grammar: `[SCOPE:]METRIC OP VALUE` where SCOPE is a scenario name or `freshness`
//! (default: all scenarios together), and
//! - `p50|p95|p99|p999|max|mean < N(us|ms|s)`: corrected latency (freshness: write →
//!   visible);
//! - `fail < N%`: (failed + dropped + aborted) ÷ scheduled (freshness: failed writes);
//! - `rate > N/s`: executed scenarios per second (freshness: writes per second).
//!
//! # Notes
//! A latency rule on a scope with no samples is violated: a CI gate on a scenario that
//! never ran should not pass silently.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::report::{LatencyStats, Summary};
use crate::scenarios::ScenarioKind;

/// What a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// All scenarios together.
    Total,
    /// One scenario.
    Scenario(ScenarioKind),
    /// Ingest writes.
    Freshness,
}

/// A latency statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Median.
    P50,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Maximum.
    Max,
    /// Mean.
    Mean,
}

impl Stat {
    fn of(self, l: &LatencyStats) -> f64 {
        match self {
            Self::P50 => l.p50_ms,
            Self::P95 => l.p95_ms,
            Self::P99 => l.p99_ms,
            Self::P999 => l.p999_ms,
            Self::Max => l.max_ms,
            Self::Mean => l.mean_ms,
        }
    }
}

/// The comparison a rule makes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    /// Latency statistic below `limit_ms`.
    Latency {
        /// Which statistic.
        stat: Stat,
        /// Upper bound, ms.
        limit_ms: f64,
    },
    /// Failure percentage below this.
    FailPct(f64),
    /// Rate per second above this.
    MinRate(f64),
}

/// One parsed `--threshold` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The rule as written.
    pub text: String,
    /// What it applies to.
    pub scope: Scope,
    /// The comparison.
    pub check: Check,
}

/// A malformed `--threshold` rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("threshold `{rule}`: {reason}")]
pub struct ThresholdError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

fn err(rule: &str, reason: impl Into<String>) -> ThresholdError {
    ThresholdError { rule: rule.to_owned(), reason: reason.into() }
}

fn number(rule: &str, s: &str) -> Result<f64, ThresholdError> {
    let v: f64 = s.trim().parse().map_err(|_| err(rule, format!("`{}` is not a number", s.trim())))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(err(rule, "the limit must be a non-negative number"))
    }
}

impl FromStr for Rule {
    type Err = ThresholdError;

    fn from_str(text: &str) -> Result<Self, ThresholdError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (scope, expr) = match compact.split_once(':') {
            Some((scope, expr)) if !scope.contains(['<', '>']) => {
                let scope = match scope {
                    "freshness" => Scope::Freshness,
                    "total" | "all" => Scope::Total,
                    name => Scope::Scenario(ScenarioKind::from_name(name).ok_or_else(|| {
                        err(text, format!("unknown scope `{name}` (a scenario name, `freshness` or `total`)"))
                    })?),
                };
                (scope, expr)
            }
            _ => (Scope::Total, compact.as_str()),
        };
        let (metric, op, value) = match expr.find(['<', '>']) {
            Some(i) => (&expr[..i], &expr[i..=i], &expr[i + 1..]),
            None => return Err(err(text, "expected METRIC<VALUE or rate>VALUE, e.g. `p99<20ms`")),
        };
        let value = value.strip_prefix('=').unwrap_or(value);
        let stat = match metric {
            "p50" => Some(Stat::P50),
            "p95" => Some(Stat::P95),
            "p99" => Some(Stat::P99),
            "p999" => Some(Stat::P999),
            "max" => Some(Stat::Max),
            "mean" => Some(Stat::Mean),
            _ => None,
        };
        let check = match (stat, metric, op) {
            (Some(stat), _, "<") => {
                let d = crate::units::parse_duration(value).map_err(|e| err(text, format!("latency limit: {e}")))?;
                Check::Latency { stat, limit_ms: d.as_secs_f64() * 1e3 }
            }
            (None, "fail", "<") => {
                let v =
                    value.strip_suffix('%').ok_or_else(|| err(text, "the fail limit needs a `%`, e.g. `fail<0.1%`"))?;
                Check::FailPct(number(text, v)?)
            }
            (None, "rate", ">") => {
                let v = value
                    .strip_suffix("/s")
                    .ok_or_else(|| err(text, "the rate limit needs `/s`, e.g. `rate>100/s`"))?;
                Check::MinRate(number(text, v)?)
            }
            (Some(_), _, _) | (None, "fail", _) => return Err(err(text, format!("`{metric}` takes `<`"))),
            (None, "rate", _) => return Err(err(text, "`rate` takes `>`")),
            (None, other, _) => {
                return Err(err(text, format!("unknown metric `{other}` (p50, p95, p99, p999, max, mean, fail, rate)")))
            }
        };
        Ok(Self { text: text.trim().to_owned(), scope, check })
    }
}

/// The verdict on one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThresholdResult {
    /// The rule as written.
    pub rule: String,
    /// Whether it held.
    pub passed: bool,
    /// The observed value (ms, percent or per second).
    pub observed: f64,
    /// The limit (same unit).
    pub limit: f64,
    /// Human-readable explanation.
    pub detail: String,
}

impl fmt::Display for ThresholdResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

/// Evaluates every rule against the summary.
pub fn evaluate(rules: &[Rule], summary: &Summary) -> Vec<ThresholdResult> {
    rules.iter().map(|r| evaluate_one(r, summary)).collect()
}

fn evaluate_one(rule: &Rule, s: &Summary) -> ThresholdResult {
    let (latency, fail_pct, rate, what) = match rule.scope {
        Scope::Total => (s.total.latency, s.total.fail_pct, s.total.rate_per_s, "scenarios"),
        Scope::Scenario(kind) => match s.scenario(kind.name()) {
            Some(st) => (st.latency, st.fail_pct, st.rate_per_s, kind.name()),
            None => (LatencyStats::default(), 0.0, 0.0, kind.name()),
        },
        Scope::Freshness => (s.freshness.visible, s.freshness.fail_pct, s.freshness.rate_per_s, "freshness"),
    };
    let (passed, observed, limit, detail) = match rule.check {
        Check::Latency { stat, limit_ms } => {
            let v = stat.of(&latency);
            if latency.count == 0 {
                (false, v, limit_ms, format!("no {what} samples to judge"))
            } else {
                (v < limit_ms, v, limit_ms, format!("observed {v:.3}ms, limit {limit_ms:.3}ms ({what})"))
            }
        }
        Check::FailPct(limit) => {
            (fail_pct < limit, fail_pct, limit, format!("observed {fail_pct:.3}% failed, limit {limit}% ({what})"))
        }
        Check::MinRate(limit) => (rate > limit, rate, limit, format!("observed {rate:.1}/s, limit {limit}/s ({what})")),
    };
    ThresholdResult { rule: rule.text.clone(), passed, observed, limit, detail }
}
