//! What the sinks materialize besides the vector indexes: live worker records, playbook
//! outcomes, placements and dead letters. Readers see it through the engine handle.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sinks::{PointUpdate, ShardedMap, VectorCollection};

use crate::commands::{DeadLetter, PlaybookRecord, RecordId, Version};
use crate::embed::Embedder;
use crate::engine::boost::{Market, RequestHistory};
use crate::engine::results::{self, Change, Written};
use crate::operators::embed::IndexOp;
use crate::operators::fills::FillOutcome;
use crate::record::{WorkerId, WorkerRecord};
use crate::validators::fill::{DateRange, FillJob};
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
    /// The job that was filled (kept so a snapshot can restore the record and its placements).
    pub job: FillJob,
}

/// An accepted playbook entry with its record id, shared with the playbook map.
pub type SharedEntry = (Arc<str>, Arc<PlaybookEntry>);

/// What a version's writes left, for the result cache's change log (built before the gate
/// is taken); `None` for a bulk version, more writes than the log keeps (its vectors are
/// not copied).
fn changes(
    version: Version,
    records: &[(WorkerId, Option<Arc<WorkerRecord>>)],
    prepared: &sinks::PreparedUpdates,
) -> Option<Vec<Change>> {
    if records.len() > results::CHANGE_LOG {
        return None;
    }
    let vectors: foldhash::HashMap<&str, &[f32]> = prepared.vectors().collect();
    let changes = records
        .iter()
        .map(|(id, rec)| {
            let now = match rec {
                None => Written::Deleted,
                Some(rec) => match vectors.get(id.0.as_str()) {
                    Some(v) => Written::Worker(Arc::clone(rec), Arc::from(*v)),
                    None => Written::Unindexed,
                },
            };
            Change { version, id: Arc::from(id.0.as_str()), now }
        })
        .collect();
    Some(changes)
}

/// `map[key] = value`, or remove `key` when `value` is `None`.
fn set_or_remove<V>(map: &mut foldhash::HashMap<String, V>, key: String, value: Option<V>) {
    match value {
        Some(v) => {
            map.insert(key, v);
        }
        None => {
            map.remove(&key);
        }
    }
}

/// The playbook index key of a request: trimmed, lower-cased, whitespace collapsed.
pub fn playbook_key(query: &str) -> String {
    query.split_whitespace().map(|w| w.to_lowercase()).collect::<Vec<_>>().join(" ")
}

/// Materialized state shared by the sinks (writers) and the engine handle (readers).
///
/// The maps that grow with every playbook record (playbook, outcomes) or delete
/// (tombstones) are [`ShardedMap`]s, so a doubling never rehashes more than 1/64 of them
/// under their lock. The maps every search reads per hit or per candidate (workers,
/// placements, query histories) stay plain `foldhash` maps: sharded, their lookups cost
/// 11 ns instead of 6, and the goal's load ran 1–2% slower with 1.5–9× the drops (session 11
/// in `docs/BENCHMARKS.md`); they grow with the worker count, which is bounded.
pub struct EngineState {
    /// The worker vector index.
    pub workers_index: VectorCollection,
    /// The playbook vector index: one point per distinct request text (see
    /// [`playbook_key`]), embedded from it, with the markets it was filled for as payload.
    pub playbook_index: VectorCollection,
    /// Live worker records by id.
    pub workers: RwLock<foldhash::HashMap<String, Arc<WorkerRecord>>>,
    /// Held for writing while a version is applied to `workers` and `workers_index`, and for
    /// reading by a search, so a search reads both at the same version. A search holds it
    /// only to check the result cache and to finish (see [`sinks::Walk::try_finish`]), not
    /// for its graph walk (unless writes cut three walks in a row: the fourth finishes under
    /// it), and an apply holding it never waits for the index: its writes go to the index's
    /// overlay.
    pub visibility: RwLock<()>,
    /// Accepted playbook entries by record id.
    pub playbook: RwLock<ShardedMap<Arc<str>, Arc<PlaybookEntry>>>,
    /// Accepted playbook entries that no snapshot holds yet, in acceptance order; `None`
    /// when the engine is not durable. Records restored from a snapshot are not added: its
    /// playbook segments hold them. A snapshot writes these as its new segment and then
    /// forgets them (see [`crate::engine::durable`]).
    pub unsnapshotted: Option<Mutex<Vec<SharedEntry>>>,
    /// Outcomes of decided records.
    pub outcomes: RwLock<ShardedMap<String, RecordOutcome>>,
    /// Delete stamps (ms) of deleted worker ids whose newest op is a delete, maintained only
    /// when the engine is durable: a snapshot restores them so a replayed, older upsert
    /// cannot resurrect a deleted worker (see [`crate::engine::durable`]).
    pub tombstones: RwLock<ShardedMap<String, i64>>,
    /// Recent fills per distinct request text (see [`playbook_key`]), the weight they give
    /// each worker, and the markets the text was filled for.
    pub query_workers: RwLock<foldhash::HashMap<String, RequestHistory>>,
    /// Placements by worker id, from accepted dated fills.
    pub placements: RwLock<foldhash::HashMap<String, Vec<DateRange>>>,
    /// Refused writes, newest last.
    pub dead_letters: Mutex<VecDeque<DeadLetter>>,
    /// Total dead letters ever recorded.
    pub dead_letter_total: std::sync::atomic::AtomicU64,
    /// The embedder of both indexes.
    pub embedder: Arc<dyn Embedder>,
    /// How long applies waited for [`EngineState::visibility`] (for searches to leave it).
    pub gate_waits: GateWaits,
    /// Search results, validated by the log of worker writes kept beside them.
    pub results: crate::engine::results::ResultCache,
}

/// Waits of the worker applies for the visibility gate.
#[derive(Debug, Default)]
pub struct GateWaits {
    count: std::sync::atomic::AtomicU64,
    total_ns: std::sync::atomic::AtomicU64,
    max_ns: std::sync::atomic::AtomicU64,
}

/// A snapshot of [`GateWaits`].
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct GateWaitStats {
    /// Gate acquisitions by worker-index applies (each covers the versions that queued).
    pub applies: u64,
    /// Total time they waited for it, seconds.
    pub wait_seconds: f64,
    /// Longest single wait, seconds.
    pub max_wait_seconds: f64,
}

impl GateWaits {
    fn record(&self, waited: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let ns = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Relaxed);
        self.total_ns.fetch_add(ns, Relaxed);
        self.max_ns.fetch_max(ns, Relaxed);
    }

    /// Counters so far.
    pub fn stats(&self) -> GateWaitStats {
        use std::sync::atomic::Ordering::Relaxed;
        GateWaitStats {
            applies: self.count.load(Relaxed),
            wait_seconds: self.total_ns.load(Relaxed) as f64 / 1e9,
            max_wait_seconds: self.max_ns.load(Relaxed) as f64 / 1e9,
        }
    }
}

impl EngineState {
    /// Apply completed versions' worker index ops, in version order, each version all at
    /// once: vectors are checked and normalised first, without a lock; then, under one
    /// acquisition of [`EngineState::visibility`] for all the versions, each version's
    /// records replace the old ones under one write lock and the index takes the version's
    /// batch under one write lock. A reader never sees part of a version (the pipeline hands
    /// every version whole), and waits for the gate once per call, not once per version.
    pub fn apply_workers(&self, versions: Vec<(Version, Vec<IndexOp>)>) {
        let mut batches = Vec::with_capacity(versions.len());
        for (version, ops) in versions {
            let mut updates = Vec::with_capacity(ops.len());
            let mut records = Vec::with_capacity(ops.len());
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
                        records.push((op.id, Some(rec)));
                    }
                    None => {
                        updates.push(PointUpdate::delete(op.id.0.as_str()));
                        records.push((op.id, None));
                    }
                }
            }
            let prepared = self.workers_index.prepare(updates);
            let changes = changes(version, &records, &prepared);
            batches.push((version, records, changes, prepared));
        }
        let mut rejected = Vec::new();
        {
            let asked = std::time::Instant::now();
            let _gate = self.visibility.write();
            self.gate_waits.record(asked.elapsed());
            for (version, records, changes, prepared) in batches {
                match changes {
                    Some(changes) => self.results.record(version, changes),
                    None => self.results.record_bulk(version),
                }
                {
                    let mut workers = self.workers.write();
                    for (id, rec) in records {
                        set_or_remove(&mut workers, id.0, rec);
                    }
                }
                let refused = self.workers_index.commit(prepared, version);
                rejected.extend(refused.into_iter().map(|r| (version, r)));
            }
        }
        for (version, (id, err)) in rejected {
            // The record passed validation but its vector can't be indexed (e.g. a text
            // with no features): keep the record, report it.
            self.dead_letter(DeadLetter {
                version,
                id: id.as_str().to_owned(),
                field: "embedding".into(),
                reason: err.to_string(),
                source: None,
            });
        }
    }

    /// Apply one version's decided playbook records.
    pub fn apply_outcomes(&self, version: Version, outcomes: Vec<FillOutcome>) {
        let mut updates = Vec::new();
        // Request texts first seen in this call, and markets added to texts already indexed:
        // what to undo for a point the index refuses.
        let mut fresh = std::collections::HashSet::new();
        let mut added: Vec<(String, Market)> = Vec::new();
        for o in outcomes {
            let rid = o.record.record_id.0.clone();
            if !o.violations.is_empty() {
                self.outcomes.write().insert(rid, RecordOutcome::Rejected(o.violations));
                continue;
            }
            // The playbook index holds one point per distinct request text: a popular
            // request recorded a thousand times is one neighbour whose workers carry counts,
            // so a fresh record is never crowded out of the nearest past requests. Its
            // payload names every market the request was filled for, so a search filtered on
            // role, city or state consults only requests whose markets include those values.
            let key = playbook_key(&o.record.query);
            let job = &o.record.job;
            let market = Market::new(&job.role, &job.city, &job.state);
            let known = self.query_workers.read().get(&key).map(|h| h.has_market(&market));
            let vector = match known {
                Some(true) => None,
                Some(false) | None => {
                    let vector = self.embedder.embed(&o.record.query);
                    if vector.iter().all(|x| *x == 0.0) {
                        let v = Violation::new("invalid_query", "the query has no searchable words");
                        self.outcomes.write().insert(rid, RecordOutcome::Rejected(vec![v]));
                        continue;
                    }
                    Some(vector)
                }
            };
            {
                let mut qw = self.query_workers.write();
                match known {
                    None => {
                        fresh.insert(key.clone());
                    }
                    Some(false) => added.push((key.clone(), market.clone())),
                    Some(true) => {}
                }
                let history = qw.entry(key.clone()).or_default();
                history.add(&o.record.record_id, o.record.worker_ids.iter().map(|w| w.0.clone()));
                history.add_market(market);
                if let Some(vector) = vector {
                    updates.push(PointUpdate::upsert(key.as_str(), vector, history.market_payload()));
                }
            }
            if let Some(d) = o.record.dates() {
                let mut placements = self.placements.write();
                for w in &o.record.worker_ids {
                    placements.entry(w.0.clone()).or_default().push(d);
                }
            }
            let id: Arc<str> = Arc::from(rid.as_str());
            let entry = Arc::new(PlaybookEntry {
                query: o.record.query.clone(),
                worker_ids: o.record.worker_ids.iter().map(|w| w.0.clone()).collect(),
                job: o.record.job.clone(),
            });
            if let (Some(log), false) = (&self.unsnapshotted, o.record.restored) {
                log.lock().push((Arc::clone(&id), Arc::clone(&entry)));
            }
            self.playbook.write().insert(id, entry);
            self.outcomes.write().insert(rid, RecordOutcome::Accepted);
        }
        for (id, err) in self.playbook_index.apply(updates, version) {
            // Vectors are checked above; anything left is a bug worth a loud log, and the
            // records stay accepted (only their boost is lost).
            tracing::error!(query = id.as_str(), %err, "playbook query could not be indexed");
            let mut qw = self.query_workers.write();
            if fresh.contains(id.as_str()) {
                // No point for it: its fills can't be found.
                qw.remove(id.as_str());
            } else if let Some(history) = qw.get_mut(id.as_str()) {
                // Its point stands with the markets it had; only the new ones are forgotten.
                for (_, m) in added.iter().filter(|(k, _)| k == id.as_str()) {
                    history.remove_market(m);
                }
            }
        }
    }

    /// Apply one version's tombstone changes: `Some(stamp)` sets, `None` clears.
    pub fn apply_tombstones(&self, changes: Vec<(WorkerId, Option<i64>)>) {
        let mut t = self.tombstones.write();
        for (id, stamp) in changes {
            t.set_or_remove(id.0, stamp);
        }
    }

    /// The accepted playbook entries no snapshot holds yet, shared, in acceptance order:
    /// cheap to take while writes wait for a snapshot's cut (see [`accepted_records`]).
    pub fn unsnapshotted_entries(&self) -> Vec<SharedEntry> {
        self.unsnapshotted.as_ref().map(|log| log.lock().clone()).unwrap_or_default()
    }

    /// Forgets the first `n` entries of [`EngineState::unsnapshotted_entries`]: a snapshot
    /// now holds them. Only the snapshot writer calls this, so they are the ones it copied.
    pub fn forget_snapshotted(&self, n: usize) {
        if let Some(log) = &self.unsnapshotted {
            let mut log = log.lock();
            let n = n.min(log.len());
            log.drain(..n);
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

/// Entries from [`EngineState::unsnapshotted_entries`] as records again, in their order.
pub fn accepted_records(entries: &[SharedEntry]) -> Vec<PlaybookRecord> {
    entries
        .iter()
        .map(|(id, e)| PlaybookRecord {
            record_id: RecordId(id.to_string()),
            query: e.query.clone(),
            job: e.job.clone(),
            worker_ids: e.worker_ids.iter().cloned().map(WorkerId).collect(),
            restored: false,
        })
        .collect()
}
