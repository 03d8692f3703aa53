//! What the sinks materialize besides the vector indexes: live worker records, playbook
//! outcomes, placements and dead letters. Readers see it through the engine handle.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sinks::{PointUpdate, VectorCollection};

use crate::commands::{DeadLetter, RecordId, Version};
use crate::embed::Embedder;
use crate::operators::embed::IndexOp;
use crate::operators::fills::FillOutcome;
use crate::record::WorkerRecord;
use crate::validators::fill::DateRange;
use crate::validators::Violation;

/// Dead letters kept for reading back; older ones are dropped past this many.
pub const DEAD_LETTER_CAPACITY: usize = 100_000;

/// Payload keys the worker index filters on.
pub const FILTER_KEYS: [&str; 4] = ["city", "state", "role", "shift"];

/// The decision on a playbook record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Stored in `playbook_memory`.
    Accepted,
    /// Refused by the fill validator.
    Rejected(Vec<Violation>),
}

/// A stored playbook entry: the workers a past query was filled with.
#[derive(Clone, Debug)]
pub struct PlaybookEntry {
    /// The request text.
    pub query: String,
    /// Workers placed.
    pub worker_ids: Vec<String>,
}

/// Materialized state shared by the sinks (writers) and the engine handle (readers).
pub struct EngineState {
    /// The worker vector index.
    pub workers_index: VectorCollection,
    /// The playbook vector index (one point per accepted record, embedded from its query).
    pub playbook_index: VectorCollection,
    /// Live worker records by id.
    pub workers: RwLock<HashMap<String, Arc<WorkerRecord>>>,
    /// Accepted playbook entries by record id.
    pub playbook: RwLock<HashMap<String, PlaybookEntry>>,
    /// Outcomes of decided records.
    pub outcomes: RwLock<HashMap<String, RecordOutcome>>,
    /// Placements by worker id, from accepted dated fills.
    pub placements: RwLock<HashMap<String, Vec<DateRange>>>,
    /// Refused writes, newest last.
    pub dead_letters: Mutex<VecDeque<DeadLetter>>,
    /// Total dead letters ever recorded.
    pub dead_letter_total: std::sync::atomic::AtomicU64,
    /// The embedder of both indexes.
    pub embedder: Arc<dyn Embedder>,
}

impl EngineState {
    /// Apply one version's worker index ops.
    pub fn apply_workers(&self, version: Version, ops: Vec<IndexOp>) {
        let mut updates = Vec::with_capacity(ops.len());
        {
            let mut workers = self.workers.write();
            for op in ops {
                match op.value {
                    Some((rec, vector)) => {
                        let payload = vec![
                            ("city".to_owned(), rec.city.clone()),
                            ("state".to_owned(), rec.state.clone()),
                            ("role".to_owned(), rec.role.clone()),
                            ("shift".to_owned(), rec.shift.clone()),
                        ];
                        updates.push(PointUpdate::upsert(rec.id.0.as_str(), vector, payload));
                        workers.insert(rec.id.0.clone(), rec);
                    }
                    None => {
                        updates.push(PointUpdate::delete(op.id.0.as_str()));
                        workers.remove(&op.id.0);
                    }
                }
            }
        }
        for (id, err) in self.workers_index.apply(updates, version) {
            // The record passed validation but its vector can't be indexed (e.g. a text
            // with no features): keep the record, report it.
            self.dead_letter(DeadLetter {
                version,
                id: id.as_str().to_owned(),
                field: "embedding".into(),
                reason: err.to_string(),
            });
        }
    }

    /// Apply one version's decided playbook records.
    pub fn apply_outcomes(&self, version: Version, outcomes: Vec<FillOutcome>) {
        let mut updates = Vec::new();
        for o in outcomes {
            let rid = o.record.record_id.0.clone();
            if o.violations.is_empty() {
                if let Some(d) = o.record.dates() {
                    let mut placements = self.placements.write();
                    for w in &o.record.worker_ids {
                        placements.entry(w.0.clone()).or_default().push(d);
                    }
                }
                let vector = self.embedder.embed(&o.record.query);
                let payload = vec![("role".to_owned(), o.record.job.role.clone())];
                updates.push(PointUpdate::upsert(rid.as_str(), vector, payload));
                self.playbook.write().insert(
                    rid.clone(),
                    PlaybookEntry {
                        query: o.record.query.clone(),
                        worker_ids: o.record.worker_ids.iter().map(|w| w.0.clone()).collect(),
                    },
                );
                self.outcomes.write().insert(rid, RecordOutcome::Accepted);
            } else {
                self.outcomes.write().insert(rid, RecordOutcome::Rejected(o.violations));
            }
        }
        for (id, err) in self.playbook_index.apply(updates, version) {
            self.outcomes.write().insert(
                id.as_str().to_owned(),
                RecordOutcome::Rejected(vec![Violation::new("invalid_query", err.to_string())]),
            );
            self.playbook.write().remove(id.as_str());
        }
    }

    /// Record a refused write.
    pub fn dead_letter(&self, d: DeadLetter) {
        tracing::debug!(id = %d.id, field = %d.field, reason = %d.reason, "dead letter");
        let mut q = self.dead_letters.lock();
        if q.len() >= DEAD_LETTER_CAPACITY {
            q.pop_front();
        }
        q.push_back(d);
        self.dead_letter_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The outcome of a record, once decided.
    pub fn outcome(&self, id: &RecordId) -> Option<RecordOutcome> {
        self.outcomes.read().get(&id.0).cloned()
    }
}
