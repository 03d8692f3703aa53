//! `POST /v1/validate/email` and `POST /v1/validate/fill`.

use axum::extract::State;
use axum::Json;
use dataflow::validators::email::{validate_outreach, OutreachDraft};

use crate::error::{ApiError, ApiJson};
use crate::wire::{EmailBody, ValidateFillBody, ValidationResponse};
use crate::AppState;

/// Check an outreach draft.
pub async fn email(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<EmailBody>,
) -> Result<Json<ValidationResponse>, ApiError> {
    if b.body.len() > 65_536 {
        return Err(ApiError::bad("body", "longer than 64 KiB"));
    }
    let worker = state.engine.worker(&b.worker_id);
    let draft = OutreachDraft { kind: b.kind, to: b.to, subject: b.subject, body: b.body, worker_id: b.worker_id };
    Ok(Json(validate_outreach(&draft, worker.as_deref()).into()))
}

/// Check a proposed fill.
pub async fn fill(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<ValidateFillBody>,
) -> Result<Json<ValidationResponse>, ApiError> {
    if b.worker_ids.len() > 1_000 {
        return Err(ApiError::bad("worker_ids", "at most 1000 workers"));
    }
    let job = b.job.into_job()?;
    Ok(Json(state.engine.validate_fill(&job, &b.worker_ids).into()))
}
