//! Lakehouse load harness: six coordinator scenarios over HTTP, open- or closed-loop.
//!
//! The harness replays the Go stack's multi-tier load test against the Rust server,
//! with what that test lacked: realistic arrival processes (Poisson, bursty MMPP,
//! ramps, flash crowds) instead of back-to-back loops, latency corrected for
//! coordinated omission, a Zipf-popular query mix instead of round-robin bodies, and
//! concurrent ingest with per-write freshness.
//!
//! Layout: [`arrival`] yields intended start times; [`executor`] turns them (or
//! closed-loop users) into scenario iterations; [`scenarios`] holds the six workflows
//! built from shared steps over [`client`]; [`ingest`] writes while they run;
//! [`report`] writes parquet, HDR histograms, the table and the JSON summary;
//! [`threshold`] gates CI. [`embedded`] is the only module touching the server crates.
//!
//! ```no_run
//! # async fn demo() -> Result<(), loadtest::LoadError> {
//! use loadtest::{run, RunConfig, Target, CorpusSource};
//! let mut config = RunConfig::new(Target::Gateway {
//!     url: "http://127.0.0.1:8080".into(),
//!     corpus: CorpusSource::Generate { workers: 100_000 },
//! });
//! config.duration = std::time::Duration::from_secs(30);
//! let report = run(config).await?;
//! println!("{}", loadtest::report::table::render(&report.summary));
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod arrival;
pub mod cli;
pub mod client;
pub mod dates;
pub mod embedded;
pub mod error;
pub mod executor;
pub mod failure;
pub mod ingest;
pub mod progress;
pub mod queries;
pub mod report;
pub mod scenarios;
pub mod threshold;
pub mod units;
pub mod wire;

mod runner;

pub use error::LoadError;
pub use runner::{run, CorpusSource, RunConfig, RunReport, Target, SERVER_METRICS_FILE};
