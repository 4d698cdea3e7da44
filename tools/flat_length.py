"""Where validation loss flattens at a rung: the length ladder revision 2 registered (issue 18).

    python -m tools.flat_length --rungs d32 d64 [--from-epoch 1.4] [--json out.json]

Reads the committed final runs' validation curves (the validation split only), averages each
variant's curve over its seeds, and takes the fall over the next quarter epoch at every row,
the pilot's criterion (design v2: flat at T when less than 0.01 nats is left to gain over
(T, T + 0.25 epoch]). The runs end before that fall reaches 0.01, so it is extrapolated from
the rows at and after --from-epoch with two laws for a slope that decays: exponential in
training time (optimistic) and a power of it (the shape of loss against steps in the scaling
literature; slower). A length where the fall over its own last quarter epoch is under 0.01 is
that T plus a quarter epoch. A rung's proposal is the larger law's length, the largest over
the variants, rounded up to a tenth of an epoch; the length the rungs share (revision 2: one line
per length in the ladder figure) is the largest proposal. ladder_stats then checks it on the runs
(evals.ladder.end_slope), and the paper reports that check.
"""
from __future__ import annotations

import argparse
import json
import math

import numpy as np

from evals.curves import read_curve
from evals.ladder import FLAT_NATS, FLAT_WINDOW
from resonator.inputs import read_json
from resonator.ladder import Ladder
from resonator.params import load_params


def mean_curve(lad: Ladder, rung: str, variant: str) -> tuple[float, np.ndarray, np.ndarray]:
    """(length trained, epochs, mean validation loss over seeds) of the runs trained to the
    longest length any of them has finished (its record in train.json)."""
    runs = {}
    for seed in lad.seeds:
        run = lad.layout.final_run(rung, variant, seed)
        if run.train_json.exists() and run.curve.exists():
            done = [float(x) for x, r in read_json(run.train_json, "rerun the rung")["lengths"].items() if r]
            if done:
                runs[seed] = (max(done), read_curve(run.curve))
    if not runs:
        raise SystemExit(f"error: no finished final runs of {rung} {variant}; train the rung first")
    length = max(x for x, _ in runs.values())
    curves = [c for x, c in runs.values() if x == length]
    tokens = sorted(set.intersection(*(set(c) for c in curves)))
    per_epoch = tokens[-1] / length
    return length, np.array(tokens) / per_epoch, np.array([np.mean([c[t] for c in curves]) for t in tokens])


def proposal(epochs: np.ndarray, loss: np.ndarray, from_epoch: float) -> dict:
    step = float(np.median(np.diff(epochs)))
    k = max(1, round(FLAT_WINDOW / step))
    t, fall = epochs[:-k], loss[:-k] - np.array([loss[i + 1:i + k + 1].min() for i in range(len(loss) - k)])
    keep = (t >= from_epoch) & (fall > 0)
    if keep.sum() < 3:
        raise SystemExit(f"error: fewer than 3 rows after epoch {from_epoch:g} with a fall; lower --from-epoch")
    exp = np.polyfit(t[keep], np.log(fall[keep]), 1)
    power = np.polyfit(np.log(t[keep]), np.log(fall[keep]), 1)
    out = {"last_fall": float(fall[-1]), "at_epoch": float(t[-1])}
    if exp[0] < 0:
        out["exponential"] = (math.log(FLAT_NATS) - exp[1]) / exp[0] + FLAT_WINDOW
    if power[0] < 0:
        out["power"] = math.exp((math.log(FLAT_NATS) - power[1]) / power[0]) + FLAT_WINDOW
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rungs", nargs="+", required=True)
    ap.add_argument("--from-epoch", type=float, default=1.4, help="fit the rows from this epoch on")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--json", help="write the table here too")
    args = ap.parse_args(argv)
    lad = Ladder(load_params(args.params))
    report = {"threshold": FLAT_NATS, "window_epochs": FLAT_WINDOW, "from_epoch": args.from_epoch, "rungs": {}}
    for rung in args.rungs:
        curves = {v: mean_curve(lad, rung, v) for v in lad.variants}
        longest = max(x for x, _, _ in curves.values())
        rows = {v: proposal(t, loss, args.from_epoch) for v, (_, t, loss) in curves.items()}
        laws = [x for r in rows.values() for x in (r.get("exponential"), r.get("power"))]
        length = None if None in laws else math.ceil(max(laws) * 10 - 1e-9) / 10
        report["rungs"][rung] = {"trained_to": longest, "variants": rows, "proposed_length": length}
        for v, r in rows.items():
            print(f"{rung} {v:28s} fall {r['last_fall']:.4f} at {r['at_epoch']:.2f} ep; flat by "
                  f"{r.get('exponential', math.nan):.2f} (exponential) / {r.get('power', math.nan):.2f} (power) epochs")
        print(f"{rung}: proposed length {length} epochs" if length else f"{rung}: a law does not decay; no proposal")
    proposals = [r["proposed_length"] for r in report["rungs"].values()]
    if len(proposals) > 1 and None not in proposals:
        report["shared_length"] = max(proposals)
        print(f"shared by the rungs (the largest proposal): {max(proposals)} epochs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
