//! Request threads run at a lower OS priority than the dataflow.
//!
//! On 2 cores a burst of searches leaves every search thread runnable. At equal priority the
//! timely worker, the log writer and the indexer get a share each like one search thread's,
//! and a write waits behind searches before it becomes visible. Raising the nice value of
//! the threads that run request work (the search pool, see [`crate::pools`]) lets the
//! scheduler run the dataflow first whenever it has work, without reserving a core for it.
//! In session 12 it made writes slower on this project's machine: a lowered search was
//! preempted while it held the visibility gate for its walk, and index applies waited
//! longer for it. Since searches hold the gate only briefly (session 13), nice 5 shortens
//! the freshness tail but completes fewer scenarios (`docs/BENCHMARKS.md`).
//!
//! # Notes
//! Only raising a nice value is unprivileged, and a thread inherits its creator's: so a
//! thread is lowered once, the first time it runs request work, and the engine's threads
//! are started from a thread that never is (see [`crate::server::start`]).

use std::cell::Cell;

thread_local! {
    /// The nice increment already applied to this thread.
    static APPLIED: Cell<i32> = const { Cell::new(0) };
}

/// The default increment: none. On this project's 2-core machine, with the harness on the
/// same cores, nice 5 cut the freshness p99 from 133 to 88 ms but completed 3% fewer
/// scenarios with twice the dropped arrivals (`docs/BENCHMARKS.md`, session 13). CFS gives a
/// nice-0 thread about 3× the share of a nice-5 one; try it where the server has the cores
/// to itself.
pub const DEFAULT_REQUEST_NICE: i32 = 0;

/// Raise this thread's nice value by `increment` (0..=19) once; later calls with the same
/// or a lower increment do nothing. Failure is logged, never fatal.
pub fn lower_current_thread(increment: i32) {
    let increment = increment.clamp(0, 19);
    if increment == 0 || APPLIED.with(Cell::get) >= increment {
        return;
    }
    if let Err(e) = renice(increment - APPLIED.with(Cell::get)) {
        tracing::warn!(error = %e, "could not lower a request thread's priority");
    }
    // Recorded on failure too: retrying on every request would only repeat the warning.
    APPLIED.with(|a| a.set(increment));
}

#[cfg(target_os = "linux")]
fn renice(extra: i32) -> std::io::Result<()> {
    use rustix::process::{getpriority_process, setpriority_process};
    // On Linux the nice value belongs to the thread, addressed by its tid.
    let tid = Some(rustix::thread::gettid());
    let now = getpriority_process(tid)?;
    setpriority_process(tid, (now + extra).min(19))?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn renice(_extra: i32) -> std::io::Result<()> {
    Ok(())
}

/// This thread's nice value (Linux), for tests and diagnostics.
#[cfg(target_os = "linux")]
pub fn current_nice() -> std::io::Result<i32> {
    Ok(rustix::process::getpriority_process(Some(rustix::thread::gettid()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn lowers_a_thread_once_and_not_its_siblings() {
        let parent = current_nice().unwrap();
        let (lowered, twice, child) = std::thread::spawn(move || {
            lower_current_thread(3);
            let lowered = current_nice().unwrap();
            lower_current_thread(3);
            let twice = current_nice().unwrap();
            let child = std::thread::spawn(|| current_nice().unwrap()).join().unwrap();
            (lowered, twice, child)
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (parent + 3).min(19));
        assert_eq!(twice, lowered, "a second call must not lower it again");
        assert_eq!(child, lowered, "threads inherit their creator's nice value");
        assert_eq!(current_nice().unwrap(), parent, "other threads keep theirs");
    }
}
