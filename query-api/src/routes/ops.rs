//! `GET /health`, `GET /v1/indexes`, `GET /metrics`, and the JSON 404/405 fallbacks.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// Liveness plus a one-line summary: 503 with `"status": "dataflow_failed"` once the
/// dataflow is down (searches still answer; writes are refused), so a supervisor restarts it.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let s = state.engine.stats();
    let code = if s.dataflow_alive { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        code,
        Json(json!({
            "status": if s.dataflow_alive { "ok" } else { "dataflow_failed" },
            "live_workers": s.live_workers,
            "visible_version": s.visible_version,
            "lag_ms": s.lag_ms,
            "embedder": s.embedder,
            "indexes_settled": s.workers_index.settled && s.playbook_index.settled,
        })),
    )
}

/// Per index: size, kind, tombstones, visible version.
pub async fn indexes(State(state): State<AppState>) -> Json<Value> {
    let s = state.engine.stats();
    Json(json!({
        "visible_version": s.visible_version,
        "indexes": [s.workers_index, s.playbook_index],
    }))
}

/// Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(8_192);
    state.metrics.render(&mut out);
    let s = state.engine.stats();
    let mut gauge = |name: &str, help: &str, value: f64| {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n");
    };
    gauge("lakehouse_visible_version", "Highest version visible in every index.", s.visible_version as f64);
    gauge("lakehouse_freshness_lag_seconds", "Now minus the visible version.", s.lag_ms / 1000.0);
    gauge("lakehouse_dead_letters_total", "Writes refused by validation.", s.dead_letters as f64);
    gauge("lakehouse_live_workers", "Live workers.", s.live_workers as f64);
    gauge("lakehouse_query_cache_hit_ratio", "Query-embedding cache hit rate.", s.cache.hit_rate());
    gauge("lakehouse_query_cache_hits_total", "Query-embedding cache hits.", s.cache.hits as f64);
    gauge("lakehouse_query_cache_misses_total", "Query-embedding cache misses.", s.cache.misses as f64);
    gauge("lakehouse_result_cache_hits_total", "Searches answered from the result cache.", s.result_cache.hits as f64);
    gauge(
        "lakehouse_search_inline_total",
        "Result-cache hits answered on an async thread, without waiting for a search thread.",
        state.metrics.inline_searches.load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    gauge("lakehouse_result_cache_misses_total", "Cacheable searches computed.", s.result_cache.misses as f64);
    gauge(
        "lakehouse_result_cache_invalidated_total",
        "Cached results found stale (or unprovable) and recomputed.",
        s.result_cache.invalidated as f64,
    );
    gauge(
        "lakehouse_result_cache_unprovable_total",
        "Of the invalidated, those not proven either way (more changes since validation than a lookup checks, or older than the change log).",
        s.result_cache.unprovable as f64,
    );
    gauge(
        "lakehouse_index_applies_total",
        "Worker-index applies (each takes the visibility gate once for every version that queued).",
        s.gate_waits.applies as f64,
    );
    gauge(
        "lakehouse_index_apply_gate_wait_seconds_total",
        "Time applies waited for the visibility gate (for searches to finish, and to be woken and run).",
        s.gate_waits.wait_seconds,
    );
    gauge(
        "lakehouse_index_apply_gate_wait_max_seconds",
        "Longest single wait of an apply for the visibility gate.",
        s.gate_waits.max_wait_seconds,
    );
    gauge(
        "lakehouse_read_turn_waits_total",
        "Searches that waited for a turn to read the indexes (--index-readers).",
        s.read_turn_waits as f64,
    );
    gauge(
        "lakehouse_dataflow_times_total",
        "Timely times opened for the versions handed to the dataflow (versions that queued together share one).",
        s.dataflow_times as f64,
    );
    if let Some(d) = state.engine.durability_stats() {
        gauge("lakehouse_snapshots_written_total", "Snapshots written since start.", d.snapshots_written as f64);
        gauge(
            "lakehouse_snapshot_pause_seconds_total",
            "Time new versions were held back for snapshot cuts.",
            d.snapshot_pause_seconds,
        );
        gauge("lakehouse_snapshot_pause_max_seconds", "Longest single snapshot cut.", d.snapshot_pause_max_seconds);
        gauge(
            "lakehouse_snapshot_write_seconds_total",
            "Time spent writing snapshot files (writes keep flowing).",
            d.snapshot_write_seconds,
        );
        gauge(
            "lakehouse_snapshot_bytes_written_total",
            "Bytes of snapshot files written (workers, playbook segments, metadata).",
            d.snapshot_bytes_written as f64,
        );
    }
    let d = &s.visibility_delay;
    let _ = write!(
        out,
        "# HELP lakehouse_visibility_delay_seconds From a write's version stamp (before its log append) to visible in every index.\n\
         # TYPE lakehouse_visibility_delay_seconds summary\n"
    );
    for (q, v) in [("0.5", d.p50_seconds), ("0.99", d.p99_seconds), ("0.999", d.p999_seconds), ("1", d.max_seconds)] {
        let _ = writeln!(out, "lakehouse_visibility_delay_seconds{{quantile=\"{q}\"}} {v}");
    }
    let _ = writeln!(out, "lakehouse_visibility_delay_seconds_sum {}", d.sum_seconds);
    let _ = writeln!(out, "lakehouse_visibility_delay_seconds_count {}", d.count);
    for ix in [&s.workers_index, &s.playbook_index] {
        let _ = writeln!(out, "lakehouse_index_points{{index=\"{}\"}} {}", ix.name, ix.live);
        let _ = writeln!(out, "lakehouse_index_tombstones{{index=\"{}\"}} {}", ix.name, ix.tombstones);
        let _ = writeln!(out, "lakehouse_index_pending{{index=\"{}\"}} {}", ix.name, ix.pending);
        let _ = writeln!(out, "lakehouse_index_graph_panics_total{{index=\"{}\"}} {}", ix.name, ix.graph_panics);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// Unknown route.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound { field: None, message: format!("no route {}", uri.path()) }
}

/// Known route, wrong method.
pub async fn method_not_allowed() -> impl IntoResponse {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(
            json!({"error": {"code": "method_not_allowed", "message": "method not allowed on this route", "field": null}}),
        ),
    )
}
