//! The API through the router (`oneshot`, no socket) and over a real loopback socket.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dataflow::corpus::generate_corpus;
use dataflow::engine::{Engine, EngineConfig};
use query_api::{app, AppState};
use serde_json::{json, Value};
use tower::ServiceExt;

fn engine() -> Arc<Engine> {
    let mut cfg = EngineConfig { threads: 2, dim: 256, ..EngineConfig::default() };
    cfg.workers_index.hnsw_threshold = 1_000;
    cfg.playbook_index.hnsw_threshold = 16;
    let e = Engine::start(cfg).unwrap();
    let v = e.upsert_workers(generate_corpus(1_500, 42)).unwrap();
    assert!(e.wait_visible_blocking(v, Duration::from_secs(30)));
    Arc::new(e)
}

async fn call(router: &axum::Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
    call_raw(router, method, uri, body.map(|b| b.to_string()), None).await
}

async fn call_raw(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<String>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&bytes)}));
    (status, v)
}

fn assert_error(status: StatusCode, v: &Value, want: StatusCode, field: Option<&str>) {
    assert_eq!(status, want, "{v}");
    assert!(v["error"]["code"].is_string(), "error body shape: {v}");
    assert!(v["error"]["message"].is_string(), "error body shape: {v}");
    if let Some(f) = field {
        assert_eq!(v["error"]["field"], json!(f), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_and_bad_input_is_a_4xx() {
    let e = engine();
    let r = app(AppState::new(Arc::clone(&e), None));

    let (s, v) = call(&r, "GET", "/health", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["live_workers"], json!(1_700));

    let (s, v) = call(&r, "POST", "/v1/search", Some(json!({"query": "forklift operator OSHA-10", "k": 5}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for f in ["id", "score", "similarity", "playbook_boost", "name", "role", "city", "state"] {
        assert!(!results[0][f].is_null(), "missing {f}");
    }
    assert!(v["version"].as_u64().unwrap() > 0);
    // The answer is typed as JSON (it is serialised by hand into a pre-sized buffer).
    let req = Request::builder()
        .method("POST")
        .uri("/v1/search")
        .header("content-type", "application/json")
        .body(Body::from(json!({"query": "forklift operator", "k": 2}).to_string()))
        .unwrap();
    let resp = r.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/json");

    let (s, v) = call(&r, "GET", "/v1/workers/w-0000001", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["worker"]["id"], json!("w-0000001"));
    let (s, v) = call(&r, "GET", "/v1/workers/nobody", None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, Some("id"));
    let (s, v) = call(&r, "DELETE", "/v1/workers/nobody", None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, Some("id"));

    let (s, v) = call(&r, "GET", "/v1/indexes", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["indexes"][0]["name"], json!("workers"));
    assert_eq!(v["indexes"][1]["name"], json!("playbook_memory"));

    // Bad input: each names its field.
    let cases: Vec<(Value, &str)> = vec![
        (json!({"query": "", "k": 5}), "query"),
        (json!({"query": "cook", "k": 0}), "k"),
        (json!({"query": "cook", "k": 100000}), "k"),
        (json!({"query": "cook", "k": "ten"}), "k"),
        (json!({"k": 3}), "query"),
        (json!({"query": "cook", "available": {"start": "2026-13-01", "end": "2026-12-02"}}), "available.start"),
    ];
    for (body, field) in cases {
        let (s, v) = call(&r, "POST", "/v1/search", Some(body.clone())).await;
        assert_error(s, &v, StatusCode::BAD_REQUEST, Some(field));
    }
    let (s, v) = call_raw(&r, "POST", "/v1/search", Some("{not json".into()), None).await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, None);
    let (s, v) =
        call_raw(&r, "POST", "/v1/search", Some(format!("{{\"query\": \"{}\"}}", "a".repeat(20 << 20))), None).await;
    assert_error(s, &v, StatusCode::PAYLOAD_TOO_LARGE, None);
    let (s, v) = call(&r, "GET", "/v2/nothing", None).await;
    assert_error(s, &v, StatusCode::NOT_FOUND, None);
    let (s, v) = call(&r, "GET", "/v1/search", None).await;
    assert_error(s, &v, StatusCode::METHOD_NOT_ALLOWED, None);
    let (s, v) = call(
        &r,
        "POST",
        "/v1/workers",
        Some(json!({"id": "x-1", "name": "A", "role": "cook", "city": "Austin", "state": "Texas"})),
    )
    .await;
    assert_error(s, &v, StatusCode::BAD_REQUEST, Some("state"));
    let (s, v) = call(&r, "POST", "/v1/search", Some(json!({"query": "cook", "min_version": u64::MAX}))).await;
    assert_error(s, &v, StatusCode::REQUEST_TIMEOUT, Some("min_version"));

    // The server still serves, and metrics counted all of that. The repeat is a result-cache
    // hit, answered without a search thread.
    for _ in 0..2 {
        let (s, _) = call(&r, "POST", "/v1/search", Some(json!({"query": "welder"}))).await;
        assert_eq!(s, StatusCode::OK);
    }
    let resp = r.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = String::from_utf8(axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec()).unwrap();
    assert!(
        text.contains("lakehouse_http_requests_total{method=\"POST\",route=\"/v1/search\",status=\"400\"}"),
        "{text}"
    );
    assert!(text.contains("lakehouse_query_cache_hit_ratio"));
    let inline = text.lines().find_map(|l| l.strip_prefix("lakehouse_search_inline_total ")).map(str::to_owned);
    assert!(inline.as_deref().and_then(|v| v.parse::<f64>().ok()).is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("lakehouse_index_points{index=\"workers\"} 1700"));
    // The corpus load was a write: its stamp-to-visible delay is in the summary.
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("lakehouse_visibility_delay_seconds_count "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(count.is_some_and(|n| n >= 1), "{text}");
    assert!(text.contains("# TYPE lakehouse_visibility_delay_seconds summary"), "{text}");
    for q in ["0.5", "0.99", "0.999", "1"] {
        assert!(text.contains(&format!("lakehouse_visibility_delay_seconds{{quantile=\"{q}\"}} ")), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_your_writes_and_filters() {
    let e = engine();
    let r = app(AppState::new(e, None));
    let worker = json!({"id": "new-1", "name": "Zed Quill", "role": "Crane Operator", "city": "Boise", "state": "id",
        "skills": ["tower crane", "rigging signals"], "certifications": [{"name": "NCCCO", "expires_on": "2028-01-01"}]});
    let (s, v) = call(&r, "POST", "/v1/workers", Some(worker)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let version = v["version"].as_u64().unwrap();
    let q = json!({"query": "tower crane rigging", "k": 3, "min_version": version, "filters": {"state": "ID", "role": "crane operator"}});
    let (s, v) = call(&r, "POST", "/v1/search", Some(q.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["id"], json!("new-1"));
    let (s, v) = call(&r, "DELETE", "/v1/workers/new-1", None).await;
    assert_eq!(s, StatusCode::OK);
    let mut q = q;
    q["min_version"] = v["version"].clone();
    let (_, v) = call(&r, "POST", "/v1/search", Some(q)).await;
    assert!(v["results"].as_array().unwrap().iter().all(|x| x["id"] != json!("new-1")));

    // Filters and exclude_ids over random-ish queries.
    for (i, role) in ["forklift operator", "cna", "welder", "line cook", "warehouse associate"].iter().enumerate() {
        let (_, first) = call(
            &r,
            "POST",
            "/v1/search",
            Some(json!({"query": format!("{role} {i}"), "k": 10, "filters": {"role": role}})),
        )
        .await;
        let ids: Vec<Value> = first["results"].as_array().unwrap().iter().map(|x| x["id"].clone()).collect();
        assert!(first["results"].as_array().unwrap().iter().all(|x| x["role"] == json!(role)), "{first}");
        let (_, second) = call(
            &r,
            "POST",
            "/v1/search",
            Some(json!({"query": format!("{role} {i}"), "k": 10, "filters": {"role": role}, "exclude_ids": ids})),
        )
        .await;
        for x in second["results"].as_array().unwrap() {
            assert!(!ids.contains(&x["id"]), "excluded id returned");
            assert_eq!(x["role"], json!(role));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_and_playbook_loop() {
    let e = engine();
    let r = app(AppState::new(Arc::clone(&e), None));
    let w = e.worker("w-0000010").unwrap();
    let email = |kind: &str, to: &str, body: &str| json!({"kind": kind, "to": to, "subject": "Shift", "body": body, "worker_id": "w-0000010"});
    let ok_cases = [
        email("email", &w.email, "Hi, a shift opened."),
        email("sms", &w.phone, "Hi! Forklift shift in Houston. Call 555-123-4567 to confirm."),
        email("sms", &w.phone, "Ref 1234-56-7890 confirmed"),
    ];
    for c in ok_cases {
        let (s, v) = call(&r, "POST", "/v1/validate/email", Some(c.clone())).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["ok"], json!(true), "{c} → {v}");
    }
    let bad_cases = [
        (email("email", &w.email, "SSN 123-45-6789"), "ssn_like"),
        (email("email", &w.email, "SSN 123 45 6789"), "ssn_like"),
        (email("sms", &w.phone, &"x".repeat(161)), "sms_too_long"),
        (email("email", &w.email, "Hi {{first_name}}"), "unfilled_placeholder"),
        (email("email", &w.email, "   "), "empty_body"),
        (email("email", "", "hello"), "missing_recipient"),
        (json!({"kind": "email", "to": "a@b.co", "body": "hello", "worker_id": "nobody"}), "unknown_worker"),
    ];
    for (c, code) in bad_cases {
        let (_, v) = call(&r, "POST", "/v1/validate/email", Some(c.clone())).await;
        assert_eq!(v["ok"], json!(false));
        assert!(v["violations"].as_array().unwrap().iter().any(|x| x["code"] == json!(code)), "{c} → {v}");
    }

    // Fill validation: two workers of the same validator-pool combination pass.
    let mut pool: Vec<_> = e.all_workers().into_iter().filter(|x| x.id.0.starts_with("test-w-")).collect();
    pool.sort_by(|x, y| x.id.cmp(&y.id));
    let a = &pool[0];
    let b = pool.iter().find(|x| x.id != a.id && x.city == a.city && x.role == a.role).unwrap();
    let other_role = e.all_workers().into_iter().find(|x| x.role != a.role).unwrap();
    let job = json!({"role": a.role, "city": a.city, "state": a.state, "count": 2, "dates": {"start": "2027-01-04", "end": "2027-01-06"}});
    let (_, v) = call(&r, "POST", "/v1/validate/fill", Some(json!({"job": job, "worker_ids": [a.id.0, b.id.0]}))).await;
    assert_eq!(v["ok"], json!(true), "{v}");
    for (ids, code) in [
        (json!([a.id.0, a.id.0]), "duplicate_worker"),
        (json!([a.id.0]), "count_mismatch"),
        (json!([a.id.0, "nobody"]), "unknown_worker"),
        (json!([a.id.0, other_role.id.0]), "role_mismatch"),
    ] {
        let (_, v) = call(&r, "POST", "/v1/validate/fill", Some(json!({"job": job, "worker_ids": ids}))).await;
        assert!(v["violations"].as_array().unwrap().iter().any(|x| x["code"] == json!(code)), "{code}: {v}");
    }

    // Record, then replay with the playbook: the recorded worker gains a boost and rank.
    let q = format!("{} in {}", a.role, a.city);
    let search = json!({"query": q, "k": 10, "filters": {"role": a.role, "city": a.city}});
    let (_, before) = call(&r, "POST", "/v1/search", Some(search.clone())).await;
    let results = before["results"].as_array().unwrap();
    let last = results.last().unwrap()["id"].as_str().unwrap().to_owned();
    let rank_before = results.len() - 1;
    let rec = json!({"query": q, "role": a.role, "city": a.city, "state": a.state, "worker_ids": [last], "dates": {"start": "2027-02-01", "end": "2027-02-02"}});
    let (s, v) = call(&r, "POST", "/v1/playbooks/record", Some(rec.clone())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut replay = search.clone();
    replay["use_playbook"] = json!(true);
    replay["min_version"] = v["version"].clone();
    let (_, after) = call(&r, "POST", "/v1/search", Some(replay)).await;
    let pos = after["results"]
        .as_array()
        .unwrap()
        .iter()
        .position(|x| x["id"] == json!(last))
        .expect("recorded worker present");
    assert!(pos < rank_before, "boost did not raise the rank: {pos} vs {rank_before}");
    assert!(after["results"][pos]["playbook_boost"].as_f64().unwrap() > 0.0);
    // The same worker again on overlapping dates: 422 with the violation.
    let (s, v) = call(&r, "POST", "/v1/playbooks/record", Some(rec)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(v["violations"].as_array().unwrap().iter().any(|x| x["code"] == json!("overlapping_placement")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_guards_writes_only() {
    let r = app(AppState::new(engine(), Some("s3cret".into())));
    let w = json!({"id": "k-1", "name": "A B", "role": "cook", "city": "Austin", "state": "TX"}).to_string();
    let (s, v) = call_raw(&r, "POST", "/v1/workers", Some(w.clone()), None).await;
    assert_error(s, &v, StatusCode::UNAUTHORIZED, None);
    let (s, _) = call_raw(&r, "POST", "/v1/workers", Some(w.clone()), Some("wrong!")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call_raw(&r, "POST", "/v1/workers", Some(w), Some("s3cret")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&r, "POST", "/v1/search", Some(json!({"query": "cook"}))).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_socket_and_fifty_concurrent_records_into_a_fresh_playbook() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("w.parquet");
    dataflow::corpus::write_workers(&corpus, &generate_corpus(600, 3)).unwrap();
    let mut config = query_api::ServerConfig {
        corpus: Some(corpus),
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().into(),
        ..Default::default()
    };
    config.engine.dim = 256;
    config.engine.playbook_index.hnsw_threshold = 16; // 50 records cross into HNSW
    let server = query_api::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    let client = reqwest::Client::new();
    let h: Value = client.get(format!("{base}/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["live_workers"], json!(800));
    let workers = server.engine().all_workers();
    let mut tasks = Vec::new();
    for w in workers.iter().take(50) {
        let (client, base) = (client.clone(), base.clone());
        let body = json!({"query": format!("{} near {}", w.role, w.city), "role": w.role, "city": w.city, "state": w.state, "worker_ids": [w.id.0]});
        tasks.push(tokio::spawn(async move {
            client.post(format!("{base}/v1/playbooks/record")).json(&body).send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), reqwest::StatusCode::OK);
    }
    let ix: Value = client.get(format!("{base}/v1/indexes")).send().await.unwrap().json().await.unwrap();
    // playbook_memory holds one point per distinct request text.
    let distinct: std::collections::HashSet<String> =
        workers.iter().take(50).map(|w| format!("{} near {}", w.role, w.city).to_lowercase()).collect();
    assert_eq!(ix["indexes"][1]["live"], json!(distinct.len()));
    assert_eq!(ix["indexes"][1]["graph_panics"], json!(0));
    let resp = client
        .post(format!("{base}/v1/search"))
        .body("{oops")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    server.shutdown().await;
}

/// A panic inside a dataflow operator: `/health` turns 503 `dataflow_failed`, writes are
/// refused with a JSON 503 at once (no hang), and searches keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataflow_panic_shows_on_health_and_reads_survive() {
    let e = engine();
    let r = app(AppState::new(Arc::clone(&e), None));
    let (s, v) = call(&r, "GET", "/health", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], json!("ok"));
    e.inject_dataflow_panic();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = call(&r, "GET", "/health", None).await;
        if s == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(v["status"], json!("dataflow_failed"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "health never reported the failed dataflow: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let w = json!({"id": "p-1", "name": "A B", "role": "cook", "city": "Austin", "state": "TX"});
    let started = std::time::Instant::now();
    let (s, v) = call(&r, "POST", "/v1/workers", Some(w)).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v["error"]["code"].is_string(), "{v}");
    assert!(started.elapsed() < Duration::from_secs(5), "a refused write must not hang");
    let (s, v) = call(&r, "POST", "/v1/search", Some(json!({"query": "line cook", "k": 5}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_wait_for_a_free_slot_and_then_answer() {
    let mut state = AppState::new(engine(), None);
    let slots = Arc::new(tokio::sync::Semaphore::new(1));
    state.search_slots = Some(Arc::clone(&slots));
    let r = app(state);
    let q = json!({"query": "forklift operator night shift", "k": 5});
    // The only slot is taken: the search waits instead of running.
    let held = Arc::clone(&slots).acquire_owned().await.unwrap();
    let waiting = tokio::spawn({
        let (r, q) = (r.clone(), q.clone());
        async move { call(&r, "POST", "/v1/search", Some(q)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "a search ran without a slot");
    drop(held);
    let (s, v) = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 5);
    // A repeat is a result-cache hit: answered at once, without a slot.
    let held = Arc::clone(&slots).acquire_owned().await.unwrap();
    let (s, v) = tokio::time::timeout(Duration::from_secs(2), call(&r, "POST", "/v1/search", Some(q.clone())))
        .await
        .expect("a cached answer waited for a search slot");
    assert_eq!(s, StatusCode::OK, "{v}");
    // A client that gives up while waiting for the slot leaves it free for the next one.
    let gave_up = tokio::spawn({
        let r = r.clone();
        let q = json!({"query": "forklift operator day shift", "k": 5});
        async move { call(&r, "POST", "/v1/search", Some(q)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    gave_up.abort();
    assert!(gave_up.await.unwrap_err().is_cancelled());
    drop(held);
    let q = json!({"query": "forklift operator weekend", "k": 5});
    let (s, _) = tokio::time::timeout(Duration::from_secs(10), call(&r, "POST", "/v1/search", Some(q))).await.unwrap();
    assert_eq!(s, StatusCode::OK);
    assert_eq!(slots.available_permits(), 1);
}

#[test]
fn a_read_your_writes_search_does_not_queue_behind_other_searches() {
    // One search thread, taken (a burst of searches): a plain search waits for it, a search
    // with `min_version` does not.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let engine = engine();
    let version = engine.upsert_workers(generate_corpus(1, 7)).unwrap();
    let mut state = AppState::new(engine, None);
    state.searches = Arc::new(query_api::pools::BlockingPool::searches(1));
    let searches = Arc::clone(&state.searches);
    let r = app(state);
    rt.block_on(async {
        let gate = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
        let busy: Vec<_> = (0..1)
            .map(|_| {
                let gate = Arc::clone(&gate);
                searches.spawn(move || {
                    let mut open = gate.0.lock();
                    while !*open {
                        gate.1.wait(&mut open);
                    }
                })
            })
            .collect();
        let plain = tokio::spawn({
            let r = r.clone();
            // Another text than the fresh search's: its cached answer would be served inline.
            async move { call(&r, "POST", "/v1/search", Some(json!({"query": "welder night shift", "k": 5}))).await }
        });
        let fresh = json!({"query": "line cook", "k": 5, "min_version": version});
        let (s, v) = tokio::time::timeout(Duration::from_secs(10), call(&r, "POST", "/v1/search", Some(fresh)))
            .await
            .expect("the read-your-writes search queued behind the busy blocking pool");
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["results"].as_array().unwrap().len(), 5);
        assert!(v["version"].as_u64().unwrap() >= version, "{v}");
        assert!(!plain.is_finished(), "the plain search found a blocking thread: the test shows nothing");
        *gate.0.lock() = true;
        gate.1.notify_all();
        let (s, _) = tokio::time::timeout(Duration::from_secs(10), plain).await.unwrap().unwrap();
        assert_eq!(s, StatusCode::OK);
        for b in busy {
            b.await.unwrap();
        }
    });
}
