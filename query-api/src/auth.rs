//! Optional API key on write routes, compared in constant time.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// Header carrying the key (`Authorization: Bearer <key>` is accepted too).
pub const API_KEY_HEADER: &str = "x-api-key";

/// Middleware: when a key is configured, require it.
pub async fn require_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.api_key.as_deref() else {
        return next.run(req).await;
    };
    let headers = req.headers();
    let given = headers
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .or_else(|| headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")))
        .unwrap_or("");
    // ct_eq on equal-length inputs; a length mismatch is not secret worth hiding.
    if given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        next.run(req).await
    } else {
        ApiError::Unauthorized.into_response()
    }
}
