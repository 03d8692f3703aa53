//! Per-route request counts and latency histograms, rendered as Prometheus text together
//! with the engine's gauges.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;

use crate::AppState;

/// Histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<u16, u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Request metrics keyed by (method, matched route).
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<(String, String), RouteStats>>,
    /// Searches answered from the result cache on an async thread, without a search thread.
    pub inline_searches: std::sync::atomic::AtomicU64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, secs: f64) {
        let mut routes = self.routes.lock();
        let s = routes.entry((method.to_owned(), route.to_owned())).or_default();
        *s.by_status.entry(status).or_default() += 1;
        s.count += 1;
        s.sum += secs;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                s.buckets[i] += 1;
            }
        }
    }

    /// Requests seen for `route` (any method, any status).
    pub fn count(&self, route: &str) -> u64 {
        self.routes.lock().iter().filter(|((_, r), _)| r == route).map(|(_, s)| s.count).sum()
    }

    /// Prometheus text for the request metrics.
    pub fn render(&self, out: &mut String) {
        let routes = self.routes.lock();
        out.push_str("# HELP lakehouse_http_requests_total HTTP requests by route and status.\n# TYPE lakehouse_http_requests_total counter\n");
        for ((method, route), s) in routes.iter() {
            for (status, n) in &s.by_status {
                let _ = writeln!(
                    out,
                    "lakehouse_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP lakehouse_http_request_duration_seconds HTTP request latency by route.\n# TYPE lakehouse_http_request_duration_seconds histogram\n");
        for ((method, route), s) in routes.iter() {
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(out, "lakehouse_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"{b}\"}} {}", s.buckets[i]);
            }
            let _ = writeln!(out, "lakehouse_http_request_duration_seconds_bucket{{method=\"{method}\",route=\"{route}\",le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(
                out,
                "lakehouse_http_request_duration_seconds_sum{{method=\"{method}\",route=\"{route}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "lakehouse_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}} {}",
                s.count
            );
        }
    }
}

/// Middleware: time every request under its matched route (unmatched ones as `unmatched`).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(&method, &route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}
