"""Measure the ladder's throughput per rung and variant (issue 18), before it is registered.

    python -m tools.ladder_bench [--steps 40] [--rungs d64 d128] [--variants standard resonator_phonetic] [--no-eval]
                                 [--dtype bf16]

For each (rung, variant): trains `--steps` optimizer steps of the rung's model with the project's
training loop on the ladder profile's data, as the stage runs it (the profile's processes and
threads, in a scratch folder), and records training tokens/s (validation excluded, as
train.json counts it), the wall time of the whole command (start-up, data, validations
included), and the forward tokens/s of validation. Per rung, the first variant's final weights
are also evaluated as eval_rung does (all eval tasks, the whole test split) and the seconds
recorded. --dtype measures another number format than the profile's (bf16 autocast: a question
for a new version of the ladder, not how its registered runs train); the output records the
format either way. Writes results/<P>/ladder/throughput.json (commit it with the registration);
tools/ladder_budget.py turns it into the ladder's wall time. Not a test: the numbers depend on
the machine and on what else runs (the load average is recorded).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from resonator.atomic import atomic_write_json
from resonator.cli import run_main
from resonator.ladder import Ladder
from resonator.layout import Layout
from resonator.params import load_params
from resonator.runner import is_rank0


def rank_main(args, lad: Ladder) -> int:
    """Inside one rank (or the only process): train `steps` steps into args.scratch, rank 0 writes metrics."""
    from resonator import batching
    from resonator.ladder_train import phase_table_for
    from resonator.launch import under_launcher
    from resonator.tokenizer import verify_tokens
    from resonator.train import train
    data = Layout(lad.profile)
    meta = verify_tokens(data.tokens, ("train", "val"))
    rp = lad.rung_params(args.rung)
    mc = rp.model_config(args.variant, meta["vocab_size"])
    tc = rp.train_config()
    if args.dtype:
        tc = dataclasses.replace(tc, dtype=args.dtype)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    tc = batching.resolve(dataclasses.replace(tc, lr=lad.lr_grid[len(lad.lr_grid) // 2], max_steps=args.steps,
                                              eval_interval=10 ** 9, ckpt_interval=10 ** 9), mc, world)
    table = phase_table_for(mc, data.classes, 0, rp.active["phases"])
    threads = int(os.environ.get("RESONATOR_THREADS", "1")) if under_launcher() else args.threads
    m = train(mc, tc, data.tokens, Path(args.scratch), seed=0, phase_table=table, threads=threads,
              progress_label=f"[bench {args.rung}] {args.variant}")
    if is_rank0():
        atomic_write_json(Path(args.scratch) / "metrics.json", m)
    return 0


def forward_tokens_per_s(final_pt: Path, tokens_dir: Path, micro_batch: int, batches: int = 8) -> float:
    """Validation (forward only) tokens/s of the final weights, one process."""
    import torch

    from resonator.checkpoint import load_model
    from resonator.tokenizer import load_tokens
    from resonator.train import Chunks, evaluate
    model = load_model(final_pt)
    chunks = Chunks(load_tokens(tokens_dir, "val"), model.config.max_seq_len)
    t0 = time.perf_counter()
    r = evaluate(model, chunks, batches, micro_batch, torch.device("cpu"), contextlib.nullcontext())
    return r["val_tokens"] / (time.perf_counter() - t0)


def eval_seconds(final_pt: Path, p, lad: Ladder) -> float:
    """Seconds of eval_rung's evaluation of one length (every eval task, as the profile sets them)."""
    from evals.run import evaluate_checkpoint
    data, cfg = Layout(lad.profile), p.raw["profiles"][lad.profile]["eval"]
    t0 = time.perf_counter()
    evaluate_checkpoint(final_pt, data.tokenizer, cfg["tasks"], data.evalsets, batch_size=cfg["batch_size"],
                        allow_hub=cfg.get("allow_hub", False), log_samples=False)
    return time.perf_counter() - t0


def start_seconds() -> float:
    """Seconds a stage spends starting: a fresh interpreter importing torch and the training code."""
    import subprocess

    import resonator
    root = str(Path(resonator.__file__).resolve().parents[1])      # this checkout's code, wherever we run
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, numpy, resonator.train, resonator.ladder"],
                   check=True, env=env)
    return time.perf_counter() - t0


def measure(args, p, lad: Ladder, rung: str, variant: str, with_eval: bool) -> dict:
    from resonator.launch import launch
    from resonator.threads import available_cores
    tc = lad.rung_params(rung).train_config()
    world = 1 if tc.device == "cuda" else tc.processes
    threads = max(1, min(tc.num_threads or available_cores(), available_cores()) // world)
    with tempfile.TemporaryDirectory() as scratch:
        argv = ["--rank-run", rung, variant, scratch, "--steps", str(args.steps), "--params", args.params]
        argv += ["--dtype", args.dtype] if args.dtype else []
        t0 = time.perf_counter()
        if world > 1:
            rc = launch("tools.ladder_bench", argv, world, threads)
            if rc:
                raise SystemExit(rc)
        else:
            rank_main(argparse.Namespace(rung=rung, variant=variant, scratch=scratch, steps=args.steps,
                                         threads=threads, dtype=args.dtype), lad)
        wall = time.perf_counter() - t0
        m = json.loads((Path(scratch) / "metrics.json").read_text())
        final = Path(scratch) / "ckpt" / "final.pt"
        out = {"tokens_per_s": m["tokens_per_s"], "steps": m["steps"], "tokens": m["tokens_seen"], "wall_s": wall,
               "train_s": m["wall_time_s"], "n_params": m["n_params"], "world_size": world, "threads": threads,
               "micro_batch": m["micro_batch"], "batch": m["batch"], "dtype": m["dtype"],
               "forward_tokens_per_s": forward_tokens_per_s(final, Layout(lad.profile).tokens, m["micro_batch"])}
        if with_eval:
            out["eval_s"] = eval_seconds(final, p, lad)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rungs", nargs="+")
    ap.add_argument("--variants", nargs="+")
    ap.add_argument("--no-eval", action="store_true", help="skip the per-rung evaluation timing")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], help="train in this format (default: the profile's)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", help="default results/<P>/ladder/throughput.json")
    ap.add_argument("--rank-run", nargs=3, metavar=("RUNG", "VARIANT", "SCRATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    p = load_params(args.params)
    lad = Ladder(p)
    if args.rank_run:
        rung, variant, scratch = args.rank_run
        return rank_main(argparse.Namespace(rung=rung, variant=variant, scratch=scratch, steps=args.steps,
                                            threads=None, dtype=args.dtype), lad)
    from resonator.provenance import provenance
    rungs, variants = args.rungs or lad.rungs, args.variants or lad.variants
    dtype = args.dtype or lad.rung_params(rungs[0]).train_config().dtype
    result = {"profile": lad.profile, "steps": args.steps, "dtype": dtype, "provenance": provenance(),
              "start_s": start_seconds(), "rungs": {}}
    for r in rungs:
        for i, v in enumerate(variants):
            m = measure(args, p, lad, r, v, with_eval=(i == 0 and not args.no_eval))
            result["rungs"].setdefault(r, {})[v] = m
            print(f"{r} {v}: {m['tokens_per_s']:,.0f} tokens/s training, {m['forward_tokens_per_s']:,.0f} forward"
                  + (f", eval {m['eval_s']:.0f} s" if "eval_s" in m else ""), flush=True)
    result["load_average"] = list(os.getloadavg())
    out = Path(args.out) if args.out else lad.layout.throughput
    atomic_write_json(out, result)
    print(f"ladder_bench: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
