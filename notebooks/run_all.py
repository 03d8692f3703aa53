#!/usr/bin/env python3
"""Render every analysis notebook headless against load-harness run directories.

    python notebooks/run_all.py --run-dir out/<run> [--compare out/<other-run>]

The per-run notebooks (latency_analysis, freshness) are executed for `--run-dir` and, if
given, for `--compare` too; compare_runs is executed with A = `--run-dir` and
B = `--compare` (B = A when `--compare` is omitted). Each notebook runs in a fresh kernel of
*this* interpreter, from the notebooks/ directory, with the run directories passed through
the environment (`LAKEHOUSE_RUN_DIR`, `LAKEHOUSE_RUN_A`, `LAKEHOUSE_RUN_B`). The notebooks
in the repository are never modified: executed copies (with outputs) are written to
`<run>/notebooks/`.

Exits non-zero, naming the notebook and the cell, if a cell raises; and if an expected
figure under `<run>/figures/` is missing, empty, or older than the notebook's execution.
Prints every file it produced.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KERNEL_NAME = "lakehouse-notebooks"
CELL_TIMEOUT_S = 600

PER_RUN = {
    "latency_analysis.ipynb": [
        "latency_cdf.png",
        "latency_over_time.png",
        "corrected_vs_uncorrected.png",
        "failures_by_reason.png",
        "percentiles_vs_seed.png",
    ],
    "freshness.ipynb": ["freshness_over_time.png", "freshness_cdf.png"],
}
COMPARE = {"compare_runs.ipynb": ["compare_percentiles.png", "compare_cdf.png", "compare_throughput.png"]}
REQUIRED = ["numpy", "pandas", "pyarrow", "matplotlib", "nbformat", "nbclient", "ipykernel"]


class Failure(Exception):  # noqa: N818
    """A notebook or figure check failed; the message says which."""


def check_modules() -> None:
    missing = []
    for m in REQUIRED:
        try:
            __import__(m)
        except ImportError:
            missing.append(m)
    if missing:
        raise SystemExit(
            f"run_all.py: {sys.executable} lacks {', '.join(missing)}; install notebooks/requirements.txt "
            "(scripts/test does it into .venv-notebooks/: `.venv-notebooks/bin/python notebooks/run_all.py ...`)"
        )


def run_dir(arg: str) -> Path:
    d = Path(arg).expanduser().resolve()
    if not (d / "scenarios.parquet").is_file() or not (d / "summary.json").is_file():
        raise argparse.ArgumentTypeError(f"{d} is not a run directory (no scenarios.parquet + summary.json)")
    return d


def kernel_spec_dir(tmp: Path) -> Path:
    """A kernel spec for this interpreter in a private directory: never a user's `python3`
    spec that may point at another Python, and nothing installed into the user's home."""
    kernels = tmp / "kernels"
    spec = kernels / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python ({sys.executable})",
                "language": "python",
            }
        )
    )
    return kernels


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_error(nb) -> tuple[int, object, dict] | None:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, cell, out
    return None


def execute(name: str, env: dict[str, str], save_to: Path, kernels: Path) -> float:
    """Runs notebook `name` in a fresh kernel whose environment is `env`; writes the
    executed copy to `save_to`; returns the start time. Raises Failure naming the cell."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(HERE / name, as_version=4)
    ksm = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
    client = NotebookClient(
        nb,
        km=km,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        allow_errors=False,
        resources={"metadata": {"path": str(HERE)}},
    )
    started = time.time()
    save_to.parent.mkdir(parents=True, exist_ok=True)
    try:
        client.execute(env=env)  # forwarded to KernelManager.start_kernel
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        nbformat.write(nb, save_to)
        where = first_error(nb)
        if where is not None:
            i, cell, out = where
            src = cell.source.strip().splitlines()
            head = src[0] if src else ""
            tb = ANSI.sub("", "\n".join(out.get("traceback", [])))
            raise Failure(
                f"{name}: cell {i + 1} of {len(nb.cells)} (starting `{head}`) raised {out.get('ename')}: {out.get('evalue')}\n"
                f"{tb}\n(partially executed copy: {save_to})"
            ) from None
        raise Failure(f"{name}: {type(e).__name__}: {ANSI.sub('', str(e))}\n(partially executed copy: {save_to})") from None
    except Exception as e:  # the kernel did not start, or nbclient itself failed
        raise Failure(f"{name}: could not execute: {type(e).__name__}: {e}") from None
    finally:
        if km.has_kernel:  # a km passed in is ours to shut down, not nbclient's
            km.shutdown_kernel(now=True)
    nbformat.write(nb, save_to)
    return started


def run_job(job: dict) -> dict:
    """One notebook execution plus its figure check (runs in a worker process)."""
    t0 = time.time()
    try:
        since = execute(job["name"], job["env"], job["copy"], job["kernels"])
        figs = check_figures(job["name"], job["figures"], job["expected"], since)
        return {"ok": True, "produced": figs + [job["copy"]], "seconds": time.time() - t0}
    except Failure as e:
        return {"ok": False, "error": str(e), "seconds": time.time() - t0}


def check_figures(name: str, figures: Path, expected: list[str], since: float) -> list[Path]:
    found, problems = [], []
    for f in expected:
        p = figures / f
        if not p.is_file():
            problems.append(f"{p} missing")
        elif p.stat().st_size == 0:
            problems.append(f"{p} is empty")
        elif p.stat().st_mtime < since - 1:
            problems.append(f"{p} was not rewritten by this execution (stale)")
        else:
            found.append(p)
    if problems:
        raise Failure(f"{name}: expected figures not produced:\n  " + "\n  ".join(problems))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True, type=run_dir, help="run directory written by lakehouse-load")
    ap.add_argument("--compare", type=run_dir, help="a second run: compare_runs shows --run-dir (A) beside it (B)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks executed at once")
    args = ap.parse_args(argv)
    check_modules()

    runs = [args.run_dir] + ([args.compare] if args.compare and args.compare != args.run_dir else [])
    jobs = []  # (notebook, env, executed copy, figures dir, expected figures, label)
    for r in runs:
        for name, figs in PER_RUN.items():
            env = {"LAKEHOUSE_RUN_DIR": str(r)}
            jobs.append((name, env, r / "notebooks" / name, r / "figures", figs, f"{name} [{r}]"))
    b = args.compare or args.run_dir
    for name, figs in COMPARE.items():
        env = {"LAKEHOUSE_RUN_A": str(args.run_dir), "LAKEHOUSE_RUN_B": str(b)}
        label = f"{name} [A={args.run_dir} B={b}]"
        jobs.append((name, env, args.run_dir / "notebooks" / name, args.run_dir / "figures", figs, label))

    produced: list[Path] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lakehouse-nb-") as tmp:
        tmp = Path(tmp)
        kernels = kernel_spec_dir(tmp)
        base_env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),  # connection files: nothing left in $HOME
            "JUPYTER_PLATFORM_DIRS": "1",
            "LAKEHOUSE_NB_HEADLESS": "1",  # figures go to files only, not inline as well
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")])),
        }
        work = [
            {"name": name, "env": {**base_env, **env}, "copy": copy, "figures": figures, "expected": expected,
             "kernels": kernels, "label": label}
            for name, env, copy, figures, expected, label in jobs
        ]
        # Each notebook gets its own kernel; a few run side by side (spawned workers, so
        # no event loop or environment is shared).
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=ctx) as pool:
            futures = {pool.submit(run_job, w): w for w in work}
            for fut in concurrent.futures.as_completed(futures):
                w = futures[fut]
                try:
                    r = fut.result()
                except Exception as e:  # the worker process itself died
                    r = {"ok": False, "error": f"{w['name']}: worker failed: {type(e).__name__}: {e}", "seconds": 0.0}
                if r["ok"]:
                    produced += r["produced"]
                    print(f"ok   {w['label']} ({r['seconds']:.1f} s)", flush=True)
                else:
                    failures.append(r["error"])
                    print(f"FAIL {w['label']}\n{r['error']}", file=sys.stderr, flush=True)

    print("\nproduced:")
    for p in produced:
        print(f"  {p}  ({p.stat().st_size:,} bytes)")
    if failures:
        print(f"\n{len(failures)} of {len(jobs)} notebook executions failed:", file=sys.stderr)
        for f in failures:
            print("  " + f.splitlines()[0], file=sys.stderr)
        return 1
    print(f"\n{len(jobs)} notebook executions ok, {len([p for p in produced if p.suffix == '.png'])} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
