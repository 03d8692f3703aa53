//! The shared step functions (search, get_worker, validate, record) and the per-iteration `Ctx`.
//!
//! Every step goes through [`Ctx::record`], which stores one [`StepRecord`] with three
//! instants: the step's intended start, when it was sent and when it ended.
//!
//! # Notes
//! Coordinated-omission correction per step: the intended start of the first step is
//! the iteration's intended start (its scheduled arrival), and of every later step the
//! end of the previous step. So `corrected = end − intended` charges the first step
//! with any schedule delay (queueing behind the in-flight cap or a late scheduler),
//! while `uncorrected = end − sent` is what a naive client would report.

use rand::rngs::StdRng;
use tokio::time::Instant;

use crate::client::{Call, CallError};
use crate::failure::FailureReason;
use crate::queries::{is_ingest_id, WorkerDoc};
use crate::report::StepRecord;
use crate::scenarios::ScenarioEnv;
use crate::wire::{
    RecordRequest, RecordResponse, SearchHit, SearchRequest, SearchResponse, ValidateFillRequest,
    ValidateMessageRequest, ValidateResponse, Violation,
};

/// Step label of `POST /v1/search`.
pub const SEARCH: &str = "POST /v1/search";
/// Step label of `GET /v1/workers/{id}`.
pub const GET_WORKER: &str = "GET /v1/workers/:id";
/// Step label of `POST /v1/validate/email` (email and SMS).
pub const VALIDATE_EMAIL: &str = "POST /v1/validate/email";
/// Step label of `POST /v1/validate/fill`.
pub const VALIDATE_FILL: &str = "POST /v1/validate/fill";
/// Step label of `POST /v1/playbooks/record`.
pub const RECORD: &str = "POST /v1/playbooks/record";

/// The violation code for a worker already booked on an overlapping fill.
pub const OVERLAPPING_PLACEMENT: &str = dataflow::validators::codes::OVERLAPPING_PLACEMENT;
/// The fill validator's code for a proposed worker that does not exist (any more).
pub const UNKNOWN_WORKER: &str = dataflow::validators::codes::UNKNOWN_WORKER;

/// Per-iteration state: shared env, a seeded rng and the steps recorded so far.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Shared run environment.
    pub env: &'a ScenarioEnv,
    /// Iteration rng (seeded from the run seed and iteration number).
    pub rng: StdRng,
    prev_end: Instant,
    steps: Vec<StepRecord>,
    detail: Option<String>,
}

impl<'a> Ctx<'a> {
    /// A context whose first step is due at `intended`.
    pub fn new(env: &'a ScenarioEnv, rng: StdRng, intended: Instant) -> Self {
        Self { env, rng, prev_end: intended, steps: Vec::with_capacity(8), detail: None }
    }

    /// The recorded steps.
    pub fn steps(&self) -> &[StepRecord] {
        &self.steps
    }

    /// Consumes the context, returning its steps.
    pub fn into_steps(self) -> Vec<StepRecord> {
        self.steps
    }

    /// Records a finished call as a step and returns its body or failure reason.
    pub fn record<T>(&mut self, step: &'static str, call: Call<T>) -> Result<T, CallError> {
        let clock = self.env.clock;
        let failure = call.result.as_ref().err().map(CallError::reason);
        self.steps.push(StepRecord {
            step,
            intended_ns: clock.ns(self.prev_end),
            sent_ns: clock.ns(call.sent),
            end_ns: clock.ns(call.end),
            status: call.status,
            ok: failure.is_none(),
            failure,
        });
        self.prev_end = call.end;
        call.result
    }

    /// Marks the last step failed with `reason` (a check on its response failed) and
    /// returns `reason`, for `return Err(ctx.fail(..))`.
    pub fn fail(&mut self, reason: FailureReason) -> FailureReason {
        if let Some(last) = self.steps.last_mut() {
            last.ok = false;
            last.failure = Some(reason);
        }
        reason
    }

    /// As [`Ctx::fail`], keeping `detail` (what the check saw) for the run's summary.
    pub fn fail_with(&mut self, reason: FailureReason, detail: String) -> FailureReason {
        self.detail = Some(detail);
        self.fail(reason)
    }

    /// The detail of the last [`Ctx::fail_with`], taken.
    pub fn take_detail(&mut self) -> Option<String> {
        self.detail.take()
    }
}

/// `POST /v1/search`.
pub async fn search(ctx: &mut Ctx<'_>, req: &SearchRequest) -> Result<SearchResponse, FailureReason> {
    let call = ctx.env.client.search(req).await;
    ctx.record(SEARCH, call).map_err(|e| e.reason())
}

/// `GET /v1/workers/{id}`.
pub async fn get_worker(ctx: &mut Ctx<'_>, id: &str) -> Result<WorkerDoc, FailureReason> {
    let call = ctx.env.client.get_worker(id).await;
    ctx.record(GET_WORKER, call).map(|r| r.worker).map_err(|e| e.reason())
}

/// `POST /v1/validate/email`, failing with `validator_rejected` unless `ok`.
pub async fn validate_message(ctx: &mut Ctx<'_>, req: &ValidateMessageRequest) -> Result<(), FailureReason> {
    let call = ctx.env.client.validate_message(req).await;
    let verdict = ctx.record(VALIDATE_EMAIL, call).map_err(|e| e.reason())?;
    if verdict.ok {
        Ok(())
    } else {
        Err(ctx.fail(FailureReason::ValidatorRejected))
    }
}

/// `POST /v1/validate/fill`; the caller judges the verdict (a conflict may be retried).
pub async fn validate_fill(ctx: &mut Ctx<'_>, req: &ValidateFillRequest) -> Result<ValidateResponse, FailureReason> {
    let call = ctx.env.client.validate_fill(req).await;
    ctx.record(VALIDATE_FILL, call).map_err(|e| e.reason())
}

/// What `POST /v1/playbooks/record` decided.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordOutcome {
    /// 200 and `accepted`.
    Accepted(RecordResponse),
    /// 422: the fill validator rejected it, with these violations.
    Rejected(Vec<Violation>),
}

/// Whether every violation is a booking conflict (so a retry with other workers may pass).
pub fn only_conflicts(violations: &[Violation]) -> bool {
    !violations.is_empty() && violations.iter().all(|v| v.code == OVERLAPPING_PLACEMENT)
}

/// Whether a refused fill is explained by this run's own ingest: a proposed worker was
/// created by the ingester (which deletes only workers it created, so it may delete one
/// between the search and the record), at least one violation is `unknown_worker`, and the
/// rest are booking conflicts. A retry without those workers may pass.
pub fn vanished_by_ingest(violations: &[Violation], picks: &[String]) -> bool {
    picks.iter().any(|p| is_ingest_id(p))
        && violations.iter().any(|v| v.code == UNKNOWN_WORKER)
        && violations.iter().all(|v| v.code == UNKNOWN_WORKER || v.code == OVERLAPPING_PLACEMENT)
}

/// `POST /v1/playbooks/record`. A 422 is returned as [`RecordOutcome::Rejected`] (step
/// marked `record_conflict` or `record_rejected`); other errors fail the step.
pub async fn record_playbook(ctx: &mut Ctx<'_>, req: &RecordRequest) -> Result<RecordOutcome, FailureReason> {
    let call = ctx.env.client.record_playbook(req).await;
    match ctx.record(RECORD, call) {
        Ok(resp) if resp.accepted => Ok(RecordOutcome::Accepted(resp)),
        Ok(_) => Err(ctx.fail(FailureReason::RecordRejected)),
        Err(CallError::Status { status: 422, body }) => {
            let reason = if only_conflicts(&body.violations) {
                FailureReason::RecordConflict
            } else {
                FailureReason::RecordRejected
            };
            ctx.fail(reason);
            Ok(RecordOutcome::Rejected(body.violations))
        }
        Err(e) => Err(e.reason()),
    }
}

/// Hits in rank order, base-corpus workers first (ingester-created ones may vanish).
pub fn prefer_base(results: &[SearchHit]) -> Vec<&SearchHit> {
    let (base, ingested): (Vec<&SearchHit>, Vec<&SearchHit>) = results.iter().partition(|h| !is_ingest_id(&h.id));
    base.into_iter().chain(ingested).collect()
}

#[cfg(test)]
mod vanished_tests {
    use super::*;

    fn v(code: &str) -> Violation {
        Violation { code: code.into(), message: String::new(), worker_id: None }
    }

    #[test]
    fn only_an_ingested_pick_that_vanished_is_blamed_on_ingest() {
        let ingested = vec!["w-0000001".to_owned(), "w-9000042".to_owned()];
        assert!(is_ingest_id(&ingested[1]) && !is_ingest_id(&ingested[0]));
        let base = vec!["w-0000001".to_owned(), "w-0000002".to_owned()];
        assert!(vanished_by_ingest(&[v(UNKNOWN_WORKER)], &ingested));
        assert!(vanished_by_ingest(&[v(UNKNOWN_WORKER), v(OVERLAPPING_PLACEMENT)], &ingested));
        // A base-corpus worker is never deleted by the run: an unknown one is a real failure.
        assert!(!vanished_by_ingest(&[v(UNKNOWN_WORKER)], &base));
        // Any other violation is a real failure too.
        assert!(!vanished_by_ingest(&[v(UNKNOWN_WORKER), v("role_mismatch")], &ingested));
        assert!(!vanished_by_ingest(&[v(OVERLAPPING_PLACEMENT)], &ingested));
        assert!(!vanished_by_ingest(&[], &ingested));
    }
}
