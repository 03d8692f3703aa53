#!/usr/bin/env bash
# Side-by-side peer benchmark: our VectorCollection vs faiss-cpu IndexHNSWFlat vs hnswlib on
# the same vectors, M=16, ef_construction=100, k=10.
#
#   bash bench/peers/run.sh [--set hashing|clustered|all] [--n 100000] [--queries 500] [--ef 16,32,64,128]
#
# 1. A venv under $PEER_DATA/.venv (default data/peer/.venv) with bench/peers/requirements.txt.
# 2. The Rust side (sinks/examples/peer_bench.rs) writes the data, the exact ground truth and
#    ours.json under $PEER_DATA/<set>/ (raw little-endian f32/i32 + meta.json; gitignored).
# 3. The Python side (peer_bench.py), one process per engine, writes faiss.json / hnswlib.json.
# 4. report.py prints the markdown table.
# Every step runs after the previous one: nothing else of ours competes for the 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

DATA=${PEER_DATA:-data/peer}
SET=all
N=100000
QUERIES=500
EF=16,32,64,128
TARGET=0.95
while [ $# -gt 0 ]; do
  case "$1" in
    --set) SET=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --ef) EF=$2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
case "$SET" in
  all) SETS="hashing clustered" ;;
  hashing|clustered) SETS=$SET ;;
  *) echo "--set must be hashing, clustered or all" >&2; exit 2 ;;
esac

VENV=$DATA/.venv
mkdir -p "$DATA"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r bench/peers/requirements.txt

echo "== load before: $(uptime)"
cargo build --release -p sinks --example peer_bench
# One process per set and engine, so one's freed memory does not blur the next RSS delta.
for s in $SETS; do
  cargo run --release -q -p sinks --example peer_bench -- \
    --data "$DATA" --set "$s" --n "$N" --queries "$QUERIES" --ef "$EF" --target "$TARGET"
done
for s in $SETS; do
  for e in faiss hnswlib; do
    "$VENV/bin/python" bench/peers/peer_bench.py --data "$DATA" --set "$s" --engine "$e" --ef "$EF" --target "$TARGET"
  done
done
echo "== load after: $(uptime)"
echo
"$VENV/bin/python" bench/peers/report.py --data "$DATA" --set "$SET"
