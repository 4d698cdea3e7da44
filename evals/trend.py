"""The ladder's trend test (issue 18): does an effect change with model size or training length?

A verdict per rung says what holds at each size; it cannot say whether the effect *moves*
with size, because "better at d64, inconclusive at d256" may be noise. The trend test asks
that directly, with the seeds as the units (Bouthillier et al. 2021): every seed is trained in
every (rung, length) cell, so each seed has its own regression of its paired differences a - b
on log parameters and log tokens, and its own slopes. The pooled least-squares slope is the
mean of the seeds' slopes (the design is the same for every seed), so the slope is decided like
every paired effect of design v2: the exact sign-flip test and its inverted interval over the
seeds' slopes (evals.stats). Whatever a seed shares across cells (its data order) stays inside
its own slope. Reported beside it, never deciding: a seed-level bootstrap interval, and the
Multi-Bootstrap (Sellam et al. 2022) interval, which resamples the seeds and the test documents
together. Every slope is a fixed linear combination of the cells' differences, and each cell's
difference is the mean over the same test documents, so a seed's slope is the mean over documents
of per-document slopes; the Multi-Bootstrap of that [seeds x documents] table is the slope's
Multi-Bootstrap. The sign-flip interval treats the test documents as fixed (it answers for these
documents); the Multi-Bootstrap also counts their sampling (an answer for documents like them).
"""
from __future__ import annotations

import math

import numpy as np

from evals.stats import bootstrap_p, multi_bootstrap_means, sign_flip_p, signflip_ci

TERMS = {"params": "log10_params", "tokens": "log10_tokens"}   # registered term -> cell field
TREND_RULE = (
    "Per hypothesis, each seed's paired differences a - b over the (rung, length) cells are regressed by ordinary "
    "least squares on centred log10 parameters (the rung's standard model) and log10 training tokens, a term "
    "dropped where the ladder does not vary it independently; seeds missing from a cell are excluded (listed). "
    "The slope per decade is the mean of the seeds' slopes, tested by the exact sign-flip test over seeds; its "
    "interval is the sign-flip interval at 1 - alpha/m for the m slopes tested (Bonferroni over hypotheses and "
    "terms). A slope whose interval excludes 0 'changes'; one whose interval, times the ladder's span of its "
    "term, lies inside (-margin, +margin) is 'stable' (the effect moves by less than the margin across the "
    "ladder); otherwise 'inconclusive'.")


def _kept_terms(cells: list[dict], terms: list[str]) -> list[str]:
    """The registered terms that add a dimension the cells vary (in order): a term constant
    over the cells, or collinear with those kept, cannot be estimated."""
    kept, cols = [], [np.ones(len(cells))]
    for t in terms:
        col = np.array([c[TERMS[t]] for c in cells], dtype=float)
        if np.linalg.matrix_rank(np.column_stack(cols + [col])) > len(cols):
            kept.append(t)
            cols.append(col)
    return kept


def seed_slopes(cells: list[dict], terms: list[str]) -> dict:
    """Each complete seed's least-squares coefficients [intercept, slopes of kept terms]."""
    cells = [c for c in cells if len(c["d"])]
    common = set.intersection(*(set(c["seeds"]) for c in cells)) if cells else set()
    every = sorted({s for c in cells for s in c["seeds"]})
    seeds = sorted(common)
    kept = _kept_terms(cells, terms) if len(cells) >= 2 else []
    centre = {t: float(np.mean([c[TERMS[t]] for c in cells])) for t in kept}
    span = {t: float(np.ptp([c[TERMS[t]] for c in cells])) for t in kept}
    X = np.array([[1.0] + [c[TERMS[t]] - centre[t] for t in kept] for c in cells]) if cells else np.zeros((0, 1))
    D = (np.array([[dict(zip(c["seeds"], c["d"], strict=True))[s] for c in cells] for s in seeds]) if seeds
         else np.zeros((0, len(cells))))
    P = np.linalg.pinv(X) if seeds and kept else np.zeros((1 + len(kept), len(cells)))
    B = D @ P.T
    return {"cells": len(cells), "seeds": seeds, "excluded_seeds": [s for s in every if s not in common],
            "terms": kept, "dropped": [t for t in terms if t not in kept], "centre": centre, "span": span, "B": B,
            "P": P}


def document_slopes(cells: list[dict], P: np.ndarray, seeds: list) -> dict:
    """Per-document slopes for the Multi-Bootstrap: G[j, s, i] = sum_c P[j, c] * docs[c][s][i],
    where docs[c][s] = (document ids, per-document a - b) of seed s in cell c (the cells with
    pairs, in seed_slopes' order) and P the least-squares operator. Uses the seeds that have the
    same documents in every cell; the others are listed."""
    cells = [c for c in cells if len(c["d"])]
    have = [s for s in seeds if all(s in (c.get("docs") or {}) for c in cells)]
    ids = {tuple(c["docs"][s][0]) for c in cells for s in have}
    if len(ids) > 1:                    # cells scored on different documents: no common table
        have = []
    out = {"seeds": have, "lacking_seeds": [s for s in seeds if s not in have]}
    if len(have) < 2:
        return out | {"note": f"per-document differences of the same documents in every cell for {len(have)} "
                              "seed(s); need 2"}
    T = np.stack([np.stack([np.asarray(c["docs"][s][1], dtype=float) for s in have]) for c in cells])  # [c, s, i]
    return out | {"G": np.einsum("jc,csi->jsi", P, T), "n_items": T.shape[2]}


def fit(cells: list[dict], terms: list[str], confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> dict:
    """The slopes of the paired differences on the registered terms, per decade.

    cells: [{"log10_params", "log10_tokens", "seeds": [...], "d": [...]}] (d[i] is seeds[i]'s a - b).
    A cell may carry "docs": {seed: (document ids, per-document a - b)} (mean over documents = d).
    Per kept term: slope (mean of the seeds' slopes = pooled OLS), p (exact sign-flip), ci_low/ci_high
    (sign-flip interval at `confidence`), boot_low/boot_high and boot_p (seed bootstrap, reported
    only), where every cell has docs mb_slope, mb_low/mb_high and mb_p (Multi-Bootstrap over seeds
    and documents at `confidence`, reported only), centre, span. Also intercept, n_seeds,
    excluded_seeds, dropped terms and multi_bootstrap (the seeds and documents it used, or a note)."""
    s = seed_slopes(cells, terms)
    base = {"terms": s["terms"], "dropped": s["dropped"], "n_cells": s["cells"], "n_seeds": len(s["seeds"]),
            "seeds": s["seeds"], "excluded_seeds": s["excluded_seeds"], "confidence": confidence, "slopes": {}}
    if s["cells"] < 2 or not s["terms"] or len(s["seeds"]) < 2:
        why = (f"{s['cells']} cell(s) with pairs" if s["cells"] < 2 else
               "the ladder varies none of the registered terms" if not s["terms"] else
               f"{len(s['seeds'])} seed(s) present in every cell")
        return base | {"note": f"no trend: {why}"}
    B = s["B"]
    rng = np.random.default_rng(seed)
    boot_means = B[rng.integers(0, len(B), size=(resamples, len(B)))].mean(axis=1)
    q = [(1 - confidence) / 2, (1 + confidence) / 2]
    mb = document_slopes(cells, s["P"], s["seeds"]) if all("docs" in c for c in cells) else None
    mb_means = multi_bootstrap_means(mb["G"][1:], resamples, seed) if mb and "G" in mb else None
    base["intercept"] = float(B[:, 0].mean())
    base["multi_bootstrap"] = (
        {"note": "no per-document scores given"} if mb is None else
        {k: mb[k] for k in ("seeds", "lacking_seeds", "note") if k in mb} if mb_means is None else
        {"seeds": mb["seeds"], "lacking_seeds": mb["lacking_seeds"], "n_items": mb["n_items"], "n_boot": resamples,
         "method": "multi-bootstrap: seeds and test documents resampled independently, the same draws for every "
                   "cell and term"})
    for j, t in enumerate(s["terms"], start=1):
        ci = signflip_ci(B[:, j], confidence, seed=seed)
        blo, bhi = np.quantile(boot_means[:, j], q)
        bp = bootstrap_p(boot_means[:, j])
        base["slopes"][t] = {"slope": float(B[:, j].mean()), "p": sign_flip_p(B[:, j], seed=seed),
                             "ci_low": float(ci["low"]), "ci_high": float(ci["high"]), "ci_method": ci["method"],
                             "boot_low": float(blo), "boot_high": float(bhi), "boot_p": bp["p_text"],
                             "per_seed": [float(x) for x in B[:, j]], "centre": s["centre"][t], "span": s["span"][t]}
        if mb_means is not None:
            mlo, mhi = np.quantile(mb_means[j - 1], q)
            base["slopes"][t] |= {"mb_slope": float(mb["G"][j].mean()), "mb_low": float(mlo), "mb_high": float(mhi),
                                  "mb_p": bootstrap_p(mb_means[j - 1])["p_text"]}
    return base


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
    for s in out["slopes"].values():
        s["verdict"] = verdict(s, margin)
        s["favours"] = direction(s, better) if s["verdict"] == "changes" else None
        s["change_over_span"] = s["slope"] * s["span"]
    return out | {"margin": margin, "better": better, "rule": TREND_RULE}
