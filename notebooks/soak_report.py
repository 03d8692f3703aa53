"""Per-window summary of a long run written by `scripts/soak`.

    .venv-notebooks/bin/python notebooks/soak_report.py out/NAME [--window-min 10]

Reads OUT/run/scenarios.parquet and OUT/run/freshness.parquet (the harness's outputs) and
OUT/samples.tsv (the server's and harness's resident memory, CPU ticks and the data
directory's size, sampled every 30 s), and prints one markdown row per window: completed
scenarios/s, failed and dropped iterations, corrected latency p50/p99, freshness p50/p99,
the server's CPU (cores) and memory at the window's end, and the data directory's size.
"""

import argparse
import json
import os
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def load(out):
    scen = pq.read_table(os.path.join(out, "run", "scenarios.parquet"),
                         columns=["intended_ns", "latency_corrected_us", "outcome"]).to_pandas()
    fresh = pq.read_table(os.path.join(out, "run", "freshness.parquet"),
                          columns=["sent_ns", "freshness_ms", "ok"]).to_pandas()
    samples = pd.read_csv(os.path.join(out, "samples.tsv"), sep="\t")
    with open(os.path.join(out, "run", "summary.json")) as f:
        elapsed = float(json.load(f)["elapsed_s"])
    return scen, fresh, samples, elapsed


def pct(values, q):
    return float(np.percentile(values, q)) if len(values) else float("nan")


def report(out, window_min):
    scen, fresh, samples, elapsed = load(out)
    w_ns = int(window_min * 60e9)
    scen["w"] = scen.intended_ns // w_ns
    fresh["w"] = fresh.sent_ns // w_ns
    end_w = int(np.ceil(elapsed / (window_min * 60))) if elapsed > 0 else int(scen.w.max()) + 1
    rows = []
    for w in range(end_w):
        s = scen[scen.w == w]
        done = s[s.outcome.isin(["ok", "failed"])]
        lat = done.latency_corrected_us.dropna() / 1000.0
        f = fresh[(fresh.w == w) & fresh.ok].freshness_ms.dropna()
        span = (samples.t >= w * window_min * 60) & (samples.t <= (w + 1) * window_min * 60)
        win = samples[span]
        cores = mem = harness_mem = disk = float("nan")
        if len(win) >= 2:
            dt = win.t.iloc[-1] - win.t.iloc[0]
            cores = (win.server_cpu_ticks.iloc[-1] - win.server_cpu_ticks.iloc[0]) / CLK_TCK / max(dt, 1)
        if len(win):
            mem = win.server_rss_kb.iloc[-1] / 1024.0
            harness_mem = win.harness_rss_kb.iloc[-1] / 1024.0
            disk = win.disk_kb.iloc[-1] / 1024.0
        # The last window may be cut short by the end of the run.
        seconds = min(window_min * 60, elapsed - w * window_min * 60) if elapsed > 0 else window_min * 60
        rows.append({
            "window": f"{w * window_min}-{(w + 1) * window_min} min",
            "scenarios/s": f"{len(done) / seconds:,.1f}",
            "failed": int((s.outcome == "failed").sum()),
            "dropped": int((s.outcome == "dropped").sum()),
            "p50 ms": f"{pct(lat, 50):.1f}",
            "p99 ms": f"{pct(lat, 99):.1f}",
            "freshness p50/p99 ms": f"{pct(f, 50):.1f} / {pct(f, 99):.1f}",
            "server cores": f"{cores:.2f}",
            "server RSS MiB": f"{mem:,.0f}",
            "harness RSS MiB": f"{harness_mem:,.0f}",
            "data dir MiB": f"{disk:,.0f}",
        })
    table = pd.DataFrame(rows)
    cols = list(table.columns)
    print("| " + " | ".join(cols) + " |")
    print("|" + "|".join("---" if c == "window" else "---:" for c in cols) + "|")
    for _, r in table.iterrows():
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    done = scen.outcome.isin(["ok", "failed"])
    print(f"\ncompleted {int(done.sum())}, failed {int((scen.outcome == 'failed').sum())}, "
          f"dropped {int((scen.outcome == 'dropped').sum())} over {elapsed:.1f} s")


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="the directory scripts/soak wrote (out/NAME)")
    p.add_argument("--window-min", type=float, default=10.0)
    a = p.parse_args(argv)
    for need in ("run/scenarios.parquet", "run/freshness.parquet", "samples.tsv"):
        path = os.path.join(a.out, need)
        if not os.path.exists(path):
            sys.exit(f"soak_report: {path} not found (is {a.out} a scripts/soak output?)")
    report(a.out, a.window_min)


if __name__ == "__main__":
    main(sys.argv[1:])
