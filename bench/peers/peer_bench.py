#!/usr/bin/env python3
"""Side-by-side peer benchmark, Python side: faiss-cpu ``IndexHNSWFlat`` and hnswlib on the
vectors and ground truth written by ``cargo run --release -p sinks --example peer_bench``.

    python bench/peers/peer_bench.py --data data/peer --set hashing|clustered|all \
        --engine faiss|hnswlib|all [--ef 16,32,64,128] [--target 0.95]

Same parameters as ours: M=16, ef_construction=100, inner product on L2-normalised vectors.
Build on 2 threads; search on 1 thread, one query per call (no batching), after a warm-up
pass. Memory: VmRSS after the build minus VmRSS before it (vectors already loaded).
Writes ``<data>/<set>/<engine>.json`` and prints one JSON line per (set, ef).

Run each engine in its own process (``run.sh`` does) so one's freed memory does not blur
the other's RSS delta.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

K = 10
M = 16
EF_CONSTRUCTION = 100
BUILD_THREADS = 2


def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def load(set_dir):
    with open(os.path.join(set_dir, "meta.json")) as f:
        meta = json.load(f)
    n, nq, d, k = meta["n"], meta["queries"], meta["dim"], meta["k"]
    files = meta["files"]
    base = np.fromfile(os.path.join(set_dir, files["base"]), dtype="<f4").reshape(n, d)
    queries = np.fromfile(os.path.join(set_dir, files["queries"]), dtype="<f4").reshape(nq, d)
    gt_ids = np.fromfile(os.path.join(set_dir, files["gt_ids"]), dtype="<i4").reshape(nq, k)
    gt_scores = np.fromfile(os.path.join(set_dir, files["gt_scores"]), dtype="<f4").reshape(nq, k)
    return meta, np.ascontiguousarray(base), np.ascontiguousarray(queries), gt_ids, gt_scores


def recall(base, queries, gt_ids, gt_scores, found):
    """Id recall@K and tie-aware recall (a hit counts when its exact score reaches the K-th)."""
    ids_hit = 0
    tie_hit = 0
    for qi, row in enumerate(found):
        row = [int(x) for x in row[:K] if x >= 0]
        truth = set(int(x) for x in gt_ids[qi])
        ids_hit += sum(1 for x in row if x in truth)
        if row:
            scores = base[row] @ queries[qi]
            tie_hit += int(np.sum(scores >= gt_scores[qi, K - 1] - 1e-5))
    nq = len(found)
    return ids_hit / (K * nq), tie_hit / (K * nq)


class Faiss:
    name = "faiss"

    def __init__(self):
        import faiss

        self.faiss = faiss
        self.version = faiss.__version__
        self.index = None

    def build(self, base):
        self.faiss.omp_set_num_threads(BUILD_THREADS)
        self.index = self.faiss.IndexHNSWFlat(base.shape[1], M, self.faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION
        self.index.add(base)
        self.faiss.omp_set_num_threads(1)

    def set_ef(self, ef):
        self.index.hnsw.efSearch = ef

    def search_one(self, q):
        _, ids = self.index.search(q.reshape(1, -1), K)
        return ids[0]

    def info(self):
        simd = getattr(self.faiss, "get_compile_options", lambda: "")()
        return {"version": self.version, "compile_options": simd}


class Hnswlib:
    name = "hnswlib"

    def __init__(self):
        import hnswlib

        self.hnswlib = hnswlib
        self.index = None

    def build(self, base):
        n, d = base.shape
        self.index = self.hnswlib.Index(space="ip", dim=d)
        self.index.init_index(max_elements=n, ef_construction=EF_CONSTRUCTION, M=M, random_seed=100)
        self.index.add_items(base, np.arange(n), num_threads=BUILD_THREADS)
        self.index.set_num_threads(1)

    def set_ef(self, ef):
        self.index.set_ef(ef)

    def search_one(self, q):
        labels, _ = self.index.knn_query(q, k=K, num_threads=1)
        return labels[0]

    def info(self):
        from importlib.metadata import version

        return {"version": version("hnswlib")}


ENGINES = {"faiss": Faiss, "hnswlib": Hnswlib}


def run_ef(engine, base, queries, gt_ids, gt_scores, ef):
    engine.set_ef(ef)
    for q in queries[:50]:
        engine.search_one(q)  # warm-up
    lat = np.empty(len(queries))
    found = []
    t = time.perf_counter()
    for i, q in enumerate(queries):
        t1 = time.perf_counter()
        found.append(engine.search_one(q))
        lat[i] = (time.perf_counter() - t1) * 1e6
    secs = time.perf_counter() - t
    r, rt = recall(base, queries, gt_ids, gt_scores, found)
    nq = len(queries)
    return {
        "ef": ef,
        "recall": r,
        "recall_ties": rt,
        "qps": nq / secs,
        "mean_us": secs * 1e6 / nq,
        "p50_us": float(np.percentile(lat, 50, method="nearest")),
        "p99_us": float(np.percentile(lat, 99, method="nearest")),
        "extra": False,
    }


def bench(data, set_name, engine_name, efs, target):
    set_dir = os.path.join(data, set_name)
    meta, base, queries, gt_ids, gt_scores = load(set_dir)
    engine = ENGINES[engine_name]()
    rss_before = status_mb("VmRSS:")
    t = time.perf_counter()
    engine.build(base)
    build_s = time.perf_counter() - t
    rss_after = status_mb("VmRSS:")
    print(f"[{set_name}] {engine_name}: built {meta['n']} in {build_s:.1f} s; "
          f"RSS {rss_before:.0f} -> {rss_after:.0f} MB", file=sys.stderr)
    rows = []
    for ef in efs:
        row = run_ef(engine, base, queries, gt_ids, gt_scores, ef)
        print(json.dumps({"engine": engine_name, "set": set_name, **row}), flush=True)
        rows.append(row)
    # Same rule as the Rust side: extend ef until the target recall is reached (≤ 1024).
    ef = efs[-1]
    while not any(r["recall"] >= target for r in rows) and ef < 1024:
        ef *= 2
        row = run_ef(engine, base, queries, gt_ids, gt_scores, ef)
        row["extra"] = True
        print(json.dumps({"engine": engine_name, "set": set_name, **row}), flush=True)
        rows.append(row)
    at = next((r for r in rows if r["recall"] >= target), None)
    out = {
        "engine": engine_name,
        "set": set_name,
        "n": meta["n"],
        "queries": meta["queries"],
        "dim": meta["dim"],
        "k": K,
        "m": M,
        "ef_construction": EF_CONSTRUCTION,
        "build_threads": BUILD_THREADS,
        "search_threads": 1,
        "build_s": build_s,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "mem_mb": rss_after - rss_before,
        "peak_rss_mb": status_mb("VmHWM:"),
        "vector_mb": base.nbytes / (1024 * 1024),
        "target_recall": target,
        "at_target": None if at is None else {"ef": at["ef"], "recall": at["recall"], "qps": at["qps"]},
        "engine_info": engine.info(),
        "results": [{"engine": engine_name, "set": set_name, **r} for r in rows],
    }
    with open(os.path.join(set_dir, f"{engine_name}.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/peer")
    ap.add_argument("--set", default="all", choices=["hashing", "clustered", "all"])
    ap.add_argument("--engine", default="all", choices=["faiss", "hnswlib", "all"])
    ap.add_argument("--ef", default="16,32,64,128")
    ap.add_argument("--target", type=float, default=0.95)
    a = ap.parse_args()
    efs = sorted(set(int(x) for x in a.ef.split(",")))
    sets = ["hashing", "clustered"] if a.set == "all" else [a.set]
    engines = ["faiss", "hnswlib"] if a.engine == "all" else [a.engine]
    for s in sets:
        for e in engines:
            bench(a.data, s, e, efs, a.target)


if __name__ == "__main__":
    main()
