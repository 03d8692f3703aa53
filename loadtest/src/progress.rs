//! The terminal progress bar (indicatif), shown only when stderr is a terminal.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::{interval, Instant};

use crate::report::Collector;

/// A running progress bar; [`finish`](Self::finish) clears it.
pub struct Progress {
    bar: ProgressBar,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts a bar over `duration`, refreshed from the collector's live counts.
    pub fn start(duration: Duration, start: Instant, sink: Arc<Collector>) -> Self {
        let bar = ProgressBar::new(duration.as_secs().max(1));
        if let Ok(style) = ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len}s {msg}") {
            bar.set_style(style);
        }
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let live = &sink.live;
                b.set_position(start.elapsed().as_secs());
                b.set_message(format!(
                    "{} done, {} failed, {} dropped, {} writes",
                    live.completed.load(Ordering::Relaxed),
                    live.failed.load(Ordering::Relaxed),
                    live.dropped.load(Ordering::Relaxed),
                    live.writes.load(Ordering::Relaxed),
                ));
            }
        });
        Self { bar, task }
    }

    /// Stops refreshing and clears the bar.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
