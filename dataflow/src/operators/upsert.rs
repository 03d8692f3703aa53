//! `UpsertNewest`: maintain one record per worker id, the one with the newest `updated_at`;
//! a delete retracts. Emits the differential changes of the live worker collection, and
//! answers fill claims (the fill validator's join against live workers) as of their version.
//!
//! # Notes
//! Differential's `arrange_from_upsert` keeps the value of the *latest time*; we need the
//! newest `updated_at` whatever order writes arrive in, so this operator keeps its own
//! per-key state (one record per id, so memory does not grow with history). Inputs are
//! exchanged by worker id: each timely worker owns a shard of ids. Within one version ops
//! apply in arrival order, then claims are answered, so a claim sees every write of its own
//! and earlier versions. Ties on `updated_at` go to the later write. A delete leaves its
//! stamp behind so a late, older upsert cannot resurrect the worker. A refresh (re-embed)
//! emits the record live at the end of its version as an [`UpsertOut::Refresh`], outside the
//! collection's changes.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sinks::ShardedMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::Stream;

use crate::commands::{PlaybookRecord, RecordId, Version, WorkerOp};
use crate::operators::batching::by_time;
use crate::record::{WorkerId, WorkerRecord};

/// A change of the live worker collection: `((id, record), time, diff)`.
pub type WorkerChange = ((WorkerId, WorkerRecord), Version, isize);

/// What enters the upsert operator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // see `WorkerOp`
pub enum UpsertIn {
    /// A validated worker op.
    Op(WorkerOp),
    /// "What is worker `worker` as of now?" on behalf of a playbook record.
    Claim {
        /// The asking record.
        record: RecordId,
        /// The worker asked about.
        worker: WorkerId,
    },
}

impl UpsertIn {
    fn worker(&self) -> &WorkerId {
        match self {
            UpsertIn::Op(op) => op.id(),
            UpsertIn::Claim { worker, .. } => worker,
        }
    }
}

/// What leaves it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum UpsertOut {
    /// A change of the live collection.
    Change(WorkerChange),
    /// A refreshed worker's live record, as an insertion to embed and index again. Not a
    /// change of the collection (the record is unchanged): only the embed path takes it.
    Refresh(WorkerChange),
    /// A claim's answer: the worker's live record, if any.
    Answer {
        /// The asking record.
        record: RecordId,
        /// The worker asked about.
        worker: WorkerId,
        /// Its live record.
        live: Option<WorkerRecord>,
    },
}

/// Upsert by id, newest `updated_at` wins.
pub trait UpsertNewest<'s> {
    /// Apply ops, answer claims.
    fn upsert_newest(self) -> Stream<'s, Version, Vec<UpsertOut>>;
}

/// Stable routing hash of a worker id (FNV-1a: equal across processes, unlike std's
/// `RandomState`).
pub fn route(id: &WorkerId) -> u64 {
    id.0.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// Per-id state: the live record, or the stamp of the delete that removed it.
#[allow(clippy::large_enum_variant)] // one per worker id; boxing costs a pointer chase per op
enum Slot {
    Live(WorkerRecord),
    Deleted(i64),
}

/// Apply one op to `state`, pushing the collection changes it causes.
fn apply(state: &mut ShardedMap<WorkerId, Slot>, op: WorkerOp, t: Version, out: &mut Vec<WorkerChange>) {
    let Some(stamp) = op.stamp() else { return };
    let newer = match state.get(op.id()) {
        None => true,
        Some(Slot::Live(r)) => stamp >= r.updated_at,
        Some(Slot::Deleted(at)) => stamp >= *at,
    };
    if !newer {
        return;
    }
    match op {
        WorkerOp::Upsert(rec) => {
            if let Some(Slot::Live(old)) = state.get(&rec.id) {
                if *old == rec {
                    return; // no real change
                }
                out.push(((rec.id.clone(), old.clone()), t, -1));
            }
            out.push(((rec.id.clone(), rec.clone()), t, 1));
            state.insert(rec.id.clone(), Slot::Live(rec));
        }
        WorkerOp::Delete { id, at } => {
            if let Some(Slot::Live(old)) = state.get(&id) {
                out.push(((id.clone(), old.clone()), t, -1));
            }
            state.insert(id, Slot::Deleted(at));
        }
        WorkerOp::Refresh { .. } => {}
    }
}

impl<'s> UpsertNewest<'s> for Stream<'s, Version, Vec<UpsertIn>> {
    fn upsert_newest(self) -> Stream<'s, Version, Vec<UpsertOut>> {
        // Sharded: one worker per entry, and a plain map's doubling stalled the dataflow.
        let mut state: ShardedMap<WorkerId, Slot> = ShardedMap::new();
        let pact = Exchange::new(|x: &UpsertIn| route(x.worker()));
        by_time(self, pact, "UpsertNewest", move |t, inputs, out| {
            let mut changes = Vec::new();
            let mut claims = Vec::new();
            let mut refreshes = Vec::new();
            for x in inputs {
                match x {
                    UpsertIn::Op(WorkerOp::Refresh { id }) => refreshes.push(id),
                    UpsertIn::Op(op) => apply(&mut state, op, t, &mut changes),
                    UpsertIn::Claim { record, worker } => claims.push((record, worker)),
                }
            }
            // A record changed twice within one version: cancel the intermediate value.
            differential_dataflow::consolidation::consolidate_updates(&mut changes);
            // A refresh re-embeds the record as of the end of its version; a worker whose
            // record changed in the same version is embedded anyway.
            if !refreshes.is_empty() {
                refreshes.sort();
                refreshes.dedup();
                let inserted: HashSet<&WorkerId> = changes.iter().filter(|c| c.2 > 0).map(|c| &(c.0).0).collect();
                for id in refreshes {
                    if inserted.contains(&id) {
                        continue;
                    }
                    if let Some(Slot::Live(r)) = state.get(&id) {
                        out.push(UpsertOut::Refresh(((id, r.clone()), t, 1)));
                    }
                }
            }
            out.extend(changes.into_iter().map(UpsertOut::Change));
            for (record, worker) in claims {
                let live = match state.get(&worker) {
                    Some(Slot::Live(r)) => Some(r.clone()),
                    _ => None,
                };
                out.push(UpsertOut::Answer { record, worker, live });
            }
        })
    }
}

/// Claims of a record: one per proposed worker.
pub fn claims_of(record: &PlaybookRecord) -> impl Iterator<Item = UpsertIn> + '_ {
    record.worker_ids.iter().map(|w| UpsertIn::Claim { record: record.record_id.clone(), worker: w.clone() })
}
