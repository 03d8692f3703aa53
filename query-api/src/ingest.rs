//! `lakehouse ingest`: submit a parquet ingest job to a running server and follow it with a
//! progress bar (rows/s, ETA) until it ends.

use std::path::PathBuf;
use std::time::Duration;

use dataflow::jobs::{JobInfo, JobState};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use thiserror::Error;

use crate::auth::API_KEY_HEADER;
use crate::wire::{JobCreated, JobRequest};

/// What to ingest, where.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Parquet files or directories, as the server sees the file system (relative paths are
    /// made absolute against the current directory first).
    pub files: Vec<PathBuf>,
    /// The server, e.g. `http://127.0.0.1:4110`.
    pub gateway: String,
    /// API key for the write route.
    pub api_key: Option<String>,
    /// How often the job is polled.
    pub poll: Duration,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

/// Why following a job failed (a job that ran and failed is not an error here: see
/// [`JobInfo::state`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The server could not be reached or answered something unreadable.
    #[error("{url}: {source}")]
    Http {
        /// The request.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// The server refused the request.
    #[error("{url}: {status}: {message}")]
    Refused {
        /// The request.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's error message.
        message: String,
    },
    /// A path could not be made absolute.
    #[error("{}: {source}", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Submit the job and poll it until it finishes; returns its final record.
pub async fn run(opts: &IngestOptions) -> Result<JobInfo, IngestError> {
    let base = opts.gateway.trim_end_matches('/').to_owned();
    let mut paths = Vec::with_capacity(opts.files.len());
    for f in &opts.files {
        let abs = std::path::absolute(f).map_err(|source| IngestError::Path { path: f.clone(), source })?;
        paths.push(abs.display().to_string());
    }
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/jobs");
    let body = JobRequest { kind: "ingest_parquet".into(), paths: Some(paths), ..JobRequest::default() };
    let mut req = client.post(&url).json(&body);
    if let Some(k) = &opts.api_key {
        req = req.header(API_KEY_HEADER, k);
    }
    let created: JobCreated = read(&url, req.send().await).await?;
    let bar = if opts.progress { ProgressBar::new(0) } else { ProgressBar::hidden() };
    if opts.progress {
        bar.set_draw_target(ProgressDrawTarget::stderr());
    }
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} rows  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(created.job_id.clone());
    let url = format!("{base}/v1/jobs/{}", created.job_id);
    loop {
        let info: JobInfo = read(&url, client.get(&url).send().await).await?;
        bar.set_length(info.progress.rows_total.max(info.progress.rows_read));
        bar.set_position(info.progress.rows_read);
        let eta = info.eta_secs.map(|s| format!(", ETA {s:.0}s")).unwrap_or_default();
        bar.set_message(format!(
            "{} {:.0} rows/s{eta}, {} accepted, {} rejected, file {}/{}",
            info.state,
            info.rows_per_sec,
            info.progress.rows_accepted,
            info.progress.rows_rejected,
            info.progress.files_done,
            info.progress.files_total
        ));
        if info.state.is_terminal() {
            match info.state {
                JobState::Succeeded => bar.finish(),
                JobState::Queued | JobState::Running | JobState::Failed | JobState::Cancelled => bar.abandon(),
            }
            return Ok(info);
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// Read a JSON answer, or the server's error message.
async fn read<T: serde::de::DeserializeOwned>(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, IngestError> {
    let http = |source| IngestError::Http { url: url.to_owned(), source };
    let resp = sent.map_err(http)?;
    let status = resp.status();
    if status.is_success() {
        return resp.json::<T>().await.map_err(http);
    }
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Err(IngestError::Refused { url: url.to_owned(), status: status.as_u16(), message })
}
