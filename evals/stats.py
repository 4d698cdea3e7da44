"""Paired, seed-level statistics for comparing two variants.

The unit of analysis is the training seed: x[i] and y[i] are one metric of variants
A and B trained with seed i (same data order, see resonator/train.py), so every primary
test here is a paired test on the per-seed differences d = x - y. Items (test
sentences, eval questions) are NOT independent replications of the training process;
item-level analyses are therefore secondary and labelled so.

Library use: scipy computes the paired t-test and interval, the Wilcoxon signed-rank
test and the bootstrap; statsmodels computes power (MDE), TOST, Holm and the mixed
model. The exact sign-flip permutation test is implemented here because it must
enumerate every sign pattern deterministically and count floating-point ties.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as sps

VERDICT_RULE = (
    "The pre-registered primary test is the exact two-sided sign-flip permutation test over seeds "
    "(all 2^n sign patterns of the per-seed differences) on the paired mean difference, Holm-adjusted "
    "within the main family of hypotheses. A comparison is 'better' when the adjusted p-value is below "
    "alpha, the mean difference points in the better direction and the 95% paired t-interval excludes "
    "zero on that side; 'worse' is the mirror image. Otherwise it is 'equivalent' when TOST (two "
    "one-sided paired t-tests at alpha against the pre-stated margin, i.e. the 90% t-interval lies "
    "inside +-margin) rejects non-equivalence, and 'inconclusive' when it does not."
)

INCOMPLETE_PAIR_RULE = (
    "Runs are paired by seed. A pair enters a test only when both runs finished and their metric is "
    "finite; a diverged run (non-finite metric) or a missing run excludes its pair, and every "
    "exclusion is listed with its reason. If more than 20% of the planned pairs are excluded, the "
    "verdict is 'inconclusive' whatever the tests show."
)

EXACT_MAX_N = 20          # up to 2^20 (~1e6) sign patterns are enumerated exactly
MC_RESAMPLES = 100_000    # Monte Carlo sign patterns above EXACT_MAX_N
TIE_RTOL = 1e-12          # relative tolerance for floating-point ties in the sign-flip test
_PATTERN_CHUNK = 1 << 16  # sign patterns per vectorised block (bounds memory at n = 20)
_BOOT_CHUNK = 1_000       # bootstrap resamples per block in the per-item bootstrap


# ---------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------

def _validated_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    """x, y as equal-length 1-D finite float arrays with n >= 2; ValueError otherwise.
    Non-finite values are refused, not dropped: INCOMPLETE_PAIR_RULE is applied first."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D arrays of equal length, got shapes {x.shape} and {y.shape}")
    bad = np.flatnonzero(~np.isfinite(x) | ~np.isfinite(y))
    if bad.size:
        raise ValueError(f"non-finite values at positions {bad.tolist()}; "
                         "apply the incomplete-pair rule (handle_incomplete_pairs) first")
    if len(x) < 2:
        raise ValueError(f"need at least 2 pairs, got n={len(x)}")
    return x, y


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------

def _sign_patterns(n: int, start: int, stop: int) -> np.ndarray:
    """Rows start..stop-1 of the 2^n x n matrix of +-1 sign patterns (bit j of the row
    index is the sign of element j), built without a Python loop over patterns."""
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return 1.0 - 2.0 * ((codes >> np.arange(n, dtype=np.int64)) & 1)


def sign_flip_p(d, n_resamples: int = MC_RESAMPLES, seed: int = 0, scale: float | None = None) -> float:
    """Two-sided sign-flip (randomisation) p-value of mean(d) under H0: d symmetric about 0
    (Fisher 1935; Good 2005, Permutation Tests, ch. 3).

    n <= EXACT_MAX_N: exact, all 2^n sign patterns enumerated in vectorised blocks;
    p = #{patterns: |sum(s*d)| >= |sum(d)| - tol} / 2^n.
    n > EXACT_MAX_N: Monte Carlo with n_resamples patterns from default_rng(seed) and the
    add-one estimate p = (1 + #hits) / (1 + n_resamples) (Phipson & Smyth 2010), which
    is never 0 and keeps the test valid.

    Floating-point ties: sums that are equal in exact arithmetic can differ in the last
    bits (0.1 + 0.2 vs 0.3, different summation orders), so a pattern counts when its
    |sum| reaches the observed |sum| minus tol = TIE_RTOL * scale. scale defaults to
    sum(|d|), the largest |sum| any pattern can reach; paired_comparison passes the
    magnitude of the raw x and y because representing decimal inputs like 1000.3 costs
    an absolute error proportional to |x|, not |d|. The observed pattern and its mirror
    image therefore always count. Comparing sums rather than means avoids a division.
    """
    d = np.asarray(d, dtype=float)
    n = len(d)
    observed = abs(float(np.sum(d)))
    tol = TIE_RTOL * (float(np.sum(np.abs(d))) if scale is None else float(scale))
    if n <= EXACT_MAX_N:
        total = 1 << n
        hits = sum(int(np.count_nonzero(np.abs(_sign_patterns(n, lo, min(lo + _PATTERN_CHUNK, total)) @ d)
                                        >= observed - tol))
                   for lo in range(0, total, _PATTERN_CHUNK))
        return hits / total
    rng = np.random.default_rng(seed)
    hits = 0
    for lo in range(0, n_resamples, _PATTERN_CHUNK):
        signs = rng.choice((1.0, -1.0), size=(min(_PATTERN_CHUNK, n_resamples - lo), n))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= observed - tol))
    return (1 + hits) / (1 + n_resamples)


def sign_flip_method(n: int, n_resamples: int = MC_RESAMPLES, seed: int = 0) -> str:
    """Words for the report: which sign-flip computation sign_flip_p uses at this n."""
    if n <= EXACT_MAX_N:
        return f"exact (all 2^{n} = {1 << n} sign patterns)"
    return f"Monte Carlo ({n_resamples} sign patterns, numpy default_rng({seed}), add-one estimate)"


def wilcoxon_p(d) -> tuple[float, str]:
    """Two-sided Wilcoxon signed-rank p-value of d and the method used.

    Zero differences: dropped before ranking (zero_method="wilcox", Wilcoxon 1945).
    Method, by case:
    * no ties or zeros and n <= 50: scipy.stats.wilcoxon(method="exact"), the exact null
      distribution of the signed-rank statistic;
    * ties or zeros and at most EXACT_MAX_N non-zero differences: the exact conditional
      test -- the sign-flip test of the signed mid-ranks, all 2^n patterns (sign_flip_p
      on ranks; Pratt & Gibbons 1981, ch. 5). This is the test scipy's method="auto"
      runs here via permutation_test (identical p, checked in tests/test_stats.py), but
      scipy needs seconds at n = 13 and this needs milliseconds;
    * otherwise: scipy's tie-corrected normal approximation.
    All differences zero: p = 1 (no evidence of any shift; scipy returns NaN). scipy's
    small-sample warnings are suppressed deliberately: the method is reported instead.
    """
    d = np.asarray(d, dtype=float)
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return 1.0, "all differences zero: p = 1"
    has_ties_or_zeros = nonzero.size < d.size or np.unique(np.abs(nonzero)).size < nonzero.size
    zeros = "zero differences dropped (zero_method='wilcox')"
    if has_ties_or_zeros and nonzero.size <= EXACT_MAX_N:
        signed_ranks = np.sign(nonzero) * sps.rankdata(np.abs(nonzero))  # mid-ranks for ties
        return sign_flip_p(signed_ranks), f"exact conditional (sign flips of signed mid-ranks); {zeros}"
    method = "exact" if not has_ties_or_zeros and d.size <= 50 else "asymptotic"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method=method).pvalue)
    return p, ("exact" if method == "exact" else "normal approximation with tie correction") + f"; {zeros}"


def hedges_gz(d) -> float:
    """Hedges' g_z for paired data: Cohen's d_z = mean(d)/sd(d) (ddof=1) times the
    small-sample correction J = 1 - 3/(4 df - 1), df = n - 1 (Lakens 2013, Front. Psychol.
    4:863, eqs. 7 and 4). J = 0 at n = 2, so g_z is 0 there (the correction's limit).
    Zero variance of d: +-inf when mean(d) != 0 (any shift is infinitely many sds), NaN
    when all differences are zero (0/0)."""
    d = np.asarray(d, dtype=float)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        return math.nan if mean == 0 else math.copysign(math.inf, mean)
    df = len(d) - 1
    return mean / sd * (1 - 3 / (4 * df - 1))


def bootstrap_ci(d, confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0,
                 method: str = "percentile") -> tuple[float, float]:
    """Bootstrap interval of mean(d), resampling seeds with replacement
    (scipy.stats.bootstrap, rng = numpy default_rng(seed); Efron & Tibshirani 1993).
    method "percentile" is what paired_comparison reports as boot_low/boot_high; "BCa"
    (bias-corrected and accelerated) is reported alongside. NaN where the bootstrap
    distribution is degenerate for BCa (all d equal); scipy's warning is suppressed."""
    d = np.asarray(d, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.bootstrap((d,), np.mean, n_resamples=n_boot, confidence_level=confidence, method=method,
                            vectorized=True, rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def min_detectable_effect(n: int, sd_diff: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest |mean difference| that a two-sided paired (one-sample) t-test with n pairs
    detects with the given power: the standardized effect from statsmodels
    TTestPower().solve_power(nobs=n, alpha, power) (noncentral t; Cohen 1988, ch. 2)
    times sd_diff. 0 when sd_diff = 0 (any non-zero shift is then detected)."""
    if sd_diff == 0:
        return 0.0
    return standardized_mde(n, alpha, power) * sd_diff


def standardized_mde(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The standardized effect size (in sds of the differences) of min_detectable_effect."""
    from statsmodels.stats.power import TTestPower
    es = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(np.asarray(es).item())


# ---------------------------------------------------------------------------
# The primary comparison
# ---------------------------------------------------------------------------

def _paired_t(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """(t, p, ci_low, ci_high) of the paired t-test (scipy.stats.ttest_rel). Zero variance
    of the differences makes t degenerate, so it is set by hand instead of letting scipy
    divide by zero: t = +-inf and p = 0 when the mean is non-zero, t = NaN and p = 1 when
    every difference is zero; the interval collapses to the mean."""
    d = x - y
    mean = float(d.mean())
    if float(d.std(ddof=1)) == 0:
        t = math.nan if mean == 0 else math.copysign(math.inf, mean)
        return t, (1.0 if mean == 0 else 0.0), mean, mean
    res = sps.ttest_rel(x, y)
    ci = res.confidence_interval(confidence_level=confidence)
    return float(res.statistic), float(res.pvalue), float(ci.low), float(ci.high)


def paired_comparison(x, y, confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0) -> dict:
    """Everything about the per-seed differences d = x - y.

    Keys: n, df, mean_diff, sd_diff (ddof=1), se_diff; ci_low/ci_high (t-interval at
    `confidence`); t, p_t (two-sided paired t-test); p_permutation (exact two-sided
    sign-flip test, the pre-registered primary test, see sign_flip_p) and
    permutation_method; p_wilcoxon and wilcoxon_method; hedges_gz (Lakens 2013);
    boot_low/boot_high (percentile bootstrap over seeds, n_boot resamples,
    default_rng(seed)) and boot_bca_low/boot_bca_high (BCa, for reference only);
    mde_80 (minimum detectable |mean difference| at 80% power, two-sided
    alpha = 1 - confidence) and mde_80_standardized (the same in sds of d).

    Raises ValueError for n < 2, non-finite values (positions named) or mismatched
    lengths. Zero variance of d never raises: see _paired_t and hedges_gz; all
    differences zero gives every p-value 1.
    """
    x, y = _validated_pair(x, y)
    d = x - y
    n = len(d)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    t, p_t, ci_low, ci_high = _paired_t(x, y, confidence)
    p_w, w_method = wilcoxon_p(d)
    input_scale = max(float(np.sum(np.maximum(np.abs(x), np.abs(y)))), float(np.sum(np.abs(d))))
    boot_low, boot_high = bootstrap_ci(d, confidence, n_boot, seed, method="percentile")
    bca_low, bca_high = bootstrap_ci(d, confidence, n_boot, seed, method="BCa")
    mde_std = standardized_mde(n, 1 - confidence, 0.8)
    return {
        "n": n, "df": n - 1, "mean_diff": mean, "sd_diff": sd, "se_diff": sd / math.sqrt(n),
        "confidence": confidence, "ci_low": ci_low, "ci_high": ci_high, "t": t, "p_t": p_t,
        "p_permutation": sign_flip_p(d, seed=seed, scale=input_scale),
        "permutation_method": sign_flip_method(n, seed=seed),
        "p_wilcoxon": p_w, "wilcoxon_method": w_method,
        "hedges_gz": hedges_gz(d),
        "boot_low": boot_low, "boot_high": boot_high, "boot_bca_low": bca_low, "boot_bca_high": bca_high,
        "n_boot": n_boot, "boot_method": "percentile",
        "mde_80": 0.0 if sd == 0 else mde_std * sd, "mde_80_standardized": mde_std,
    }


def tost_paired(x, y, margin: float, alpha: float = 0.05) -> dict:
    """Equivalence of x and y within +-margin on the paired mean difference: two one-sided
    paired t-tests (Schuirmann 1987) via statsmodels.stats.weightstats.ttost_paired(x, y,
    -margin, margin). p_lower tests H0: mean(d) <= -margin, p_upper H0: mean(d) >= margin;
    p_tost = max of the two; equivalent = p_tost < alpha, i.e. the (1 - 2 alpha) t-interval
    (ci_low, ci_high, also returned) lies strictly inside (-margin, margin).

    Zero variance of d: each one-sided test is decided by the mean alone (p = 0 when the
    mean is strictly on the alternative side of its bound, else 1), because the t
    statistics are +-inf or NaN there.
    """
    from statsmodels.stats.weightstats import DescrStatsW, ttost_paired
    x, y = _validated_pair(x, y)
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be finite and >= 0, got {margin}")
    d = x - y
    mean = float(d.mean())
    if float(d.std(ddof=1)) == 0:
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
        ci_low = ci_high = mean
    else:
        _, lower, upper = ttost_paired(x, y, -margin, margin)
        p_lower, p_upper = float(lower[1]), float(upper[1])
        ci_low, ci_high = (float(v) for v in DescrStatsW(d).tconfint_mean(alpha=2 * alpha))
    p_tost = max(p_lower, p_upper)
    return {"margin": float(margin), "alpha": alpha, "p_tost": p_tost, "p_lower": p_lower, "p_upper": p_upper,
            "ci_low": ci_low, "ci_high": ci_high, "ci_level": 1 - 2 * alpha, "equivalent": bool(p_tost < alpha)}


def holm_adjust(pvalues) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values via statsmodels multipletests(method="holm").
    Explicitly "holm": statsmodels' default method is "hs" (Holm-Sidak), not Holm.
    Empty input gives an empty array; a non-finite or out-of-range p raises ValueError."""
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(pvalues, dtype=float).ravel()
    if p.size == 0:
        return p
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        raise ValueError(f"p-values must lie in [0, 1]; bad at positions {bad.tolist()}")
    return multipletests(p, method="holm")[1]


def verdict(comparison: dict, tost: dict, p_adjusted: float, better: str = "lower", alpha: float = 0.05) -> str:
    """"better" / "worse" / "equivalent" / "inconclusive" by VERDICT_RULE.

    comparison: paired_comparison(x, y) of the variant under test x against the baseline y;
    tost: tost_paired(x, y, margin); p_adjusted: the Holm-adjusted primary (sign-flip) p;
    better: which direction of x - y is an improvement for x -- "lower" (loss, perplexity,
    bits/byte) or "higher" (accuracy). A NaN p never counts as significant. A significant
    p whose t-interval does not exclude zero on the side of the mean (the two tests
    disagree) is not a directional verdict and falls through to TOST.
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    sign = -1.0 if better == "lower" else 1.0
    improvement = sign * comparison["mean_diff"]
    # the interval, oriented so that positive means "x is better"
    lo, hi = sorted((sign * comparison["ci_low"], sign * comparison["ci_high"]))
    if p_adjusted < alpha:
        if improvement > 0 and lo > 0:
            return "better"
        if improvement < 0 and hi < 0:
            return "worse"
    return "equivalent" if tost["equivalent"] else "inconclusive"


# ---------------------------------------------------------------------------
# Incomplete pairs
# ---------------------------------------------------------------------------

def _run_status(runs_of_variant: dict, seed) -> str | None:
    """None when the run exists with a finite metric, else the exclusion reason."""
    if seed not in runs_of_variant or runs_of_variant[seed] is None:
        return "missing run"
    if not math.isfinite(float(runs_of_variant[seed])):
        return "diverged (non-finite metric)"
    return None


def handle_incomplete_pairs(runs: dict, a: str, b: str, seeds=None):
    """Apply INCOMPLETE_PAIR_RULE to runs[variant][seed] -> metric value; a run that is
    absent or None is "missing run", a NaN/inf metric is "diverged (non-finite metric)".

    seeds: the planned seeds (default: every seed either variant has); seeds outside the
    plan are ignored. Returns (x, y, seeds_used, excluded): x = a's values, y = b's, in
    the order of seeds_used (sorted); excluded lists EVERY planned seed not used as
    {"seed", "reason", "runs": {variant: reason}}, reason naming the variant(s), e.g.
    "b: missing run" -- nothing is dropped silently.
    """
    ra, rb = runs.get(a) or {}, runs.get(b) or {}
    planned = sorted(set(seeds) if seeds is not None else set(ra) | set(rb))
    x, y, used, excluded = [], [], [], []
    for s in planned:
        reasons = {name: why for name, r in ((a, ra), (b, rb)) if (why := _run_status(r, s)) is not None}
        if reasons:
            excluded.append({"seed": s, "reason": "; ".join(f"{k}: {v}" for k, v in reasons.items()),
                             "runs": reasons})
        else:
            x.append(float(ra[s]))
            y.append(float(rb[s]))
            used.append(s)
    return np.array(x, dtype=float), np.array(y, dtype=float), used, excluded


def too_many_excluded(n_planned: int, n_excluded: int, max_fraction: float = 0.2) -> bool:
    """True when more than max_fraction of the planned pairs were excluded, so that the
    caller must report "inconclusive" (INCOMPLETE_PAIR_RULE). No planned pairs at all
    also counts as too many: there is nothing to compare."""
    if n_excluded < 0 or n_excluded > n_planned:
        raise ValueError(f"need 0 <= n_excluded <= n_planned, got {n_excluded} of {n_planned}")
    return n_planned == 0 or n_excluded / n_planned > max_fraction


def summarise_variant(values, confidence: float = 0.95) -> dict:
    """Descriptives of one variant's per-seed values: n, mean, sd (ddof=1), sem, t-interval
    (ci_low, ci_high at `confidence`), min, max. None and non-finite values (missing or
    diverged runs) are left out of the statistics but counted in n_excluded, so nothing
    disappears silently. Statistics that need more values than there are are NaN."""
    raw = list(values)
    v = np.asarray([float(a) for a in raw if a is not None and math.isfinite(float(a))], dtype=float)
    n, nan = len(v), math.nan
    out = {"n": n, "n_excluded": len(raw) - n, "mean": nan, "sd": nan, "sem": nan,
           "ci_low": nan, "ci_high": nan, "min": nan, "max": nan}
    if n == 0:
        return out
    out.update(mean=float(v.mean()), min=float(v.min()), max=float(v.max()))
    if n >= 2:
        sd = float(v.std(ddof=1))
        sem = float(sps.sem(v))
        lo, hi = sps.t.interval(confidence, n - 1, loc=out["mean"], scale=sem) if sem > 0 else (out["mean"],) * 2
        out.update(sd=sd, sem=sem, ci_low=float(lo), ci_high=float(hi))
    return out


# ---------------------------------------------------------------------------
# Secondary analyses (reported as such, never used for a verdict)
# ---------------------------------------------------------------------------

def bootstrap_p(means) -> dict:
    """Two-sided bootstrap p-value of "the mean difference is 0" from resampled means:
    p = 2 * min(share <= 0, share >= 0), capped at 1 (ties at 0 count on both sides).

    With B resamples this p moves in steps of 2/B, so 0 resamples on the other side of 0
    does not mean p = 0: it means p < 2/B (the two-sided value of "tail share < 1/B"). Then
    p is None, p_upper_bound = 2/B and p_text = "< 2/B" written out; otherwise p is the
    float and p_upper_bound is None. p_text is always the string to print.
    """
    means = np.asarray(means, dtype=float)
    b = len(means)
    tail = min(int(np.count_nonzero(means <= 0)), int(np.count_nonzero(means >= 0)))
    if tail == 0:
        bound = 2 / b
        return {"p": None, "p_upper_bound": bound, "p_text": f"< {bound:.2g}"}
    p = min(1.0, 2 * tail / b)
    return {"p": p, "p_upper_bound": None, "p_text": f"{p:.2g}"}


def per_item_paired_bootstrap(a_items, b_items, n_boot: int = 10_000, seed: int = 0,
                              confidence: float = 0.95) -> dict:
    """SECONDARY analysis (items are not the unit of replication; never used for a verdict).

    a_items, b_items: [n_seeds, n_items] per-item scores of two variants on the same items.
    Paired bootstrap over items (Koehn 2004; Efron & Tibshirani 1993): each resample draws
    item indices with replacement, the same indices for both variants and every seed,
    and takes the mean over seeds and items of a - b. Because the same indices are used
    for every seed, this equals resampling the seed-averaged per-item differences, which
    is what is computed (in blocks, to bound memory). Returns mean_diff, the percentile
    interval ci_low/ci_high and the p-value fields of bootstrap_p (p = 2 * share of
    bootstrap means on the other side of 0, ties at 0 counted, capped at 1; when no
    resample falls there, p is None and p_upper_bound = 2/n_boot: see bootstrap_p).
    """
    a, b = np.asarray(a_items, dtype=float), np.asarray(b_items, dtype=float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"need equal non-empty [seeds, items] arrays, got {a.shape} and {b.shape}")
    bad = np.argwhere(~np.isfinite(a) | ~np.isfinite(b))
    if bad.size:
        raise ValueError(f"non-finite scores at (seed, item) positions {bad[:10].tolist()}"
                         + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))
    per_item = (a - b).mean(axis=0)
    n_items = len(per_item)
    rng = np.random.default_rng(seed)
    blocks = (rng.integers(0, n_items, size=(min(_BOOT_CHUNK, n_boot - lo), n_items)) for lo in range(0, n_boot, _BOOT_CHUNK))
    means = np.concatenate([per_item[idx].mean(axis=1) for idx in blocks])
    lo, hi = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {"mean_diff": float(per_item.mean()), "ci_low": float(lo), "ci_high": float(hi), **bootstrap_p(means),
            "n_items": n_items, "n_seeds": int(a.shape[0]), "n_boot": n_boot, "secondary": True}


def mixed_model_effect(df, value: str = "value", group: str = "seed", term: str = "variant") -> dict:
    """SECONDARY analysis (never used for a verdict): linear mixed model
    value ~ C(variant) with a random intercept per seed (statsmodels MixedLM, REML), for
    long-format per-seed or per-item data with exactly two variant levels. The
    coefficient is (non-reference level) - (reference level); make `variant` a
    pandas Categorical to choose the reference. Returns coef, se, Wald ci_low/ci_high
    (95%), p, converged, and every warning raised while fitting (e.g. ConvergenceWarning,
    boundary fits) in `warnings`; a fit that fails outright returns NaNs and `error`
    instead of raising."""
    import statsmodels.formula.api as smf
    levels = df[term].unique()
    if len(levels) != 2:
        raise ValueError(f"need exactly two levels of {term!r}, got {list(levels)}")
    nan = math.nan
    out = {"coef": nan, "se": nan, "ci_low": nan, "ci_high": nan, "p": nan, "term": None,
           "converged": False, "warnings": [], "error": None, "secondary": True}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm(f"{value} ~ C({term})", df, groups=df[group]).fit(reml=True)
            name = next(k for k in fit.params.index if k.startswith(f"C({term})"))
            lo, hi = fit.conf_int().loc[name]
            out.update(coef=float(fit.params[name]), se=float(fit.bse[name]), ci_low=float(lo), ci_high=float(hi),
                       p=float(fit.pvalues[name]), term=name, converged=bool(fit.converged))
        except Exception as e:  # singular designs, linear-algebra failures: report, don't crash the pipeline
            out["error"] = f"{type(e).__name__}: {e}"
    out["warnings"] = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught})
    return out
