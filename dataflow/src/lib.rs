//! Lakehouse's incremental engine: worker ingest, validation, embedding, upsert and
//! playbook records as timely/differential-dataflow operators whose output diffs maintain
//! the vector indexes of the `sinks` crate.
//!
//! ```no_run
//! use dataflow::engine::{Engine, EngineConfig, SearchQuery};
//! use std::time::Duration;
//! let engine = Engine::start(EngineConfig::default()).unwrap();
//! let v = engine.upsert_workers(dataflow::corpus::generate_corpus(1_000, 42)).unwrap();
//! assert!(engine.wait_visible_blocking(v, Duration::from_secs(10)));
//! let hits = engine.search(&SearchQuery { text: "forklift operator".into(), k: 5, ..Default::default() }).unwrap();
//! assert_eq!(hits.hits.len(), 5);
//! ```
#![deny(missing_docs)]

pub mod commands;
pub mod corpus;
pub mod dates;
pub mod embed;
pub mod engine;
pub mod error;
pub mod jobs;
pub mod operators;
pub mod pipeline;
pub mod record;
pub mod validators;
pub mod wal;

pub use error::{DataflowError, Result};
