//! Batch jobs over HTTP: the routes through the router (`oneshot`), and `lakehouse ingest`
//! (library and binary) against a server on a real loopback socket.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dataflow::corpus::{generate_workers, write_workers};
use dataflow::engine::{Engine, EngineConfig};
use dataflow::jobs::JobState;
use dataflow::record::WorkerRecord;
use query_api::ingest::IngestOptions;
use query_api::{app, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

const T0: i64 = 1_800_000_000_000;

fn engine() -> Arc<Engine> {
    let mut cfg = EngineConfig { threads: 2, dim: 128, ..EngineConfig::default() };
    cfg.playbook_index.hnsw_threshold = 16;
    let e = Engine::start(cfg).unwrap();
    let v = e.upsert_workers(workers(300, 1)).unwrap();
    assert!(e.wait_visible_blocking(v, Duration::from_secs(30)));
    Arc::new(e)
}

fn workers(n: usize, seed: u64) -> Vec<WorkerRecord> {
    let mut w = generate_workers(n, seed);
    w.iter_mut().for_each(|w| w.updated_at = T0 + seed as i64);
    w
}

async fn call(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn assert_error(status: StatusCode, v: &Value, want: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(status, want, "{v}");
    assert_eq!(v["error"]["code"], json!(code), "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    if let Some(f) = field {
        assert_eq!(v["error"]["field"], json!(f), "{v}");
    }
}

/// Poll `GET /v1/jobs/{id}` until the job is finished.
async fn follow(router: &axum::Router, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = call(router, "GET", &format!("/v1/jobs/{id}"), None, None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if !["queued", "running"].contains(&v["state"].as_str().unwrap()) {
            return v;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_routes_run_report_and_refuse_bad_requests_with_4xx() {
    let e = engine();
    let r = app(AppState::new(Arc::clone(&e), None));
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write_workers(&good, &workers(400, 2)[300..]).unwrap();

    // Bad requests: each a 4xx naming the field.
    let bad = [
        (json!({"kind": "nope"}), "invalid_field", Some("kind")),
        (json!({"kind": "ingest_parquet"}), "invalid_field", Some("path")),
        (json!({"kind": "ingest_parquet", "paths": []}), "invalid_field", Some("paths")),
        (
            json!({"kind": "ingest_parquet", "path": path_str(&good), "index": "workers"}),
            "invalid_field",
            Some("index"),
        ),
        (json!({"kind": "rebuild_index", "index": "nope"}), "invalid_field", Some("index")),
        (json!({"kind": "rebuild_index"}), "invalid_field", Some("index")),
        (json!({"kind": "reembed", "path": "x"}), "invalid_field", Some("path")),
        (json!({"kind": "reembed", "extra": 1}), "invalid_body", None),
        (json!({"path": "x"}), "invalid_body", Some("kind")),
    ];
    for (body, code, field) in bad {
        let (s, v) = call(&r, "POST", "/v1/jobs", Some(body.clone()), None).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, code, field);
    }
    let missing = dir.path().join("missing.parquet");
    let (s, v) =
        call(&r, "POST", "/v1/jobs", Some(json!({"kind": "ingest_parquet", "path": path_str(&missing)})), None).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, "invalid_field", Some("path"));
    assert!(v["error"]["message"].as_str().unwrap().contains("missing.parquet"), "{v}");
    let (s, v) = call(&r, "GET", "/v1/jobs/job-424242", None, None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found", Some("id"));
    let (s, v) = call(&r, "GET", "/v1/jobs/whatever", None, None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found", Some("id"));
    let (s, v) = call(&r, "DELETE", "/v1/jobs/job-424242", None, None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, "not_found", Some("id"));

    // A good file: 202, then progress to success.
    let (s, v) =
        call(&r, "POST", "/v1/jobs", Some(json!({"kind": "ingest_parquet", "path": path_str(&good)})), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["job_id"].as_str().unwrap().to_owned();
    let job = follow(&r, &id).await;
    assert_eq!(job["state"], json!("succeeded"), "{job}");
    assert_eq!(job["progress"]["rows_read"], json!(100));
    assert_eq!(job["progress"]["rows_accepted"], json!(100));
    assert_eq!(job["progress"]["rows_rejected"], json!(0));
    assert!(job["rows_per_sec"].as_f64().unwrap() > 0.0, "{job}");
    assert!(job["started_at_ms"].is_i64() && job["finished_at_ms"].is_i64(), "{job}");
    let visible = job["visible_version"].as_u64().unwrap();
    assert!(e.visible_version() >= visible);
    assert!(job["error"].is_null());
    assert_eq!(e.live_workers(), 400);
    let (s, v) = call(&r, "DELETE", &format!("/v1/jobs/{id}"), None, None).await;
    assert_error(s, &v, StatusCode::CONFLICT, "job_finished", None);

    // A file that is not parquet: the job fails naming it, the service keeps serving and
    // nothing visible changes.
    let text = dir.path().join("oops.parquet");
    std::fs::write(&text, b"definitely not parquet").unwrap();
    let (s, v) =
        call(&r, "POST", "/v1/jobs", Some(json!({"kind": "ingest_parquet", "path": path_str(&text)})), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let failed = follow(&r, v["job_id"].as_str().unwrap()).await;
    assert_eq!(failed["state"], json!("failed"), "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("oops.parquet"), "{failed}");
    let (s, h) = call(&r, "GET", "/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["live_workers"], json!(400));
    let (s, _) = call(&r, "POST", "/v1/search", Some(json!({"query": "forklift operator", "k": 3})), None).await;
    assert_eq!(s, StatusCode::OK);

    // Re-embed and rebuild.
    for body in [json!({"kind": "reembed"}), json!({"kind": "rebuild_index", "index": "workers"})] {
        let (s, v) = call(&r, "POST", "/v1/jobs", Some(body), None).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let job = follow(&r, v["job_id"].as_str().unwrap()).await;
        assert_eq!(job["state"], json!("succeeded"), "{job}");
    }

    // The list, newest first.
    let (s, v) = call(&r, "GET", "/v1/jobs", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 4);
    assert_eq!(jobs[3]["id"], json!(id));
    assert_eq!(jobs[0]["spec"]["kind"], json!("rebuild_index"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_rows_reach_the_dead_letters_and_writes_need_the_key() {
    let e = engine();
    let r = app(AppState::new(Arc::clone(&e), Some("sekret".into())));
    let dir = tempfile::tempdir().unwrap();
    let mut rows = workers(20, 3);
    rows[4].state = "Texas".into();
    let path = dir.path().join("rows.parquet");
    write_workers(&path, &rows).unwrap();
    let body = json!({"kind": "ingest_parquet", "paths": [path_str(&path)]});
    let (s, v) = call(&r, "POST", "/v1/jobs", Some(body.clone()), None).await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let (s, v) = call(&r, "POST", "/v1/jobs", Some(body), Some("sekret")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let job = follow(&r, v["job_id"].as_str().unwrap()).await;
    assert_eq!(job["state"], json!("succeeded"), "{job}");
    assert_eq!(job["progress"]["rows_rejected"], json!(1));
    assert_eq!(job["rejections"][0]["row"], json!(4));
    assert_eq!(job["rejections"][0]["column"], json!("state"));
    let (s, v) = call(&r, "GET", "/v1/dead-letters", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let d = &v["dead_letters"][0];
    assert_eq!(d["field"], json!("state"), "{v}");
    assert_eq!(d["source"]["row"], json!(4), "{v}");
    assert!(d["source"]["file"].as_str().unwrap().ends_with("rows.parquet"), "{v}");
    let (s, v) = call(&r, "DELETE", &format!("/v1/jobs/{}", job["id"].as_str().unwrap()), None, None).await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, "unauthorized", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lakehouse_ingest_follows_a_job_over_a_socket_and_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = query_api::ServerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    config.engine.dim = 128;
    let server = query_api::start(config).await.unwrap();
    let gateway = format!("http://{}", server.addr());
    let drop_dir = dir.path().join("drop");
    std::fs::create_dir(&drop_dir).unwrap();
    let rows = workers(500, 4);
    write_workers(&drop_dir.join("part-0.parquet"), &rows[..250]).unwrap();
    write_workers(&drop_dir.join("part-1.parquet"), &rows[250..]).unwrap();

    // The library: a directory of two files, one version each.
    let opts = IngestOptions {
        files: vec![drop_dir.clone()],
        gateway: gateway.clone(),
        api_key: None,
        poll: Duration::from_millis(20),
        progress: false,
    };
    let info = query_api::ingest::run(&opts).await.unwrap();
    assert_eq!(info.state, JobState::Succeeded, "{info:?}");
    assert_eq!(info.progress.files_total, 2);
    assert_eq!(info.committed.len(), 2);
    assert_eq!(server.engine().live_workers(), 500);

    // The binary: success exits 0, a bad file exits non-zero naming the file.
    let good = dir.path().join("more.parquet");
    write_workers(&good, &workers(600, 5)[500..]).unwrap();
    let bad = dir.path().join("broken.parquet");
    std::fs::write(&bad, b"PAR1 but not really").unwrap();
    let run = |file: std::path::PathBuf, gateway: String| {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_lakehouse"))
                .args(["ingest", &file.display().to_string(), "--gateway", &gateway, "--poll-ms", "20"])
                .env_remove("LAKEHOUSE_API_KEY")
                .output()
                .unwrap()
        })
    };
    let out = run(good, gateway.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("succeeded") && stdout.contains("100 accepted"), "{stdout}");
    assert_eq!(server.engine().live_workers(), 600);
    let out = run(bad, gateway.clone()).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed job must exit non-zero");
    assert!(stderr.contains("broken.parquet") && stderr.contains("failed"), "{stderr}");
    // A server that refuses the request: non-zero with its message.
    let out = run(dir.path().join("absent.parquet"), gateway).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("absent.parquet") && stderr.contains("400"), "{stderr}");
    assert_eq!(server.engine().live_workers(), 600);
    server.shutdown().await;
}
