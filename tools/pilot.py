"""Pilot for the training length (design v2): where does validation loss flatten?

    python -m tools.pilot [--variants standard resonator_phonetic] [--seeds 100] [--epochs 3]
                          [--rung d64 --out DIR] [--threads 1]
    python -m tools.pilot --falls DIR [--at 4.6 5.3 6.0]

Trains each (variant, seed) of the active profile's recipe for `--epochs` epochs with a
validation every `--eval-every` steps, on tuning seeds disjoint from the study's seeds,
and reads validation data only (never the test split). Writes
results/<profile>/pilot/{pilot.json, curves.tsv}: the curves, and for each run and for the
mean the first token count after which validation loss improves by less than
`--threshold` nats over the following `--window` of an epoch (the flattening criterion a
registration can cite). Not a DVC stage: a recorded pilot, committed with its command.

--rung asks the same of a ladder rung (issue 18): its model, each variant at the learning rate
select_lr chose for it at that rung (results/<P>/ladder/lr/), written to --out (required then,
so that design v2's pilot is never overwritten).

--falls reads a pilot's pilot.json and prints, per run and for the mean curve, how much
validation loss fell over the `--window` epoch ending at each `--at` length, with the rows
taken as the ladder's registered check takes them (evals.ladder.end_slope: the row nearest the
length, the row nearest a window before it): what that check would see at lengths not trained.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from evals.ladder import FLAT_NATS, FLAT_WINDOW, fall_before
from resonator.atomic import atomic_write_json, atomic_write_text
from resonator.cli import run_main
from resonator.inputs import read_json
from resonator.params import load_params


def flattened_at(tokens: list[int], loss: list[float], window: int, threshold: float) -> int | None:
    """First token count T with loss(T) - min(loss over (T, T + window]) < threshold, where the
    curve extends at least `window` tokens beyond T; None if the curve never flattens."""
    for i, t in enumerate(tokens):
        ahead = [loss_u for u, loss_u in zip(tokens, loss, strict=True) if t < u <= t + window]
        if tokens[-1] < t + window or not ahead:
            return None
        if loss[i] - min(ahead) < threshold:
            return t
    return None


def end_fall(tokens: list[int], loss: list[float], epoch_tokens: float, at: float, window: float) -> float | None:
    """Fall of loss over the `window` epoch ending at the row nearest `at` epochs, as
    evals.ladder.end_slope measures a run's last one (None past the curve's end)."""
    if at * epoch_tokens > tokens[-1] + epoch_tokens * window / 2:
        return None
    curve = dict(zip(tokens, loss, strict=True))
    fell = fall_before(curve, min(curve, key=lambda t: abs(t - at * epoch_tokens)), window * epoch_tokens)
    return fell[0] if fell else None


def falls(pilot: dict, at: list[float], window: float) -> dict:
    """end_fall at each length, for every run of a pilot and for its mean curve."""
    ept = next(iter(pilot["runs"].values()))["epoch_tokens"]
    curves = {k: (r["tokens"], r["val_loss"]) for k, r in pilot["runs"].items()}
    curves["mean"] = (pilot["mean"]["tokens"], pilot["mean"]["val_loss"])
    return {k: {f"{x:g}": end_fall(t, v, ept, x, window) for x in at} for k, (t, v) in curves.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["standard", "resonator_phonetic"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[100])
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--window", type=float, default=FLAT_WINDOW, help="look-ahead, in epochs")
    ap.add_argument("--threshold", type=float, default=FLAT_NATS, help="nats")
    ap.add_argument("--rung", help="a ladder rung: its model, each variant at its selected learning rate")
    ap.add_argument("--out", help="where pilot.json and curves.tsv go (default results/<P>/pilot; "
                                  "required with --rung)")
    ap.add_argument("--threads", type=int, help="CPU threads (default: the recipe's)")
    ap.add_argument("--falls", metavar="DIR", help="print the falls of the pilot in DIR (trains nothing)")
    ap.add_argument("--at", nargs="+", type=float, default=[2.4, 4.6, 5.0, 5.3, 5.6, 6.0, 6.5], help="epochs")
    args = ap.parse_args(argv)
    if args.falls:
        doc = falls(read_json(Path(args.falls) / "pilot.json", "rerun the pilot"), args.at, args.window)
        print("fall over the last " + f"{args.window:g} epoch ending at: " + "  ".join(f"{x:g}" for x in args.at))
        for k, row in doc.items():
            print(f"{k:28s}" + "  ".join("   -   " if v is None else f"{v:+.4f}" for v in row.values()))
        return 0
    if args.rung and not args.out:
        raise SystemExit("error: --rung needs --out (results/<P>/pilot holds design v2's registered pilot)")
    p = load_params()
    run_params, lrs, study_seeds = p, {}, set(p.seeds["core"]) | set(p.seeds["ablation"])
    if args.rung:
        from resonator.ladder import Ladder
        lad = Ladder(p)
        run_params, study_seeds = lad.rung_params(args.rung), study_seeds | set(lad.seeds)
        lrs = {v: float(read_json(lad.layout.lr_file(args.rung, v),
                                  f"run select_lr for {args.rung} first: `dvc repro select_lr`")["lr"])
               for v in args.variants}
    if study_seeds & set(args.seeds):
        from resonator.errors import ProjectError
        raise ProjectError("--seeds", f"{sorted(study_seeds & set(args.seeds))} are study seeds",
                           "a pilot uses tuning seeds disjoint from the registered ones")

    import numpy as np

    from resonator import batching
    from resonator.phases import run_phase_table
    from resonator.tokenizer import verify_tokens
    from resonator.train import train
    lay = run_params.layout
    meta = verify_tokens(lay.tokens, ("train", "val"))
    ph = p.active["phases"]
    runs, rows = {}, ["variant\tseed\tstep\ttokens\tval_loss"]
    for variant in args.variants:
        for seed in args.seeds:
            mc = run_params.model_config(variant, meta["vocab_size"])
            tc = run_params.train_config()
            tc = batching.resolve(dataclasses.replace(tc, lr=lrs.get(variant, tc.lr), epochs=args.epochs,
                                                      eval_interval=args.eval_every, ckpt_interval=10 ** 6),
                                  mc, world=1)
            classes = np.load(lay.classes) if mc.kind == "resonator" else None
            table = run_phase_table(mc, classes, seed, ph)
            with tempfile.TemporaryDirectory() as tmp:
                m = train(mc, tc, lay.tokens, Path(tmp), seed=seed, phase_table=table, threads=args.threads,
                          progress_label=f"pilot {variant} s{seed}")
                curve = (Path(tmp) / "curve.tsv").read_text().splitlines()[1:]
            pts = [line.split("\t") for line in curve]
            tokens, loss = [int(r[1]) for r in pts], [float(r[3]) for r in pts]
            epoch_tokens = m["tokens_seen"] / m["epochs"]
            runs[f"{variant}/s{seed}"] = {
                "tokens": tokens, "val_loss": loss, "epoch_tokens": epoch_tokens, "recipe": dataclasses.asdict(tc),
                "flattened_at_tokens": flattened_at(tokens, loss, int(args.window * epoch_tokens), args.threshold)}
            rows += [f"{variant}\t{seed}\t{int(r[0])}\t{int(r[1])}\t{float(r[3]):.6f}" for r in pts]
    first = next(iter(runs.values()))
    mean = [float(np.mean([r["val_loss"][i] for r in runs.values()])) for i in range(len(first["tokens"]))]
    # each run's recipe (its learning rate included) is in runs[...]["recipe"]
    out = {"profile": run_params.profile, **({"rung": args.rung} if args.rung else {}),
           "variants": args.variants, "seeds": args.seeds, "epochs": args.epochs,
           "criterion": f"first T with val_loss(T) - min val_loss over (T, T + {args.window} epoch] "
                        f"< {args.threshold} nats", "runs": runs,
           "mean": {"tokens": first["tokens"], "val_loss": mean,
                    "flattened_at_tokens": flattened_at(first["tokens"], mean, int(args.window * first["epoch_tokens"]),
                                                        args.threshold)},
           "study_tokens_per_run": p.active["train"]["epochs"] * first["epoch_tokens"]}
    d = Path(args.out) if args.out else lay.results / "pilot"
    atomic_write_json(d / "pilot.json", out)
    atomic_write_text(d / "curves.tsv", "\n".join(rows) + "\n")
    print(json.dumps({k: v["flattened_at_tokens"] for k, v in runs.items()} |
                     {"mean": out["mean"]["flattened_at_tokens"], "study": out["study_tokens_per_run"]}))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
