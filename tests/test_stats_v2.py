"""Design version 2 in evals/stats.py: one-sided sign-flip tests, sign-flip intervals, the
sign-flip TOST, normality, Holm for equivalence and for intervals, the four-verdict rule, the
family analysis and the multi-bootstrap. Known answers, brute force and scipy."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps

from evals.stats import (
    VERDICT_RULE_V2,
    VERDICTS_V2,
    analyse_family_v2,
    decide_v2,
    holm_adjust,
    holm_ci_levels,
    holm_equivalence,
    multi_bootstrap,
    normality_check,
    per_item_paired_bootstrap,
    sign_flip_p,
    sign_flip_p_one_sided,
    signflip_ci,
    tost_paired,
    tost_signflip,
)


def brute_one_sided(d, alternative):
    """Rational brute force: share of sign patterns whose sum is >= (<=) the observed sum."""
    d = [Fraction(repr(float(v))) for v in d]
    obs = sum(d)
    sums = [sum(s * v for s, v in zip(signs, d, strict=True)) for signs in itertools.product((1, -1), repeat=len(d))]
    hits = sum(t >= obs for t in sums) if alternative == "greater" else sum(t <= obs for t in sums)
    return Fraction(hits, len(sums))


def scipy_one_sided(d, alternative):
    return sps.permutation_test((d,), lambda z, axis: np.mean(z, axis=axis), permutation_type="samples",
                                n_resamples=np.inf, alternative=alternative).pvalue


# --------------------------------------------------------------------------- one-sided sign-flip tests


def test_one_sided_sign_flip_matches_brute_force_and_scipy():
    rng = np.random.default_rng(4)
    for n in (3, 7, 10):
        d = np.round(rng.normal(0.3, 1, n), 2)
        for alt in ("greater", "less"):
            p = sign_flip_p_one_sided(d, alt)
            assert p == pytest.approx(float(brute_one_sided(d, alt)), abs=1e-15), (n, alt)
            assert p == pytest.approx(scipy_one_sided(d, alt), abs=1e-12), (n, alt)
        # symmetric null distribution: the two-sided p is twice the smaller one-sided p
        assert sign_flip_p(d) == pytest.approx(2 * min(sign_flip_p_one_sided(d, "greater"),
                                                       sign_flip_p_one_sided(d, "less")))
    with pytest.raises(ValueError, match="alternative"):
        sign_flip_p_one_sided(d, "two-sided")


def test_one_sided_shift_equals_shifted_data():
    d = np.array([0.4, -0.1, 0.9, 0.3, 0.25, -0.6, 0.7])
    for delta in (-0.5, 0.1, 0.3):
        for alt in ("greater", "less"):
            assert sign_flip_p_one_sided(d, alt, delta=delta) == sign_flip_p_one_sided(d - delta, alt)
    assert sign_flip_p_one_sided(np.full(6, 2.0), "greater") == 1 / 64   # only the observed pattern


# --------------------------------------------------------------------------- sign-flip intervals


def test_signflip_ci_known_answers_are_subset_means():
    d = np.array([0.3, -1.2, 2.5, 0.8, 1.1, -0.4])
    subset_means = sorted(np.mean(c) for r in range(1, 7) for c in itertools.combinations(d, r))
    # tail * 2^6 = 2 -> k = 1: the extreme subset means, i.e. min(d) and max(d) (Hartigan 1969)
    ci = signflip_ci(d, 1 - 4 / 64)
    assert (ci["low"], ci["high"]) == pytest.approx((d.min(), d.max()))
    # tail * 2^6 = 3 -> k = 2: the second smallest and second largest of the 63 subset means
    ci = signflip_ci(d, 1 - 6 / 64)
    assert (ci["low"], ci["high"]) == pytest.approx((subset_means[1], subset_means[-2]))
    # 2/2^5 = 0.0625 >= 0.05: five seeds cannot reject any shift at the 5% level
    ci = signflip_ci(d[:5], 0.95)
    assert ci["low"] == -math.inf and ci["high"] == math.inf and ci["method"].startswith("sign-flip inversion")


@pytest.mark.parametrize("n", [6, 9, 12])
def test_signflip_ci_inverts_the_two_sided_test(n):
    rng = np.random.default_rng(n)
    d = rng.normal(0.5, 1, n)
    for confidence in (0.9, 0.95, 0.99):
        a = 1 - confidence
        ci = signflip_ci(d, confidence)
        if 2 / 2 ** n >= a:
            assert ci["low"] == -math.inf
            continue
        eps = 1e-7 * (1 + abs(ci["low"]) + abs(ci["high"]))
        assert sign_flip_p(d - ci["low"]) >= a and sign_flip_p(d - ci["high"]) >= a      # ends are inside
        assert sign_flip_p(d - (ci["low"] - eps)) < a and sign_flip_p(d - (ci["high"] + eps)) < a  # just out
        t = sps.ttest_1samp(d, 0).confidence_interval(confidence)
        width_t = t.high - t.low                                  # normal data: close to the t-interval
        assert ci["high"] - ci["low"] == pytest.approx(width_t, rel=0.3)


def test_signflip_ci_monte_carlo_above_20():
    rng = np.random.default_rng(2)
    d = rng.normal(0.2, 1, 30)
    ci = signflip_ci(d, 0.95, n_resamples=20_000, seed=1)
    assert ci == signflip_ci(d, 0.95, n_resamples=20_000, seed=1) and "Monte Carlo" in ci["method"]
    t = sps.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (ci["low"], ci["high"]) == pytest.approx((t.low, t.high), abs=0.05)
    assert sign_flip_p(d - ci["low"], 20_000, 1) == pytest.approx(0.05, abs=0.01)


# --------------------------------------------------------------------------- sign-flip TOST, normality


def test_tost_signflip_differences_inside_margin():
    rng = np.random.default_rng(0)
    y = rng.normal(2.0, 0.1, 10)
    x = y + rng.uniform(-0.015, 0.015, 10)          # every difference strictly inside +-0.02
    t = tost_signflip(x, y, margin=0.02)
    # d + margin > 0 and d - margin < 0 everywhere: only the observed pattern is as extreme
    assert t["p_lower"] == t["p_upper"] == t["p_tost"] == 1 / 1024 and t["equivalent"]
    assert -0.02 < t["ci_low"] < t["ci_high"] < 0.02 and t["ci_level"] == pytest.approx(0.9)
    assert not tost_signflip(x + 0.05, y, margin=0.02)["equivalent"]
    # three seeds: 1/8 >= 0.05, so no data can show equivalence -- the t-based TOST can
    assert not tost_signflip([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=1.0)["equivalent"]
    assert tost_signflip([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=1.0)["p_tost"] == 1 / 8
    assert tost_paired([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], margin=1.0)["equivalent"]
    with pytest.raises(ValueError, match="margin"):
        tost_signflip(x, y, margin=-1)


def test_tost_signflip_equivalent_iff_interval_inside_margin():
    rng = np.random.default_rng(1)
    seen = set()
    for trial in range(30):
        y = rng.normal(3, 0.2, 9)
        x = y + rng.normal(rng.uniform(-0.3, 0.3), 0.2, 9)
        for margin in (0.1, 0.3, 0.6):
            t = tost_signflip(x, y, margin)
            inside = -margin < t["ci_low"] and t["ci_high"] < margin
            assert t["equivalent"] == inside, (trial, margin)
            seen.add(inside)
            # the lower test is the "greater" test of d + margin
            assert t["p_lower"] == sign_flip_p_one_sided(np.subtract(x, y) + margin, "greater")
    assert seen == {True, False}


def test_normality_check():
    rng = np.random.default_rng(3)
    d = rng.normal(0, 1, 12)
    r = normality_check(d)
    ref = sps.shapiro(d)
    assert (r["W"], r["p"]) == pytest.approx((ref.statistic, ref.pvalue)) and r["test"] == "Shapiro-Wilk"
    assert r["rejects_normality"] is False and r["n"] == 12
    assert normality_check(np.r_[np.zeros(11), 10.0])["rejects_normality"] is True   # one wild seed
    assert math.isnan(normality_check([1.0, 2.0])["p"]) and "n < 3" in normality_check([1.0, 2.0])["note"]
    assert normality_check(np.full(5, 0.3))["rejects_normality"] is None


# --------------------------------------------------------------------------- Holm for equivalence and intervals


def test_holm_equivalence_is_holm():
    p = [0.001, 0.02, 0.004, 0.3]
    assert holm_equivalence(p) == pytest.approx([0.004, 0.04, 0.012, 0.3])


def test_holm_ci_levels_known_values():
    p = [0.001, 0.04, 0.01, 0.3]
    # Holm steps: 0.001 at .05/4 (rejected), 0.01 at .05/3 (rejected), 0.04 at .05/2 (not) -> 0.3 keeps .05/2
    r = holm_ci_levels(p, 0.05)
    assert r["levels"] == pytest.approx([0.0125, 0.025, 0.05 / 3, 0.025])
    assert r["ranks"].tolist() == [1, 3, 2, 4] and r["rejected"].tolist() == [True, False, True, False]
    assert holm_ci_levels(p, 0.05, "bonferroni")["levels"] == pytest.approx([0.0125] * 4)
    all_rejected = holm_ci_levels([0.001, 0.002, 0.003], 0.05)["levels"]
    assert all_rejected == pytest.approx([0.05 / 3, 0.05 / 2, 0.05])
    with pytest.raises(ValueError, match="method"):
        holm_ci_levels(p, 0.05, "sidak")


def test_holm_level_interval_excludes_zero_exactly_when_holm_rejects():
    rng = np.random.default_rng(5)
    outcomes = set()
    for trial in range(6):
        ds = [rng.normal(effect, 1, 11) for effect in rng.uniform(0, 1.6, 5)]
        p = [sign_flip_p(d) for d in ds]
        lv = holm_ci_levels(p, 0.05)
        rejected = holm_adjust(p) < 0.05
        for d, conf, rej in zip(ds, lv["confidence"], rejected, strict=True):
            ci = signflip_ci(d, conf)
            assert (not ci["low"] <= 0 <= ci["high"]) == rej, trial
            outcomes.add(bool(rej))
    assert outcomes == {True, False}


# --------------------------------------------------------------------------- the verdict rule


def test_decide_v2_order():
    m = 1.0
    # (1) equivalence first: equivalent and significant -> trivially different; not significant -> equivalent
    assert decide_v2(0.3, 0.1, 0.5, 0.01, 0.01, m) == "trivially different"
    assert decide_v2(0.1, -0.4, 0.6, 0.30, 0.01, m) == "equivalent"
    # equivalence decides even when the (wider, Holm-level) interval is not inside the margin
    assert decide_v2(0.3, 0.1, 1.5, 0.01, 0.01, m, "higher") == "trivially different"
    # (2) significant, interval inside the margin, equivalence not shown after Holm -> trivially different
    assert decide_v2(0.5, 0.2, 0.9, 0.01, 0.06, m) == "trivially different"
    # (3) significant and not inside the margin -> direction
    assert decide_v2(-2.0, -3.0, -0.5, 0.01, 0.9, m, "lower") == "better"
    assert decide_v2(-2.0, -3.0, -0.5, 0.01, 0.9, m, "higher") == "worse"
    assert decide_v2(2.0, 0.5, 3.0, 0.01, 0.9, m, "higher") == "better"
    assert decide_v2(2.0, 0.5, 3.0, 0.01, 0.9, m, "lower") == "worse"
    assert decide_v2(0.8, 0.5, 1.2, 0.01, 0.9, m, "higher") == "better"     # interval reaches past the margin
    assert decide_v2(0.5, 0.2, 1.0, 0.01, 0.9, m, "higher") == "better"     # strictly inside: 1.0 is not
    # (4) neither
    assert decide_v2(2.0, 0.5, 3.0, 0.06, 0.9, m) == "inconclusive"
    assert decide_v2(2.0, 0.5, 3.0, float("nan"), None, m) == "inconclusive"
    assert decide_v2(2.0, -0.5, 3.0, 0.01, 0.9, m) == "inconclusive"       # test and interval disagree
    assert decide_v2(0.0, 0.0, 0.0, 0.01, 0.01, 0.0) == "trivially different"
    assert decide_v2(0.1, 0.05, 0.2, 0.01, 0.5, 0.0, "higher") == "better"  # margin 0: nothing is trivial
    with pytest.raises(ValueError, match="better"):
        decide_v2(2.0, 0.5, 3.0, 0.01, 0.9, m, "smaller")
    with pytest.raises(ValueError, match="margin"):
        decide_v2(2.0, 0.5, 3.0, 0.01, 0.9, -1.0)


def test_verdict_rule_v2_text():
    for word in ("sign-flip", "Holm", "TOST", "trivially different", "equivalent", "inconclusive", "(1)", "(4)"):
        assert word in VERDICT_RULE_V2, word
    assert VERDICT_RULE_V2.index("(1) if the adjusted equivalence p") < VERDICT_RULE_V2.index("(3)")
    assert set(VERDICTS_V2) == {"equivalent", "trivially different", "better", "worse", "inconclusive"}
    # printable by reporting.latex.tex_escape: no characters it leaves unescaped and unsafe
    assert not set(VERDICT_RULE_V2) & set("<>|{}\\_%&#$~\"")


def test_analyse_family_v2_end_to_end():
    y = np.linspace(1.9, 2.1, 10)
    j = np.array([1, -2, 3, -1, 2, -3, 1, 2, -2, -1], dtype=float)      # mean 0
    fam = [
        {"id": "better", "x": y - 0.3 + 0.01 * j, "y": y, "margin": 0.02, "better": "lower"},
        {"id": "worse", "x": y - 0.3 + 0.01 * j, "y": y, "margin": 0.02, "better": "higher"},
        {"id": "equivalent", "x": y + 0.001 * j, "y": y, "margin": 0.02, "better": "lower"},
        {"id": "trivial", "x": y + 0.01 + 0.001 * j, "y": y, "margin": 0.02, "better": "lower"},
        {"id": "inconclusive", "x": y + 0.3 * j, "y": y, "margin": 0.02, "better": "lower"},
        {"id": "forced", "x": y - 0.3 + 0.01 * j, "y": y, "margin": 0.02, "better": "lower",
         "inconclusive_reason": "3 of 10 pairs excluded"},
        {"id": "empty", "x": [1.0], "y": [1.0], "margin": 0.02, "better": "lower"},
    ]
    rows = analyse_family_v2(fam, alpha=0.05)
    got = {r["id"]: r["verdict"] for r in rows}
    assert got == {"better": "better", "worse": "worse", "equivalent": "equivalent", "trivial": "trivially different",
                   "inconclusive": "inconclusive", "forced": "inconclusive", "empty": "inconclusive"}
    r = {r["id"]: r for r in rows}
    p = [row["p_signflip"] for row in rows]
    assert [row["p_adjusted"] for row in rows] == pytest.approx(holm_adjust(p))
    assert r["empty"]["p_signflip"] == 1.0 and "1 complete pairs" in r["empty"]["verdict_reason"]
    assert r["forced"]["verdict_reason"] == "3 of 10 pairs excluded" and r["forced"]["p_adjusted"] < 0.05
    assert r["trivial"]["tost"]["p_tost"] == 1 / 1024 and r["trivial"]["p_adjusted"] < 0.05
    # the reported interval is at the Holm step's level, wider than the unadjusted one
    assert r["better"]["ci_confidence"] > 0.95 and r["better"]["ci_low"] < r["better"]["ci95_low"]
    assert r["better"]["tost_t"] == tost_paired(fam[0]["x"], fam[0]["y"], 0.02)   # t-based TOST, for reference
    assert r["better"]["normality"]["test"] == "Shapiro-Wilk"


# --------------------------------------------------------------------------- multi-bootstrap


def test_multi_bootstrap_definition():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 0.2, (4, 30)), rng.normal(0.49, 0.2, (4, 30))
    r = multi_bootstrap(a, b, n_boot=300, seed=9)
    assert r == multi_bootstrap(a, b, n_boot=300, seed=9) and r["mean_diff"] == pytest.approx((a - b).mean())
    g = np.random.default_rng(9)   # the documented draws: seed indices, then item indices, same for A and B
    s_idx, i_idx = g.integers(0, 4, size=(300, 4)), g.integers(0, 30, size=(300, 30))
    direct = np.array([(a[s][:, i] - b[s][:, i]).mean() for s, i in zip(s_idx, i_idx, strict=True)])
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(np.quantile(direct, [0.025, 0.975])))
    share = min(np.mean(direct <= 0), np.mean(direct >= 0))
    assert r["p"] is not None and r["p_upper_bound"] is None
    assert r["p"] == pytest.approx(min(1.0, 2 * share))
    with pytest.raises(ValueError, match="seeds >= 2"):
        multi_bootstrap(a[:1], b[:1])
    with pytest.raises(ValueError, match="better"):
        multi_bootstrap(a, b, better="smaller")


def test_multi_bootstrap_covers_truth_and_is_wider_than_items_only_with_seed_variance():
    rng = np.random.default_rng(0)
    seeds, items, mu, runs = 10, 60, -0.05, 60
    cover_multi = cover_items = wider = 0
    for r in range(runs):
        b = rng.normal(1, 0.3, (seeds, items))
        a = (b + mu + rng.normal(0, 0.06, (seeds, 1)) + rng.normal(0, 0.05, (1, items))
             + rng.normal(0, 0.05, (seeds, items)))
        m = multi_bootstrap(a, b, n_boot=400, seed=r)
        i = per_item_paired_bootstrap(a, b, n_boot=400, seed=r)
        cover_multi += m["ci_low"] < mu < m["ci_high"]
        cover_items += i["ci_low"] < mu < i["ci_high"]
        wider += m["ci_high"] - m["ci_low"] > i["ci_high"] - i["ci_low"]
    assert wider == runs
    assert cover_multi / runs >= 0.85          # nominal 0.95; the percentile bootstrap over 10 seeds runs a bit low
    assert cover_items / runs <= 0.75          # ignoring seed variance: far too narrow


def test_multi_bootstrap_p_bound_and_seed_share():
    b = np.zeros((4, 20))
    a = b - 1.0 + np.random.default_rng(1).normal(0, 0.01, (4, 20))
    r = multi_bootstrap(a, b, n_boot=500)
    assert r["p"] is None and r["p_upper_bound"] == 2 / 500 and r["p_text"] == "< 0.004"
    a = np.array([[0.1, 0.3], [0.2, 0.2], [0.5, 0.5], [0.0, 0.2]])
    b = np.array([[0.3, 0.3], [0.4, 0.2], [0.4, 0.4], [0.1, 0.1]])   # A lower in seeds 0, 1; tie in 3
    assert multi_bootstrap(a, b, "lower", n_boot=50)["p_a_better_seeds"] == 2.5 / 4
    assert multi_bootstrap(a, b, "higher", n_boot=50)["p_a_better_seeds"] == 1.5 / 4
