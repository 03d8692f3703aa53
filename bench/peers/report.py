#!/usr/bin/env python3
"""Markdown report of a peer benchmark run: reads ``<data>/<set>/{ours,faiss,hnswlib}.json``.

    python bench/peers/report.py --data data/peer --set hashing|clustered|all

Per set: recall@10 and single-thread QPS per ef for each engine, then build time, memory
(RSS delta) and the QPS at the smallest ef whose recall@10 reaches the target, with the
ratios ours ÷ faiss and ours ÷ hnswlib (QPS ratio > 1: ours is faster; build and memory
ratio > 1: ours is slower / bigger).
"""

import argparse
import json
import os

ENGINES = ["ours", "faiss", "hnswlib"]
# Written only by `peer_bench --raw-hnsw` (hnsw_rs alone, its own search): a diagnostic column.
OPTIONAL = ["hnsw_rs"]


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def report(data, set_name):
    runs = {}
    for e in ENGINES + OPTIONAL:
        p = os.path.join(data, set_name, f"{e}.json")
        if os.path.exists(p):
            with open(p) as f:
                runs[e] = json.load(f)
    if not runs:
        print(f"## {set_name}: no results under {os.path.join(data, set_name)}\n")
        return
    any_run = next(iter(runs.values()))
    target = any_run.get("target_recall", 0.95)
    print(f"## {set_name}: {any_run['n']:,} × {any_run['dim']}, {any_run['queries']} queries, "
          f"M={any_run['m']}, ef_construction={any_run['ef_construction']}, k={any_run['k']}\n")
    if "ours" in runs:
        o = runs["ours"]
        print(f"ours: graph_len={o['graph_len']}, pending={o['pending']}, graph_panics={o['graph_panics']}, "
              f"ground truth vs search_exact disagreements={o['oracle_disagreements_of_20']}/20, "
              f"queries with a tie at the 10th={o['gt_boundary_ties']}\n")
    engines = ENGINES + [e for e in OPTIONAL if e in runs]
    by_ef = {e: {r["ef"]: r for r in runs[e]["results"]} for e in runs}
    efs = sorted({ef for e in by_ef for ef in by_ef[e]})
    head = "| ef | " + " | ".join(f"{e} recall@10 | {e} QPS" for e in engines) + " |"
    print(head)
    print("|" + "---|" * (1 + 2 * len(engines)))
    for ef in efs:
        cells = []
        for e in engines:
            r = by_ef.get(e, {}).get(ef)
            cells.append(fmt(r and r["recall"], ".3f"))
            cells.append(fmt(r and r["qps"], ",.0f"))
        print(f"| {ef} | " + " | ".join(cells) + " |")
    ties = [e for e in runs if any(abs(r["recall_ties"] - r["recall"]) > 0.0005 for r in runs[e]["results"])]
    if ties:
        print("\nTie-aware recall@10 (a hit counts when its exact score reaches the 10th true score):\n")
        print("| ef | " + " | ".join(engines) + " |")
        print("|" + "---|" * (1 + len(engines)))
        for ef in efs:
            cells = [fmt(by_ef.get(e, {}).get(ef) and by_ef[e][ef]["recall_ties"], ".3f") for e in engines]
            print(f"| {ef} | " + " | ".join(cells) + " |")
    print(f"\n| engine | build s | memory MB (RSS Δ) | ef @ recall ≥ {target} | recall | QPS | "
          "ours ÷ engine QPS | ours ÷ engine build | ours ÷ engine memory |")
    print("|---|---|---|---|---|---|---|---|---|")
    ours = runs.get("ours")
    o_at = ours and ours.get("at_target")
    for e in engines:
        if e not in runs:
            print(f"| {e} | — | — | — | — | — | — | — | — |")
            continue
        r = runs[e]
        at = r.get("at_target")
        q_ratio = ratio(o_at and o_at["qps"], at and at["qps"])
        b_ratio = ratio(ours and ours["build_s"], r["build_s"])
        m_ratio = ratio(ours and ours["mem_mb"], r["mem_mb"])
        print(f"| {e} | {r['build_s']:.1f} | {r['mem_mb']:,.0f} | {fmt(at and at['ef'], 'd')} | "
              f"{fmt(at and at['recall'], '.3f')} | {fmt(at and at['qps'], ',.0f')} | "
              f"{fmt(q_ratio, '.2f')} | {fmt(b_ratio, '.2f')} | {fmt(m_ratio, '.2f')} |")
    extra = [f"{e} ef={r['ef']}" for e in runs for r in runs[e]["results"] if r.get("extra")]
    if extra:
        print(f"\nExtra ef rows (no listed ef reached {target}): " + ", ".join(extra))
    missing = [e for e in engines if e in runs and runs[e].get("at_target") is None]
    if missing:
        print(f"\nNot reaching recall {target} at any ef up to 1024: " + ", ".join(missing))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/peer")
    ap.add_argument("--set", default="all", choices=["hashing", "clustered", "all"])
    a = ap.parse_args()
    for s in ["hashing", "clustered"] if a.set == "all" else [a.set]:
        report(a.data, s)


if __name__ == "__main__":
    main()
