#!/usr/bin/env bash
# Restart time to serving with N workers, using the real `lakehouse` binary.
#
#   bash bench/restart.sh [WORKERS]        (default 100000; needs a release build:
#                                          cargo build --release -p query-api)
#
# 1. first start: generate the corpus, `lakehouse serve --corpus` into a fresh data dir
#    (load through the dataflow, first snapshot), until /health answers;
# 2. stream WRITES single-worker upserts over HTTP, then SIGTERM (clean shutdown: drain,
#    snapshot) and time the restart until /health answers;
# 3. stream WRITES more upserts, then SIGKILL (no shutdown snapshot: the restart replays the
#    log tail) and time the restart until /health answers; check a worker written last is there.
# Outputs go under out/restart.*; nothing else is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
writes="${WRITES:-2000}"
bin=target/release/lakehouse
[[ -x $bin ]] || { echo "restart.sh: $bin missing; run: cargo build --release -p query-api" >&2; exit 2; }
mkdir -p out
dir="$(mktemp -d out/restart.XXXXXX)"
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"
now() { date +%s.%N; }
wait_health() {
  for _ in $(seq 1 12000); do
    curl -fs "$url/health" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  echo "restart.sh: server did not answer /health" >&2
  exit 1
}
serve() { $bin serve --addr "127.0.0.1:$port" --data-dir "$dir/state" "$@" >>"$dir/server.log" 2>&1 & pid=$!; }
upserts() { # $1 = tag
  for i in $(seq 1 "$writes"); do
    printf '{"id":"r-%s-%06d","name":"Restart Probe","role":"Welder","city":"Houston","state":"TX","skills":["mig"]}\n' "$1" "$i"
  done | while read -r body; do curl -fs -o /dev/null -H 'content-type: application/json' -d "$body" "$url/v1/workers"; done
}

$bin generate --workers "$n" --seed 42 --out "$dir/workers.parquet" >/dev/null
t0=$(now); serve --corpus "$dir/workers.parquet"; wait_health; t1=$(now)
printf 'first start (load %s workers + first snapshot): %.2f s\n' "$n" "$(echo "$t1 - $t0" | bc)"

upserts a
kill -TERM $pid; wait $pid || true
t0=$(now); serve; wait_health; t1=$(now)
printf 'restart after SIGTERM (snapshot, empty log tail): %.2f s\n' "$(echo "$t1 - $t0" | bc)"

upserts b
kill -KILL $pid; wait $pid 2>/dev/null || true
t0=$(now); serve; wait_health; t1=$(now)
printf 'restart after SIGKILL (snapshot + %s-write log tail): %.2f s\n' "$writes" "$(echo "$t1 - $t0" | bc)"
last="r-b-$(printf %06d "$writes")"
curl -fs "$url/v1/workers/$last" >/dev/null && echo "last acknowledged write $last present" \
  || { echo "restart.sh: $last LOST" >&2; kill $pid; exit 1; }
curl -fs "$url/health"; echo
kill -TERM $pid; wait $pid || true
rm -f "$dir/workers.parquet"
