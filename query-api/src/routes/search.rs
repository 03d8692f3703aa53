//! `POST /v1/search`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use dataflow::engine::{Filters, SearchQuery};

use crate::error::{ApiError, ApiJson};
use crate::routes::{blocking_fresh, blocking_search, wait_visible};
use crate::wire::{SearchBody, SearchResponse, SearchResult};
use crate::AppState;

/// Largest `exclude_ids` list.
pub const MAX_EXCLUDE: usize = 10_000;

/// Search workers.
pub async fn search(State(state): State<AppState>, ApiJson(body): ApiJson<SearchBody>) -> Result<Response, ApiError> {
    if body.query.trim().is_empty() {
        return Err(ApiError::bad("query", "must not be empty"));
    }
    if body.query.len() > 4_096 {
        return Err(ApiError::bad("query", "longer than 4096 bytes"));
    }
    if body.k == 0 || body.k > dataflow::engine::search::MAX_K {
        return Err(ApiError::bad("k", format!("must be between 1 and {}", dataflow::engine::search::MAX_K)));
    }
    if body.exclude_ids.len() > MAX_EXCLUDE {
        return Err(ApiError::bad("exclude_ids", format!("at most {MAX_EXCLUDE} ids")));
    }
    let available = body.available.as_ref().map(|d| d.parse("available")).transpose()?;
    // A read-your-writes search: its client has just written (see [`crate::pools`]).
    let fresh = body.min_version.is_some();
    if let Some(v) = body.min_version {
        wait_visible(&state, v).await?;
    }
    let f = body.filters.unwrap_or_default();
    let q = SearchQuery {
        text: body.query,
        k: body.k,
        filters: Filters { city: f.city, state: f.state, role: f.role, shift: f.shift },
        exclude_ids: body.exclude_ids,
        use_playbook: body.use_playbook,
        available,
    };
    let engine = state.engine.clone();
    // A result-cache hit is answered here, on the async thread, in microseconds; the rest
    // go to a search thread.
    let out = if let Some(out) = engine.search_cached(&q) {
        state.metrics.inline_searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        out
    } else if fresh {
        blocking_fresh(&state, move || engine.search(&q)).await??
    } else {
        // The slot moves into the search: a client that gives up (or the request timeout)
        // drops this handler, not the search already running on the search pool, so the
        // slot is freed only when the search ends.
        let slot = match &state.search_slots {
            Some(slots) => Some(
                Arc::clone(slots)
                    .acquire_owned()
                    .await
                    .map_err(|e| ApiError::Internal(format!("search slots: {e}")))?,
            ),
            None => None,
        };
        blocking_search(&state, move || {
            let out = engine.search(&q);
            drop(slot);
            out
        })
        .await??
    };
    let lag_ms = dataflow::engine::now_micros().saturating_sub(out.version) as f64 / 1000.0;
    // Serialised here, while the hits are alive: the strings are borrowed, not cloned.
    let results = out
        .hits
        .iter()
        .map(|h| SearchResult {
            id: h.id.as_str(),
            score: h.score,
            similarity: h.similarity,
            playbook_boost: h.playbook_boost,
            name: h.worker.name.as_str(),
            role: h.worker.role.as_str(),
            city: h.worker.city.as_str(),
            state: h.worker.state.as_str(),
        })
        .collect::<Vec<_>>();
    // Into a buffer sized for the answer (about 150 bytes a hit): axum's `Json` starts at
    // 128 bytes and regrows several times for a page of hits.
    let mut body = Vec::with_capacity(64 + 160 * results.len());
    serde_json::to_writer(&mut body, &SearchResponse { results, version: out.version, lag_ms })
        .map_err(|e| ApiError::Internal(format!("search answer: {e}")))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}
