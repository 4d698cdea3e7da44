"""The reviewer's view: per-seed table of the primary metric and every verdict, in the terminal.

    python -m pipeline.review [--profile small] [--results results]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.layout import Layout
from resonator.params import load_params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile")
    ap.add_argument("--results", default="results")
    args = ap.parse_args(argv)
    profile = args.profile or load_params().profile
    path = Layout(profile, results_base=Path(args.results)).stats_json
    s = read_json(path, "rebuild it: `dvc repro -f stats`", missing_fix="run `dvc repro stats` first")
    meta = s["meta"]
    primary = next(iter(s["variants"].values()))["metrics"]
    metric = [k for k in primary if "/" in k][0] if primary else "?"
    print(f"profile {profile} | {meta['n_runs']} runs, {meta['n_diverged']} diverged | prereg {meta['prereg_hash'][:12]} "
          f"| commit {(meta['provenance'].get('commit') or '?')[:10]}")
    variants = list(s["variants"])
    seeds = sorted({int(k) for v in s["variants"].values() for k in v["metrics"][metric]["per_seed"]})
    width = max(len(v) for v in variants) + 1
    print(f"\n{metric} per seed (rows) and variant (columns)")
    print("seed " + " ".join(f"{v[:14]:>14s}" for v in variants))
    for sd in seeds:
        cells = []
        for v in variants:
            x = s["variants"][v]["metrics"][metric]["per_seed"].get(str(sd))
            cells.append(f"{x:14.4f}" if x is not None else f"{'-':>14s}")
        print(f"{sd:4d} " + " ".join(cells))
    print("mean " + " ".join(f"{s['variants'][v]['metrics'][metric].get('mean', float('nan')):14.4f}" for v in variants))
    print("sd   " + " ".join(f"{s['variants'][v]['metrics'][metric].get('sd', float('nan')):14.4f}" for v in variants))
    print(f"\n{'id':5s} {'A - B':{2 * width}s} {'diff':>8s} {'95% CI':>19s} {'p':>7s} {'p_holm':>7s}  verdict")
    for r in s["hypotheses"]:
        c = r["comparison"] or {}
        ci = f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]" if c else "-"
        pa = r["p_adjusted"]
        print(f"{r['id']:5s} {(r['a'] + ' - ' + r['b']):{2 * width}s} {c.get('mean_diff', float('nan')):+8.3f} "
              f"{ci:>19s} {c.get('p_permutation', float('nan')):7.4f} "
              f"{(pa if pa is not None else float('nan')):7.4f}  {r['verdict']}"
              + (f"  (excluded: {len(r['excluded'])})" if r["excluded"] else ""))
    print(f"\nverdict rule: {meta['verdict_rule']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
