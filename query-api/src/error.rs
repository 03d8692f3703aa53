//! `ApiError`: every failure a handler can return, rendered as
//! `{"error": {"code", "message", "field"}}` with a 4xx status wherever the client is at fault.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use dataflow::jobs::JobError;
use dataflow::validators::Violation;
use dataflow::DataflowError;
use serde::Serialize;

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// The body or a parameter is malformed or out of range.
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// Offending field, when known.
        field: Option<String>,
        /// Explanation.
        message: String,
    },
    /// A well-formed request that breaks a rule (e.g. a refused fill).
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// Offending field.
        field: Option<String>,
        /// Explanation.
        message: String,
        /// Rule violations, when a validator refused.
        violations: Vec<Violation>,
    },
    /// The thing named does not exist.
    NotFound {
        /// What was looked for.
        field: Option<String>,
        /// Explanation.
        message: String,
    },
    /// The request conflicts with the resource's state (e.g. cancelling a finished job).
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// A missing or wrong API key.
    Unauthorized,
    /// `min_version` did not become visible in time.
    VersionTimeout {
        /// The version waited for.
        version: u64,
    },
    /// The body is larger than allowed.
    TooLarge,
    /// The engine is stopping.
    Unavailable,
    /// A write could not be made durable (disk full, permission denied, read-only data
    /// directory, failed fsync); reads are still served.
    StorageUnavailable(String),
    /// A bug or an unexpected failure: logged, never detailed to the client.
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
    #[serde(skip_serializing_if = "<[Violation]>::is_empty")]
    violations: &'a [Violation],
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code: "invalid_field", field: Some(field.to_owned()), message: message.into() }
    }

    /// A 404 naming `field`.
    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        ApiError::NotFound { field: Some(field.to_owned()), message: message.into() }
    }

    fn parts(&self) -> (StatusCode, &str, Option<&str>, String, &[Violation]) {
        match self {
            ApiError::BadRequest { code, field, message } => {
                (StatusCode::BAD_REQUEST, code, field.as_deref(), message.clone(), &[])
            }
            ApiError::Unprocessable { code, field, message, violations } => {
                (StatusCode::UNPROCESSABLE_ENTITY, code, field.as_deref(), message.clone(), violations)
            }
            ApiError::NotFound { field, message } => {
                (StatusCode::NOT_FOUND, "not_found", field.as_deref(), message.clone(), &[])
            }
            ApiError::Conflict { code, message } => (StatusCode::CONFLICT, code, None, message.clone(), &[]),
            ApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized", None, "a valid API key is required".into(), &[])
            }
            ApiError::VersionTimeout { version } => (
                StatusCode::REQUEST_TIMEOUT,
                "version_not_visible",
                Some("min_version"),
                format!("version {version} did not become visible in time"),
                &[],
            ),
            ApiError::TooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", None, "the request body is too large".into(), &[])
            }
            ApiError::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None, "the engine is shutting down".into(), &[])
            }
            ApiError::StorageUnavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", None, message.clone(), &[])
            }
            ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", None, "internal error".into(), &[])
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let (status, code, field, message, violations) = self.parts();
        let body = Envelope { error: ErrorBody { code, message: &message, field }, violations };
        (status, Json(body)).into_response()
    }
}

impl From<DataflowError> for ApiError {
    fn from(e: DataflowError) -> Self {
        match e {
            DataflowError::InvalidSearch { field, reason } => ApiError::bad(field, reason),
            DataflowError::Stopped => ApiError::Unavailable,
            e @ DataflowError::Storage { .. } => {
                tracing::error!(error = %e, "write refused: storage unavailable");
                ApiError::StorageUnavailable(format!("the write was not made durable and is not applied: {e}"))
            }
            DataflowError::Sink(s) => ApiError::bad("query", s.to_string()),
            // `_`: the enum is non-exhaustive; anything new is a server-side failure.
            other @ (DataflowError::Corpus(_)
            | DataflowError::Embed(_)
            | DataflowError::Config { .. }
            | DataflowError::EmbedderMismatch { .. }
            | DataflowError::Start { .. }
            | _) => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NotFound { .. } => ApiError::not_found("id", e.to_string()),
            JobError::InvalidSpec { field, reason } => ApiError::bad(field, reason),
            JobError::Finished { .. } => ApiError::Conflict { code: "job_finished", message: e.to_string() },
            JobError::Committed { .. } => ApiError::Conflict { code: "job_committed", message: e.to_string() },
            JobError::Stopped => ApiError::Unavailable,
            JobError::Store { .. } => {
                tracing::error!(error = %e, "job refused: its record could not be written");
                ApiError::StorageUnavailable(format!("the job was not recorded and is not queued: {e}"))
            }
            // `_`: the enum is non-exhaustive; anything new is a server-side failure.
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match &r {
            JsonRejection::JsonDataError(e) => {
                // serde's message names the field ("missing field `query`", "k: invalid type…").
                let msg = std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_else(|| e.body_text());
                let field = field_of(&msg);
                ApiError::BadRequest { code: "invalid_body", field, message: msg }
            }
            JsonRejection::JsonSyntaxError(_) => {
                ApiError::BadRequest { code: "malformed_json", field: None, message: r.body_text() }
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest {
                code: "unsupported_media_type",
                field: None,
                message: "expected `Content-Type: application/json`".into(),
            },
            _ if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            JsonRejection::BytesRejection(_) | _ => {
                ApiError::BadRequest { code: "invalid_body", field: None, message: r.body_text() }
            }
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadRequest { code: "invalid_path", field: Some("id".into()), message: r.body_text() }
    }
}

/// The field a serde message is about: a leading `path.to.field: ` or a quoted `` `field` ``.
fn field_of(msg: &str) -> Option<String> {
    if let Some((path, _)) = msg.split_once(": ") {
        if !path.contains(' ') && !path.is_empty() {
            return Some(path.to_owned());
        }
    }
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(msg[start..start + len].to_owned())
}

/// `Json` whose rejections are [`ApiError`]s, so malformed bodies answer in our shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_is_found_in_serde_messages() {
        assert_eq!(field_of("k: invalid type: string \"x\", expected usize at line 1 column 8"), Some("k".into()));
        assert_eq!(field_of("missing field `query` at line 1 column 2"), Some("query".into()));
        assert_eq!(field_of("something else"), None);
    }
}
