//! `Embed`: turn live-collection changes into index operations, embedding only the values
//! that are inserted (retractions need no vector).

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::Stream;

use crate::commands::Version;
use crate::embed::Embedder;
use crate::operators::batching::by_time;
use crate::operators::upsert::WorkerChange;
use crate::record::{WorkerId, WorkerRecord};

/// One index operation: `Some` upserts the worker with its vector, `None` deletes it.
/// Serde so a version's operations can be gathered on one worker before the sink.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct IndexOp {
    /// The worker.
    pub id: WorkerId,
    /// Its new record and embedding, or `None` for a delete.
    pub value: Option<(Arc<WorkerRecord>, Vec<f32>)>,
}

/// Embedding of changed workers.
pub trait Embed<'s> {
    /// Net index operations per version.
    fn embed(self, embedder: Arc<dyn Embedder>) -> Stream<'s, Version, Vec<IndexOp>>;
}

impl<'s> Embed<'s> for Stream<'s, Version, Vec<WorkerChange>> {
    fn embed(self, embedder: Arc<dyn Embedder>) -> Stream<'s, Version, Vec<IndexOp>> {
        by_time(self, Pipeline, "Embed", move |_t, mut changes, out| {
            // Per id the net effect: an insertion wins over the retraction of the old value.
            changes.sort_by(|a, b| (&(a.0).0, -a.2).cmp(&(&(b.0).0, -b.2)));
            changes.dedup_by(|later, earlier| (later.0).0 == (earlier.0).0);
            let texts: Vec<String> =
                changes.iter().filter(|c| c.2 > 0).map(|((_, rec), _, _)| rec.embedding_text()).collect();
            let refs: Vec<&str> = texts.iter().map(|s| s.as_str()).collect();
            let mut vectors = embedder.embed_batch(&refs).into_iter();
            for ((id, rec), _t, diff) in changes {
                let value = if diff > 0 { vectors.next().map(|v| (Arc::new(rec), v)) } else { None };
                out.push(IndexOp { id, value });
            }
        })
    }
}
