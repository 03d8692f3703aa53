"""Shared helpers of the analysis notebooks: find runs, load a run's outputs, percentiles,
CDFs and saving figures.

A run directory is what `lakehouse-load` writes (schemas in
`loadtest/src/report/parquet.rs` and `loadtest/src/report/summary.rs`):
`steps.parquet`, `scenarios.parquet`, `freshness.parquet`, `summary.json`, `hist/`.
Times in the parquet files are ns from run start; latencies are µs (ms for freshness).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

# Report order of the six scenarios (`ScenarioKind::ALL`).
SCENARIOS = [
    "cold_search_email",
    "surge_fill_validate",
    "profile_swap",
    "repeat_cache",
    "sms_validate",
    "playbook_record_replay",
]
# Placeholder step label of a dropped or aborted iteration (`NOT_STARTED_STEP`).
NOT_STARTED_STEP = "-"
# Arrival states that mean "more load than the base rate".
HOT_STATES = ("burst", "flash")
PCTS = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def repo_root(start: Path | None = None) -> Path:
    """The workspace root: the nearest ancestor holding both Cargo.toml and notebooks/."""
    here = (start or Path.cwd()).resolve()
    for d in [here, *here.parents]:
        if (d / "Cargo.toml").is_file() and (d / "notebooks").is_dir():
            return d
    return here


def is_run_dir(d: Path) -> bool:
    return (d / "scenarios.parquet").is_file() and (d / "summary.json").is_file()


def list_runs(out_dir: Path | None = None) -> list[Path]:
    """Complete run directories under out/, oldest first (by summary.json mtime)."""
    out_dir = out_dir or repo_root() / "out"
    if not out_dir.is_dir():
        return []
    runs = [d for d in out_dir.iterdir() if d.is_dir() and is_run_dir(d)]
    return sorted(runs, key=lambda d: ((d / "summary.json").stat().st_mtime, d.name))


NO_RUNS = (
    "no run directory: set {var} to a run directory, or make a run under out/ with "
    "`cargo run --release -p loadtest --bin lakehouse-load -- --embedded`"
)


def check_run_dir(d: Path, var: str) -> Path:
    d = Path(d).expanduser().resolve()
    if not is_run_dir(d):
        raise FileNotFoundError(f"{d} ({var}) is not a run directory: no scenarios.parquet + summary.json")
    return d


def resolve_run_dir(var: str = "LAKEHOUSE_RUN_DIR") -> Path:
    """The run directory from env `var`, else the newest run under out/."""
    if os.environ.get(var):
        return check_run_dir(Path(os.environ[var]), var)
    runs = list_runs()
    if not runs:
        raise FileNotFoundError(NO_RUNS.format(var=var))
    return runs[-1]


def resolve_run_pair(var_a: str = "LAKEHOUSE_RUN_A", var_b: str = "LAKEHOUSE_RUN_B") -> tuple[Path, Path]:
    """(A, B) from env; defaults: the two newest runs (older = A), or the newest twice."""
    runs = list_runs()
    if os.environ.get(var_a):
        a = check_run_dir(Path(os.environ[var_a]), var_a)
    elif len(runs) >= 2:
        a = runs[-2]
    elif runs:
        a = runs[-1]
    else:
        raise FileNotFoundError(NO_RUNS.format(var=var_a))
    if os.environ.get(var_b):
        b = check_run_dir(Path(os.environ[var_b]), var_b)
    elif runs:
        b = runs[-1] if runs[-1] != a or len(runs) < 2 else runs[-2]
    else:
        b = a
    return a, b


@dataclass
class Run:
    """One run's outputs, with convenience columns added:
    scenarios/steps: `t_s` (intended start, s), `end_s`, `lat_ms` (corrected), `unc_ms`
    (uncorrected), `executed`; freshness: `t_s` (sent, s)."""

    dir: Path
    summary: dict
    scenarios: pd.DataFrame
    steps: pd.DataFrame
    freshness: pd.DataFrame

    @property
    def run_id(self) -> str:
        return self.summary.get("run_id", self.dir.name)

    @property
    def elapsed_s(self) -> float:
        return float(self.summary.get("elapsed_s") or self.summary.get("duration_s") or 0.0)

    def label(self) -> str:
        s = self.summary
        rate = f" {s['rate']:g}/s" if s.get("rate") else ""
        w = s.get("workers") or 0
        workers = f", {w / 1000:g}k workers" if w >= 1000 else f", {w} workers" if w else ""
        return f"{self.run_id} ({s.get('arrival', '?')}{rate}, c={s.get('concurrency', '?')}{workers})"

    def figures_dir(self) -> Path:
        d = self.dir / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.read_parquet(path)


def load_run(run_dir: Path) -> Run:
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    # The harness writes rows as they complete; time order is what the analysis wants.
    sc = pd.read_parquet(run_dir / "scenarios.parquet").sort_values(["intended_ns", "iteration"], ignore_index=True)
    st = pd.read_parquet(run_dir / "steps.parquet").sort_values(["intended_ns", "iteration"], ignore_index=True)
    fr = _read(run_dir / "freshness.parquet", ["id", "op", "sent_ns", "freshness_ms", "ack_ms", "ok", "failure_reason"])
    fr = fr.sort_values("sent_ns", ignore_index=True)
    for df in (sc, st):
        df["t_s"] = df["intended_ns"].astype("float64") / 1e9
        df["end_s"] = df["end_ns"].astype("float64") / 1e9
        df["lat_ms"] = df["latency_corrected_us"].astype("float64") / 1e3
        df["unc_ms"] = df["latency_uncorrected_us"].astype("float64") / 1e3
    sc["executed"] = sc["outcome"].isin(["ok", "failed"])
    st["executed"] = st["step"] != NOT_STARTED_STEP
    fr["t_s"] = fr["sent_ns"].astype("float64") / 1e9
    for c in ("freshness_ms", "ack_ms"):
        fr[c] = fr[c].astype("float64")
    return Run(run_dir, summary, sc, st, fr)


def quantile(values, q: float) -> float:
    """HdrHistogram's `value_at_quantile` without the bucketing, computed the same way:
    the k-th smallest sample, k = max(1, ceil(q·n)) (numpy's inverted_cdf)."""
    v = np.asarray(values, dtype="float64")
    v = np.sort(v[~np.isnan(v)])
    if v.size == 0:
        return float("nan")
    k = max(1, math.ceil(min(q, 1.0) * v.size))
    return float(v[k - 1])


def latency_stats(lat_ms, scheduled: int | None = None, bad: int | None = None) -> dict:
    """count, p50/p95/p99/max (ms) and fail% of one group."""
    v = pd.Series(lat_ms, dtype="float64").dropna()
    row = {"runs": int(v.size)}
    for k, q in PCTS.items():
        row[f"{k}_ms"] = quantile(v, q)
    row["max_ms"] = float(v.max()) if v.size else float("nan")
    if scheduled is not None and bad is not None:
        row["fail_pct"] = 100.0 * bad / scheduled if scheduled else 0.0
    return row


def scenario_table(run: Run, col: str = "lat_ms") -> pd.DataFrame:
    """Per scenario plus TOTAL: runs (executed), p50/p95/p99/max (ms) of executed
    iterations, fail% = (failed + dropped + aborted) / scheduled — as in summary.json."""
    rows = {}
    groups = [(name, run.scenarios[run.scenarios["scenario"] == name]) for name in SCENARIOS]
    groups.append(("TOTAL", run.scenarios))
    for name, g in groups:
        ex = g[g["executed"]]
        rows[name] = latency_stats(ex[col], scheduled=len(g), bad=int((~g["ok"]).sum()))
    return pd.DataFrame.from_dict(rows, orient="index")


def step_table(run: Run, col: str = "lat_ms") -> pd.DataFrame:
    """Per (scenario, step): executed steps only; fail% = failed steps / executed steps."""
    st = run.steps[run.steps["executed"]]
    rows = []
    for name in SCENARIOS:
        g = st[st["scenario"] == name]
        for step in g["step"].drop_duplicates():
            s = g[g["step"] == step]
            r = latency_stats(s[col], scheduled=len(s), bad=int((~s["ok"]).sum()))
            rows.append({"scenario": name, "step": step, **r})
    cols = ["scenario", "step", "runs", "p50_ms", "p95_ms", "p99_ms", "max_ms", "fail_pct"]
    return pd.DataFrame(rows, columns=cols).set_index(["scenario", "step"])


def cdf(values) -> tuple[np.ndarray, np.ndarray]:
    v = np.sort(pd.Series(values, dtype="float64").dropna().to_numpy())
    if v.size == 0:
        return v, v
    return v, np.arange(1, v.size + 1) / v.size


def bin_width(elapsed_s: float, samples: int, per_bin: int = 40, max_bins: int = 60) -> float:
    """A round time-bin width: about `per_bin` samples a bin (so per-bin percentiles mean
    something), between 5 and `max_bins` bins."""
    bins = min(max_bins, max(5, samples // max(per_bin, 1)))
    raw = max(elapsed_s, 0.1) / bins
    for w in (0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300):
        if w >= raw:
            return float(w)
    return 600.0


def hot_spans(scenarios: pd.DataFrame, states=HOT_STATES) -> list[tuple[float, float, str]]:
    """Contiguous stretches (start s, end s, state) of scheduled iterations whose
    arrival state is a burst/flash, from the scheduled start times."""
    if scenarios.empty:
        return []
    s = scenarios.sort_values("intended_ns")[["t_s", "arrival_state"]]
    spans, cur, start, last = [], None, 0.0, 0.0
    for t, state in zip(s["t_s"].to_numpy(), s["arrival_state"].to_numpy()):
        if state != cur:
            if cur in states:
                spans.append((start, last, cur))
            cur, start = state, t
        last = t
    if cur in states:
        spans.append((start, last, cur))
    return spans


# Set by run_all.py: figures are only written to files, not also rendered inline.
HEADLESS = os.environ.get("LAKEHOUSE_NB_HEADLESS") == "1"


def burst_class(times_s, scenarios: pd.DataFrame, states=HOT_STATES, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    """For each time (s since the run start): "outside" if under `lo` of the scenario arrivals
    scheduled in its whole second were in a hot state (burst/flash), "inside" if over `hi`,
    else "mixed". Seconds with no arrivals count as outside."""
    t = np.asarray(times_s, dtype="float64")
    if scenarios.empty or t.size == 0:
        return np.full(t.size, "outside", dtype=object)
    sec = np.floor(scenarios["t_s"].to_numpy(dtype="float64")).astype(np.int64)
    hot = scenarios["arrival_state"].isin(states).to_numpy()
    share = pd.Series(hot, dtype="float64").groupby(sec).mean()
    at = pd.Series(np.floor(t).astype(np.int64)).map(share).fillna(0.0).to_numpy()
    return np.where(at < lo, "outside", np.where(at > hi, "inside", "mixed")).astype(object)


def rate_steps(times_s, width: float, horizon_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Events per second in bins of `width` over [0, horizon], as (x, y) for
    `ax.step(x, y, where="post")` (the last bin's level is held to its right edge)."""
    t = pd.Series(times_s, dtype="float64").dropna()
    n = max(1, int(np.ceil(max(horizon_s, float(t.max()) if len(t) else 0.0) / width)))
    counts = np.bincount(np.minimum((t.to_numpy() // width).astype(int), n - 1), minlength=n) if len(t) else np.zeros(n)
    y = counts / width
    return np.arange(n + 1) * width, np.append(y, y[-1])


def log_ms_axis(ax, axis: str = "y") -> None:
    """Log scale with plain-number tick labels (1, 2, 5, 10, 20, ...)."""
    a = ax.yaxis if axis == "y" else ax.xaxis
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    a.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(mticker.NullFormatter())


def state_changes(scenarios: pd.DataFrame, prefix: str = "ramp:") -> list[tuple[float, str]]:
    """(time s, new state) where a staged arrival process (ramp) moved to its next stage."""
    if scenarios.empty:
        return []
    s = scenarios.sort_values("intended_ns")[["t_s", "arrival_state"]]
    s = s[s["arrival_state"].str.startswith(prefix)]
    moved = s["arrival_state"] != s["arrival_state"].shift()
    return list(zip(s.loc[moved, "t_s"].iloc[1:], s.loc[moved, "arrival_state"].iloc[1:]))


def save(fig, run: Run, name: str, dpi: int = 100) -> Path:
    """Writes `fig` to RUN/figures/NAME; headless, also closes it (no inline copy)."""
    path = run.figures_dir() / name
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    print(f"saved {path}")
    if HEADLESS:
        plt.close(fig)
    return path


def empty_figure(title: str, message: str, figsize=(8, 3.5)):
    fig, ax = plt.subplots(figsize=figsize)
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="0.35", wrap=True, transform=ax.transAxes)
    return fig


def fmt_ms(x: float) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}"
