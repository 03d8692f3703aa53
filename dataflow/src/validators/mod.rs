//! Validators for what coordinators produce: outreach drafts ([`email`]) and proposed
//! fills ([`fill`]). Pure functions, no I/O: they return every [`Violation`] found, and
//! an empty list means the draft or fill may proceed.

pub mod email;
pub mod fill;

use serde::{Deserialize, Serialize};

pub use email::{validate_outreach, MessageKind, OutreachDraft, SMS_MAX_CHARS};
pub use fill::{validate_fill, DateRange, FillJob};

/// Stable violation codes. Clients match on these strings, so they never change
/// meaning; new rules get new codes.
pub mod codes {
    /// A number shaped like a US Social Security number appears in an outreach message.
    pub const SSN_LIKE: &str = "ssn_like";
    /// An SMS body is longer than [`super::SMS_MAX_CHARS`] characters.
    pub const SMS_TOO_LONG: &str = "sms_too_long";
    /// A template placeholder (`{{x}}`, `{name}`, `[FIRST_NAME]`, `<NAME>`, `%s`) was
    /// left in the subject or body.
    pub const UNFILLED_PLACEHOLDER: &str = "unfilled_placeholder";
    /// The message body is empty or only whitespace.
    pub const EMPTY_BODY: &str = "empty_body";
    /// The recipient is empty.
    pub const MISSING_RECIPIENT: &str = "missing_recipient";
    /// The recipient is not an email address (email) or phone number (SMS).
    pub const INVALID_RECIPIENT: &str = "invalid_recipient";
    /// The worker the draft or fill refers to does not exist (or was deleted).
    pub const UNKNOWN_WORKER: &str = "unknown_worker";
    /// The fill job itself is malformed (empty field, bad count, inverted dates).
    pub const INVALID_JOB: &str = "invalid_job";
    /// A fill proposes no workers.
    pub const EMPTY_FILL: &str = "empty_fill";
    /// A fill proposes a different number of workers than the job asks for.
    pub const COUNT_MISMATCH: &str = "count_mismatch";
    /// A fill proposes the same worker more than once.
    pub const DUPLICATE_WORKER: &str = "duplicate_worker";
    /// A proposed worker's role differs from the job's.
    pub const ROLE_MISMATCH: &str = "role_mismatch";
    /// A proposed worker's city differs from the job's.
    pub const CITY_MISMATCH: &str = "city_mismatch";
    /// A proposed worker's state differs from the job's.
    pub const STATE_MISMATCH: &str = "state_mismatch";
    /// A proposed worker already has a placement overlapping the job's dates.
    pub const OVERLAPPING_PLACEMENT: &str = "overlapping_placement";
}

/// One rule broken by a draft or fill.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Violation {
    /// Stable snake_case code from [`codes`], for programs.
    pub code: String,
    /// Human-readable explanation naming the field or worker, for people. Never echoes
    /// sensitive values (an SSN-like number is located, not quoted).
    pub message: String,
    /// The worker a per-worker violation is about (unknown, duplicate, mismatched or
    /// booked), so a client can act on each worker without parsing the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

impl Violation {
    /// A violation with the given code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into(), worker_id: None }
    }

    /// This violation, about `worker_id`.
    fn about(mut self, worker_id: &str) -> Self {
        self.worker_id = Some(worker_id.to_owned());
        self
    }

    /// `ssn_like` in `field`.
    pub fn ssn_like(field: &str, count: usize) -> Self {
        let what = if count == 1 { "an SSN-like number".to_owned() } else { format!("{count} SSN-like numbers") };
        Self::new(codes::SSN_LIKE, format!("{field} contains {what}"))
    }

    /// `sms_too_long`: the body has `chars` characters.
    pub fn sms_too_long(chars: usize) -> Self {
        Self::new(codes::SMS_TOO_LONG, format!("SMS body has {chars} characters; the limit is {SMS_MAX_CHARS}"))
    }

    /// `unfilled_placeholder`: `placeholders` (at least one) were found in `field`.
    pub fn unfilled_placeholder(field: &str, placeholders: &[&str]) -> Self {
        let list = placeholders.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        let plural = if placeholders.len() == 1 { "" } else { "s" };
        Self::new(codes::UNFILLED_PLACEHOLDER, format!("{field} contains unfilled placeholder{plural} {list}"))
    }

    /// `empty_body`.
    pub fn empty_body() -> Self {
        Self::new(codes::EMPTY_BODY, "body is empty")
    }

    /// `missing_recipient`.
    pub fn missing_recipient() -> Self {
        Self::new(codes::MISSING_RECIPIENT, "recipient (to) is empty")
    }

    /// `invalid_recipient`: `reason` says what is wrong with it.
    pub fn invalid_recipient(reason: &str) -> Self {
        Self::new(codes::INVALID_RECIPIENT, format!("recipient (to) {reason}"))
    }

    /// `unknown_worker`: no live record for `worker_id`.
    pub fn unknown_worker(worker_id: &str) -> Self {
        Self::new(codes::UNKNOWN_WORKER, format!("worker `{worker_id}` is unknown or deleted")).about(worker_id)
    }

    /// `invalid_job`: `problem` describes the malformed field.
    pub fn invalid_job(problem: impl std::fmt::Display) -> Self {
        Self::new(codes::INVALID_JOB, format!("invalid job: {problem}"))
    }

    /// `empty_fill`.
    pub fn empty_fill() -> Self {
        Self::new(codes::EMPTY_FILL, "fill proposes no workers")
    }

    /// `count_mismatch`: `proposed` workers for a job asking `wanted`.
    pub fn count_mismatch(wanted: u32, proposed: usize) -> Self {
        Self::new(codes::COUNT_MISMATCH, format!("job asks for {wanted} worker(s) but {proposed} were proposed"))
    }

    /// `duplicate_worker`: `worker_id` is proposed `times` times.
    pub fn duplicate_worker(worker_id: &str, times: usize) -> Self {
        Self::new(codes::DUPLICATE_WORKER, format!("worker `{worker_id}` is proposed {times} times")).about(worker_id)
    }

    /// `role_mismatch` / `city_mismatch` / `state_mismatch` for `field`
    /// (`role`, `city` or `state`); other field names fall back to `<field>_mismatch`.
    pub fn field_mismatch(field: &str, worker_id: &str, worker_value: &str, job_value: &str) -> Self {
        let code = match field {
            "role" => codes::ROLE_MISMATCH.to_owned(),
            "city" => codes::CITY_MISMATCH.to_owned(),
            "state" => codes::STATE_MISMATCH.to_owned(),
            other => format!("{other}_mismatch"),
        };
        Self::new(code, format!("worker `{worker_id}` has {field} `{worker_value}` but the job needs `{job_value}`"))
            .about(worker_id)
    }

    /// `overlapping_placement`: `worker_id` is already placed on `existing`, which
    /// overlaps the job's `job` dates.
    pub fn overlapping_placement(worker_id: &str, existing: DateRange, job: DateRange) -> Self {
        Self::new(
            codes::OVERLAPPING_PLACEMENT,
            format!(
                "worker `{worker_id}` is already placed on days {}..={} overlapping the job's days {}..={}",
                existing.start, existing.end, job.start, job.end
            ),
        )
        .about(worker_id)
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_use_stable_codes() {
        assert_eq!(Violation::ssn_like("body", 1).code, "ssn_like");
        assert_eq!(Violation::ssn_like("body", 2).message, "body contains 2 SSN-like numbers");
        assert_eq!(Violation::sms_too_long(161).code, "sms_too_long");
        assert_eq!(Violation::unfilled_placeholder("body", &["{x}"]).code, "unfilled_placeholder");
        assert_eq!(Violation::empty_body().code, "empty_body");
        assert_eq!(Violation::missing_recipient().code, "missing_recipient");
        assert_eq!(Violation::invalid_recipient("x").code, "invalid_recipient");
        assert_eq!(Violation::unknown_worker("w-1").code, "unknown_worker");
        assert_eq!(Violation::invalid_job("x").code, "invalid_job");
        assert_eq!(Violation::empty_fill().code, "empty_fill");
        assert_eq!(Violation::count_mismatch(2, 1).code, "count_mismatch");
        assert_eq!(Violation::duplicate_worker("w", 2).code, "duplicate_worker");
        assert_eq!(Violation::field_mismatch("role", "w", "a", "b").code, "role_mismatch");
        assert_eq!(Violation::field_mismatch("city", "w", "a", "b").code, "city_mismatch");
        assert_eq!(Violation::field_mismatch("state", "w", "a", "b").code, "state_mismatch");
        let r = DateRange { start: 1, end: 2 };
        assert_eq!(Violation::overlapping_placement("w", r, r).code, "overlapping_placement");
        assert_eq!(Violation::new("x", "y").to_string(), "x: y");
    }

    #[test]
    fn per_worker_violations_name_their_worker() {
        let r = DateRange { start: 1, end: 2 };
        for v in [
            Violation::unknown_worker("w-7"),
            Violation::duplicate_worker("w-7", 2),
            Violation::field_mismatch("city", "w-7", "a", "b"),
            Violation::overlapping_placement("w-7", r, r),
        ] {
            assert_eq!(v.worker_id.as_deref(), Some("w-7"), "{v}");
            assert_eq!(serde_json::to_value(&v).unwrap()["worker_id"], "w-7");
        }
        // Violations about the whole draft or job carry none, and say nothing of one.
        let v = Violation::count_mismatch(2, 1);
        assert_eq!(v.worker_id, None);
        assert!(serde_json::to_value(&v).unwrap().get("worker_id").is_none());
        // An outcome stored before the field existed still reads.
        let old: Violation = serde_json::from_str(r#"{"code":"x","message":"y"}"#).unwrap();
        assert_eq!(old, Violation::new("x", "y"));
    }
}
