"""Paired, seed-level statistics for comparing two variants.

The unit of analysis is the training seed: x[i] and y[i] are one metric of variants
A and B trained with seed i (same data order, see resonator/train.py), so every test
here is a paired test on d = x - y.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import stats as sps

VERDICT_RULE = (
    "Primary test: the exact two-sided sign-flip permutation test over seeds on the paired mean "
    "difference, Holm-adjusted within the main family. A comparison is 'better' when the adjusted "
    "p-value is below alpha, the mean difference points in the better direction and the 95% t-interval "
    "excludes zero on that side; 'worse' is the mirror image. Otherwise it is 'equivalent' when TOST "
    "(two one-sided paired t-tests at alpha against +-margin, i.e. the 90% interval inside the margin) "
    "rejects non-equivalence, and 'inconclusive' when it does not."
)

INCOMPLETE_PAIR_RULE = (
    "Runs are paired by seed. A pair enters a test only when both runs finished and their metric is "
    "finite; a diverged run (non-finite loss, recorded by the trainer) or a missing run excludes its "
    "pair, and every exclusion is listed with its reason. If more than 20% of the planned pairs are "
    "excluded, the verdict is 'inconclusive' whatever the tests show."
)

EXACT_MAX_N = 20


def _as_pair(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D arrays of equal length, got shapes {x.shape} and {y.shape}")
    bad = np.flatnonzero(~np.isfinite(x) | ~np.isfinite(y))
    if bad.size:
        raise ValueError(f"non-finite values at positions {bad.tolist()}; apply the incomplete-pair rule first")
    if len(x) < 2:
        raise ValueError(f"need at least 2 pairs, got n={len(x)}")
    return x, y


def sign_flip_p(d, n_resamples: int = 100_000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value of mean(d) (Fisher 1935). Exact (all 2^n
    patterns) for n <= 20, else Monte Carlo with a fixed generator. Floating-point ties:
    a pattern counts when |mean| >= |observed mean| minus a relative tolerance, so the
    observed pattern and its mirror image always count."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    obs = abs(d.mean())
    tol = 1e-9 * max(np.abs(d).max(), 1e-300)
    if n <= EXACT_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_resamples, n))
    means = np.abs(signs @ d) / n
    return float(np.mean(means >= obs - tol))


def hedges_gz(d) -> float:
    """Standardised mean difference of paired data, d_z = mean/sd, times the small-sample
    correction J = 1 - 3/(4 df - 1) (Lakens 2013)."""
    d = np.asarray(d, dtype=float)
    sd = d.std(ddof=1)
    df = len(d) - 1
    j = 1 - 3 / (4 * df - 1)
    if sd == 0:
        return 0.0 if d.mean() == 0 else math.copysign(math.inf, d.mean())
    return float(d.mean() / sd * j)


def bootstrap_ci(d, confidence=0.95, n_boot=10_000, seed=0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(d), resampling seeds with replacement."""
    d = np.asarray(d, dtype=float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    a = (1 - confidence) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def min_detectable_effect(n: int, sd_diff: float, alpha=0.05, power=0.8) -> float:
    """Smallest |mean difference| a two-sided paired t-test detects with this power."""
    from statsmodels.stats.power import TTestPower
    if sd_diff == 0:
        return 0.0
    es = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(es * sd_diff)


def paired_comparison(x, y, confidence=0.95, n_boot=10_000, seed=0) -> dict:
    """Everything about mean(x - y): t-interval and test, sign-flip and Wilcoxon tests,
    bootstrap interval, Hedges' g_z and the minimum detectable effect."""
    x, y = _as_pair(x, y)
    d = x - y
    n, df = len(d), len(d) - 1
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    tcrit = float(sps.t.ppf(0.5 + confidence / 2, df))
    if sd == 0:  # all differences equal: the t statistic is degenerate
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p_t = 1.0 if mean == 0 else 0.0
    else:
        t, p_t = (float(v) for v in sps.ttest_rel(x, y))
    if np.all(d == 0):
        p_w = 1.0
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # zero_method="wilcox" drops zero differences (Wilcoxon 1945); exact when possible
            p_w = float(sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    blo, bhi = bootstrap_ci(d, confidence, n_boot, seed)
    return {
        "n": n, "mean_diff": mean, "sd_diff": sd, "se_diff": se,
        "ci_low": mean - tcrit * se, "ci_high": mean + tcrit * se,
        "t": t, "df": df, "p_t": p_t, "p_permutation": sign_flip_p(d), "p_wilcoxon": p_w,
        "hedges_gz": hedges_gz(d), "boot_low": blo, "boot_high": bhi, "n_boot": n_boot,
        "mde_80": min_detectable_effect(n, sd, 1 - confidence, 0.8),
    }


def tost_paired(x, y, margin: float, alpha=0.05) -> dict:
    """Equivalence within +-margin by two one-sided paired t-tests (statsmodels ttost_paired)."""
    from statsmodels.stats.weightstats import ttost_paired
    x, y = _as_pair(x, y)
    d = x - y
    if d.std(ddof=1) == 0:
        inside = bool(-margin < d.mean() < margin)
        p = 0.0 if inside else 1.0
        return {"margin": margin, "p_tost": p, "p_lower": p, "p_upper": p, "equivalent": inside}
    p, lower, upper = ttost_paired(x, y, -margin, margin)
    return {"margin": margin, "p_tost": float(p), "p_lower": float(lower[1]), "p_upper": float(upper[1]),
            "equivalent": bool(p < alpha)}


def holm_adjust(pvalues) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (statsmodels' default is 'hs', not Holm)."""
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return p
    return multipletests(p, method="holm")[1]


def verdict(comparison: dict, tost: dict, p_adjusted: float, better: str = "lower", alpha=0.05) -> str:
    """better / worse / equivalent / inconclusive, by VERDICT_RULE. `better` says which
    direction of x - y is an improvement for x ("lower" for losses, "higher" for accuracy)."""
    sign = -1 if better == "lower" else 1
    if p_adjusted < alpha:
        lo, hi = comparison["ci_low"], comparison["ci_high"]
        if sign * comparison["mean_diff"] > 0 and (hi < 0 if sign < 0 else lo > 0):
            return "better"
        if sign * comparison["mean_diff"] < 0 and (lo > 0 if sign < 0 else hi < 0):
            return "worse"
    return "equivalent" if tost["equivalent"] else "inconclusive"


def handle_incomplete_pairs(runs: dict, a: str, b: str, seeds=None):
    """Apply INCOMPLETE_PAIR_RULE. runs[variant][seed] is a metric value, or None/NaN when the
    run is missing or diverged. Returns (x, y, seeds_used, excluded)."""
    ra, rb = runs.get(a, {}), runs.get(b, {})
    planned = sorted(set(seeds) if seeds is not None else set(ra) | set(rb))
    x, y, used, excluded = [], [], [], []
    for s in planned:
        reasons = []
        for name, r in ((a, ra), (b, rb)):
            if s not in r:
                reasons.append(f"{name}: missing run")
            elif r[s] is None or not math.isfinite(r[s]):
                reasons.append(f"{name}: diverged (non-finite metric)")
        if reasons:
            excluded.append({"seed": s, "reason": "; ".join(reasons)})
        else:
            x.append(ra[s])
            y.append(rb[s])
            used.append(s)
    return np.array(x), np.array(y), used, excluded


def too_many_excluded(n_planned: int, n_excluded: int, max_fraction: float = 0.2) -> bool:
    return n_planned > 0 and n_excluded / n_planned > max_fraction


def summarise_variant(values, confidence=0.95) -> dict:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return {"n": 0}
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else float("nan")
    sem = sd / math.sqrt(n) if n > 1 else float("nan")
    h = float(sps.t.ppf(0.5 + confidence / 2, n - 1)) * sem if n > 1 else float("nan")
    return {"n": n, "mean": mean, "sd": sd, "sem": sem, "ci_low": mean - h, "ci_high": mean + h,
            "min": float(v.min()), "max": float(v.max())}


# ---------------------------------------------------------------------------
# Secondary analyses (reported as such, never used for a verdict)
# ---------------------------------------------------------------------------

def per_item_paired_bootstrap(a_items, b_items, n_boot=10_000, seed=0, confidence=0.95) -> dict:
    """SECONDARY. a_items, b_items: [n_seeds, n_items] per-item scores on the same items.
    Resamples items (the same indices for both variants and every seed) and reports the
    mean over seeds and items of a - b with a percentile interval and a two-sided p."""
    a, b = np.asarray(a_items, dtype=float), np.asarray(b_items, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need equal [seeds, items] arrays, got {a.shape} and {b.shape}")
    d = (a - b).mean(axis=0)                                  # per item, mean over seeds
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    p = min(1.0, 2 * min(np.mean(means <= 0), np.mean(means >= 0)))
    return {"mean_diff": float(d.mean()), "ci_low": float(lo), "ci_high": float(hi), "p": float(p),
            "n_items": int(len(d)), "n_seeds": int(a.shape[0])}


def mixed_model_effect(df, value="value", group="seed", term="variant") -> dict:
    """SECONDARY. value ~ variant with a random intercept per seed (statsmodels MixedLM).
    df: long format with columns value, variant (two levels) and seed."""
    import statsmodels.formula.api as smf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = smf.mixedlm(f"{value} ~ C({term})", df, groups=df[group]).fit(reml=True)
    name = [k for k in fit.params.index if k.startswith(f"C({term})")][0]
    lo, hi = fit.conf_int().loc[name]
    return {"coef": float(fit.params[name]), "se": float(fit.bse[name]), "ci_low": float(lo), "ci_high": float(hi),
            "p": float(fit.pvalues[name]), "term": name,
            "warnings": sorted({str(w.message).splitlines()[0] for w in caught})}
