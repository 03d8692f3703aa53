//! `POST /v1/jobs`, `GET /v1/jobs`, `GET /v1/jobs/{id}`, `DELETE /v1/jobs/{id}`: batch jobs
//! (parquet ingest, re-embed, index rebuild) beside the stream. The job logic lives in
//! `dataflow::jobs`; these handlers only translate.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use dataflow::jobs::JobInfo;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiJson};
use crate::routes::blocking;
use crate::wire::{JobCreated, JobRequest};
use crate::AppState;

/// Queue a job: 202 with its id.
pub async fn submit(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<JobRequest>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let spec = body.into_spec()?;
    let engine = state.engine.clone();
    // Blocking: the job record is fsynced before the job is acknowledged.
    let info = blocking(&state, move || engine.jobs().submit(spec)).await??;
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id: info.id.0, state: info.state })))
}

/// Every job, newest first.
pub async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "jobs": state.engine.jobs().list() }))
}

/// One job: state, progress, throughput, times, visible version, error.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<JobInfo>, ApiError> {
    Ok(Json(state.engine.jobs().get(&id)?))
}

/// Cancel a job (409 once it has submitted its output or has finished).
pub async fn cancel(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<JobInfo>, ApiError> {
    let engine = state.engine.clone();
    Ok(Json(blocking(&state, move || engine.jobs().cancel(&id)).await??))
}
