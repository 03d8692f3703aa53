//! How long writes take to become visible: from the moment a write is stamped with its
//! version (before its log append) to the moment the visible frontier passes it.
//!
//! A client's freshness (write sent → a search shows it) adds the HTTP round trips and the
//! search itself to this; the server-side figure says how much of it is the dataflow.

use std::collections::VecDeque;

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::commands::Version;

/// Versions remembered while they wait to become visible; past this many (a stalled
/// dataflow) the oldest is recorded with its delay so far, rather than the queue growing
/// without bound.
const MAX_WAITING: usize = 1 << 20;

/// Stamp-to-visible delays of every write (microseconds).
pub struct VisibilityDelays {
    /// Issued versions not visible yet, ascending (versions are issued in order).
    waiting: Mutex<VecDeque<Version>>,
    hist: Mutex<Histogram<u64>>,
}

/// A snapshot of [`VisibilityDelays`].
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct VisibilityDelayStats {
    /// Writes that became visible.
    pub count: u64,
    /// Sum of their delays, seconds.
    pub sum_seconds: f64,
    /// Median, seconds.
    pub p50_seconds: f64,
    /// 99th percentile, seconds.
    pub p99_seconds: f64,
    /// 99.9th percentile, seconds.
    pub p999_seconds: f64,
    /// Longest, seconds.
    pub max_seconds: f64,
}

impl Default for VisibilityDelays {
    fn default() -> Self {
        VisibilityDelays {
            waiting: Mutex::new(VecDeque::new()),
            // 1 µs to 1 hour at 3 significant digits; larger delays saturate.
            hist: Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")),
        }
    }
}

impl VisibilityDelays {
    /// `version` was just handed to the dataflow (call in version order).
    pub fn issued(&self, version: Version) {
        let mut w = self.waiting.lock();
        if w.len() >= MAX_WAITING {
            if let Some(oldest) = w.pop_front() {
                let waited = crate::engine::now_micros().saturating_sub(oldest).max(1);
                self.hist.lock().saturating_record(waited);
            }
        }
        w.push_back(version);
    }

    /// Forget everything recorded so far (e.g. the log replayed at start).
    pub fn reset(&self) {
        self.waiting.lock().clear();
        self.hist.lock().reset();
    }

    /// Everything at or below `visible` is visible at `now` (µs since the epoch, the clock
    /// versions are stamped with): record each waiting version's delay.
    pub fn visible(&self, visible: Version, now: u64) {
        // Lock order as in `issued`: the queue, then the histogram.
        let mut w = self.waiting.lock();
        if w.front().is_none_or(|v| *v > visible) {
            return;
        }
        let mut h = self.hist.lock();
        while let Some(v) = w.front().copied().filter(|v| *v <= visible) {
            w.pop_front();
            h.saturating_record(now.saturating_sub(v).max(1));
        }
    }

    /// Counts and quantiles so far.
    pub fn stats(&self) -> VisibilityDelayStats {
        let h = self.hist.lock();
        let secs = |us: u64| us as f64 / 1e6;
        VisibilityDelayStats {
            count: h.len(),
            sum_seconds: h.mean() * h.len() as f64 / 1e6,
            p50_seconds: secs(h.value_at_quantile(0.5)),
            p99_seconds: secs(h.value_at_quantile(0.99)),
            p999_seconds: secs(h.value_at_quantile(0.999)),
            max_seconds: secs(h.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_is_recorded_once_with_its_own_delay() {
        let d = VisibilityDelays::default();
        for v in [1_000, 2_000, 3_000] {
            d.issued(v);
        }
        d.visible(2_000, 10_000);
        let s = d.stats();
        assert_eq!(s.count, 2);
        // 9 ms and 8 ms.
        assert!((s.max_seconds - 0.009).abs() < 1e-4, "{s:?}");
        assert!((s.sum_seconds - 0.017).abs() < 1e-4, "{s:?}");
        // Nothing new becomes visible: nothing is recorded again.
        d.visible(2_500, 20_000);
        assert_eq!(d.stats().count, 2);
        d.visible(3_000, 4_000);
        let s = d.stats();
        assert_eq!(s.count, 3);
        assert!((s.sum_seconds - 0.018).abs() < 1e-4, "{s:?}");
    }
}
