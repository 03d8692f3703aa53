//! What enters the dataflow: worker operations and playbook records, each stamped with the
//! version (dataflow time) the sequencer gave it.

use serde::{Deserialize, Serialize};

use crate::record::{WorkerId, WorkerRecord};
use crate::validators::fill::{DateRange, FillJob};

/// A dataflow timestamp: microseconds since the Unix epoch, strictly increasing per write.
pub type Version = u64;

/// A change to one worker.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
// Ops travel by value through timely containers; boxing the record would add an
// allocation per write for a smaller delete variant that is rare.
#[allow(clippy::large_enum_variant)]
pub enum WorkerOp {
    /// Insert or replace; applied only if its `updated_at` is not older than the current one.
    Upsert(WorkerRecord),
    /// Retract the worker; `at` (ms since epoch) orders it against upserts like `updated_at`.
    Delete {
        /// Worker to delete.
        id: WorkerId,
        /// When the delete happened, ms since the epoch.
        at: i64,
    },
    /// Embed and index the worker's live record again, unchanged (a re-embed job); a no-op
    /// if the worker is not live. It changes no record, so it never loses to newest-wins.
    Refresh {
        /// Worker to re-embed.
        id: WorkerId,
    },
}

impl WorkerOp {
    /// The worker this op is about.
    pub fn id(&self) -> &WorkerId {
        match self {
            WorkerOp::Upsert(r) => &r.id,
            WorkerOp::Delete { id, .. } => id,
            WorkerOp::Refresh { id } => id,
        }
    }

    /// The op's ordering stamp (`updated_at` or the delete time; `None` for a refresh,
    /// which changes nothing and so is never ordered against other ops).
    pub fn stamp(&self) -> Option<i64> {
        match self {
            WorkerOp::Upsert(r) => Some(r.updated_at),
            WorkerOp::Delete { at, .. } => Some(*at),
            WorkerOp::Refresh { .. } => None,
        }
    }
}

/// Identifier of a playbook record: `pb-<version>-<n>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordId(pub String);

/// A successful fill a coordinator wants remembered, so the workers get a boost for
/// similar requests later.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PlaybookRecord {
    /// Assigned by the engine.
    pub record_id: RecordId,
    /// The coordinator's request text.
    pub query: String,
    /// The job that was filled (count = number of workers).
    pub job: FillJob,
    /// Workers placed.
    pub worker_ids: Vec<WorkerId>,
    /// Set only when recovery re-enters a record that a snapshot says was accepted: the fill
    /// validator then accepts it without re-checking (its placements are still registered),
    /// because the worker history it was checked against is gone from the restored state.
    #[serde(default)]
    pub restored: bool,
}

impl PlaybookRecord {
    /// The placement dates, if the fill has any.
    pub fn dates(&self) -> Option<DateRange> {
        self.job.dates
    }
}

/// What one version carries into the dataflow, and the record type of the write-ahead log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Worker upserts and deletes, all at one version.
    Workers(Vec<WorkerOp>),
    /// One playbook record for the fill validator.
    Record(PlaybookRecord),
    /// A snapshot being restored at start: its workers (as upserts), its delete stamps (as
    /// deletes) and its accepted records (marked `restored`). Never written to the log.
    Restore {
        /// Upserts of the snapshot's live workers, then deletes of its tombstones.
        ops: Vec<WorkerOp>,
        /// The snapshot's accepted playbook records.
        records: Vec<PlaybookRecord>,
    },
}

/// Why a write was refused by the validate operator, readable back from the engine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Version the write was given.
    pub version: Version,
    /// The worker id of the refused write (empty if the row had no readable id).
    pub id: String,
    /// Field at fault.
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// Where the refused row came from, for rows of a batch job's file (boxed: most dead
    /// letters have none, and they travel through the dataflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Box<RowSource>>,
}

/// A row of a file read by a batch job.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowSource {
    /// The file, as the job named it.
    pub file: String,
    /// 0-based row index within the file.
    pub row: u64,
    /// The job that read it.
    pub job: String,
}
