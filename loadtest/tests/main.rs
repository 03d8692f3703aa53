//! Integration tests of the load harness: one test binary, one module per concern.

mod arrival;
mod checks;
mod co;
mod embedded;
mod fake;
mod notebooks;
mod parquet_io;
mod runs;
mod thresholds;
