//! Handlers, one file per resource. Each is thin: parse, call the engine, shape the answer.

pub mod jobs;
pub mod ops;
pub mod playbooks;
pub mod search;
pub mod validate;
pub mod workers;

use std::time::Duration;

use crate::error::ApiError;
use crate::AppState;

/// How long a request may wait for a version to become visible.
pub const VISIBILITY_WAIT: Duration = Duration::from_secs(10);

/// Wait until `version` is visible or fail with 408.
pub async fn wait_visible(state: &AppState, version: u64) -> Result<(), ApiError> {
    if state.engine.wait_visible(version, VISIBILITY_WAIT).await {
        Ok(())
    } else {
        Err(ApiError::VersionTimeout { version })
    }
}

/// Run a search on the search pool, on a thread lowered to the request priority (see
/// [`crate::pools`] and [`crate::priority`]).
pub async fn blocking_search<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    joined(state.searches.spawn(lowered(state.request_nice, f))).await
}

/// Run other CPU-bound engine work off the async threads, on a blocking-pool thread lowered
/// to the request priority (see [`crate::priority`]).
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    joined(tokio::task::spawn_blocking(lowered(state.request_nice, f))).await
}

/// `f`, run after lowering its thread by `nice` (once per thread; see [`crate::priority`]).
fn lowered<T>(nice: i32, f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    move || {
        crate::priority::lower_current_thread(nice);
        f()
    }
}

/// Run a read-your-writes search on its own pool, at the dataflow's priority, so it does not
/// queue behind a burst of other searches (see [`crate::pools`]).
pub async fn blocking_fresh<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    joined(state.fresh_reads.spawn(f)).await
}

/// Run a write (which waits for the log's fsync) on the write pool, so waiting writes
/// never hold the threads searches run on (see [`crate::pools`]). Write threads keep the
/// dataflow's priority: the request nice exists so that searches yield to writes.
pub async fn blocking_write<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    joined(state.writes.spawn(f)).await
}

async fn joined<T>(task: tokio::task::JoinHandle<T>) -> Result<T, ApiError> {
    task.await.map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))
}
