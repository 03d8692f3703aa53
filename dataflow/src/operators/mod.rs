//! Dataflow operators, one extension trait per file.

pub mod batching;
pub mod embed;
pub mod fills;
pub mod sink;
pub mod upsert;
pub mod validate;

pub use embed::Embed;
pub use fills::ValidateFills;
pub use sink::IndexSink;
pub use upsert::UpsertNewest;
pub use validate::Validate;
