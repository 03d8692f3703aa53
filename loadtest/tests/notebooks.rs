//! The analysis notebooks (`notebooks/*.ipynb`) rendered headless against real runs.
//!
//! Two short embedded runs (bursty MMPP with ingest, then closed loop without ingest so
//! the freshness notebook meets an empty file), then `notebooks/run_all.py` executes
//! every notebook against them and checks the figures. Python comes from
//! `$LAKEHOUSE_PYTHON` (set by `scripts/test`); without it the test falls back to
//! `python3` and fails, rather than skipping, when the notebook packages are missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use loadtest::arrival::ArrivalSpec;
use loadtest::executor::LoadModel;
use loadtest::{run, RunConfig, Target};

/// Modules `notebooks/requirements.txt` provides.
const MODULES: &str = "numpy, pandas, pyarrow, matplotlib, nbformat, nbclient, ipykernel";

/// Figures `run_all.py` must leave under `<run>/figures/`.
const RUN_FIGURES: [&str; 7] = [
    "latency_cdf.png",
    "latency_over_time.png",
    "corrected_vs_uncorrected.png",
    "failures_by_reason.png",
    "percentiles_vs_seed.png",
    "freshness_over_time.png",
    "freshness_cdf.png",
];
const COMPARE_FIGURES: [&str; 3] = ["compare_percentiles.png", "compare_cdf.png", "compare_throughput.png"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

/// The interpreter to use, or a failure message telling how to get one.
fn python() -> Result<String, String> {
    let (python, from_env) = match std::env::var("LAKEHOUSE_PYTHON") {
        Ok(p) if !p.trim().is_empty() => (p, true),
        _ => ("python3".to_owned(), false),
    };
    let probe = Command::new(&python).args(["-c", &format!("import {MODULES}")]).output();
    let hint = "run the test suite with `scripts/test` (the README's test command): it builds \
                .venv-notebooks/ from notebooks/requirements.txt and sets LAKEHOUSE_PYTHON";
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        Ok(out) => Err(format!(
            "{python} ({}) cannot import the notebook packages ({MODULES}): {}\n{hint}",
            if from_env { "from LAKEHOUSE_PYTHON" } else { "LAKEHOUSE_PYTHON is not set" },
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot start {python}: {e}\n{hint}")),
    }
}

fn embedded(out: &Path, load: LoadModel, duration: Duration, ingest_rate: f64) -> RunConfig {
    let mut c = RunConfig::new(Target::Embedded { workers: 2000, data_dir: None });
    c.load = load;
    c.duration = duration;
    c.ingest_rate = ingest_rate;
    c.out_dir = out.to_owned();
    c.ready_timeout = Duration::from_secs(120);
    c.drain_timeout = Duration::from_secs(10);
    c
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000, "{} is only {} bytes", path.display(), bytes.len());
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
}

/// Notebooks are committed without outputs: no run data or images in the repository.
#[test]
fn committed_notebooks_have_no_outputs() {
    let dir = repo_root().join("notebooks");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("notebooks/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "ipynb") {
            continue;
        }
        seen += 1;
        let nb: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read notebook")).expect("notebook JSON");
        for (i, cell) in nb["cells"].as_array().expect("cells").iter().enumerate() {
            let outputs = cell.get("outputs").and_then(|o| o.as_array()).map_or(0, Vec::len);
            let count = cell.get("execution_count").filter(|c| !c.is_null());
            assert!(
                outputs == 0 && count.is_none(),
                "{} cell {i} has outputs: clear them before committing (Jupyter: Edit → Clear All Outputs)",
                path.display()
            );
        }
    }
    assert_eq!(seen, 3, "latency_analysis, freshness and compare_runs notebooks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notebooks_render_real_runs() {
    // Before spending time on runs: a plain `cargo test` without the venv fails here.
    let python = python().unwrap_or_else(|msg| panic!("{msg}"));

    let tmp = tempfile::tempdir().expect("tempdir");
    let run_a = tmp.path().join("run-mmpp");
    let run_b = tmp.path().join("run-closed");
    let mmpp = LoadModel::Open {
        arrival: ArrivalSpec::Mmpp {
            rate: 40.0,
            burst_factor: 4.0,
            burst_fraction: 0.25,
            burst_mean_len: Duration::from_millis(800),
        },
        max_in_flight: 256,
    };
    let a = run(embedded(&run_a, mmpp, Duration::from_secs(4), 20.0)).await.expect("mmpp run");
    assert!(a.summary.total.runs > 0 && a.summary.freshness.writes > 0);
    let b =
        run(embedded(&run_b, LoadModel::Closed { users: 4 }, Duration::from_secs(2), 0.0)).await.expect("closed run");
    assert!(b.summary.total.runs > 0);
    assert_eq!(b.summary.freshness.writes, 0, "closed run has no ingest: the empty freshness path");

    let script = repo_root().join("notebooks").join("run_all.py");
    let (a_dir, b_dir) = (run_a.clone(), run_b.clone());
    let soak_python = python.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .arg("--run-dir")
            .arg(&a_dir)
            .arg("--compare")
            .arg(&b_dir)
            .current_dir(repo_root())
            .output()
            .expect("start run_all.py")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "run_all.py failed ({}):\n{stdout}\n{stderr}", out.status);

    for dir in [&run_a, &run_b] {
        for f in RUN_FIGURES {
            assert_png(&dir.join("figures").join(f));
        }
    }
    for f in COMPARE_FIGURES {
        assert_png(&run_a.join("figures").join(f));
    }
    assert!(stdout.contains("latency_cdf.png"), "run_all.py lists what it produced");

    // notebooks/soak_report.py on the MMPP run laid out as `scripts/soak` leaves a long run:
    // the harness's outputs under run/, and the 30 s samples (here two, by hand) beside them.
    let soak = tmp.path().join("soak");
    std::fs::create_dir_all(soak.join("run")).expect("mkdir");
    for f in ["scenarios.parquet", "freshness.parquet", "summary.json"] {
        std::fs::copy(run_a.join(f), soak.join("run").join(f)).expect("copy run output");
    }
    let samples = "t\tserver_rss_kb\tharness_rss_kb\tserver_cpu_ticks\tharness_cpu_ticks\tdisk_kb\n\
                   0\t102400\t20480\t100\t10\t4096\n4\t204800\t30720\t500\t50\t8192\n";
    std::fs::write(soak.join("samples.tsv"), samples).expect("samples");
    let script = repo_root().join("notebooks").join("soak_report.py");
    let out = Command::new(&soak_python)
        .arg(&script)
        .arg(&soak)
        .args(["--window-min", "0.05"])
        .output()
        .expect("start soak_report.py");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "soak_report.py failed:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<&str> = report.lines().filter(|l| l.starts_with("| 0.")).collect();
    assert_eq!(rows.len(), 2, "two 3 s windows in a 4 s run:\n{report}");
    let t = &a.summary.total;
    let totals = format!("completed {}, failed {}, dropped {} over", t.runs, t.failed, t.dropped);
    assert!(report.contains(&totals), "want `{totals}`:\n{report}");
    assert!(rows[1].contains("| 200 |"), "the server's memory at the last sample (200 MiB):\n{report}");
}
