//! The stdout report: the seed's per-scenario table with per-step rows, plus run totals.

use std::fmt::Write as _;

use crate::report::{ScenarioStats, Summary};
use crate::units::format_latency_us;

fn ms(v: f64) -> String {
    format_latency_us((v * 1e3).round() as u64)
}

fn row(out: &mut String, name: &str, s: &ScenarioStats) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {:.1}% | {} | {} | {} | {} |",
        s.runs,
        s.failed,
        s.dropped,
        s.fail_pct,
        ms(s.latency.p50_ms),
        ms(s.latency.p95_ms),
        ms(s.latency.p99_ms),
        ms(s.latency.max_ms),
    );
}

/// Renders the summary as a Markdown table (corrected latencies) and a few total lines.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let m = &summary.meta;
    let _ = writeln!(
        out,
        "Run {} — {} at {} — arrival {}{} — {:.1}s\n",
        m.run_id,
        m.mode,
        m.target,
        m.arrival,
        m.rate.map(|r| format!(" {r}/s")).unwrap_or_default(),
        m.elapsed_s
    );
    // Failed checks and dropped arrivals apart: "Not ok%" is the share of scheduled
    // iterations that failed, were dropped or were aborted (what `fail<` thresholds test).
    out.push_str("| Scenario | Runs | Failed | Dropped | Not ok% | p50 | p95 | p99 | max |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for s in &summary.scenarios {
        if s.runs + s.dropped + s.aborted == 0 {
            continue;
        }
        row(&mut out, &format!("`{}`", s.name), s);
        for step in &s.steps {
            row(&mut out, &format!("  ↳ {}", step.name), step);
        }
    }
    row(&mut out, "**TOTAL**", &summary.total);
    out.push_str(
        "\nNot ok% = (failed + dropped + aborted) ÷ scheduled; `fail<` thresholds test it. A step's \
         failures include those its scenario retried (surge fills racing each other).\n",
    );
    let _ = writeln!(
        out,
        "\n{:.1} scenarios/s, {} dropped, {} aborted (latencies from intended start; uncorrected p99 {})",
        summary.scenarios_per_s,
        summary.total.dropped,
        summary.total.aborted,
        ms(summary.total.uncorrected.p99_ms),
    );
    let _ = writeln!(
        out,
        "harness schedule lag p50 {} p99 {} max {}",
        ms(summary.schedule_lag.p50_ms),
        ms(summary.schedule_lag.p99_ms),
        ms(summary.schedule_lag.max_ms),
    );
    let f = &summary.freshness;
    if f.writes > 0 {
        let _ = writeln!(
            out,
            "ingest: {} writes ({} upserts, {} deletes), {:.1}% failed; freshness p50 {} p99 {}; ack p50 {} p99 {}",
            f.writes,
            f.upserts,
            f.deletes,
            f.fail_pct,
            ms(f.visible.p50_ms),
            ms(f.visible.p99_ms),
            ms(f.ack.p50_ms),
            ms(f.ack.p99_ms),
        );
    }
    for (name, n) in &summary.counters {
        let _ = writeln!(out, "{name}: {n}");
    }
    if !summary.failure_examples.is_empty() {
        let _ = writeln!(out, "failed checks, the first {} with what they saw:", summary.failure_examples.len());
        for e in &summary.failure_examples {
            let _ = writeln!(out, "  {} #{} {}: {}", e.scenario, e.iteration, e.reason, e.detail);
        }
    }
    for t in &summary.thresholds {
        let _ = writeln!(out, "threshold {} — {}", t.rule, if t.passed { "ok" } else { "VIOLATED" });
        if !t.passed {
            let _ = writeln!(out, "  {}", t.detail);
        }
    }
    out
}
