"""DVC stage `train_*`: train one (variant, seed) run of the active profile.

    python -m pipeline.train --variant resonator_phonetic --seed 3

Reads profiles.<P>.{model,train,phases} and variants.<variant>; writes
runs/<P>/<variant>/s<seed>/{ckpt/, train.json, curve.tsv}. Also the entry point
on a GPU box or cluster node (no DVC needed there): under torchrun it trains
with DistributedDataParallel.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from resonator.atomic import atomic_write_json
from resonator.cli import run_main
from resonator.params import ParamsError, load_params  # noqa: F401


def phase_seed(seed: int) -> int:
    """Seed of the run's phase table: derived from the run seed, independent of init/dropout/data."""
    return int(np.random.SeedSequence([seed, 0x9A5E]).generate_state(1)[0])


def run_paths(profile: str, variant: str, seed: int) -> dict:
    run_dir = Path("runs") / profile / variant / f"s{seed}"
    return {"data": Path("data") / profile, "run": run_dir}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)

    try:
        p = load_params(args.params)
        p.variant(args.variant)  # unknown variant -> ParamsError before any work
    except ParamsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import torch
    from resonator.phases import phase_table
    from resonator.provenance import provenance
    from resonator.tokenizer import read_meta
    from resonator.train import TrainingDivergedError, train

    paths = run_paths(p.profile, args.variant, args.seed)
    tokens_dir = paths["data"] / "tokens"
    meta = read_meta(tokens_dir)
    mcfg = p.model_config(args.variant, meta["vocab_size"])
    tcfg = p.train_config()
    ph = p.active["phases"]

    table = None
    if mcfg.kind == "resonator":
        classes_path = paths["data"] / "phases" / "classes.npy"
        if not classes_path.exists():
            print(f"error: {classes_path} is missing; run `dvc repro phases` first", file=sys.stderr)
            return 2
        classes = np.load(classes_path)
        table = phase_table(classes, mcfg.phase_init, n_phases=mcfg.n_phases, seed=phase_seed(args.seed),
                            sigma=ph["sigma"], jitter=ph["jitter"])

    fingerprint = {
        "profile": p.profile, "variant": args.variant, "seed": args.seed,
        "model": dataclasses.asdict(mcfg), "train": dataclasses.asdict(tcfg),
        "phases": ph, "max_chunks": p.active["train"].get("max_chunks"),
        "data": {k: meta[k] for k in ("vocab_size", "eot_id", "splits")},
    }
    record = {
        "profile": p.profile, "variant": args.variant, "seed": args.seed,
        "params_hash": p.hash, "prereg_hash": p.prereg_hash,
        "config": fingerprint, "provenance": provenance(),
    }
    paths["run"].mkdir(parents=True, exist_ok=True)
    try:
        metrics = train(mcfg, tcfg, tokens_dir, paths["run"], seed=args.seed, phase_table=table,
                        run_fingerprint=fingerprint, max_chunks=p.active["train"].get("max_chunks"))
    except TrainingDivergedError as e:
        # Recorded, not hidden: the statistics stage applies the pre-registered rule
        # for diverged runs. The last good checkpoint stays in ckpt/last.pt.
        print(f"error: run {args.variant}/s{args.seed} diverged: {e}", file=sys.stderr)
        record.update({"diverged": True, "error": str(e)})
        atomic_write_json(paths["run"] / "train.json", record)
        (paths["run"] / "ckpt").mkdir(exist_ok=True)
        (paths["run"] / "ckpt" / "final.pt").unlink(missing_ok=True)  # an earlier run's, not this one's
        return 0 if os.environ.get("RESONATOR_FAIL_ON_DIVERGENCE") != "1" else 3
    record.update({"diverged": False, "metrics": metrics})
    if int(os.environ.get("RANK", "0")) == 0:
        atomic_write_json(paths["run"] / "train.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
