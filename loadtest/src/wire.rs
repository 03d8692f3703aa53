//! Request and response bodies of the Lakehouse HTTP API, as the harness sends and reads them.
//!
//! Fields the harness does not check are `#[serde(default)]`, so small additions on the
//! server do not turn every response into a decode failure.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::queries::WorkerDoc;

/// A `{start, end}` date window, both `YYYY-MM-DD`, inclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateWindow {
    /// First day.
    pub start: String,
    /// Last day.
    pub end: String,
}

/// Equality filters for `/v1/search`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Shift.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<String>,
}

/// `POST /v1/search` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// Natural-language query.
    pub query: String,
    /// How many results (1..=1000).
    pub k: usize,
    /// Equality filters.
    pub filters: Filters,
    /// Ids that must not be returned.
    pub exclude_ids: Vec<String>,
    /// Apply learned playbook boosts.
    pub use_playbook: bool,
    /// Wait until this write version is visible.
    pub min_version: Option<u64>,
    /// Exclude workers placed on a fill overlapping this window.
    pub available: Option<DateWindow>,
}

impl SearchRequest {
    /// A plain search: no filters, exclusions, playbook or version wait.
    pub fn plain(query: impl Into<String>, k: usize) -> Self {
        Self {
            query: query.into(),
            k,
            filters: Filters::default(),
            exclude_ids: Vec::new(),
            use_playbook: false,
            min_version: None,
            available: None,
        }
    }
}

/// One search hit: the fields the scenarios read (the server also sends role, city and
/// state, which are skipped). Ids and names are [`CompactString`]s, inline up to 24 bytes:
/// parsing search answers was 5% of the box's CPU under load, most of it allocating.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Worker id.
    pub id: CompactString,
    /// Final score (similarity + boost).
    #[serde(default)]
    pub score: f64,
    /// Raw similarity.
    #[serde(default)]
    pub similarity: f64,
    /// Playbook boost applied.
    #[serde(default)]
    pub playbook_boost: f64,
    /// Name.
    #[serde(default)]
    pub name: CompactString,
}

/// `POST /v1/search` response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Hits, best first.
    pub results: Vec<SearchHit>,
    /// The index version the search ran against.
    pub version: u64,
    /// How far the index lags the write log, ms.
    #[serde(default)]
    pub lag_ms: f64,
}

impl SearchResponse {
    /// Hit ids, in rank order.
    pub fn ids(&self) -> Vec<String> {
        self.results.iter().map(|h| h.id.to_string()).collect()
    }
}

/// `GET /v1/workers/{id}` response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerResponse {
    /// The worker.
    pub worker: WorkerDoc,
    /// Index version.
    #[serde(default)]
    pub version: u64,
}

/// `{"version": n}`: the response of writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionResponse {
    /// The version at which the write becomes visible.
    pub version: u64,
}

/// `POST /v1/workers` batch body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerBatch {
    /// Workers to upsert.
    pub workers: Vec<WorkerDoc>,
}

/// A validator rule violation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Machine-readable code, e.g. `overlapping_placement`.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The worker a per-worker violation is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
}

/// `POST /v1/validate/email` body (also SMS with `kind: "sms"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateMessageRequest {
    /// `email` or `sms`.
    pub kind: String,
    /// Address or phone number.
    pub to: String,
    /// Subject (empty for SMS).
    pub subject: String,
    /// Message body.
    pub body: String,
    /// The recipient worker.
    pub worker_id: String,
}

/// The job part of `POST /v1/validate/fill`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillJob {
    /// Role.
    pub role: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Workers needed.
    pub count: u32,
    /// Dates of the fill.
    pub dates: Option<DateWindow>,
}

/// `POST /v1/validate/fill` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateFillRequest {
    /// The job.
    pub job: FillJob,
    /// Proposed workers.
    pub worker_ids: Vec<String>,
}

/// Validator verdict: `{ok, violations}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidateResponse {
    /// Whether the proposal passes.
    pub ok: bool,
    /// Why not.
    #[serde(default)]
    pub violations: Vec<Violation>,
}

/// `POST /v1/playbooks/record` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRequest {
    /// The query the fill answered.
    pub query: String,
    /// Role.
    pub role: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Workers placed.
    pub worker_ids: Vec<String>,
    /// Dates of the placement, if any.
    pub dates: Option<DateWindow>,
}

/// `POST /v1/playbooks/record` success response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResponse {
    /// Version at which the record is visible.
    pub version: u64,
    /// Id of the stored record.
    #[serde(default)]
    pub record_id: String,
    /// Always true on 200.
    #[serde(default)]
    pub accepted: bool,
}

/// Details of an API error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable code.
    #[serde(default)]
    pub code: String,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// The offending field, if any.
    #[serde(default)]
    pub field: Option<String>,
}

/// The body of a 4xx/5xx response: `{"error": {...}, "violations": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    #[serde(default)]
    pub error: Option<ErrorDetail>,
    /// Validator violations (422 from the record endpoint).
    #[serde(default)]
    pub violations: Vec<Violation>,
}
