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

import numpy as np

from resonator.atomic import atomic_write_json
from resonator.cli import run_main
from resonator.errors import InputError
from resonator.params import load_params


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--profile", help="profile to train (tools without DVC; default: the one params.yaml selects)")
    args = ap.parse_args(argv)

    p = load_params(args.params, overrides={"profile": args.profile} if args.profile else None)
    p.variant(args.variant)  # unknown variant -> ParamsError before any work
    from evals.design import require_decidable
    require_decidable(p)     # an undecidable registration never costs a run

    from resonator import batching
    from resonator.launch import launch, under_launcher
    from resonator.threads import run_slot, threads_for_run
    from resonator.tokenizer import verify_tokens

    lay, run = p.layout, p.layout.run(args.variant, args.seed)
    tokens_dir = lay.tokens
    meta = verify_tokens(tokens_dir, ("train", "val"))  # sizes and sha256 against meta.json, before any work
    mcfg = p.model_config(args.variant, meta["vocab_size"])
    tcfg = p.train_config()
    cuda = tcfg.device == "cuda"
    world = int(os.environ["WORLD_SIZE"]) if under_launcher() else (1 if cuda else tcfg.processes)
    tcfg = batching.resolve(tcfg, mcfg, world, where=f"profiles.{p.profile}.train")
    ph = p.active["phases"]

    classes = None
    if mcfg.kind == "resonator":
        classes_path = lay.classes
        if not classes_path.exists():
            raise InputError(classes_path, "does not exist", "run `dvc repro phases` first")
        try:
            classes = np.load(classes_path)
        except (ValueError, EOFError, OSError) as e:
            raise InputError(classes_path, "is unreadable (truncated or corrupt)",
                             "rebuild it: `dvc repro -f phases`") from e

    planned = p.runs()
    index = planned.index((args.variant, args.seed)) + 1 if (args.variant, args.seed) in planned else "?"
    label = f"[{index}/{len(planned)}] {args.variant} s{args.seed}"
    if world > 1 and not under_launcher():
        # Inputs are checked above, once; the launcher builds nothing else (no phase table,
        # provenance or model): the same command runs as `world` ranks, which do the work.
        with run_slot() as others:
            threads = max(1, threads_for_run(tcfg.num_threads, others) // world)
            print(f"{label}: training as {world} processes x {threads} thread(s) "
                  f"(micro-batch {tcfg.micro_batch}, {tcfg.grad_accum // world} per process per step; "
                  f"{others} other run(s) going)", flush=True)
            return launch("pipeline.train", list(argv if argv is not None else sys.argv[1:]), world, threads)

    from resonator.phases import run_phase_table
    from resonator.provenance import provenance, split_stamps, write_stamps
    from resonator.train import TrainingDivergedError, train
    table = run_phase_table(mcfg, classes, args.seed, ph)

    fingerprint = {
        "profile": p.profile, "variant": args.variant, "seed": args.seed, "world_size": world,
        "model": dataclasses.asdict(mcfg), "train": dataclasses.asdict(tcfg),
        "phases": ph, "max_chunks": tcfg.max_chunks,
        "data": {k: meta[k] for k in ("vocab_size", "eot_id", "splits")},
    }
    record = {
        "profile": p.profile, "variant": args.variant, "seed": args.seed,
        "params_hash": p.hash, "prereg_hash": p.prereg_hash,
        "config": fingerprint,
    }
    stamps = {"provenance": provenance()}
    run.dir.mkdir(parents=True, exist_ok=True)
    try:
        if under_launcher():
            threads = int(os.environ.get("RESONATOR_THREADS", "1"))
            metrics = train(mcfg, tcfg, tokens_dir, run.dir, seed=args.seed, phase_table=table,
                            run_fingerprint=fingerprint, progress_label=label, threads=threads)
        else:
            with run_slot() as others:
                threads = None if cuda else threads_for_run(tcfg.num_threads, others)
                print(f"{label}: training ({threads or 'default'} CPU threads, micro-batch {tcfg.micro_batch} "
                      f"x {tcfg.grad_accum}; {others} other run(s) going)", flush=True)
                metrics = train(mcfg, tcfg, tokens_dir, run.dir, seed=args.seed, phase_table=table,
                                run_fingerprint=fingerprint, progress_label=label, threads=threads)
    except TrainingDivergedError as e:
        # Recorded, not hidden: the statistics stage applies the pre-registered rule
        # for diverged runs. The last good checkpoint stays in ckpt/last.pt.
        if int(os.environ.get("RANK", "0")) == 0:
            print(f"error: run {args.variant}/s{args.seed} diverged: {e}", file=sys.stderr)
            record.update({"diverged": True, "error": str(e)})
            write_stamps(run.stamps, "train", stamps)
            atomic_write_json(run.train_json, record)
            run.ckpt.mkdir(exist_ok=True)
            run.final.unlink(missing_ok=True)  # an earlier run's, not this one's
        return 0 if os.environ.get("RESONATOR_FAIL_ON_DIVERGENCE") != "1" else 3
    record, timing = split_stamps({**record, "diverged": False, "metrics": metrics})
    if int(os.environ.get("RANK", "0")) == 0:
        write_stamps(run.stamps, "train", stamps | timing)
        atomic_write_json(run.train_json, record)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
