"""evals/stats.py against published answers, brute force in exact arithmetic, and scipy/statsmodels."""
import itertools
import math
import warnings
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from evals.stats import (
    EXACT_MAX_N,
    INCOMPLETE_PAIR_RULE,
    VERDICT_RULE,
    bootstrap_ci,
    bootstrap_p,
    handle_incomplete_pairs,
    hedges_gz,
    holm_adjust,
    min_detectable_effect,
    mixed_model_effect,
    paired_comparison,
    per_item_paired_bootstrap,
    sign_flip_p,
    summarise_variant,
    too_many_excluded,
    tost_paired,
    verdict,
    wilcoxon_p,
)

# Student (1908) sleep data, as R's `sleep`: extra hours of sleep under two drugs, same 10 patients.
G1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
G2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
D = np.array(G1) - np.array(G2)


@pytest.fixture(scope="module")
def sleep():
    return paired_comparison(G1, G2)


def exact_sign_flip_p(diffs: list[Fraction]) -> Fraction:
    """Brute force in rational arithmetic: share of sign patterns with |sum| >= |observed sum|."""
    observed = abs(sum(diffs))
    hits = sum(abs(sum(s * v for s, v in zip(signs, diffs, strict=True))) >= observed
               for signs in itertools.product((1, -1), repeat=len(diffs)))
    return Fraction(hits, 2 ** len(diffs))


def decimal_diffs(x, y) -> list[Fraction]:
    """x - y exactly, reading the inputs as the decimals they were typed as."""
    return [Fraction(repr(a)) - Fraction(repr(b)) for a, b in zip(x, y, strict=True)]


# --------------------------------------------------------------------------- paired t


def test_sleep_data_matches_r(sleep):
    # R: t.test(extra ~ group, data = sleep, paired = TRUE)
    assert sleep["mean_diff"] == pytest.approx(-1.58)
    assert sleep["t"] == pytest.approx(-4.0621, abs=5e-5)
    assert sleep["df"] == 9 and sleep["n"] == 10
    assert sleep["p_t"] == pytest.approx(0.002833, abs=5e-7)
    assert sleep["ci_low"] == pytest.approx(-2.4598858, abs=5e-8)
    assert sleep["ci_high"] == pytest.approx(-0.7001142, abs=5e-8)
    assert sleep["sd_diff"] == pytest.approx(1.229995, abs=5e-7)


def test_t_agrees_with_textbook_formula_and_ttest_rel(sleep):
    se = D.std(ddof=1) / math.sqrt(len(D))
    assert sleep["t"] == pytest.approx(D.mean() / se, rel=1e-12)
    assert sleep["p_t"] == pytest.approx(2 * sps.t.sf(abs(D.mean() / se), len(D) - 1), rel=1e-10)
    ref = sps.ttest_rel(G1, G2)
    assert (sleep["t"], sleep["p_t"]) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    half = sps.t.ppf(0.975, 9) * se
    assert (sleep["ci_low"], sleep["ci_high"]) == pytest.approx((D.mean() - half, D.mean() + half), rel=1e-12)


# --------------------------------------------------------------------------- sign-flip test


def test_sign_flip_is_exact_on_sleep_data(sleep):
    want = exact_sign_flip_p(decimal_diffs(G1, G2))
    assert sleep["p_permutation"] == pytest.approx(float(want), abs=1e-15)
    assert sign_flip_p(D) == pytest.approx(float(want), abs=1e-15)
    ref = sps.permutation_test((D,), lambda z, axis: np.mean(z, axis=axis), permutation_type="samples",
                               n_resamples=np.inf, alternative="two-sided")
    assert sleep["p_permutation"] == pytest.approx(ref.pvalue, abs=1e-12)
    assert sleep["permutation_method"].startswith("exact")


def test_sign_flip_agrees_with_scipy_on_random_data():
    rng = np.random.default_rng(3)
    for n in (2, 5, 9, 12):
        d = rng.normal(0.4, 1, n)
        ref = sps.permutation_test((d,), lambda z, axis: np.mean(z, axis=axis), permutation_type="samples",
                                   n_resamples=np.inf, alternative="two-sided")
        assert sign_flip_p(d) == pytest.approx(ref.pvalue, abs=1e-12), n


def test_sign_flip_counts_floating_point_ties():
    # In floats 0.1 + 0.2 > 0.3, so flipping the first and third elements gives a sum that is
    # exactly the observed one in rational arithmetic but a few ulps below it in floats.
    d = [0.1 + 0.2, 0.3, -0.3, 0.3]
    rational = [Fraction(3, 10), Fraction(3, 10), Fraction(-3, 10), Fraction(3, 10)]
    naive = np.mean([abs(np.dot(s, d)) >= abs(sum(d)) for s in itertools.product((1, -1), repeat=4)])
    want = float(exact_sign_flip_p(rational))
    assert naive < want                          # a plain >= misses the tie ...
    assert sign_flip_p(np.array(d)) == want      # ... the tolerance counts it


def test_sign_flip_ties_from_decimal_inputs_of_large_magnitude():
    # 100000.3 - 100000.0 = 0.3 + 3e-12 in floats: an error proportional to |x|, not to |d|.
    x, y = [100000.3, 0.3, 0.0, 0.3], [100000.0, 0.0, 0.3, 0.0]
    want = float(exact_sign_flip_p(decimal_diffs(x, y)))
    assert paired_comparison(x, y)["p_permutation"] == want == 10 / 16
    # without the input scale the tie is missed, which is why paired_comparison passes it
    assert sign_flip_p(np.subtract(x, y)) < want


def test_sign_flip_observed_pattern_and_mirror_always_count():
    d = np.array([1e-300, 3.0, -7.25, 1 / 3])
    assert sign_flip_p(d) >= 2 / 16
    assert sign_flip_p(np.zeros(6)) == 1.0


def test_sign_flip_exact_up_to_20_then_monte_carlo():
    rng = np.random.default_rng(0)
    d20 = rng.normal(0.5, 1, EXACT_MAX_N)
    p20 = sign_flip_p(d20)   # no timing assertion (it flakes on a loaded machine); vectorised, ~0.3 s
    assert p20 * 2 ** 20 == pytest.approx(round(p20 * 2 ** 20))      # a count over all 2^20 patterns
    d = rng.normal(0.5, 1, 30)
    p_mc = sign_flip_p(d, n_resamples=20_000, seed=1)
    assert p_mc == sign_flip_p(d, n_resamples=20_000, seed=1)        # fixed generator: reproducible
    assert p_mc > 0 and (p_mc * 20_001) == pytest.approx(round(p_mc * 20_001))  # add-one estimate
    assert p_mc == pytest.approx(sps.ttest_1samp(d, 0).pvalue, abs=0.02)
    assert "Monte Carlo" in paired_comparison(d, np.zeros(30), n_boot=1000)["permutation_method"]


# --------------------------------------------------------------------------- Wilcoxon, effect size


def test_wilcoxon_matches_scipy(sleep):
    assert sleep["p_wilcoxon"] == pytest.approx(sps.wilcoxon(D, zero_method="wilcox").pvalue, abs=1e-12)
    assert "zero differences dropped" in sleep["wilcoxon_method"]
    rng = np.random.default_rng(5)
    no_ties = rng.normal(0.3, 1, 15)
    p, method = wilcoxon_p(no_ties)
    assert method.startswith("exact;") and p == pytest.approx(sps.wilcoxon(no_ties, method="exact").pvalue)
    for n in (4, 7, 9):  # ties and zeros: exact conditional test, as scipy's exhaustive permutation
        d = np.round(rng.normal(0.4, 1, n), 0)
        assert wilcoxon_p(d)[0] == pytest.approx(sps.wilcoxon(d, zero_method="wilcox").pvalue, abs=1e-12), d


def test_hedges_gz_of_sleep_data(sleep):
    dz = -1.58 / 1.229995          # Cohen's d_z from R's mean and sd of the differences
    j = 1 - 3 / (4 * 9 - 1)        # Lakens (2013) small-sample correction, df = 9
    assert sleep["hedges_gz"] == pytest.approx(dz * j, rel=1e-6)
    assert hedges_gz(D) == sleep["hedges_gz"]


# --------------------------------------------------------------------------- multiplicity, power


def test_holm_known_values_and_not_the_default_method():
    p = [0.01, 0.04, 0.03, 0.005]
    assert holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    from statsmodels.stats.multitest import multipletests
    assert not np.allclose(multipletests(p)[1], holm_adjust(p))   # the default is Holm-Sidak ("hs")
    assert holm_adjust([]).size == 0
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        holm_adjust([0.1, float("nan")])


def test_mde_uses_statsmodels_power(sleep):
    from statsmodels.stats.power import TTestPower
    es = TTestPower().solve_power(nobs=10, alpha=0.05, power=0.8)
    assert es == pytest.approx(0.9954, abs=0.001)  # statsmodels gives 0.99600 (two tails of the noncentral t)
    ncp, crit = es * math.sqrt(10), sps.t.ppf(0.975, 9)  # independent check: power at es is 0.8
    assert sps.nct.sf(crit, 9, ncp) + sps.nct.cdf(-crit, 9, ncp) == pytest.approx(0.8, abs=1e-6)
    assert min_detectable_effect(10, 1.0) == pytest.approx(es, rel=1e-9)
    assert min_detectable_effect(10, 2.0) == pytest.approx(2 * es, rel=1e-9)
    assert sleep["mde_80"] == pytest.approx(es * 1.229995, rel=1e-6)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_deterministic_default_size_and_covers_mean(sleep):
    assert bootstrap_ci(D, seed=1) == bootstrap_ci(D, seed=1)
    assert bootstrap_ci(D, seed=1) != bootstrap_ci(D, seed=2)
    assert sleep["n_boot"] >= 10_000 and sleep["boot_method"] == "percentile"
    assert sleep["boot_low"] < sleep["mean_diff"] < sleep["boot_high"]
    assert paired_comparison(G1, G2) == sleep  # every field reproducible with the default seed
    # percentile interval = quantiles of resampled means: check against a direct computation
    ref = sps.bootstrap((D,), np.mean, method="percentile", rng=np.random.default_rng(0), n_resamples=10_000)
    assert (sleep["boot_low"], sleep["boot_high"]) == (ref.confidence_interval.low, ref.confidence_interval.high)


# --------------------------------------------------------------------------- TOST


def test_tost():
    rng = np.random.default_rng(0)
    base = rng.normal(2.0, 0.1, 10)
    same = base + rng.normal(0, 0.001, 10)
    t = tost_paired(same, base, margin=0.02)
    assert t["equivalent"] and t["p_tost"] == max(t["p_lower"], t["p_upper"]) < 0.05
    assert -0.02 < t["ci_low"] < t["ci_high"] < 0.02 and t["ci_level"] == pytest.approx(0.9)
    from statsmodels.stats.weightstats import ttost_paired
    assert t["p_tost"] == pytest.approx(ttost_paired(same, base, -0.02, 0.02)[0])
    assert not tost_paired(base + 0.5, base + rng.normal(0, 0.01, 10), margin=0.02)["equivalent"]
    assert tost_paired(G1, G2, margin=2.0)["p_lower"] == pytest.approx(0.1541572, abs=1e-6)


def test_tost_zero_variance():
    x = [2.0, 3.0, 4.0]
    assert tost_paired(x, [1.99, 2.99, 3.99], margin=0.02)["equivalent"]
    assert not tost_paired(x, [1.0, 2.0, 3.0], margin=0.02)["equivalent"]
    assert not tost_paired(x, x, margin=0.0)["equivalent"]   # strict: 0 is not inside (-0, 0)
    with pytest.raises(ValueError, match="margin"):
        tost_paired(x, x, margin=-1)


# --------------------------------------------------------------------------- verdict


def _cmp(mean, lo, hi):
    return {"mean_diff": mean, "ci_low": lo, "ci_high": hi}


EQ, NEQ = {"equivalent": True}, {"equivalent": False}


def test_verdict_rule_logic():
    assert verdict(_cmp(-1, -2, -0.5), NEQ, 0.01, "lower") == "better"
    assert verdict(_cmp(-1, -2, -0.5), NEQ, 0.01, "higher") == "worse"
    assert verdict(_cmp(1, 0.5, 2), NEQ, 0.01, "higher") == "better"
    assert verdict(_cmp(1, 0.5, 2), NEQ, 0.01, "lower") == "worse"
    assert verdict(_cmp(-1, -2, -0.5), NEQ, 0.06, "lower") == "inconclusive"   # adjusted p not below alpha
    assert verdict(_cmp(-1, -2, -0.5), EQ, 0.06, "lower") == "equivalent"
    assert verdict(_cmp(-1, -2, 0.1), NEQ, 0.01, "lower") == "inconclusive"    # t-interval disagrees
    assert verdict(_cmp(-1, -2, -0.5), NEQ, float("nan"), "lower") == "inconclusive"
    with pytest.raises(ValueError, match="better"):
        verdict(_cmp(-1, -2, -0.5), NEQ, 0.01, "smaller")
    assert "sign-flip" in VERDICT_RULE and "Holm" in VERDICT_RULE and "TOST" in VERDICT_RULE


@pytest.mark.parametrize("better", ["lower", "higher"])
def test_verdicts_end_to_end(better):
    y = np.linspace(1.9, 2.1, 10)
    jitter = np.array([1, -2, 3, -1, 2, -3, 1, 2, -2, -1], dtype=float)  # mean 0
    sign = -1 if better == "lower" else 1
    cases = {"better": y + sign * 0.3 + 0.01 * jitter, "worse": y - sign * 0.3 + 0.01 * jitter,
             "equivalent": y + 0.001 * jitter, "inconclusive": y + 0.3 * jitter}
    for want, x in cases.items():
        c = paired_comparison(x, y, n_boot=1000)
        p_adj = holm_adjust([c["p_permutation"], 0.5])[0]
        assert verdict(c, tost_paired(x, y, margin=0.02), p_adj, better=better) == want, want


# --------------------------------------------------------------------------- edge cases


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="n=1"):
        paired_comparison([1.0], [2.0])
    with pytest.raises(ValueError, match=r"positions \[1, 2\]"):
        paired_comparison([1.0, float("nan"), 2.0], [1.0, 1.0, float("inf")])
    with pytest.raises(ValueError, match="equal length"):
        paired_comparison([1.0, 2.0], [1.0])


def test_zero_variance_does_not_crash_or_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's warnings are suppressed deliberately
        z = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], n_boot=1000)
        c = paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], n_boot=1000)  # constant difference 1
    assert z["p_t"] == z["p_permutation"] == z["p_wilcoxon"] == 1.0
    assert math.isnan(z["t"]) and math.isnan(z["hedges_gz"]) and z["ci_low"] == z["ci_high"] == 0.0
    assert c["p_t"] == 0.0 and c["t"] == math.inf and c["hedges_gz"] == math.inf
    assert c["p_permutation"] == 2 / 8 and c["p_wilcoxon"] == 2 / 8  # only the two all-same-sign patterns
    assert c["ci_low"] == c["ci_high"] == 1.0 and c["mde_80"] == 0.0
    assert paired_comparison([1.0, 2.0], [2.0, 3.0], n_boot=1000)["t"] == -math.inf


# --------------------------------------------------------------------------- incomplete pairs


def test_incomplete_pairs_are_listed_with_reasons():
    runs = {"a": {0: 1.0, 1: float("nan"), 2: 3.0, 3: 4.0, 4: None, 5: 6.0},
            "b": {0: 1.5, 1: 2.0, 3: 4.5, 4: float("inf"), 5: 6.5}}
    x, y, used, excluded = handle_incomplete_pairs(runs, "a", "b", seeds=[0, 1, 2, 3, 4, 5])
    assert used == [0, 3, 5] and x.tolist() == [1.0, 4.0, 6.0] and y.tolist() == [1.5, 4.5, 6.5]
    assert [(e["seed"], e["reason"]) for e in excluded] == [
        (1, "a: diverged (non-finite metric)"), (2, "b: missing run"),
        (4, "a: missing run; b: diverged (non-finite metric)")]
    assert excluded[2]["runs"] == {"a": "missing run", "b": "diverged (non-finite metric)"}
    assert len(used) + len(excluded) == 6   # nothing silently dropped
    _, _, used, excluded = handle_incomplete_pairs(runs, "a", "absent", seeds=[0, 1])
    assert used == [] and len(excluded) == 2
    assert "20%" in INCOMPLETE_PAIR_RULE


def test_too_many_excluded():
    assert not too_many_excluded(10, 2)      # exactly 20% is allowed
    assert too_many_excluded(10, 3) and too_many_excluded(4, 1)
    assert too_many_excluded(0, 0)           # nothing planned: nothing to compare
    with pytest.raises(ValueError):
        too_many_excluded(3, 4)


def test_summarise_variant():
    v = [2.0, 4.0, 9.0, 1.0]
    s = summarise_variant(v + [None, float("nan")])
    assert s["n"] == 4 and s["n_excluded"] == 2
    assert (s["mean"], s["sd"], s["min"], s["max"]) == pytest.approx((4.0, np.std(v, ddof=1), 1.0, 9.0))
    lo, hi = sps.t.interval(0.95, 3, loc=4.0, scale=sps.sem(v))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((lo, hi)) and s["sem"] == pytest.approx(sps.sem(v))
    one = summarise_variant([3.0])
    assert one["n"] == 1 and one["mean"] == 3.0 and math.isnan(one["sd"])
    assert summarise_variant([])["n"] == 0


# --------------------------------------------------------------------------- secondary analyses


def test_per_item_bootstrap_equals_resampling_items_within_seeds():
    rng = np.random.default_rng(0)
    a = rng.normal(0.6, 0.1, (3, 40))
    b = a - 0.05 + rng.normal(0, 0.02, (3, 40))
    r = per_item_paired_bootstrap(a, b, n_boot=500, seed=7)
    assert r == per_item_paired_bootstrap(a, b, n_boot=500, seed=7)
    assert r["ci_low"] < r["mean_diff"] < r["ci_high"]
    # no resample on the other side of 0: a bound, never p = 0
    assert r["p"] is None and r["p_upper_bound"] == 2 / 500 and r["p_text"] == "< 0.004"
    assert r["mean_diff"] == pytest.approx((a - b).mean())
    # the definition: same item indices for both variants in every seed, mean over seeds and items
    idx = np.random.default_rng(7).integers(0, 40, size=(500, 40))
    direct = np.array([(a[:, i] - b[:, i]).mean() for i in idx])
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(np.quantile(direct, [0.025, 0.975])))
    null = per_item_paired_bootstrap(a, a + rng.normal(0, 0.01, a.shape), n_boot=500)
    assert 0.05 < null["p"] <= 1.0 and null["p_upper_bound"] is None and null["p_text"] == f"{null['p']:.2g}"
    with pytest.raises(ValueError, match="non-finite"):
        per_item_paired_bootstrap(np.full((2, 3), np.nan), np.zeros((2, 3)))


def test_bootstrap_p_reports_a_bound_not_zero():
    assert bootstrap_p(np.full(1000, 0.3)) == {"p": None, "p_upper_bound": 0.002, "p_text": "< 0.002"}
    assert bootstrap_p(np.full(1000, -0.3))["p"] is None
    one_below = np.r_[-0.1, np.full(999, 0.3)]                       # 1 of 1000 on the other side
    assert bootstrap_p(one_below) == {"p": 0.002, "p_upper_bound": None, "p_text": "0.002"}
    assert bootstrap_p(np.r_[np.full(600, -1.0), np.full(400, 1.0)])["p"] == 0.8
    assert bootstrap_p(np.zeros(10))["p"] == 1.0                     # ties at 0 count on both sides, capped


def test_mixed_model_per_seed_matches_paired_difference():
    rng = np.random.default_rng(0)
    y = rng.normal(3, 0.5, 6)
    x = y - 0.2 + rng.normal(0, 0.05, 6)
    df = pd.DataFrame({"value": np.r_[x, y], "seed": list(range(6)) * 2,
                       "variant": pd.Categorical(["a"] * 6 + ["b"] * 6, categories=["b", "a"])})
    m = mixed_model_effect(df)
    assert m["coef"] == pytest.approx(np.mean(x - y), rel=1e-6) and m["converged"] and m["error"] is None
    assert m["ci_low"] < m["coef"] < m["ci_high"] and m["p"] < 0.001


def test_mixed_model_reports_problems_instead_of_crashing():
    df = pd.DataFrame({"value": [1.0] * 6, "variant": ["a", "b"] * 3, "seed": [0, 0, 1, 1, 2, 2]})
    m = mixed_model_effect(df)  # degenerate: no variance at all
    assert m["warnings"] or m["error"]
    assert not m["converged"] or m["error"]
