//! The write pool: the threads that wait for the write-ahead log, apart from the searches'.
//!
//! A write holds its thread until the log's group commit has fsynced it: about 13 ms under
//! load on this project's machine, and 800 ms when the disk stalls. On the runtime's own
//! blocking pool (16 threads on 2 cores) ~870 writes a second kept about 11 of the 16 busy
//! doing nothing, and a stalled fsync took all 16: every search then waited for a thread
//! (searches' max went to 800 ms while the async-only routes stayed under 25 ms). Writes
//! run here instead, on up to [`WRITE_THREADS`] threads that mostly sleep; the searches
//! keep the blocking pool, and many waiting writers still share one fsync.

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// Most write threads. Each waits on the log, not on a core, so more threads only mean
/// bigger group commits; beyond this, writes queue without a thread.
pub const WRITE_THREADS: usize = 64;

/// Blocking threads for writes (see the module docs).
pub struct WritePool {
    /// `None` if the pool could not be started: writes then share the blocking pool.
    runtime: Option<Runtime>,
}

impl WritePool {
    /// A pool of up to [`WRITE_THREADS`] threads, each started when a write first needs it.
    /// The runtime is only a blocking pool: nothing drives it, and it has no worker thread.
    pub fn new() -> Self {
        let built = Builder::new_current_thread()
            .thread_name("lakehouse-writes")
            .thread_keep_alive(crate::server::BLOCKING_KEEP_ALIVE)
            .max_blocking_threads(WRITE_THREADS)
            .build();
        match built {
            Ok(runtime) => WritePool { runtime: Some(runtime) },
            Err(e) => {
                tracing::warn!(error = %e, "no write pool; writes share the blocking pool with searches");
                WritePool { runtime: None }
            }
        }
    }

    /// Run `f` on a write thread. Call from within a tokio runtime.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        match &self.runtime {
            Some(rt) => rt.spawn_blocking(f),
            None => tokio::task::spawn_blocking(f),
        }
    }
}

impl Default for WritePool {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WritePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WritePool").field("started", &self.runtime.is_some()).finish()
    }
}

impl Drop for WritePool {
    fn drop(&mut self) {
        // Dropping a runtime from async code panics; this one has no async work to wait
        // for, and a write still running finishes on its detached thread.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::{Condvar, Mutex};
    use std::sync::Arc;
    use std::time::Duration;

    /// Writes that wait until the gate opens, as on a stalled fsync.
    fn stuck_writes(pool: &WritePool, n: usize, gate: &Arc<(Mutex<bool>, Condvar)>) -> Vec<JoinHandle<()>> {
        (0..n)
            .map(|_| {
                let gate = Arc::clone(gate);
                pool.spawn(move || {
                    let (open, cv) = &*gate;
                    let mut open = open.lock();
                    while !*open {
                        cv.wait(&mut open);
                    }
                })
            })
            .collect()
    }

    #[test]
    fn stalled_writes_leave_the_blocking_pool_to_searches() {
        // The server's runtime, with a blocking pool of 2 threads.
        let rt = Builder::new_multi_thread().worker_threads(1).max_blocking_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let pool = WritePool::new();
            let name = pool.spawn(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
            assert_eq!(name.as_deref(), Some("lakehouse-writes"));

            let gate = Arc::new((Mutex::new(false), Condvar::new()));
            let stuck = stuck_writes(&pool, 8, &gate);
            // A search on the blocking pool still gets a thread at once; had the 8 writes
            // gone to the blocking pool, it would wait for them.
            let search = tokio::time::timeout(Duration::from_secs(5), tokio::task::spawn_blocking(|| 42)).await;
            *gate.0.lock() = true;
            gate.1.notify_all();
            assert_eq!(search.expect("the search waited for the stalled writes").unwrap(), 42);
            for w in stuck {
                w.await.unwrap();
            }
        });
    }
}
