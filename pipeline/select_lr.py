"""DVC stage `select_lr`: the learning rate of one (rung, variant) of the ladder (issue 18).

    python -m pipeline.select_lr --rung d128 --variant standard

Reads the tuning runs' records only (runs/ladder/<P>/tune/<rung>/<variant>/lr*/s*/train.json:
their selection loss on the validation split; nothing of the test split) and applies
evals.tuning.TUNING_RULE. Writes results/<P>/ladder/lr/<rung>/<variant>.json, the file the
final runs read (the learning rate alone), and the tuning table beside it in
runs/ladder/<P>/tuning/<rung>/<variant>.json. The candidates are the rung's grid
(ladder.rungs.<rung>.lr_grid); a best at an edge of it stops here with the value to add
(ladder.checks: warn takes it, with a warning).
"""
from __future__ import annotations

import argparse
import sys

from evals.study import strict_json
from evals.tuning import select, selection_value
from resonator.atomic import atomic_write_json
from resonator.cli import run_main
from resonator.errors import ProjectError
from resonator.inputs import read_json
from resonator.ladder import Ladder
from resonator.layout import ladder_stage
from resonator.params import load_params


def tuning_losses(lad: Ladder, rung: str, variant: str) -> dict:
    """{lr: {seed: selection loss}} of the planned tuning runs; a missing one is an error naming its stage."""
    out = {}
    stage = ladder_stage(f"tune@{rung}-{variant}")
    for lr in lad.rung_grid(rung):
        for s in lad.tune_seeds:
            run = lad.layout.tune_run(rung, variant, lr, s)
            rec = read_json(run.train_json, f"rerun it: `dvc repro -s {stage}`",
                            missing_fix=f"run it first: `dvc repro -s {stage}` "
                                        f"(or `dvc repro {ladder_stage('select_lr')}`)")
            value = selection_value(rec)
            if value is None:
                raise ProjectError(run.train_json, "has no selection loss (an unfinished tuning run)",
                                   f"rerun it: `dvc repro -s {stage}`")
            out.setdefault(lr, {})[s] = value
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rung", required=True)
    ap.add_argument("--variant", required=True)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    p = load_params(args.params)
    lad = Ladder(p)
    lad.rung(args.rung)
    if args.variant not in lad.variants:
        raise ProjectError(f"{p.path}: key 'ladder.variants'", f"does not list '{args.variant}'",
                           "add it, or pick another")
    choice = select(lad.rung_grid(args.rung), lad.tune_seeds, tuning_losses(lad, args.rung, args.variant))
    best = choice["rows"][choice["index"]]
    if choice["edge"]:
        key, x = lad.grid_key(args.rung), choice["extend_with"]
        also = "" if any(abs(x / g - 1) < 1e-9 for g in lad.lr_grid) else " and to ladder.lr_grid"
        err = ProjectError(f"{p.path}: key '{key}'",
                           f"{args.rung}/{args.variant}: the lowest mean validation loss ({best['mean']:.4f} nats over "
                           f"{len(lad.tune_seeds)} tuning seeds) is at {choice['lr']:g}, the grid's "
                           f"{choice['edge']} value",
                           f"extend the grid: add {x:g} to {key}{also} (the best must be interior)")
        if lad.raw.get("checks", "refuse") == "refuse":
            raise err
        print(f"warning: {err.line()}; chosen anyway because ladder.checks is 'warn'", file=sys.stderr)
    doc = {"rung": args.rung, "variant": args.variant, "tune_length": lad.rung(args.rung)["tune_length"],
           **choice}
    atomic_write_json(lad.layout.tuning_table(args.rung, args.variant), strict_json(doc))
    atomic_write_json(lad.layout.lr_file(args.rung, args.variant),
                      {"rung": args.rung, "variant": args.variant, "lr": choice["lr"]})
    print(f"select_lr: {args.rung}/{args.variant}: lr {choice['lr']:g} (mean validation loss {best['mean']:.4f} over "
          f"{len(lad.tune_seeds)} tuning seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
