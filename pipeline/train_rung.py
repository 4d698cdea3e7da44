"""DVC stages `tune` and `train_rung`: one run of the ladder (issue 18), with the project's
training loop unchanged.

    python -m pipeline.train_rung --rung d128 --variant standard --tune                  # tuning (the stage)
    python -m pipeline.train_rung --rung d128 --variant standard --lr 0.002              # one rate's tuning
    python -m pipeline.train_rung --rung d128 --variant standard --lr 0.002 --seed 100   # one tuning run
    python -m pipeline.train_rung --rung d128 --variant standard --seed 3                # final

Tuning (--tune: every learning rate of the rung's grid, ladder.rungs.<rung>.lr_grid; --lr:
one of them): the rung's tune_length on each tuning seed in turn
(ladder.tune_seeds; --seed: that one only, a tuning seed); reads the train and validation
splits only (never the test split), adds to train.json the selection loss over every
validation window and removes its checkpoints:
runs/ladder/<P>/tune/<rung>/<variant>/lr<lr>/s<seed>/{train.json, curve.tsv}.
Final: refuses while the ladder is a draft. Trains every length of the rung in turn at the
learning rate select_lr chose (results/<P>/ladder/lr/<rung>/<variant>.json), each longer length
continuing the shorter one's state (resonator.ladder_train); a length already trained with the
same config by the same code is kept (so is a finished tuning run). Writes
runs/ladder/<P>/final/<rung>/<variant>/s<seed>/{work/, train.json, curve.tsv}. With the
profile's `processes` > 1 each length runs as that many ranks (as pipeline.train does);
--length is how this command starts them.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys

from resonator.atomic import atomic_write_json
from resonator.cli import run_main
from resonator.errors import ProjectError
from resonator.inputs import read_json
from resonator.ladder import Ladder
from resonator.layout import Layout, length_tag
from resonator.params import load_params


def plan(lad: Ladder, args, vocab: int) -> tuple[float, list[float], dict, object]:
    """(learning rate, lengths, {length: run layout}, final run or None) of this command."""
    path = lad.p.path
    if args.variant not in lad.variants:
        raise ProjectError(f"{path}: key 'ladder.variants'", f"does not list '{args.variant}'",
                           "add it, or pick another")
    lad.rung(args.rung)
    if args.lr is not None:
        if not any(math.isclose(args.lr, g, rel_tol=1e-9) for g in lad.rung_grid(args.rung)):
            raise ProjectError(f"{path}: key '{lad.grid_key(args.rung)}'", f"does not hold {args.lr:g}",
                               "tune only the rung's grid values")
        if args.seed not in lad.tune_seeds:
            raise ProjectError(f"{path}: key 'ladder.tune_seeds'", f"does not hold seed {args.seed}",
                               "tuning runs use tuning seeds only")
        x = float(lad.rung(args.rung)["tune_length"])
        return args.lr, [x], {x: lad.layout.tune_run(args.rung, args.variant, args.lr, args.seed)}, None
    if args.seed not in lad.seeds:
        raise ProjectError(f"{path}: key 'ladder.seeds'", f"does not hold seed {args.seed}", "add it, or pick another")
    lad.require_registered(vocab)
    lr_file = lad.layout.lr_file(args.rung, args.variant)
    lr = float(read_json(lr_file, "rerun `dvc repro select_lr`", missing_fix="tune first: `dvc repro select_lr`")["lr"])
    final = lad.layout.final_run(args.rung, args.variant, args.seed)
    return lr, lad.lengths(args.rung), {x: final.length(x) for x in lad.lengths(args.rung)}, final


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rung", required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--seed", type=int, help="the run's seed (required for a final run; tuning: every tuning seed)")
    ap.add_argument("--lr", type=float, help="tuning runs at this learning rate of the rung's grid")
    ap.add_argument("--tune", action="store_true", help="tuning runs at every learning rate of the rung's grid")
    ap.add_argument("--length", type=float, help=argparse.SUPPRESS)   # one length, in a rank started by this command
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    if args.tune and (args.lr is not None or args.seed is not None):
        ap.error("--tune runs every rate and tuning seed of the rung; drop --lr and --seed")
    if args.seed is None and args.lr is None and not args.tune:
        ap.error("a final run needs --seed")
    lad = Ladder(load_params(args.params))
    if args.seed is not None:
        return run(lad, args, argv)
    # One DVC stage per (rung, variant): every rate of the rung's grid, each on the tuning seeds
    # one after another (ladder/dvc.yaml says why).
    lad.rung(args.rung)
    for lr in lad.rung_grid(args.rung) if args.tune else [args.lr]:
        for seed in lad.tune_seeds:
            one = ["--rung", args.rung, "--variant", args.variant, "--lr", repr(lr), "--seed", str(seed),
                   "--params", args.params]
            rc = run(lad, argparse.Namespace(**vars(args) | {"lr": lr, "seed": seed, "tune": False}), one)
            if rc:
                return rc
    return 0


def run(lad: Ladder, args, argv: list[str]) -> int:
    """One run: a tuning run (args.lr set) or a final run's lengths, in this process or as ranks."""
    p = lad.p
    from resonator import batching
    from resonator import ladder_train as lt
    from resonator.launch import under_launcher
    from resonator.provenance import provenance
    from resonator.runner import launch_ranks, train_recorded
    from resonator.tokenizer import verify_tokens

    data = Layout(lad.profile)
    meta = verify_tokens(data.tokens, ("train", "val"))     # the test split is not touched
    lr, lengths, runs, final = plan(lad, args, meta["vocab_size"])
    tuning = final is None
    rp = lad.rung_params(args.rung)
    mc = rp.model_config(args.variant, meta["vocab_size"])
    base = dataclasses.replace(rp.train_config(), lr=lr)
    cuda = base.device == "cuda"
    world = int(os.environ["WORLD_SIZE"]) if under_launcher() else (1 if cuda else base.processes)
    phases = rp.active["phases"]
    head = {"ladder": True, "tuning": tuning, "profile": lad.profile, "rung": args.rung, "variant": args.variant,
            "seed": args.seed, "lr": lr, "ladder_hash": p.ladder_hash, "prereg_hash": p.prereg_hash}
    code = lt.code_version()
    table = None
    prev, diverged = None, None
    for x in ([args.length] if args.length is not None else lengths):
        run_x = runs[x]
        tc = batching.resolve(dataclasses.replace(base, epochs=x), mc, world, where=f"profiles.{lad.profile}.train")
        blob = lt.fingerprint(lad.profile, args.rung, args.variant, args.seed, mc, tc, world, phases, meta)
        record = {**head, "length": x, "config": blob | {"epochs": x}}
        tag = lad.progress_tag(args.rung, args.variant, args.seed, args.lr)
        label = f"{tag} {args.rung} {args.variant} s{args.seed} {length_tag(x)} lr {lr:g}"
        if not under_launcher():
            if diverged is not None:
                atomic_write_json(run_x.train_json, lt.diverged_later(diverged, x))
                continue
            done = lt.finished_record(run_x, record["config"], code, tuning)
            if done:
                print(f"{label}: already trained with this config by this code, kept", flush=True)
                if tuning:
                    return 0
                prev, diverged = run_x, (done if done.get("diverged") else None)
                continue
            if prev is not None and lt.chain(prev, run_x, blob):
                print(f"{label}: continues from {prev.last}", flush=True)
        if world > 1 and not under_launcher():
            rc = launch_ranks("pipeline.train_rung", argv + ["--length", str(x)], world, tc, label)
            if rc:
                return rc
            rec = read_json(run_x.train_json, "rerun the stage")
        else:
            if table is None:
                table = lt.phase_table_for(mc, data.classes, args.seed, phases)
            rec = train_recorded(run_x, mc, tc, data.tokens, args.seed, table, blob,
                                 record | {"provenance": provenance() | {"code": code}}, label, cuda)
        prev, diverged = run_x, (rec if rec.get("diverged") else None)
    if under_launcher():
        return 0
    if tuning:
        rec = lt.finish_tuning(run_x, data.tokens, tc.micro_batch)
        print(f"{label}: selection loss {rec['selection']['val_loss']}", flush=True)
    else:
        lt.collect(final, lengths, head)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
