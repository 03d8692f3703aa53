#!/usr/bin/env bash
# A 100k-row parquet ingest job while the load harness runs its mixed scenarios: the job's
# rows/s, and each scenario's p99 during the job against a run without it (ratio, one run).
#
#   bash bench/ingest_under_load.sh [WORKERS]    (default 100000; needs release builds:
#                                                cargo build --release -p query-api -p loadtest)
#
# Environment: DURATION (each load run, default 60s), DELAY (seconds into the second run
# before the job is submitted, default 5), LOAD_ARGS (arrival settings for lakehouse-load,
# default "--arrival poisson --rate 100"), SERVE_ARGS (extra `lakehouse serve` flags),
# BIN_DIR (where the binaries are, default target/release).
#
# 1. generate the corpus (seed 42) and a drop of the same ids one day newer (seed 43), so
#    every row of the drop replaces a worker (new text, re-embedded, re-indexed);
# 2. serve the corpus from a fresh data dir; run lakehouse-load: the baseline;
# 3. run lakehouse-load again and, DELAY s into it, `lakehouse ingest` the drop;
# 4. print the job (rows/s, time to visible) and per-scenario p99 without/with the job.
# Outputs go under out/ingest-load.*; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
duration="${DURATION:-60s}"
delay="${DELAY:-5}"
load_args="${LOAD_ARGS:---arrival poisson --rate 100}"
bin="${BIN_DIR:-target/release}/lakehouse"
load="${BIN_DIR:-target/release}/lakehouse-load"
for b in $bin $load; do
  [[ -x $b ]] || { echo "ingest_under_load.sh: $b missing; run: cargo build --release -p query-api -p loadtest" >&2; exit 2; }
done
mkdir -p out
dir="$(mktemp -d out/ingest-load.XXXXXX)"
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"

$bin generate --workers "$n" --seed 42 --out "$dir/workers.parquet" >/dev/null
$bin generate --workers "$n" --seed 43 --updated-at-offset-ms 86400000 --out "$dir/drop.parquet" >/dev/null
# shellcheck disable=SC2086
$bin serve --addr "127.0.0.1:$port" --corpus "$dir/workers.parquet" --data-dir "$dir/state" ${SERVE_ARGS:-} \
  >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60000); do
  curl -fs "$url/health" >/dev/null 2>&1 && break
  sleep 0.01
done
curl -fs "$url/health" >/dev/null || { echo "server did not start; see $dir/server.log" >&2; exit 1; }
# Let the corpus's HNSW build finish so both runs start from a settled index.
for _ in $(seq 1 6000); do
  [[ "$(curl -fs "$url/health" | python3 -c 'import json,sys; print(json.load(sys.stdin)["indexes_settled"])')" == True ]] && break
  sleep 0.1
done

echo "baseline: lakehouse-load $load_args --duration $duration"
# shellcheck disable=SC2086
$load --gateway "$url" --workers "$n" --duration "$duration" $load_args --out "$dir/baseline" \
  >"$dir/baseline.log" 2>&1

echo "with the job: lakehouse ingest after ${delay}s"
# shellcheck disable=SC2086
$load --gateway "$url" --workers "$n" --duration "$duration" $load_args --out "$dir/with_job" \
  >"$dir/with_job.log" 2>&1 &
lpid=$!
sleep "$delay"
$bin ingest "$dir/drop.parquet" --gateway "$url" >"$dir/ingest.log" 2>&1 || { cat "$dir/ingest.log" >&2; exit 1; }
wait $lpid
curl -fs "$url/v1/jobs" >"$dir/jobs.json"

python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
job = json.load(open(f"{d}/jobs.json"))["jobs"][0]
secs = (job["finished_at_ms"] - job["started_at_ms"]) / 1000
print(f"job {job['id']} {job['state']}: {job['progress']['rows_read']} rows in {secs:.1f}s to visible "
      f"= {job['rows_per_sec']:.0f} rows/s (accepted {job['progress']['rows_accepted']}, "
      f"rejected {job['progress']['rows_rejected']}, visible at version {job['visible_version']})")
base = json.load(open(f"{d}/baseline/summary.json"))
with_job = json.load(open(f"{d}/with_job/summary.json"))
rows = {s["name"]: s for s in base["scenarios"] + [base["total"]]}
print(f"{'scenario':<28}{'p99 without (ms)':>18}{'p99 with job (ms)':>19}{'ratio':>8}")
for s in with_job["scenarios"] + [with_job["total"]]:
    b = rows.get(s["name"])
    if not b:
        continue
    p0, p1 = b["latency"]["p99_ms"], s["latency"]["p99_ms"]
    print(f"{s['name']:<28}{p0:>18.2f}{p1:>19.2f}{(p1 / p0 if p0 else float('nan')):>8.2f}")
print(f"(note: the job ran for {secs:.1f}s of the {with_job.get('elapsed_s', 0):.0f}s run; outputs in {d})")
EOF
