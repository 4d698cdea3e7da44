"""CPU dry run of a profile's real model and recipe for a few optimizer steps.

    python -m tools.dryrun --profile gpu --variant resonator_phonetic --steps 2

Builds the profile's full-size model from its own data and phases, and trains it for `--steps`
steps on the CPU in fp32 with a small micro-batch, writing to a scratch directory (never to
runs/). It proves the GPU path is wired end to end where no GPU is available.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from resonator.cli import run_main
from resonator.params import load_for_stage
from resonator.phases import run_phase_table
from resonator.tokenizer import read_meta
from resonator.train import train


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="resonator_phonetic")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--micro-batch", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--profile", help="profile whose full-size model to run (default: params.yaml's)")
    args = ap.parse_args(argv)
    p = load_for_stage(profile=args.profile)
    lay = p.layout
    meta = read_meta(lay.tokens)
    mcfg = p.model_config(args.variant, meta["vocab_size"])
    tcfg = dataclasses.replace(p.train_config(), device="cpu", dtype="fp32", compile=False, max_steps=args.steps,
                               micro_batch=args.micro_batch, grad_accum=1, eval_interval=args.steps,
                               ckpt_interval=args.steps, val_batches=1)
    classes = np.load(lay.classes) if mcfg.kind == "resonator" else None
    table = run_phase_table(mcfg, classes, args.seed, p.active["phases"])
    out = Path(args.out or tempfile.mkdtemp(prefix="dryrun-"))
    t0 = time.perf_counter()
    m = train(mcfg, tcfg, lay.tokens, out, seed=args.seed, phase_table=table)
    report = {"profile": p.profile, "variant": args.variant, "n_params": m["n_params"], "steps": m["steps"],
              "val_loss": m["val_loss"], "tokens_per_s_cpu": m["tokens_per_s"], "seconds": time.perf_counter() - t0,
              "model": dataclasses.asdict(mcfg), "note": "CPU fp32 dry run with a small micro-batch; not a result"}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
