"""The ladder's trend test (issue 18): does an effect change with model size or training length?

A verdict per rung says what holds at each size; it cannot say whether the effect *moves*
with size, because "better at d64, inconclusive at d256" may be noise. The trend test asks
that directly: the per-seed paired differences of every (rung, length) cell are regressed on
log parameters and log tokens, and the slopes get intervals in which the seeds are the units
(Bouthillier et al. 2021; the seed-level resampling of the Multi-Bootstrap, Sellam et al.
2022): a seed drawn brings every cell it was trained in, so whatever a seed shares across
cells (its data order) is kept together.
"""
from __future__ import annotations

import math

import numpy as np

from evals.stats import bootstrap_p

TERMS = {"params": "log10_params", "tokens": "log10_tokens"}   # registered term -> cell field
TREND_RULE = (
    "Per hypothesis, the per-seed paired differences a - b of every (rung, length) cell are regressed by ordinary "
    "least squares on log10 parameters (the rung's standard model) and log10 training tokens, centred, a term "
    "dropped where the ladder does not vary it. Seeds are the units: each slope's interval is the percentile "
    "interval of a seed-level bootstrap (seed ids drawn with replacement, every cell of a drawn seed kept "
    "together) at 1 - alpha/m for the m slopes tested (Bonferroni over hypotheses and terms). A slope whose "
    "interval excludes 0 'changes'; one whose interval, times the ladder's span of its term, lies inside "
    "(-margin, +margin) is 'stable' (the effect moves by less than the margin across the ladder); otherwise "
    "'inconclusive'.")


def _design(cells: list[dict], terms: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], dict, dict]:
    """Rows (seed, cell) -> X [1, centred terms], d, seed index; the terms kept, centres, spans."""
    kept = [t for t in terms if np.ptp([c[TERMS[t]] for c in cells]) > 0]
    centre = {t: float(np.mean([c[TERMS[t]] for c in cells])) for t in kept}
    span = {t: float(np.ptp([c[TERMS[t]] for c in cells])) for t in kept}
    seeds = sorted({s for c in cells for s in c["seeds"]})
    index = {s: i for i, s in enumerate(seeds)}
    X, d, unit = [], [], []
    for c in cells:
        for s, v in zip(c["seeds"], c["d"]):
            X.append([1.0] + [c[TERMS[t]] - centre[t] for t in kept])
            d.append(float(v))
            unit.append(index[s])
    return np.array(X), np.array(d), np.array(unit, dtype=int), kept, centre, span


def _solve(X: np.ndarray, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares for a batch of row weights w [B, n] -> coefficients [B, k]
    (NaN where a resample leaves the design singular)."""
    xtwx = np.einsum("bn,ni,nj->bij", w, X, X)
    xtwd = np.einsum("bn,ni,n->bi", w, X, d)
    out = np.full((w.shape[0], X.shape[1]), np.nan)
    ok = np.linalg.cond(xtwx) < 1e10
    if ok.any():
        out[ok] = np.linalg.solve(xtwx[ok], xtwd[ok][..., None])[..., 0]
    return out


def fit(cells: list[dict], terms: list[str], confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> dict:
    """OLS slopes of the paired differences on the registered terms, with seed-bootstrap intervals.

    cells: [{"log10_params", "log10_tokens", "seeds": [...], "d": [...]}] (d[i] is seed i's a - b).
    Returns terms (kept), dropped, intercept (the difference at the centre), slope and
    ci_low/ci_high/p per term (per decade of the term), centre and span per term, n_cells,
    n_seeds, n_rows, resamples_used (those whose design was not singular)."""
    cells = [c for c in cells if len(c["d"])]
    if len(cells) < 2:
        return {"terms": [], "dropped": list(terms), "note": f"{len(cells)} cell(s) with pairs; a trend needs 2"}
    X, d, unit, kept, centre, span = _design(cells, terms)
    dropped = [t for t in terms if t not in kept]
    if not kept:
        return {"terms": [], "dropped": dropped, "note": "the ladder varies none of the registered terms"}
    beta = _solve(X, d, np.ones((1, len(d))))[0]
    n_units = int(unit.max()) + 1
    rng = np.random.default_rng(seed)
    boots = []
    for lo in range(0, resamples, 1000):
        c = min(1000, resamples - lo)
        draws = rng.integers(0, n_units, size=(c, n_units))
        counts = np.zeros((c, n_units))
        np.add.at(counts, (np.repeat(np.arange(c), n_units), draws.ravel()), 1.0)
        boots.append(_solve(X, d, counts[:, unit]))
    boots = np.concatenate(boots)
    boots = boots[np.isfinite(boots).all(axis=1)]
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    out = {"terms": kept, "dropped": dropped, "intercept": float(beta[0]), "confidence": confidence,
           "n_cells": len(cells), "n_seeds": n_units, "n_rows": len(d), "resamples": resamples,
           "resamples_used": int(len(boots)), "slopes": {}}
    for j, t in enumerate(kept, start=1):
        lo_, hi_ = np.quantile(boots[:, j], q) if len(boots) else (math.nan, math.nan)
        out["slopes"][t] = {"slope": float(beta[j]), "ci_low": float(lo_), "ci_high": float(hi_),
                            "centre": centre[t], "span": span[t], **bootstrap_p(boots[:, j])}
    return out


def verdict(slope: dict, margin: float) -> str:
    """TREND_RULE's verdict of one slope (per decade) against the hypothesis' margin."""
    lo, hi = slope["ci_low"], slope["ci_high"]
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    if lo > 0 or hi < 0:
        return "changes"
    if -margin < lo * slope["span"] and hi * slope["span"] < margin:
        return "stable"
    return "inconclusive"


def direction(slope: dict, better: str) -> str:
    """Which variant a growing term favours: 'a' when a - b moves in a's better direction."""
    toward_a = slope["slope"] < 0 if better == "lower" else slope["slope"] > 0
    return "a" if toward_a else "b"


def trend(cells: list[dict], terms: list[str], margin: float, better: str, confidence: float,
          resamples: int, seed: int) -> dict:
    """fit() with a verdict (and, where it changes, the favoured side) per slope."""
    out = fit(cells, terms, confidence, resamples, seed)
    for s in out.get("slopes", {}).values():
        s["verdict"] = verdict(s, margin)
        s["favours"] = direction(s, better) if s["verdict"] == "changes" else None
        s["change_over_span"] = s["slope"] * s["span"]
    return out | {"margin": margin, "better": better, "rule": TREND_RULE}
