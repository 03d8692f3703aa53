//! Integration tests of the sinks crate: one binary, one module per topic.

mod churn;
mod model;
mod oracle;
mod overlay;
pub mod util;
