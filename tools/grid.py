"""Run the training (and evaluation) grid of a profile without DVC.

For GPU boxes and cluster nodes where DVC is not installed, or where a job
scheduler, not DVC, decides what runs where. Each (variant, seed) run calls the
same stage entry points that dvc.yaml calls; a run whose outputs already exist
is skipped, and an interrupted run resumes from its last checkpoint.

    python -m tools.grid --profile gpu                    # every run, in order
    python -m tools.grid --profile gpu --variants standard --seeds 0 1
    python -m tools.grid --profile gpu --shard 3/8        # this node's eighth of the grid
    python -m tools.grid --profile gpu --stages train evaluate   # and score each run through lm-eval
    torchrun --nproc_per_node 8 -m tools.grid --profile paper   # DDP inside each run

Afterwards copy runs/<profile>/ back and `dvc commit` / `dvc repro stats paper`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from resonator.cli import run_main
from resonator.params import load_params
from resonator.runner import is_rank0

STAGES = ("train", "evaluate")


def done(run_dir: Path, stage: str) -> bool:
    marker = run_dir / ("train.json" if stage == "train" else "eval.json")
    if not marker.exists():
        return False
    try:
        json.loads(marker.read_text())
    except json.JSONDecodeError:
        return False  # a torn file is never a finished run
    return True


def select(runs, variants, seeds, shard):
    runs = [(v, s) for v, s in runs if (not variants or v in variants) and (seeds is None or s in seeds)]
    if shard:
        k, n = (int(x) for x in shard.split("/"))
        if not 0 <= k < n:
            raise SystemExit(f"error: --shard {shard}: need 0 <= k < n")
        runs = runs[k::n]
    return runs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", help="profile to run (default: the one params.yaml selects)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--variants", nargs="*")
    ap.add_argument("--seeds", nargs="*", type=int)
    ap.add_argument("--stages", nargs="*", default=["train"], choices=STAGES,
                    help="train; evaluate (the local tasks through lm-eval, as the DVC stage does)")
    ap.add_argument("--shard", help="k/n: run every n-th run starting at k")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)

    overrides = {"profile": args.profile} if args.profile else None
    p = load_params(args.params, overrides=overrides)
    runs = select(p.runs(), args.variants, args.seeds, args.shard)
    rank0 = is_rank0()
    for variant, seed in runs:
        run_dir = p.layout.run(variant, seed).dir
        for stage in args.stages:
            if done(run_dir, stage):
                if rank0:
                    print(f"[grid] {stage} {variant} s{seed}: done, skipped")
                continue
            if rank0:
                print(f"[grid] {stage} {variant} s{seed}", flush=True)
            if args.dry_run:
                continue
            if stage == "train":
                from pipeline.train import main as train_main
                rc = train_main(["--variant", variant, "--seed", str(seed), "--params", args.params,
                                 "--profile", p.profile])
            else:
                from pipeline.evaluate import main as eval_main
                rc = eval_main(["--variant", variant, "--seed", str(seed), "--profile", p.profile])
            if rc:
                print(f"[grid] {stage} {variant} s{seed} failed with exit code {rc}", file=sys.stderr)
                return rc
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
