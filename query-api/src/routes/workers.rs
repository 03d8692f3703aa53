//! `POST /v1/workers`, `GET /v1/workers/{id}`, `DELETE /v1/workers/{id}`, dead letters.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiJson};
use crate::routes::blocking_write;
use crate::wire::{now_ms, UpsertBody, VersionResponse, WorkerBody};
use crate::AppState;

/// Largest batch in one request.
pub const MAX_BATCH: usize = 10_000;

/// Upsert one worker or a batch, at one version.
pub async fn upsert(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<UpsertBody>,
) -> Result<Json<VersionResponse>, ApiError> {
    let records = match body {
        UpsertBody::One(w) => vec![w.into_record("")?],
        UpsertBody::Batch { workers } => {
            if workers.is_empty() {
                return Err(ApiError::bad("workers", "must not be empty"));
            }
            if workers.len() > MAX_BATCH {
                return Err(ApiError::bad("workers", format!("at most {MAX_BATCH} per request")));
            }
            workers
                .into_iter()
                .enumerate()
                .map(|(i, w)| w.into_record(&format!("workers[{i}].")))
                .collect::<Result<_, _>>()?
        }
    };
    let engine = state.engine.clone();
    let version = blocking_write(&state, move || engine.upsert_workers(records)).await??;
    Ok(Json(VersionResponse { version }))
}

/// Delete a live worker.
pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<VersionResponse>, ApiError> {
    if state.engine.worker(&id).is_none() {
        return Err(ApiError::not_found("id", format!("no worker {id:?}")));
    }
    let engine = state.engine.clone();
    let version = blocking_write(&state, move || engine.delete_worker(&id, now_ms())).await??;
    Ok(Json(VersionResponse { version }))
}

/// Read a live worker.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let version = state.engine.visible_version();
    let w = state.engine.worker(&id).ok_or_else(|| ApiError::not_found("id", format!("no worker {id:?}")))?;
    Ok(Json(json!({ "worker": WorkerBody::from_record(&w), "version": version })))
}

/// The last refused writes.
pub async fn dead_letters(State(state): State<AppState>) -> Json<Value> {
    let dead = state.engine.dead_letters();
    let tail: Vec<_> = dead.iter().rev().take(1_000).collect();
    Json(json!({ "total": state.engine.stats().dead_letters, "dead_letters": tail }))
}
