//! `Validate`: split worker ops into accepted ops and dead letters with a reason.

use timely::dataflow::operators::core::Map;
use timely::dataflow::Stream;

use crate::commands::{DeadLetter, Version, WorkerOp};
use crate::record::WorkerRecord;

/// A stream of stamped worker ops.
pub type OpStream<'s> = Stream<'s, Version, Vec<(WorkerOp, Version)>>;
/// A stream of dead letters.
pub type DeadLetterStream<'s> = Stream<'s, Version, Vec<DeadLetter>>;
type Checked<'s> = Stream<'s, Version, Vec<Result<(WorkerOp, Version), DeadLetter>>>;

/// Validation of incoming worker ops.
pub trait Validate<'s> {
    /// `(accepted ops, dead letters)`.
    fn validate(self) -> (OpStream<'s>, DeadLetterStream<'s>);
}

impl<'s> Validate<'s> for Stream<'s, Version, Vec<(WorkerOp, Version)>> {
    fn validate(self) -> (OpStream<'s>, DeadLetterStream<'s>) {
        let checked: Checked<'s> = self.map(|(op, t)| match check(&op) {
            None => Ok((op, t)),
            Some((field, reason)) => {
                Err(DeadLetter { version: t, id: op.id().0.clone(), field: field.to_owned(), reason, source: None })
            }
        });
        let ok = checked.clone().flat_map(|r: Result<(WorkerOp, Version), DeadLetter>| r.ok());
        let dead = checked.flat_map(|r: Result<(WorkerOp, Version), DeadLetter>| r.err());
        (ok, dead)
    }
}

/// Why a worker op is refused: `(field, reason)`.
pub fn check(op: &WorkerOp) -> Option<(&'static str, String)> {
    match op {
        WorkerOp::Delete { id, .. } | WorkerOp::Refresh { id } if id.0.trim().is_empty() => {
            Some(("id", "must not be empty".into()))
        }
        WorkerOp::Delete { .. } | WorkerOp::Refresh { .. } => None,
        WorkerOp::Upsert(r) => check_record(r),
    }
}

/// Why a worker record is unusable: `(field, reason)`.
pub fn check_record(r: &WorkerRecord) -> Option<(&'static str, String)> {
    let required = [("id", &r.id.0), ("name", &r.name), ("role", &r.role), ("city", &r.city), ("state", &r.state)];
    for (field, value) in required {
        if value.trim().is_empty() {
            return Some((field, "must not be empty".into()));
        }
        if value.len() > 256 {
            return Some((field, "longer than 256 bytes".into()));
        }
    }
    if r.state.len() != 2 || !r.state.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(("state", format!("must be a two-letter state code, got {:?}", r.state)));
    }
    if r.reliability_milli > 1000 {
        return Some(("reliability_milli", format!("must be at most 1000, got {}", r.reliability_milli)));
    }
    if r.skills.len() > 64 || r.certifications.len() > 64 {
        return Some(("skills", "at most 64 skills and 64 certifications".into()));
    }
    if r.updated_at < 0 {
        return Some(("updated_at", "must not be negative".into()));
    }
    None
}
