//! The server's thread pools: searches, read-your-writes searches and writes each get
//! their own, apart from the runtime's blocking pool (jobs' requests, start-up work).
//!
//! **Searches** run on [`BlockingPool::searches`]. Each uses a core while it runs. With
//! more search threads than cores, a burst shares the cores among all of them, and the
//! dataflow thread waits for a core behind them. (Until session 13 each search also held
//! the engine's visibility gate for its whole walk, and an index apply waited for every
//! holder; now it holds it only to finish.) The rest of a burst waits in the pool's queue,
//! holding nothing; how many threads was a choice between read throughput and write
//! visibility before the overlay (see [`default_search_threads`]); since, 4, 8 and 16
//! threads gave the same throughput and freshness within this box's noise (session 14).
//!
//! **Read-your-writes searches.** A search that names a `min_version` comes from a client
//! that has just written and wants to see it. In a burst the search pool's queue holds
//! hundreds of searches, and a search queued behind them takes as long as the queue, however
//! fresh the index is. Such searches run on [`BlockingPool::fresh_reads`]: a few threads of
//! their own, never lowered to the request priority, so they wait only for each other and
//! share the cores with the searches already running. A client could mark every search
//! this way; it would then queue in this small pool instead, which is no better for it than
//! the shared one.
//!
//! **Writes.** A write holds its thread until the log's group commit has fsynced it: about
//! 13 ms under load on this project's machine, and 800 ms when the disk stalls. On a shared
//! pool (16 threads on 2 cores) ~870 writes a second kept about 11 of the 16 busy doing
//! nothing, and a stalled fsync took all 16: every search then waited for a thread
//! (searches' max went to 800 ms while the async-only routes stayed under 25 ms). Writes run
//! on [`BlockingPool::writes`] instead, on up to [`WRITE_THREADS`] threads that mostly
//! sleep, and many waiting writers still share one fsync.
//!
//! Figures: `docs/BENCHMARKS.md`, sessions 6 and 12.

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// Most write threads. Each waits on the log, not on a core, so more threads only mean
/// bigger group commits; beyond this, writes queue without a thread.
pub const WRITE_THREADS: usize = 64;

/// Most threads for read-your-writes searches: twice the cores. Each search uses a core
/// while it runs, so more threads would only share the same cores.
pub fn fresh_read_threads() -> usize {
    cores().saturating_mul(2)
}

/// Default number of search threads: 8 per core, at least 16 (tokio's default of 512 let a
/// burst grow hundreds of threads that only contended for the same cores; on 2 cores, 16
/// gave the lowest tail of 8, 16 and 64, `docs/BENCHMARKS.md`, session 5).
///
/// Fewer threads made writes visible sooner under a burst when searches held the visibility
/// gate for their walk (fewer searches shared the cores, so each left the gate sooner): on
/// this project's 2-core machine, 4 threads against 16 cut the server's visibility p99
/// about in half at the goal's load, but in
/// three of four 5-minute runs next to a base run completed 2–5% fewer scenarios, with
/// more dropped at the harness's in-flight cap (`docs/BENCHMARKS.md`, session 12). Since a
/// search holds the gate only to finish (session 13), 4 and 8 threads completed 1,515.0 and
/// 1,528.6 scenarios/s with freshness p99 113 and 118 ms, against 1,514.6–1,534.3/s and
/// 110–144 ms for 16 (session 14): no difference this box can resolve, so the default stays.
pub fn default_search_threads() -> usize {
    cores().saturating_mul(8).max(16)
}

/// Cores this process may use (2 if unknown).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A blocking-only tokio runtime: threads started on demand, none driving async work.
pub struct BlockingPool {
    name: &'static str,
    /// `None` if the pool could not be started: its work then runs on the caller's
    /// runtime's blocking pool.
    runtime: Option<Runtime>,
}

impl BlockingPool {
    /// A pool of up to `threads` threads named `name`, each started when work first needs it.
    pub fn new(name: &'static str, threads: usize) -> Self {
        let built = Builder::new_current_thread()
            .thread_name(name)
            .thread_keep_alive(crate::server::BLOCKING_KEEP_ALIVE)
            .max_blocking_threads(threads.max(1))
            .build();
        match built {
            Ok(runtime) => BlockingPool { name, runtime: Some(runtime) },
            Err(e) => {
                tracing::warn!(error = %e, pool = name, "no thread pool; its work shares the blocking pool");
                BlockingPool { name, runtime: None }
            }
        }
    }

    /// The write pool (see the module docs).
    pub fn writes() -> Self {
        Self::new("lakehouse-writes", WRITE_THREADS)
    }

    /// The pool for searches: up to `threads` (0: [`default_search_threads`]); more wait, in
    /// arrival order, without a thread.
    pub fn searches(threads: usize) -> Self {
        Self::new("lakehouse-search", if threads == 0 { default_search_threads() } else { threads })
    }

    /// The pool for read-your-writes searches (see the module docs).
    pub fn fresh_reads() -> Self {
        Self::new("lakehouse-fresh", fresh_read_threads())
    }

    /// Run `f` on one of the pool's threads. Call from within a tokio runtime.
    pub fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        match &self.runtime {
            Some(rt) => rt.spawn_blocking(f),
            None => tokio::task::spawn_blocking(f),
        }
    }
}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool").field("name", &self.name).field("started", &self.runtime.is_some()).finish()
    }
}

impl Drop for BlockingPool {
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_pool_runs_at_most_its_threads_and_queues_the_rest() {
        let rt = Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async {
            let pool = BlockingPool::searches(2);
            let name = pool.spawn(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
            assert_eq!(name.as_deref(), Some("lakehouse-search"));

            // Three searches that wait until the gate opens: two run, the third queues.
            let gate = Arc::new((Mutex::new(false), Condvar::new()));
            let started = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<JoinHandle<()>> = (0..3)
                .map(|_| {
                    let (gate, started) = (Arc::clone(&gate), Arc::clone(&started));
                    pool.spawn(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        let (open, cv) = &*gate;
                        let mut open = open.lock();
                        while !*open {
                            cv.wait(&mut open);
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(started.load(Ordering::SeqCst), 2, "a pool of 2 threads ran more than 2 at once");
            // Another pool is not held up by this one's queue.
            let other = tokio::time::timeout(Duration::from_secs(5), BlockingPool::fresh_reads().spawn(|| 42)).await;
            assert_eq!(other.expect("the fresh-read pool waited for the search pool").unwrap(), 42);
            *gate.0.lock() = true;
            gate.1.notify_all();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(started.load(Ordering::SeqCst), 3);
        });
    }
}
