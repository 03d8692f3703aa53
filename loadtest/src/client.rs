//! `ApiClient`: typed HTTP calls to the Lakehouse API, each timed and classified.
//!
//! Every call returns a [`Call`] carrying the send and end instants and the HTTP
//! status (0 when no response arrived), so the executor can record latency whether the
//! call succeeded or not. The end instant is taken after the whole body is read:
//! a server that streams slowly is slow.

use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

use crate::error::LoadError;
use crate::failure::FailureReason;
use crate::queries::WorkerDoc;
use crate::wire::{
    ErrorBody, RecordRequest, RecordResponse, SearchRequest, SearchResponse, ValidateFillRequest,
    ValidateMessageRequest, ValidateResponse, VersionResponse, WorkerResponse,
};

/// Why a call did not produce the expected 2xx body.
#[derive(Clone, Debug, PartialEq)]
pub enum CallError {
    /// A non-2xx status, with the error body if it parsed.
    Status {
        /// HTTP status code.
        status: u16,
        /// The parsed `{"error", "violations"}` body (default if unparseable).
        body: ErrorBody,
    },
    /// The client timeout expired.
    Timeout,
    /// The connection failed.
    Connect,
    /// Another transport error.
    Transport(String),
    /// The 2xx body did not decode.
    Decode(String),
}

impl CallError {
    /// The reason code this error counts under.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::Status { status, .. } if *status >= 500 => FailureReason::Http5xx,
            Self::Status { .. } => FailureReason::Http4xx,
            Self::Timeout => FailureReason::Timeout,
            Self::Connect => FailureReason::Connect,
            Self::Transport(_) => FailureReason::Transport,
            Self::Decode(_) => FailureReason::Decode,
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_connect() {
            Self::Connect
        } else {
            Self::Transport(e.to_string())
        }
    }
}

/// One timed HTTP call.
#[derive(Debug)]
pub struct Call<T> {
    /// When the request was handed to the client.
    pub sent: Instant,
    /// When the response body was fully read (or the call failed).
    pub end: Instant,
    /// HTTP status; 0 if no response arrived.
    pub status: u16,
    /// The decoded body or the error.
    pub result: Result<T, CallError>,
}

/// Typed client for the Lakehouse HTTP API.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with a per-request timeout.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, LoadError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // Load generators open many parallel connections; keep them warm.
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(LoadError::Client)?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned() })
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Call<T> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        let sent = Instant::now();
        let response = req.send().await;
        let (status, result) = match response {
            Err(e) => (0, Err(CallError::from_reqwest(&e))),
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Err(e) => (status, Err(CallError::from_reqwest(&e))),
                    Ok(bytes) if (200..300).contains(&status) => {
                        (status, serde_json::from_slice(&bytes).map_err(|e| CallError::Decode(e.to_string())))
                    }
                    Ok(bytes) => (
                        status,
                        Err(CallError::Status { status, body: serde_json::from_slice(&bytes).unwrap_or_default() }),
                    ),
                }
            }
        };
        Call { sent, end: Instant::now(), status, result }
    }

    /// `POST /v1/search`.
    pub async fn search(&self, req: &SearchRequest) -> Call<SearchResponse> {
        self.call(Method::POST, "/v1/search", Some(req)).await
    }

    /// `GET /v1/workers/{id}`.
    pub async fn get_worker(&self, id: &str) -> Call<WorkerResponse> {
        self.call::<(), _>(Method::GET, &format!("/v1/workers/{id}"), None).await
    }

    /// `POST /v1/workers` with one worker.
    pub async fn upsert_worker(&self, worker: &WorkerDoc) -> Call<VersionResponse> {
        self.call(Method::POST, "/v1/workers", Some(worker)).await
    }

    /// `DELETE /v1/workers/{id}`.
    pub async fn delete_worker(&self, id: &str) -> Call<VersionResponse> {
        self.call::<(), _>(Method::DELETE, &format!("/v1/workers/{id}"), None).await
    }

    /// `POST /v1/validate/email` (kind `email` or `sms`).
    pub async fn validate_message(&self, req: &ValidateMessageRequest) -> Call<ValidateResponse> {
        self.call(Method::POST, "/v1/validate/email", Some(req)).await
    }

    /// `POST /v1/validate/fill`.
    pub async fn validate_fill(&self, req: &ValidateFillRequest) -> Call<ValidateResponse> {
        self.call(Method::POST, "/v1/validate/fill", Some(req)).await
    }

    /// `POST /v1/playbooks/record`.
    pub async fn record_playbook(&self, req: &RecordRequest) -> Call<RecordResponse> {
        self.call(Method::POST, "/v1/playbooks/record", Some(req)).await
    }

    /// `GET /health`: on 2xx, whether every index is settled (built and holding every
    /// point; servers that don't report it count as settled).
    pub async fn health(&self) -> Result<bool, CallError> {
        let resp =
            self.http.get(format!("{}/health", self.base)).send().await.map_err(|e| CallError::from_reqwest(&e))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            Ok(body.get("indexes_settled").and_then(|v| v.as_bool()).unwrap_or(true))
        } else {
            Err(CallError::Status { status, body: ErrorBody::default() })
        }
    }
}
