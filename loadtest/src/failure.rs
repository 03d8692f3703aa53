//! `FailureReason`: the closed set of reason codes a step, scenario or write can fail with.

use std::fmt;

/// Why a step, scenario iteration or ingest write failed. Counted per scenario in the
/// report under [`FailureReason::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// The server answered 5xx.
    Http5xx,
    /// The server answered 4xx where 2xx was expected.
    Http4xx,
    /// The request timed out (client timeout).
    Timeout,
    /// The connection could not be established.
    Connect,
    /// Another transport error (reset, protocol error).
    Transport,
    /// The response body was not the documented JSON.
    Decode,
    /// A search returned fewer results than the scenario needs.
    NoResults,
    /// A validator answered `ok: false`.
    ValidatorRejected,
    /// A swap search returned an id that it was told to exclude.
    OverlapInSwap,
    /// A repeated search returned different top-k at the same version.
    TopkChanged,
    /// The recorded worker did not rank higher on the playbook replay.
    NotBoosted,
    /// The playbook record was rejected (422).
    RecordRejected,
    /// The record was rejected because a concurrent fill booked the worker first; the
    /// scenario retries once, so on a step row this is not (yet) a scenario failure.
    RecordConflict,
    /// A write did not become visible to search within the freshness deadline.
    NotVisible,
    /// The iteration was not started: the in-flight cap was reached (open loop).
    Dropped,
    /// The iteration was still running when the drain deadline passed.
    Aborted,
}

impl FailureReason {
    /// Every reason, in report order.
    pub const ALL: [Self; 16] = [
        Self::Http5xx,
        Self::Http4xx,
        Self::Timeout,
        Self::Connect,
        Self::Transport,
        Self::Decode,
        Self::NoResults,
        Self::ValidatorRejected,
        Self::OverlapInSwap,
        Self::TopkChanged,
        Self::NotBoosted,
        Self::RecordRejected,
        Self::RecordConflict,
        Self::NotVisible,
        Self::Dropped,
        Self::Aborted,
    ];

    /// The snake_case code used in reports and parquet files.
    pub fn code(self) -> &'static str {
        match self {
            Self::Http5xx => "http_5xx",
            Self::Http4xx => "http_4xx",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Transport => "transport",
            Self::Decode => "decode",
            Self::NoResults => "no_results",
            Self::ValidatorRejected => "validator_rejected",
            Self::OverlapInSwap => "overlap_in_swap",
            Self::TopkChanged => "topk_changed",
            Self::NotBoosted => "not_boosted",
            Self::RecordRejected => "record_rejected",
            Self::RecordConflict => "record_conflict",
            Self::NotVisible => "not_visible",
            Self::Dropped => "dropped",
            Self::Aborted => "aborted",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let codes: std::collections::HashSet<_> = FailureReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), FailureReason::ALL.len());
    }
}
