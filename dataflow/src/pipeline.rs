//! The dataflow, wired: inputs → validate → upsert (+ fill claims) → embed → index sinks.
//!
//! ```text
//! worker ops ─ Validate ─┬─ dead letters ─────────────────────────────── sink
//!                        └─ UpsertNewest ─┬─ changes ─ Embed ─────────── sink (workers index)
//! playbook records ─ claims ─────────────┘└─ answers ─┐
//!                  └──────────────────────────────────┴ ValidateFills ─ sink (playbook index)
//! ```
//! Every sink's output is probed together: the probe's frontier is the visible version.
//!
//! # Notes
//! A version's index operations are embedded where they were upserted (each timely worker
//! owns a shard of ids), then gathered on the first worker of the process, so the worker
//! sink applies a whole version in one call and readers see all of it or none of it (a
//! batch job's file is one version). Re-embed refreshes join the changes only on the way
//! into `Embed`: they are not changes of the live collection.
//!
//! A durable engine also tracks delete stamps (`TrackTombstones`, off the accepted ops, into
//! its own sink) so a snapshot can carry them; see [`crate::engine::durable`].

use std::sync::Arc;

use timely::dataflow::operators::core::{Concat, Map};
use timely::dataflow::operators::probe::Handle as ProbeHandle;
use timely::dataflow::operators::{Exchange, Probe};
use timely::dataflow::Stream;

use crate::commands::{PlaybookRecord, Version, WorkerOp};
use crate::engine::durable::TrackTombstones;
use crate::engine::state::EngineState;
use crate::operators::fills::FillIn;
use crate::operators::upsert::{claims_of, UpsertIn, UpsertOut, WorkerChange};
use crate::operators::{Embed, IndexSink, UpsertNewest, Validate, ValidateFills};

/// The streams a caller observes besides the sinks (tests use them as oracles).
pub struct Outputs<'s> {
    /// Changes of the live worker collection.
    pub changes: Stream<'s, Version, Vec<WorkerChange>>,
}

/// Build the pipeline in `scope` from its two inputs; sinks write into `state`. With
/// `track_tombstones`, delete stamps are maintained in `state.tombstones` too.
/// `local_workers` is the number of timely workers in this process (they share `state`).
pub fn build<'s>(
    ops: Stream<'s, Version, Vec<(WorkerOp, Version)>>,
    records: Stream<'s, Version, Vec<PlaybookRecord>>,
    state: Arc<EngineState>,
    probe: &ProbeHandle<Version>,
    track_tombstones: bool,
    local_workers: usize,
) -> Outputs<'s> {
    let index = ops.scope().index();
    // The first worker of this process: timely numbers a process's workers consecutively.
    let gather = (index - index % local_workers.max(1)) as u64;
    let (accepted, dead) = ops.validate();
    let tombstones_done = track_tombstones.then(|| {
        let s = Arc::clone(&state);
        accepted.clone().track_tombstones().index_sink("TombstoneSink", move |_t, changes| s.apply_tombstones(changes))
    });

    let claims: Stream<'s, Version, Vec<UpsertIn>> = records.clone().flat_map(|r| claims_of(&r).collect::<Vec<_>>());
    let ops_in: Stream<'s, Version, Vec<UpsertIn>> = accepted.map(|(op, _t)| UpsertIn::Op(op));
    let upserted = ops_in.concat(claims).upsert_newest();

    let changes: Stream<'s, Version, Vec<WorkerChange>> = upserted.clone().flat_map(|o| match o {
        UpsertOut::Change(c) => Some(c),
        UpsertOut::Refresh(_) | UpsertOut::Answer { .. } => None,
    });
    let refreshes: Stream<'s, Version, Vec<WorkerChange>> = upserted.clone().flat_map(|o| match o {
        UpsertOut::Refresh(c) => Some(c),
        UpsertOut::Change(_) | UpsertOut::Answer { .. } => None,
    });
    let answers: Stream<'s, Version, Vec<FillIn>> = upserted.flat_map(|o| match o {
        UpsertOut::Answer { record, worker, live } => Some(FillIn::Answer { record, worker, live }),
        UpsertOut::Change(_) | UpsertOut::Refresh(_) => None,
    });
    let recs: Stream<'s, Version, Vec<FillIn>> = records.map(FillIn::Record);
    let fills = recs.concat(answers).validate_fills();

    let s = Arc::clone(&state);
    let dead_done =
        dead.index_sink("DeadLetterSink", move |_t, letters| letters.into_iter().for_each(|d| s.dead_letter(d)));
    let s = Arc::clone(&state);
    let workers_done = changes
        .clone()
        .concat(refreshes)
        .embed(Arc::clone(&state.embedder))
        .exchange(move |_| gather)
        .index_sink_batched("WorkerIndexSink", move |versions| s.apply_workers(versions));
    let s = state;
    let fills_done = fills.index_sink("PlaybookSink", move |t, outcomes| s.apply_outcomes(t, outcomes));

    let mut done = workers_done.concat(fills_done).concat(dead_done);
    if let Some(t) = tombstones_done {
        done = done.concat(t);
    }
    done.probe_with(probe);
    Outputs { changes }
}
