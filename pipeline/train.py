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

from resonator.cli import run_main
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
    from resonator.launch import started_by_launch, under_launcher
    if not started_by_launch():  # in a rank of launch(), the launching process checked (about 1 s: scipy.stats)
        from evals.design import require_decidable
        require_decidable(p)     # an undecidable registration never costs a run

    from resonator import batching
    from resonator.runner import launch_ranks, load_classes
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

    classes = load_classes(mcfg, lay.classes)   # checked before any work, also by a launcher

    planned = p.runs()
    index = planned.index((args.variant, args.seed)) + 1 if (args.variant, args.seed) in planned else "?"
    label = f"[{index}/{len(planned)}] {args.variant} s{args.seed}"
    if world > 1 and not under_launcher():
        # Inputs are checked above, once; the launcher builds nothing else (no phase table,
        # provenance or model): the same command runs as `world` ranks, which do the work.
        return launch_ranks("pipeline.train", list(argv if argv is not None else sys.argv[1:]), world, tcfg, label)

    from resonator.phases import run_phase_table
    from resonator.provenance import provenance
    from resonator.runner import is_rank0, train_recorded
    table = run_phase_table(mcfg, classes, args.seed, ph)

    fingerprint = {
        "profile": p.profile, "variant": args.variant, "seed": args.seed, "world_size": world,
        "model": dataclasses.asdict(mcfg), "train": dataclasses.asdict(tcfg),
        "phases": ph, "max_chunks": tcfg.max_chunks,
        "data": {k: meta[k] for k in ("vocab_size", "eot_id", "splits")},
    }
    head = {
        "profile": p.profile, "variant": args.variant, "seed": args.seed,
        "params_hash": p.hash, "prereg_hash": p.prereg_hash,
        "config": fingerprint, "provenance": provenance(),
    }
    record = train_recorded(run, mcfg, tcfg, tokens_dir, args.seed, table, fingerprint, head, label, cuda)
    if record["diverged"]:
        # Recorded, not hidden (see resonator.runner); an exit code only where asked for.
        if is_rank0():
            print(f"error: run {args.variant}/s{args.seed} diverged: {record['error']}", file=sys.stderr)
        return 0 if os.environ.get("RESONATOR_FAIL_ON_DIVERGENCE") != "1" else 3
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
