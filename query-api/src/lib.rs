//! Lakehouse's REST API: thin axum handlers over the engine handle.
//!
//! [`app`] builds the router (used directly by tests through `oneshot`); [`start`] starts
//! the engine, loads a corpus through the dataflow and serves on a socket.
#![deny(missing_docs)]

pub mod auth;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod pools;
pub mod priority;
pub mod routes;
pub mod server;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{middleware, Router};
use dataflow::engine::Engine;
use tower_http::timeout::TimeoutLayer;

pub use server::{runtime, start, ServerConfig, ServerHandle, StartError};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Request metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Required on write routes when set.
    pub api_key: Option<Arc<str>>,
    /// Nice increment for threads that run request work (see [`priority`]).
    pub request_nice: i32,
    /// Searches allowed to run at once on the search pool (`None`: no limit); the rest wait
    /// their turn without a thread (see [`ServerConfig::search_concurrency`]).
    pub search_slots: Option<Arc<tokio::sync::Semaphore>>,
    /// Threads for searches (see [`pools`]).
    pub searches: Arc<pools::BlockingPool>,
    /// Threads for writes, apart from the searches' (see [`pools`]).
    pub writes: Arc<pools::BlockingPool>,
    /// Threads for read-your-writes searches, apart from the other searches' (see [`pools`]).
    pub fresh_reads: Arc<pools::BlockingPool>,
}

impl AppState {
    /// State over `engine`, with an optional API key.
    pub fn new(engine: Arc<Engine>, api_key: Option<String>) -> Self {
        AppState {
            engine,
            metrics: Arc::default(),
            api_key: api_key.filter(|k| !k.is_empty()).map(Arc::from),
            request_nice: priority::DEFAULT_REQUEST_NICE,
            search_slots: None,
            searches: Arc::new(pools::BlockingPool::searches(0)),
            writes: Arc::new(pools::BlockingPool::writes()),
            fresh_reads: Arc::new(pools::BlockingPool::fresh_reads()),
        }
    }
}

/// The router.
pub fn app(state: AppState) -> Router {
    let writes = Router::new()
        .route("/v1/workers", post(routes::workers::upsert))
        .route("/v1/workers/{id}", axum::routing::delete(routes::workers::delete))
        .route("/v1/playbooks/record", post(routes::playbooks::record))
        .route("/v1/jobs", post(routes::jobs::submit))
        .route("/v1/jobs/{id}", axum::routing::delete(routes::jobs::cancel))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_key));
    let reads = Router::new()
        .route("/v1/search", post(routes::search::search))
        .route("/v1/workers/{id}", get(routes::workers::get))
        .route("/v1/playbooks/{id}", get(routes::playbooks::get))
        .route("/v1/dead-letters", get(routes::workers::dead_letters))
        .route("/v1/validate/email", post(routes::validate::email))
        .route("/v1/validate/fill", post(routes::validate::fill))
        .route("/v1/indexes", get(routes::ops::indexes))
        .route("/v1/jobs", get(routes::jobs::list))
        .route("/v1/jobs/{id}", get(routes::jobs::get))
        .route("/health", get(routes::ops::health))
        .route("/metrics", get(routes::ops::metrics));
    reads
        .merge(writes)
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .with_state(state)
}
