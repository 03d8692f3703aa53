//! `ValidateFills`: the fill validator as an operator. Gathers each playbook record's claim
//! answers (the join against live workers), checks the fill, and keeps the placements that
//! later fills are checked against.
//!
//! # Notes
//! Placements make fills depend on each other (a worker can't be placed twice on
//! overlapping dates), so all records are routed to one timely worker and decided in
//! version order; records are few next to worker writes, so one worker keeps up.
//!
//! Records marked [`PlaybookRecord::restored`] (recovery re-entering a snapshot's accepted
//! records) are accepted without a check but still register their placements, so later
//! records are checked against them exactly as before the restart.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sinks::ShardedMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::Stream;

use crate::commands::{PlaybookRecord, RecordId, Version};
use crate::operators::batching::by_time;
use crate::record::{WorkerId, WorkerRecord};
use crate::validators::fill::{validate_fill, DateRange};
use crate::validators::Violation;

/// Input of the fill validator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FillIn {
    /// A record to decide.
    Record(PlaybookRecord),
    /// One of its claim answers.
    Answer {
        /// The record.
        record: RecordId,
        /// The worker.
        worker: WorkerId,
        /// The worker's live record as of the record's version.
        live: Option<WorkerRecord>,
    },
}

/// A decided record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FillOutcome {
    /// The record.
    pub record: PlaybookRecord,
    /// Empty when accepted.
    pub violations: Vec<Violation>,
}

/// The fill validator.
pub trait ValidateFills<'s> {
    /// Decide every record.
    fn validate_fills(self) -> Stream<'s, Version, Vec<FillOutcome>>;
}

impl<'s> ValidateFills<'s> for Stream<'s, Version, Vec<FillIn>> {
    fn validate_fills(self) -> Stream<'s, Version, Vec<FillOutcome>> {
        let mut placements: ShardedMap<WorkerId, Vec<DateRange>> = ShardedMap::new();
        let pact = Exchange::new(|_: &FillIn| 0u64);
        by_time(self, pact, "ValidateFills", move |_t, inputs, out| {
            let mut records = Vec::new();
            let mut answers: HashMap<(RecordId, WorkerId), Option<WorkerRecord>> = HashMap::new();
            for x in inputs {
                match x {
                    FillIn::Record(r) => records.push(r),
                    FillIn::Answer { record, worker, live } => {
                        answers.insert((record, worker), live);
                    }
                }
            }
            records.sort_by(|a, b| a.record_id.cmp(&b.record_id));
            for record in records {
                let proposed: Vec<(String, Option<&WorkerRecord>)> = record
                    .worker_ids
                    .iter()
                    .map(|w| {
                        let live = answers.get(&(record.record_id.clone(), w.clone())).and_then(|x| x.as_ref());
                        (w.0.clone(), live)
                    })
                    .collect();
                let placed = |w: &str| placements.get(&WorkerId(w.to_owned())).cloned().unwrap_or_default();
                // A restored record was accepted before the snapshot it comes from; the worker
                // history it was checked against is not restored, so re-checking could refuse it.
                let violations =
                    if record.restored { Vec::new() } else { validate_fill(&record.job, &proposed, &placed) };
                if violations.is_empty() {
                    if let Some(d) = record.dates() {
                        for w in &record.worker_ids {
                            placements.entry(w.clone()).or_default().push(d);
                        }
                    }
                }
                out.push(FillOutcome { record, violations });
            }
        })
    }
}
