"""Statistics against published answers and scipy."""
import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from evals.stats import (bootstrap_ci, handle_incomplete_pairs, hedges_gz, holm_adjust, min_detectable_effect,
                         mixed_model_effect, paired_comparison, per_item_paired_bootstrap, sign_flip_p,
                         too_many_excluded, tost_paired, verdict)

# Student (1908) sleep data, as R's `sleep`: extra hours of sleep under two drugs, same 10 patients.
G1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
G2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_sleep_data_matches_r():
    # R: t.test(extra ~ group, data = sleep, paired = TRUE)
    r = paired_comparison(G1, G2)
    assert r["mean_diff"] == pytest.approx(-1.58)
    assert r["t"] == pytest.approx(-4.0621, abs=5e-5)
    assert r["df"] == 9
    assert r["p_t"] == pytest.approx(0.002833, abs=5e-7)
    assert r["ci_low"] == pytest.approx(-2.4598858, abs=1e-6)
    assert r["ci_high"] == pytest.approx(-0.7001142, abs=1e-6)


def test_sign_flip_is_exact():
    d = np.array(G1) - np.array(G2)
    exact = [Fraction(str(a)) - Fraction(str(b)) for a, b in zip(G1, G2)]  # exact rational differences
    obs = abs(sum(exact))
    count = 0
    for signs in itertools.product((1, -1), repeat=len(d)):
        count += abs(sum(sg * v for sg, v in zip(signs, exact))) >= obs
    assert sign_flip_p(d) == pytest.approx(count / 2 ** len(d))
    ref = sps.permutation_test((d,), lambda z, axis: np.mean(z, axis=axis), permutation_type="samples",
                               n_resamples=np.inf, alternative="two-sided")
    assert sign_flip_p(d) == pytest.approx(ref.pvalue)


def test_sign_flip_counts_floating_point_ties():
    # 0.1 + 0.2 != 0.3 in floating point; both patterns must count as ties of the observed one.
    d = np.array([0.3, -(0.1 + 0.2), 0.3, 0.3])
    exact = [Fraction(3, 10), Fraction(-3, 10), Fraction(3, 10), Fraction(3, 10)]
    obs = abs(sum(exact))
    count = sum(abs(sum(s * v for s, v in zip(sg, exact))) >= obs
                for sg in itertools.product((1, -1), repeat=4))
    assert sign_flip_p(d) == pytest.approx(count / 16)


def test_wilcoxon_and_hedges():
    d = np.array(G1) - np.array(G2)
    r = paired_comparison(G1, G2)
    assert r["p_wilcoxon"] == pytest.approx(sps.wilcoxon(d, zero_method="wilcox").pvalue)
    dz = -1.58 / 1.229995
    assert r["hedges_gz"] == pytest.approx(dz * (1 - 3 / (4 * 9 - 1)), rel=1e-5)
    assert hedges_gz(d) == r["hedges_gz"]


def test_holm_known_values_and_not_default():
    p = [0.01, 0.04, 0.03, 0.005]
    assert np.allclose(holm_adjust(p), [0.03, 0.06, 0.06, 0.02])
    from statsmodels.stats.multitest import multipletests
    assert not np.allclose(multipletests(p)[1], holm_adjust(p))   # the default is Holm-Sidak


def test_mde_uses_statsmodels_power():
    from statsmodels.stats.power import TTestPower
    es = TTestPower().solve_power(nobs=10, alpha=0.05, power=0.8)
    assert 0.98 < es < 1.01                      # about one sd of the differences at n = 10
    assert min_detectable_effect(10, 1.0) == pytest.approx(es)
    assert min_detectable_effect(10, 2.0) == pytest.approx(2 * es)


def test_bootstrap_deterministic_and_default_size():
    d = np.array(G1) - np.array(G2)
    assert bootstrap_ci(d, seed=1) == bootstrap_ci(d, seed=1)
    r = paired_comparison(G1, G2)
    assert r["n_boot"] >= 10_000 and r["boot_low"] < r["mean_diff"] < r["boot_high"]


def test_tost():
    rng = np.random.default_rng(0)
    base = rng.normal(2.0, 0.1, 10)
    same = base + rng.normal(0, 0.001, 10)
    assert tost_paired(same, base, margin=0.02)["equivalent"]
    assert not tost_paired(base + 0.5, base + rng.normal(0, 0.01, 10), margin=0.02)["equivalent"]


@pytest.mark.parametrize("better", ["lower", "higher"])
def test_verdicts(better):
    rng = np.random.default_rng(1)
    y = rng.normal(2.0, 0.05, 10)
    sign = -1 if better == "lower" else 1
    cases = {
        "better": y + sign * 0.3 + rng.normal(0, 0.01, 10),
        "worse": y - sign * 0.3 + rng.normal(0, 0.01, 10),
        "equivalent": y + rng.normal(0, 0.001, 10),
        "inconclusive": y + rng.normal(0, 0.5, 10),
    }
    for want, x in cases.items():
        c = paired_comparison(x, y)
        t = tost_paired(x, y, margin=0.02)
        assert verdict(c, t, c["p_permutation"], better=better) == want, want


def test_edge_cases():
    with pytest.raises(ValueError, match="n=1"):
        paired_comparison([1.0], [2.0])
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        paired_comparison([1.0, float("nan"), 2.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        paired_comparison([1.0, 2.0], [1.0])
    z = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert z["p_t"] == 1.0 and z["p_permutation"] == 1.0 and z["p_wilcoxon"] == 1.0 and z["hedges_gz"] == 0.0
    c = paired_comparison([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # constant difference of 1
    assert c["p_t"] == 0.0 and math.isinf(c["t"]) and c["p_permutation"] == pytest.approx(2 / 8)


def test_incomplete_pairs_are_listed():
    runs = {"a": {0: 1.0, 1: float("nan"), 2: 3.0, 3: 4.0}, "b": {0: 1.5, 1: 2.0, 3: 4.5}}
    x, y, used, excluded = handle_incomplete_pairs(runs, "a", "b", seeds=[0, 1, 2, 3])
    assert used == [0, 3] and list(x) == [1.0, 4.0]
    assert excluded == [{"seed": 1, "reason": "a: diverged (non-finite metric)"},
                        {"seed": 2, "reason": "b: missing run"}]
    assert too_many_excluded(4, 2) and not too_many_excluded(10, 2)


def test_secondary_analyses():
    rng = np.random.default_rng(0)
    a = rng.normal(0.6, 0.1, (5, 200))
    b = a - 0.05 + rng.normal(0, 0.01, (5, 200))
    r = per_item_paired_bootstrap(a, b, n_boot=2000)
    assert r["ci_low"] < 0.05 < r["ci_high"] and r["p"] < 0.01
    rows = [{"value": v, "variant": name, "seed": s}
            for name, arr in (("a", a.mean(1)), ("b", b.mean(1))) for s, v in enumerate(arr)]
    m = mixed_model_effect(pd.DataFrame(rows))
    assert m["coef"] == pytest.approx(-0.05, abs=0.01)
