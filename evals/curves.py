"""Learning-curve view of a hypothesis: the paired difference a - b of validation loss along
training, at the token counts both runs of a seed were validated at.

The verdicts use the final checkpoint only; this view shows whether a difference is stable,
growing or closing as training goes on (a verdict at the end of a still-moving curve means
less than one on a flat one). Runs of a seed share data order and the validation batches,
so the difference at a token count is paired exactly like the final metric.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from evals import stats as st

CURVE_METRIC = "val_loss"   # curve.tsv column compared along training (nats per token)
CURVE_UNITS = "nats/token"
CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)   # where stats.json reports the difference, as shares of the last count
CURVE_BAND = "min-max over seeds"          # the figure's band (defined at any n, unlike an interval)


def read_curve(path: Path, column: str = CURVE_METRIC) -> dict[int, float]:
    """{tokens: value} of one run's curve.tsv (rows without a finite value are skipped)."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                v = float(row[column])
            except (KeyError, TypeError, ValueError):
                continue
            if math.isfinite(v):
                out[int(float(row["tokens"]))] = v
    return out


def paired_curves(runs: dict, a: str, b: str, seeds) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(tokens, differences [seeds x tokens], seeds used): a - b at the token counts that
    every used seed's two curves share; seeds without both curves are left out."""
    per_seed, used = [], []
    for s in seeds:
        ra, rb = runs.get(a, {}).get(s), runs.get(b, {}).get(s)
        if ra and rb and ra.get("curve") and rb.get("curve"):
            ca, cb = read_curve(ra["curve"]), read_curve(rb["curve"])
            per_seed.append({t: ca[t] - cb[t] for t in ca.keys() & cb.keys()})
            used.append(s)
    if not per_seed:
        return np.array([], dtype=np.int64), np.zeros((0, 0)), []
    tokens = sorted(set.intersection(*(set(d) for d in per_seed)))
    return np.array(tokens, dtype=np.int64), np.array([[d[t] for t in tokens] for d in per_seed]), used


def report_indices(tokens: np.ndarray, fractions=CURVE_FRACTIONS) -> list[int]:
    """Indices of the token counts closest to each fraction of the last count (unique, in order)."""
    if tokens.size == 0:
        return []
    return sorted({int(np.argmin(np.abs(tokens - f * tokens[-1]))) for f in fractions})


def curve_block(runs: dict, a: str, b: str, seeds, confidence: float = 0.95, seed: int = 0) -> dict:
    """The learning-curve difference of one hypothesis: the whole series (tokens, mean, min,
    max over seeds: the figure) and, at CURVE_FRACTIONS of training, the mean with its
    unadjusted sign-flip interval at `confidence` (None where the seeds are too few)."""
    tokens, d, used = paired_curves(runs, a, b, seeds)
    out = {"metric": CURVE_METRIC, "units": CURVE_UNITS, "difference": "a - b", "seeds": used,
           "band": CURVE_BAND, "interval": f"sign-flip {confidence:.0%} interval over seeds (unadjusted)"}
    if tokens.size == 0:
        return out | {"series": None, "points": [], "note": "no pair of curves"}
    out["series"] = {"tokens": tokens.tolist(), "mean": d.mean(axis=0).tolist(), "min": d.min(axis=0).tolist(),
                     "max": d.max(axis=0).tolist()}
    points = []
    for i in report_indices(tokens):
        col = d[:, i]
        ci = st.signflip_ci(col, confidence, seed=seed) if len(col) >= 2 else {"low": None, "high": None}
        points.append({"tokens": int(tokens[i]), "mean": float(col.mean()), "min": float(col.min()),
                       "max": float(col.max()), "ci_low": ci["low"], "ci_high": ci["high"], "n": len(col)})
    out["points"] = points
    return out


def variant_curves(runs: dict, variant: str) -> list[dict]:
    """Every finished, non-diverged seed's validation loss as rows {seed, tokens, val_loss}, at
    the token counts all the variant's curves share (the descriptive learning-curve figure)."""
    curves = {s: read_curve(r["curve"]) for s, r in runs.get(variant, {}).items()
              if r.get("curve") and r.get("train") and not r["train"].get("diverged")}
    if not curves:
        return []
    tokens = sorted(set.intersection(*(set(c) for c in curves.values())))
    return [{"seed": s, "tokens": t, "val_loss": c[t]} for s, c in curves.items() for t in tokens]
