//! Crash safety of the real `lakehouse` binary: four clients stream acknowledged writes
//! (upserts, deletes, playbook records), the server is killed with SIGKILL at seeded random
//! moments and restarted on the same data directory, and after every restart every
//! acknowledged write must be there with its acknowledged content. Plus a clean SIGTERM
//! shutdown (final snapshot, nothing to replay) and a storage fault answered with 503.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_lakehouse");
const CLIENTS: usize = 4;
const IDS_PER_CLIENT: usize = 12;
const CYCLES: usize = 20;
const CORPUS_WORKERS: usize = 150;
/// Where each client's workers live (role, city, state): records are filled against them.
const PLACES: [(&str, &str, &str); CLIENTS] = [
    ("forklift operator", "Houston", "TX"),
    ("warehouse associate", "Chicago", "IL"),
    ("picker packer", "Atlanta", "GA"),
    ("machine operator", "Phoenix", "AZ"),
];

/// splitmix64: a seeded generator without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A running `lakehouse serve`.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(data_dir: &Path, corpus: &Path) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--embedder", "hashing", "--dim", "64", "--threads", "2"])
            .arg("--corpus")
            .arg(corpus)
            .arg("--data-dir")
            .arg(data_dir)
            // Snapshots and log truncation happen inside the cycles, so kills land on them too.
            .args(["--snapshot-every-writes", "40", "--wal-segment-bytes", "16384"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lakehouse");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            // Keep draining stdout so the server never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(addr);
                }
                let mut l = lines.lock().unwrap();
                if l.len() < 2_000 {
                    l.push(line);
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(addr) => Server { child, base: format!("http://{addr}"), log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not come up; its output:\n{}", log.lock().unwrap().join("\n"));
            }
        }
    }

    /// SIGKILL: no shutdown path runs.
    fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client knows about one of its worker ids.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Known {
    Absent,
    /// Present with this name (each upsert writes a unique name).
    Present(String),
}

/// A client's model: acknowledged state per id, plus the one write whose answer was lost
/// when the server died (it may or may not have been applied).
struct Model {
    client: usize,
    acked: Vec<Known>,
    uncertain: Option<(usize, Known)>,
    /// Acknowledged playbook records: (record id, worker id, query).
    records: Vec<(String, String, String)>,
    generation: u64,
    counts: Counts,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    upserts: u64,
    deletes: u64,
    records: u64,
    uncertain: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.upserts += o.upserts;
        self.deletes += o.deletes;
        self.records += o.records;
        self.uncertain += o.uncertain;
    }
}

fn worker_id(client: usize, i: usize) -> String {
    format!("crash-c{client}-{i:02}")
}

fn worker_body(client: usize, i: usize, name: &str) -> Value {
    let (role, city, state) = PLACES[client];
    json!({
        "id": worker_id(client, i), "name": name, "role": role, "city": city, "state": state,
        "skills": ["pallet jack", "inventory"], "shift": "night", "phone": "555-010-0199",
        "email": format!("{}@example.com", worker_id(client, i)),
    })
}

enum Step {
    /// Acknowledged (or definitely refused): keep going.
    Done,
    /// The answer was lost: the server is gone (or failing); stop this cycle.
    Lost,
}

/// Runs one client until `stop` or the first lost answer.
async fn run_client(http: reqwest::Client, base: String, mut m: Model, seed: u64, stop: Arc<AtomicBool>) -> Model {
    let mut rng = Rng(seed);
    let c = m.client;
    while !stop.load(Ordering::Relaxed) {
        let i = rng.below(IDS_PER_CLIENT as u64) as usize;
        let roll = rng.below(100);
        let step = if roll < 55 || (roll >= 80 && m.acked.iter().all(|k| *k == Known::Absent)) {
            m.generation += 1;
            let name = format!("c{c} w{i} gen {}", m.generation);
            let sent = http.post(format!("{base}/v1/workers")).json(&worker_body(c, i, &name)).send().await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::OK => {
                    m.acked[i] = Known::Present(name);
                    m.counts.upserts += 1;
                    Step::Done
                }
                _ => {
                    m.uncertain = Some((i, Known::Present(name)));
                    Step::Lost
                }
            }
        } else if roll < 80 {
            let sent = http.delete(format!("{base}/v1/workers/{}", worker_id(c, i))).send().await;
            match sent.map(|r| r.status()) {
                Ok(reqwest::StatusCode::OK) => {
                    m.acked[i] = Known::Absent;
                    m.counts.deletes += 1;
                    Step::Done
                }
                // Not live as the server sees it (absent, or an acknowledged upsert not yet
                // visible): refused, nothing changes.
                Ok(reqwest::StatusCode::NOT_FOUND) => Step::Done,
                _ => {
                    m.uncertain = Some((i, Known::Absent));
                    Step::Lost
                }
            }
        } else {
            let live: Vec<usize> = (0..IDS_PER_CLIENT).filter(|j| m.acked[*j] != Known::Absent).collect();
            let j = live[rng.below(live.len() as u64) as usize];
            let (role, city, state) = PLACES[c];
            let query = format!("{role} in {city} night shift, client {c} fill {}", rng.below(1_000_000));
            let body =
                json!({"query": query, "role": role, "city": city, "state": state, "worker_ids": [worker_id(c, j)]});
            let sent = http.post(format!("{base}/v1/playbooks/record")).json(&body).send().await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::OK => match r.json::<Value>().await {
                    Ok(v) => {
                        let rid = v["record_id"].as_str().expect("record_id").to_owned();
                        m.records.push((rid, worker_id(c, j), query));
                        m.counts.records += 1;
                        Step::Done
                    }
                    Err(_) => Step::Lost,
                },
                Ok(r) if r.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY => {
                    panic!("a fill on a live, matching worker was refused: {:?}", r.text().await)
                }
                // A record carries no model state: an unacknowledged one may or may not exist.
                _ => Step::Lost,
            }
        };
        if matches!(step, Step::Lost) {
            m.counts.uncertain += 1;
            break;
        }
    }
    m
}

/// Checks every id and acknowledged record of `m` against the restarted server; resolves the
/// uncertain write to what the server shows. Returns the problems found.
async fn verify(http: &reqwest::Client, base: &str, m: &mut Model) -> Vec<String> {
    let mut problems = Vec::new();
    let c = m.client;
    for i in 0..IDS_PER_CLIENT {
        let id = worker_id(c, i);
        let r = http.get(format!("{base}/v1/workers/{id}")).send().await.expect("GET worker");
        let seen = match r.status() {
            reqwest::StatusCode::NOT_FOUND => Known::Absent,
            reqwest::StatusCode::OK => {
                let v: Value = r.json().await.expect("worker json");
                let w = &v["worker"];
                let (role, city, state) = PLACES[c];
                let valid = w["id"] == json!(id)
                    && w["role"] == json!(role)
                    && w["city"] == json!(city)
                    && w["state"] == json!(state);
                if !valid {
                    problems.push(format!("{id}: corrupted record {w}"));
                }
                Known::Present(w["name"].as_str().unwrap_or_default().to_owned())
            }
            s => {
                problems.push(format!("{id}: GET answered {s}"));
                continue;
            }
        };
        let allowed_uncertain = matches!(&m.uncertain, Some((u, k)) if *u == i && *k == seen);
        if seen != m.acked[i] && !allowed_uncertain {
            problems.push(format!("{id}: acknowledged {:?}, found {seen:?}", m.acked[i]));
        }
        m.acked[i] = seen;
    }
    m.uncertain = None;
    for (rid, worker, query) in &m.records {
        let r = http.get(format!("{base}/v1/playbooks/{rid}")).send().await.expect("GET record");
        if r.status() != reqwest::StatusCode::OK {
            problems.push(format!("record {rid}: acknowledged, GET answered {}", r.status()));
            continue;
        }
        let v: Value = r.json().await.expect("record json");
        if v["worker_ids"] != json!([worker]) || v["query"] != json!(query) {
            problems.push(format!("record {rid}: content changed: {v}"));
        }
    }
    problems
}

async fn live_workers(http: &reqwest::Client, base: &str) -> u64 {
    let h: Value = http.get(format!("{base}/health")).send().await.expect("health").json().await.expect("json");
    h["live_workers"].as_u64().expect("live_workers")
}

/// Verifies all models, including that no worker outside the model (or the corpus) exists.
async fn verify_all(http: &reqwest::Client, base: &str, models: &mut [Model], corpus: u64) -> Vec<String> {
    let mut problems = Vec::new();
    for m in models.iter_mut() {
        problems.extend(verify(http, base, m).await);
    }
    let present = models.iter().flat_map(|m| m.acked.iter()).filter(|k| **k != Known::Absent).count() as u64;
    let live = live_workers(http, base).await;
    if live != corpus + present {
        problems.push(format!("{live} live workers, expected {corpus} (corpus) + {present} (clients)"));
    }
    problems
}

fn write_corpus(dir: &Path) -> (PathBuf, u64) {
    let corpus = dataflow::corpus::generate_corpus(CORPUS_WORKERS, 11);
    let path = dir.join("corpus.parquet");
    dataflow::corpus::write_workers(&path, &corpus).expect("write corpus");
    (path, corpus.len() as u64)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_at_random_moments_loses_no_acknowledged_write() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (corpus, corpus_len) = write_corpus(dir.path());
    let data = dir.path().join("data");
    let http = http();
    let mut rng = Rng(0x5eed_c0de);
    let mut models: Vec<Model> = (0..CLIENTS)
        .map(|client| Model {
            client,
            acked: vec![Known::Absent; IDS_PER_CLIENT],
            uncertain: None,
            records: Vec::new(),
            generation: 0,
            counts: Counts::default(),
        })
        .collect();
    let mut lost: Vec<String> = Vec::new();
    let mut cycles_with_snapshots = 0;
    for cycle in 0..CYCLES {
        let server = Server::start(&data, &corpus);
        if cycle > 0 {
            assert!(server.log_contains("recovery: snapshot and write-ahead log replayed"), "{}", server.log_text());
        }
        let problems = verify_all(&http, &server.base, &mut models, corpus_len).await;
        if !problems.is_empty() {
            eprintln!("cycle {cycle}: {problems:#?}\n{}", server.log_text());
        }
        lost.extend(problems);

        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = models
            .drain(..)
            .map(|m| {
                let seed = rng.next();
                tokio::spawn(run_client(http.clone(), server.base.clone(), m, seed, Arc::clone(&stop)))
            })
            .collect();
        let run_for = Duration::from_millis(300 + rng.below(1_200));
        tokio::time::sleep(run_for).await;
        let snapshots_before = server.log.lock().unwrap().iter().filter(|l| l.contains("snapshot written")).count();
        server.kill();
        if snapshots_before > 0 {
            cycles_with_snapshots += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            models.push(tokio::time::timeout(Duration::from_secs(30), t).await.expect("client stops").expect("client"));
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the test is taking too long");
    }
    let server = Server::start(&data, &corpus);
    lost.extend(verify_all(&http, &server.base, &mut models, corpus_len).await);
    let mut total = Counts::default();
    for m in &models {
        total.add(m.counts);
    }
    println!(
        "{CYCLES} SIGKILL cycles in {:.0} s: acknowledged {} upserts, {} deletes, {} playbook records; \
         {} writes in flight at a kill; {} cycles wrote snapshots; {} lost",
        started.elapsed().as_secs_f64(),
        total.upserts,
        total.deletes,
        total.records,
        total.uncertain,
        cycles_with_snapshots,
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged writes lost or corrupted: {lost:#?}");
    assert!(total.upserts > 100 && total.deletes > 20 && total.records > 20, "too little traffic: {total:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_writes_a_final_snapshot_and_restarts_without_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, corpus_len) = write_corpus(dir.path());
    let data = dir.path().join("data");
    let http = http();
    let mut server = Server::start(&data, &corpus);
    let mut model = Model {
        client: 0,
        acked: vec![Known::Absent; IDS_PER_CLIENT],
        uncertain: None,
        records: Vec::new(),
        generation: 0,
        counts: Counts::default(),
    };
    for i in 0..IDS_PER_CLIENT {
        let name = format!("term {i}");
        let r = http.post(format!("{}/v1/workers", server.base)).json(&worker_body(0, i, &name)).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        model.acked[i] = Known::Present(name);
    }
    let r = http.delete(format!("{}/v1/workers/{}", server.base, worker_id(0, 3))).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    model.acked[3] = Known::Absent;

    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    // The reader thread may still be collecting the last lines.
    std::thread::sleep(Duration::from_millis(100));
    assert!(server.log_contains("shut down cleanly"), "{}", server.log_text());
    let snapshots = std::fs::read_dir(data.join("snapshots")).unwrap().count();
    assert!(snapshots >= 2, "a .bin and a .parquet: {snapshots} files");
    drop(server);

    let server = Server::start(&data, &corpus);
    assert!(server.log_contains("replayed=0"), "the final snapshot covers everything:\n{}", server.log_text());
    let problems = verify_all(&http, &server.base, std::slice::from_mut(&mut model), corpus_len).await;
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_fault_answers_503_and_reads_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, _) = write_corpus(dir.path());
    let data = dir.path().join("data");
    let mut config = query_api::ServerConfig {
        corpus: Some(corpus),
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.clone(),
        // Every append opens a new segment, so a vanished log directory fails the next write.
        wal_segment_bytes: 64,
        ..Default::default()
    };
    config.engine.dim = 64;
    let server = query_api::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = http();
    let r = http.post(format!("{base}/v1/workers")).json(&worker_body(0, 0, "before")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    // An acknowledgement means durable, not yet visible: wait until the worker is served, so
    // the DELETE below reaches the write path instead of answering 404.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = http.get(format!("{base}/v1/workers/{}", worker_id(0, 0))).send().await.unwrap();
        if r.status() == reqwest::StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the acknowledged write never became visible");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    std::fs::rename(data.join("wal"), data.join("wal-gone")).unwrap();
    let r = http.post(format!("{base}/v1/workers")).json(&worker_body(0, 1, "after")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], json!("storage_unavailable"), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("write-ahead log"), "{v}");
    let r = http.delete(format!("{base}/v1/workers/{}", worker_id(0, 0))).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);

    // Reads are still served, and the refused writes were not applied.
    let r = http.get(format!("{base}/v1/workers/{}", worker_id(0, 0))).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let r = http.get(format!("{base}/v1/workers/{}", worker_id(0, 1))).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND);
    let r = http
        .post(format!("{base}/v1/search"))
        .json(&json!({"query": "forklift operator", "k": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    std::fs::rename(data.join("wal-gone"), data.join("wal")).unwrap();
    server.shutdown().await;
}
