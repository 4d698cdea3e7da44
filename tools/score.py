"""Score one run's final checkpoint on the local tasks WITHOUT lm-eval (GPU nodes that lack it).

    python -m tools.score --variant standard --seed 0

Writes the same runs/<P>/<variant>/s<seed>/eval.json and eval/items.json as pipeline.evaluate;
evals/native.py builds the requests exactly as lm-eval does (tests/test_native.py checks that
every per-item score equals lm-eval's).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from evals.native import NativeScorer, read_docs
from resonator.atomic import atomic_write_json
from resonator.checkpoint import load_model
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.npm import sha256_of
from resonator.params import load_for_stage
from resonator.tokenizer import eot_id, load_tokenizer


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", help="profile to score (default: the one params.yaml selects)")
    args = ap.parse_args(argv)
    p = load_for_stage(args.params, profile=args.profile)
    cfg = p.active["eval"]
    lay, run = p.layout, p.layout.run(args.variant, args.seed)
    record = {"profile": p.profile, "variant": args.variant, "seed": args.seed, "params_hash": p.hash,
              "prereg_hash": p.prereg_hash, "scorer": "native"}
    train_cmd = f"`python -m pipeline.train --variant {args.variant} --seed {args.seed}` or `dvc repro`"
    if read_json(run.train_json, f"rerun the training stage: {train_cmd}",
                 missing_fix=f"train the run first: {train_cmd}").get("diverged"):
        atomic_write_json(run.eval_json, {**record, "diverged": True, "metrics": {}})
        return 0
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ckpt = run.final
    tok = load_tokenizer(lay.tokenizer)
    scorer = NativeScorer(load_model(ckpt, map_location=device), tok, eot_id(tok), cfg["batch_size"], device)
    t0 = time.perf_counter()
    metrics, items = {}, {}
    for task in cfg["tasks"]:
        m, it = scorer.run(task, read_docs(lay.evalsets, task))
        metrics.update({f"{task}/{k}": v for k, v in m.items()})
        items[task] = it
    atomic_write_json(run.items, items)
    atomic_write_json(run.eval_json, {**record, "diverged": False, "metrics": metrics,
                                      "eval_seconds": time.perf_counter() - t0,
                                      "checkpoint_sha256": sha256_of(ckpt)})
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
