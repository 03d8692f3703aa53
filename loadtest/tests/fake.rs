//! A fake Lakehouse server (axum on 127.0.0.1:0) that answers rightly or, on request, wrongly.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use loadtest::queries::{CertDoc, WorkerDoc};
use loadtest::wire::{
    RecordRequest, SearchHit, SearchRequest, SearchResponse, ValidateFillRequest, ValidateMessageRequest,
    ValidateResponse,
};
use parking_lot::Mutex;
use serde_json::json;

/// How the fake misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answers every call correctly.
    Right,
    /// Search ignores `exclude_ids`.
    SwapOverlap,
    /// Each search rotates the top-k at the same version.
    TopkShuffle,
    /// Each search rotates the top-k and bumps the version (ingest-like).
    TopkShuffleNewVersion,
    /// Search returns no results.
    EmptySearch,
    /// Search answers 500.
    Search500,
    /// GET worker answers 404.
    Worker404,
    /// The message validator says no.
    RejectMessages,
    /// The fill validator says no.
    RejectFill,
    /// The first record is a booking conflict (422 overlapping_placement), then fine.
    ConflictOnce,
    /// Every record is a booking conflict.
    ConflictAlways,
    /// Every record is rejected (422, not a conflict).
    RecordReject,
    /// `use_playbook` has no effect.
    NoBoost,
    /// Search sleeps (async) for 2 s: longer than the test client timeout.
    SlowSearch,
    /// Writes are acknowledged but never show up in search.
    HideIngested,
    /// A search with an availability window finds one worker; the fill validator says every
    /// other worker is booked for the window (a full market, answered right).
    MarketBooked,
    /// As `MarketBooked`, but the validator finds all but one of the left-out workers free
    /// (the search hid them).
    MarketHidden,
    /// As `MarketBooked`, but a worker the ingester just created ([`JOINED`]) joins the
    /// market after the first search: free in the first check, found by the retry.
    MarketJoined,
}

/// The ingester-created worker that joins the market in [`Mode::MarketJoined`].
pub const JOINED: &str = "w-9000001";

/// A stall injected into one search request.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    /// 1-based index of the search request that stalls.
    pub nth_search: u64,
    /// How long.
    pub len: Duration,
    /// Block the thread (stalls a current-thread runtime, scheduler included) instead
    /// of sleeping asynchronously.
    pub blocking: bool,
}

struct Fake {
    mode: Mode,
    stall: Option<Stall>,
    version: AtomicU64,
    searches: AtomicU64,
    records: AtomicU64,
    recorded: Mutex<Vec<String>>,
    /// Ingested workers (id, name), newest last.
    ingested: Mutex<Vec<(String, String)>>,
    /// [`JOINED`] has been listed (in [`Mode::MarketJoined`]).
    joined: std::sync::atomic::AtomicBool,
}

/// Number of workers in the fake's pool.
pub const POOL: usize = 30;

/// The fake's pool ids.
pub fn pool_id(i: usize) -> String {
    format!("w-{:07}", i + 1)
}

/// A corpus matching the fake's pool (for the query mix).
pub fn corpus() -> Vec<WorkerDoc> {
    (0..POOL).map(|i| worker(&pool_id(i))).collect()
}

/// One worker of the pool.
pub fn worker(id: &str) -> WorkerDoc {
    WorkerDoc {
        id: id.to_owned(),
        name: "Ana Ruiz".into(),
        role: "forklift operator".into(),
        city: "Houston".into(),
        state: "TX".into(),
        skills: vec!["pallet jack".into(), "inventory".into()],
        certifications: vec![CertDoc { name: "OSHA-10".into(), expires_on: "2030-01-01".into() }],
        years_experience: 4,
        hourly_rate_cents: 2100,
        shift: "night".into(),
        available_from: "2026-01-01".into(),
        reliability_milli: 930,
        phone: "555-010-0001".into(),
        email: "ana.ruiz@example.com".into(),
        updated_at: Some(1),
    }
}

fn hit(id: &str, name: &str) -> SearchHit {
    SearchHit { id: id.into(), score: 0.9, similarity: 0.9, playbook_boost: 0.0, name: name.into() }
}

async fn search(State(f): State<Arc<Fake>>, Json(req): Json<SearchRequest>) -> Response {
    let n = f.searches.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(stall) = f.stall.filter(|s| s.nth_search == n) {
        if stall.blocking {
            std::thread::sleep(stall.len);
        } else {
            tokio::time::sleep(stall.len).await;
        }
    }
    if f.mode == Mode::Search500 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
    }
    if f.mode == Mode::SlowSearch {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let ingested = if f.mode == Mode::HideIngested { Vec::new() } else { f.ingested.lock().clone() };
    let mut ids: Vec<String> = ingested.iter().rev().map(|(id, _)| id.clone()).collect();
    ids.extend((0..POOL).map(pool_id).filter(|id| !ingested.iter().any(|(x, _)| x == id)));
    let mut boosted: Vec<String> = Vec::new();
    if req.use_playbook && f.mode != Mode::NoBoost {
        // Boost by recency: the most recently recorded workers first.
        let recorded = f.recorded.lock().clone();
        boosted.clone_from(&recorded);
        ids.sort_by_key(|id| match recorded.iter().rposition(|r| r == id) {
            Some(pos) => (0, usize::MAX - pos),
            None => (1, 0),
        });
    }
    if f.mode != Mode::SwapOverlap {
        ids.retain(|id| !req.exclude_ids.contains(id));
    }
    if matches!(f.mode, Mode::TopkShuffle | Mode::TopkShuffleNewVersion) {
        let by = usize::try_from(n).unwrap_or(0) % 7;
        ids.rotate_left(by);
    }
    if f.mode == Mode::TopkShuffleNewVersion {
        f.version.fetch_add(1, Ordering::SeqCst);
    }
    if f.mode == Mode::EmptySearch {
        ids.clear();
    }
    if matches!(f.mode, Mode::MarketBooked | Mode::MarketHidden | Mode::MarketJoined) && req.available.is_some() {
        ids.truncate(1);
    }
    if f.mode == Mode::MarketJoined {
        if req.available.is_none() {
            ids.push(JOINED.to_owned());
            f.joined.store(true, Ordering::SeqCst);
        } else if f.joined.load(Ordering::SeqCst) {
            ids.push(JOINED.to_owned());
        }
    }
    ids.truncate(req.k);
    Json(SearchResponse {
        results: ids
            .iter()
            .map(|id| {
                let name = ingested.iter().find(|(x, _)| x == id).map_or("Ana Ruiz", |(_, n)| n);
                let mut h = hit(id, name);
                if boosted.contains(id) {
                    h.playbook_boost = 0.25;
                    h.score += 0.25;
                }
                h
            })
            .collect(),
        version: f.version.load(Ordering::SeqCst),
        lag_ms: 0.0,
    })
    .into_response()
}

async fn get_worker(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    if f.mode == Mode::Worker404 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": "not_found", "message": "no such worker", "field": null}})),
        )
            .into_response();
    }
    Json(json!({"worker": worker(&id), "version": f.version.load(Ordering::SeqCst)})).into_response()
}

async fn validate_email(State(f): State<Arc<Fake>>, Json(req): Json<ValidateMessageRequest>) -> Json<ValidateResponse> {
    // The right fake checks the drafts for real: SMS ≤ 160 chars with the call-back number.
    let sms_ok = req.kind != "sms" || (req.body.chars().count() <= 160 && req.body.contains("Call 555-123-4567"));
    let ok = f.mode != Mode::RejectMessages && sms_ok && !req.to.is_empty() && !req.body.is_empty();
    Json(ValidateResponse {
        ok,
        violations: if ok {
            vec![]
        } else {
            vec![loadtest::wire::Violation { code: "pii".into(), message: "nope".into(), worker_id: None }]
        },
    })
}

async fn validate_fill(State(f): State<Arc<Fake>>, Json(req): Json<ValidateFillRequest>) -> Json<ValidateResponse> {
    let booked = |id: &String| loadtest::wire::Violation {
        code: "overlapping_placement".into(),
        message: "booked".into(),
        worker_id: Some(id.clone()),
    };
    if f.mode == Mode::MarketBooked && req.job.dates.is_some() {
        // Every proposed worker is booked: one conflict each.
        return Json(ValidateResponse { ok: false, violations: req.worker_ids.iter().map(booked).collect() });
    }
    if f.mode == Mode::MarketHidden && req.job.dates.is_some() && req.worker_ids.len() > 1 {
        // One of them is booked, the others are free.
        return Json(ValidateResponse { ok: false, violations: vec![booked(&req.worker_ids[0])] });
    }
    if f.mode == Mode::MarketJoined && req.job.dates.is_some() && req.worker_ids.len() > 2 {
        // The market check: all booked but the worker that just joined.
        let violations = req.worker_ids.iter().filter(|id| *id != JOINED).map(booked).collect();
        return Json(ValidateResponse { ok: false, violations });
    }
    let distinct: BTreeSet<&String> = req.worker_ids.iter().collect();
    let ok = f.mode != Mode::RejectFill
        && distinct.len() == req.worker_ids.len()
        && req.worker_ids.len() == req.job.count as usize
        && req.job.dates.is_some();
    Json(ValidateResponse { ok, violations: vec![] })
}

async fn record(State(f): State<Arc<Fake>>, Json(req): Json<RecordRequest>) -> Response {
    let n = f.records.fetch_add(1, Ordering::SeqCst) + 1;
    let conflict = f.mode == Mode::ConflictAlways || (f.mode == Mode::ConflictOnce && n == 1);
    if conflict || f.mode == Mode::RecordReject {
        let code = if conflict { "overlapping_placement" } else { "role_mismatch" };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": {"code": "validation_failed", "message": "rejected", "field": null},
                "violations": [{"code": code, "message": "rejected"}],
            })),
        )
            .into_response();
    }
    f.recorded.lock().extend(req.worker_ids);
    let version = f.version.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({"version": version, "record_id": format!("r-{n}"), "accepted": true})).into_response()
}

async fn upsert(State(f): State<Arc<Fake>>, Json(w): Json<WorkerDoc>) -> Json<serde_json::Value> {
    let mut ingested = f.ingested.lock();
    ingested.retain(|(id, _)| *id != w.id);
    ingested.push((w.id, w.name));
    let version = f.version.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "version": version }))
}

async fn delete(State(f): State<Arc<Fake>>, Path(id): Path<String>) -> Json<serde_json::Value> {
    f.ingested.lock().retain(|(x, _)| *x != id);
    let version = f.version.fetch_add(1, Ordering::SeqCst) + 1;
    Json(json!({ "version": version }))
}

/// A running fake.
pub struct FakeServer {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeServer {
    /// Starts a fake on 127.0.0.1:0.
    pub async fn start(mode: Mode, stall: Option<Stall>) -> Self {
        let state = Arc::new(Fake {
            mode,
            stall,
            version: AtomicU64::new(1),
            searches: AtomicU64::new(0),
            records: AtomicU64::new(0),
            recorded: Mutex::new(Vec::new()),
            ingested: Mutex::new(Vec::new()),
            joined: Default::default(),
        });
        let app = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/v1/search", post(search))
            .route("/v1/workers", post(upsert))
            .route("/v1/workers/{id}", get(get_worker).delete(delete))
            .route("/v1/validate/email", post(validate_email))
            .route("/v1/validate/fill", post(validate_fill))
            .route("/v1/playbooks/record", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Search requests served so far.
    pub fn searches(&self) -> u64 {
        self.state.searches.load(Ordering::SeqCst)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
