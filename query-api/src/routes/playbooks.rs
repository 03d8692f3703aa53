//! `POST /v1/playbooks/record`: the record goes through the dataflow's fill validator; the
//! answer waits until it is decided (its version visible), so a 200 means it is searchable.
//! `GET /v1/playbooks/{record_id}`: an accepted record.

use axum::extract::{Path, State};
use axum::Json;
use dataflow::commands::RecordId;
use dataflow::dates::format_date;
use dataflow::engine::state::RecordOutcome;
use dataflow::validators::fill::FillJob;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiJson};
use crate::routes::{blocking_write, wait_visible};
use crate::wire::{RecordBody, RecordResponse};
use crate::AppState;

/// Record a fill.
pub async fn record(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RecordBody>,
) -> Result<Json<RecordResponse>, ApiError> {
    if body.query.trim().is_empty() {
        return Err(ApiError::bad("query", "must not be empty"));
    }
    if body.worker_ids.is_empty() {
        return Err(ApiError::bad("worker_ids", "must not be empty"));
    }
    if body.worker_ids.len() > 100 {
        return Err(ApiError::bad("worker_ids", "at most 100 workers"));
    }
    let dates = body.dates.as_ref().map(|d| d.parse("dates")).transpose()?;
    let job =
        FillJob { role: body.role, city: body.city, state: body.state, count: body.worker_ids.len() as u32, dates };
    let engine = state.engine.clone();
    let (query, ids) = (body.query, body.worker_ids);
    let (version, rid) = blocking_write(&state, move || engine.record_playbook(query, job, ids)).await??;
    wait_visible(&state, version).await?;
    match state.engine.record_outcome(&rid) {
        Some(RecordOutcome::Accepted) => Ok(Json(RecordResponse { version, record_id: rid.0, accepted: true })),
        Some(RecordOutcome::Rejected(violations)) => Err(ApiError::Unprocessable {
            code: "fill_rejected",
            field: Some("worker_ids".into()),
            message: format!("the fill validator refused record {}", rid.0),
            violations,
        }),
        None => Err(ApiError::Internal(format!("record {} visible but undecided", rid.0))),
    }
}

/// Read an accepted record (recorded, restored from a snapshot, or replayed from the log).
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let version = state.engine.visible_version();
    let entry = state
        .engine
        .playbook_entry(&RecordId(id.clone()))
        .ok_or_else(|| ApiError::not_found("record_id", format!("no accepted playbook record {id:?}")))?;
    let dates = entry.job.dates.map(|d| json!({"start": format_date(d.start), "end": format_date(d.end)}));
    Ok(Json(json!({
        "record_id": id,
        "query": entry.query,
        "role": entry.job.role,
        "city": entry.job.city,
        "state": entry.job.state,
        "worker_ids": entry.worker_ids,
        "dates": dates,
        "version": version,
    })))
}
