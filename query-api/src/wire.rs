//! Request and response bodies, and their conversion to engine types.

use dataflow::dates::{format_date, parse_date};
use dataflow::record::{Certification, WorkerId, WorkerRecord};
use dataflow::validators::fill::{DateRange, FillJob};
use dataflow::validators::Violation;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// `{"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatesBody {
    /// First day.
    pub start: String,
    /// Last day (inclusive).
    pub end: String,
}

impl DatesBody {
    /// Parse, naming `field` on error.
    pub fn parse(&self, field: &str) -> Result<DateRange, ApiError> {
        let start = parse_date(&self.start)
            .ok_or_else(|| ApiError::bad(&format!("{field}.start"), "expected a date YYYY-MM-DD"))?;
        let end = parse_date(&self.end)
            .ok_or_else(|| ApiError::bad(&format!("{field}.end"), "expected a date YYYY-MM-DD"))?;
        if end < start {
            return Err(ApiError::bad(&format!("{field}.end"), "must not be before start"));
        }
        Ok(DateRange::new(start, end))
    }
}

/// Search filters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiltersBody {
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// Shift.
    pub shift: Option<String>,
}

fn default_k() -> usize {
    10
}

/// `POST /v1/search`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBody {
    /// Free text.
    pub query: String,
    /// Results wanted.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Attribute filters.
    #[serde(default)]
    pub filters: Option<FiltersBody>,
    /// Ids to leave out.
    #[serde(default)]
    pub exclude_ids: Vec<String>,
    /// Apply the playbook boost.
    #[serde(default)]
    pub use_playbook: bool,
    /// Wait until this version is visible first.
    #[serde(default)]
    pub min_version: Option<u64>,
    /// Only workers free on these dates.
    #[serde(default)]
    pub available: Option<DatesBody>,
}

/// One search result. The server serialises it with `S = &str`, borrowing the strings from
/// the worker records; clients read it with the default `S = String`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResult<S = String> {
    /// Worker id.
    pub id: S,
    /// `similarity + playbook_boost`.
    pub score: f32,
    /// Query–profile cosine similarity.
    pub similarity: f32,
    /// Boost from similar past fills.
    pub playbook_boost: f32,
    /// Name.
    pub name: S,
    /// Role.
    pub role: S,
    /// City.
    pub city: S,
    /// State.
    pub state: S,
}

/// Search answer (`S` as in [`SearchResult`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResponse<S = String> {
    /// Best first.
    pub results: Vec<SearchResult<S>>,
    /// Every write at or below this version is reflected.
    pub version: u64,
    /// How far the visible version trails now, in ms.
    pub lag_ms: f64,
}

/// A certification on the wire.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertBody {
    /// Name.
    pub name: String,
    /// Expiry, YYYY-MM-DD.
    pub expires_on: String,
}

fn default_shift() -> String {
    "day".into()
}

fn default_reliability() -> u32 {
    800
}

/// A worker on the wire (`POST /v1/workers`, `GET /v1/workers/{id}`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerBody {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: String,
    /// City.
    pub city: String,
    /// Two-letter state.
    pub state: String,
    /// Skills.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Certifications.
    #[serde(default)]
    pub certifications: Vec<CertBody>,
    /// Years of experience.
    #[serde(default)]
    pub years_experience: u32,
    /// Hourly rate in cents.
    #[serde(default)]
    pub hourly_rate_cents: u32,
    /// Shift.
    #[serde(default = "default_shift")]
    pub shift: String,
    /// First available day, YYYY-MM-DD (default: today).
    #[serde(default)]
    pub available_from: Option<String>,
    /// Reliability 0..=1000.
    #[serde(default = "default_reliability")]
    pub reliability_milli: u32,
    /// Phone.
    #[serde(default)]
    pub phone: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Last update, ms since epoch (default: now).
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    (dataflow::engine::now_micros() / 1000) as i64
}

impl WorkerBody {
    /// Convert and validate; `at` prefixes field names in a batch (`workers[3].`).
    pub fn into_record(self, at: &str) -> Result<WorkerRecord, ApiError> {
        let field = |f: &str| format!("{at}{f}");
        let mut certifications = Vec::with_capacity(self.certifications.len());
        for (i, c) in self.certifications.into_iter().enumerate() {
            let expires_on = parse_date(&c.expires_on).ok_or_else(|| {
                ApiError::bad(&field(&format!("certifications[{i}].expires_on")), "expected a date YYYY-MM-DD")
            })?;
            certifications.push(Certification { name: c.name, expires_on });
        }
        let today = (now_ms() / 86_400_000) as i32;
        let available_from = match &self.available_from {
            Some(s) => {
                parse_date(s).ok_or_else(|| ApiError::bad(&field("available_from"), "expected a date YYYY-MM-DD"))?
            }
            None => today,
        };
        let rec = WorkerRecord {
            id: WorkerId(self.id),
            name: self.name,
            role: self.role.trim().to_lowercase(),
            city: self.city,
            state: self.state.trim().to_uppercase(),
            skills: self.skills,
            certifications,
            years_experience: self.years_experience,
            hourly_rate_cents: self.hourly_rate_cents,
            shift: self.shift.trim().to_lowercase(),
            available_from,
            reliability_milli: self.reliability_milli,
            phone: self.phone,
            email: self.email,
            updated_at: self.updated_at.unwrap_or_else(now_ms),
        };
        if let Some((f, reason)) = dataflow::operators::validate::check_record(&rec) {
            return Err(ApiError::bad(&field(f), reason));
        }
        Ok(rec)
    }

    /// The wire form of a record.
    pub fn from_record(r: &WorkerRecord) -> Self {
        WorkerBody {
            id: r.id.0.clone(),
            name: r.name.clone(),
            role: r.role.clone(),
            city: r.city.clone(),
            state: r.state.clone(),
            skills: r.skills.clone(),
            certifications: r
                .certifications
                .iter()
                .map(|c| CertBody { name: c.name.clone(), expires_on: format_date(c.expires_on) })
                .collect(),
            years_experience: r.years_experience,
            hourly_rate_cents: r.hourly_rate_cents,
            shift: r.shift.clone(),
            available_from: Some(format_date(r.available_from)),
            reliability_milli: r.reliability_milli,
            phone: r.phone.clone(),
            email: r.email.clone(),
            updated_at: Some(r.updated_at),
        }
    }
}

/// `POST /v1/workers`: one worker or `{"workers": [...]}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum UpsertBody {
    /// A batch.
    Batch {
        /// The workers.
        workers: Vec<WorkerBody>,
    },
    /// One worker.
    One(Box<WorkerBody>),
}

/// `{"version": N}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionResponse {
    /// The write's version.
    pub version: u64,
}

/// A fill job on the wire.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobBody {
    /// Role.
    pub role: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Workers wanted.
    pub count: u32,
    /// Dates, optional.
    #[serde(default)]
    pub dates: Option<DatesBody>,
}

impl JobBody {
    /// Convert, naming `job.dates` on error.
    pub fn into_job(self) -> Result<FillJob, ApiError> {
        let dates = self.dates.as_ref().map(|d| d.parse("job.dates")).transpose()?;
        Ok(FillJob { role: self.role, city: self.city, state: self.state, count: self.count, dates })
    }
}

/// `POST /v1/validate/fill`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateFillBody {
    /// The job.
    pub job: JobBody,
    /// Proposed workers.
    pub worker_ids: Vec<String>,
}

/// `POST /v1/playbooks/record`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// The request text.
    pub query: String,
    /// Role filled.
    pub role: String,
    /// City.
    pub city: String,
    /// State.
    pub state: String,
    /// Workers placed.
    pub worker_ids: Vec<String>,
    /// Placement dates.
    #[serde(default)]
    pub dates: Option<DatesBody>,
}

/// Record answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordResponse {
    /// Version of the record.
    pub version: u64,
    /// Its id.
    pub record_id: String,
    /// Always true in a 200 (refusals are 422).
    pub accepted: bool,
}

/// `POST /v1/validate/email`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    /// `email` or `sms`.
    pub kind: dataflow::validators::email::MessageKind,
    /// Recipient.
    #[serde(default)]
    pub to: String,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Body.
    #[serde(default)]
    pub body: String,
    /// Worker the message is for.
    pub worker_id: String,
}

/// Validator answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ValidationResponse {
    /// No violations.
    pub ok: bool,
    /// What is wrong.
    pub violations: Vec<Violation>,
}

impl From<Vec<Violation>> for ValidationResponse {
    fn from(violations: Vec<Violation>) -> Self {
        ValidationResponse { ok: violations.is_empty(), violations }
    }
}

/// `POST /v1/jobs`: `{"kind": "ingest_parquet", "path": ...}` (or `"paths": [...]`),
/// `{"kind": "reembed"}`, `{"kind": "rebuild_index", "index": "workers" | "playbook_memory"}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// `ingest_parquet`, `reembed` or `rebuild_index`.
    pub kind: String,
    /// A parquet file or a directory of them, as the server sees the file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Several files or directories, ingested in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// The index to rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
}

impl JobRequest {
    /// Convert to a job spec, naming the offending field on error.
    pub fn into_spec(self) -> Result<dataflow::jobs::JobSpec, ApiError> {
        use dataflow::jobs::{IndexName, JobSpec};
        let unused = |field: &str, kind: &str| Err(ApiError::bad(field, format!("not used by {kind}")));
        match self.kind.as_str() {
            "ingest_parquet" => {
                if self.index.is_some() {
                    return unused("index", "ingest_parquet");
                }
                let paths = match (self.path, self.paths) {
                    (Some(p), None) => vec![p],
                    (None, Some(ps)) => ps,
                    (None, None) => return Err(ApiError::bad("path", "a file or directory is required")),
                    (Some(_), Some(_)) => return Err(ApiError::bad("paths", "give either path or paths")),
                };
                if paths.is_empty() {
                    return Err(ApiError::bad("paths", "must not be empty"));
                }
                if let Some(i) = paths.iter().position(|p| p.trim().is_empty()) {
                    return Err(ApiError::bad(&format!("paths[{i}]"), "must not be empty"));
                }
                Ok(JobSpec::IngestParquet { paths: paths.into_iter().map(std::path::PathBuf::from).collect() })
            }
            "reembed" => match (&self.path, &self.paths, &self.index) {
                (None, None, None) => Ok(JobSpec::Reembed),
                (Some(_), _, _) => unused("path", "reembed"),
                (_, Some(_), _) => unused("paths", "reembed"),
                (_, _, Some(_)) => unused("index", "reembed"),
            },
            "rebuild_index" => {
                if self.path.is_some() || self.paths.is_some() {
                    return unused("path", "rebuild_index");
                }
                let name = self.index.ok_or_else(|| ApiError::bad("index", "the index to rebuild is required"))?;
                let index = IndexName::parse(&name).ok_or_else(|| {
                    ApiError::bad("index", format!("expected \"workers\" or \"playbook_memory\", got {name:?}"))
                })?;
                Ok(JobSpec::RebuildIndex { index })
            }
            other => Err(ApiError::bad(
                "kind",
                format!("expected \"ingest_parquet\", \"reembed\" or \"rebuild_index\", got {other:?}"),
            )),
        }
    }
}

/// `POST /v1/jobs` answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobCreated {
    /// The new job's id.
    pub job_id: String,
    /// Its state (`queued`).
    pub state: dataflow::jobs::JobState,
}
