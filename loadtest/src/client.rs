//! `ApiClient`: typed HTTP calls to the Lakehouse API, each timed and classified.
//!
//! Every call returns a [`Call`] carrying the send and end instants and the HTTP
//! status (0 when no response arrived), so the executor can record latency whether the
//! call succeeded or not. The end instant is taken after the whole body is read:
//! a server that streams slowly is slow.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;

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

    fn from_hyper(e: &hyper_util::client::legacy::Error) -> Self {
        // The connector's own connect timeout is a connect error to hyper; count it as a
        // timeout, as every other expired deadline is.
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = source {
            if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
                return Self::Timeout;
            }
            source = s.source();
        }
        if e.is_connect() {
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

/// Typed client for the Lakehouse HTTP API: hyper's pooled HTTP/1.1 client, JSON bodies.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: Client<HttpConnector, Full<Bytes>>,
    base: String,
    timeout: Duration,
}

impl ApiClient {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with a per-request timeout
    /// (covering the whole call: connect, send, and reading the body).
    pub fn new(base: &str, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(5))));
        // Load generators open many parallel connections; keep them warm.
        let http = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(1024).build(connector);
        Self { http, base: base.trim_end_matches('/').to_owned(), timeout }
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request and reads the whole response: `(status, body)`.
    async fn exchange<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(u16, Bytes), CallError> {
        let payload = match body {
            Some(b) => Bytes::from(serde_json::to_vec(b).map_err(|e| CallError::Transport(e.to_string()))?),
            None => Bytes::new(),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(payload))
            .map_err(|e| CallError::Transport(e.to_string()))?;
        if body.is_some() {
            req.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let call = async {
            let resp = self.http.request(req).await.map_err(|e| CallError::from_hyper(&e))?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(|e| CallError::Transport(e.to_string()))?;
            Ok((status, bytes.to_bytes()))
        };
        tokio::time::timeout(self.timeout, call).await.unwrap_or(Err(CallError::Timeout))
    }

    async fn call<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Call<T> {
        let sent = Instant::now();
        let (status, result) = match self.exchange(method, path, body).await {
            Err(e) => (0, Err(e)),
            Ok((status, bytes)) if (200..300).contains(&status) => {
                (status, serde_json::from_slice(&bytes).map_err(|e| CallError::Decode(e.to_string())))
            }
            Ok((status, bytes)) => {
                (status, Err(CallError::Status { status, body: serde_json::from_slice(&bytes).unwrap_or_default() }))
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

    /// `GET /metrics`: the server's Prometheus text.
    pub async fn metrics_text(&self) -> Result<String, CallError> {
        let (status, bytes) = self.exchange::<()>(Method::GET, "/metrics", None).await?;
        if (200..300).contains(&status) {
            String::from_utf8(bytes.to_vec()).map_err(|e| CallError::Decode(e.to_string()))
        } else {
            Err(CallError::Status { status, body: ErrorBody::default() })
        }
    }

    /// `GET /health`: on 2xx, whether every index is settled (built and holding every
    /// point; servers that don't report it count as settled).
    pub async fn health(&self) -> Result<bool, CallError> {
        let (status, bytes) = self.exchange::<()>(Method::GET, "/health", None).await?;
        if (200..300).contains(&status) {
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            Ok(body.get("indexes_settled").and_then(|v| v.as_bool()).unwrap_or(true))
        } else {
            Err(CallError::Status { status, body: ErrorBody::default() })
        }
    }
}
