//! `POST /v1/playbooks/record`: the record goes through the dataflow's fill validator; the
//! answer waits until it is decided (its version visible), so a 200 means it is searchable.

use axum::extract::State;
use axum::Json;
use dataflow::engine::state::RecordOutcome;
use dataflow::validators::fill::FillJob;

use crate::error::{ApiError, ApiJson};
use crate::routes::{blocking, wait_visible};
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
    let (version, rid) = blocking(move || engine.record_playbook(query, job, ids)).await??;
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
