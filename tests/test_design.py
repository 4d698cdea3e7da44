"""evals/design.py: seeds needed for the Holm family, and power of the sign-flip tests by simulation."""
import math

import numpy as np
import pytest

from evals.design import (
    DESIGN_RULE,
    design_check,
    mde_equivalence_signflip,
    mde_signflip,
    min_attainable_p,
    min_seeds,
    power_signflip,
    simulated_intervals,
)
from evals.stats import min_detectable_effect, sign_flip_p, signflip_ci, tost_signflip


def test_min_attainable_p_and_min_seeds():
    assert min_attainable_p(3) == 0.25 and min_attainable_p(3, sides=1) == 0.125
    assert min_attainable_p(25, n_resamples=999) == 1 / 1000            # Monte Carlo add-one floor
    assert min_seeds(0.05 / 8) == 9 and min_seeds(0.05 / 8, sides=1) == 8
    assert min_seeds(0.05) == 6                                          # 2/32 = 0.0625, 2/64 = 0.03125
    assert min_seeds(1e-9, n_resamples=100_000) is None


def test_design_check_family_of_eight():
    rows = design_check({"H3": 3, **{f"other{i}": 10 for i in range(7)}}, alpha=0.05)
    h3 = rows[0]
    assert h3["id"] == "H3" and h3["m"] == 8 and h3["holm_first_level"] == 0.05 / 8
    assert h3["min_p"] == 0.25 and not h3["can_reject"] and not h3["can_reject_first_step"]
    assert h3["n_min"] == 9 and h3["n_min_equivalence"] == 8 and not h3["can_declare_equivalent"]
    assert all(r["can_reject"] and r["can_reject_first_step"] for r in rows[1:])
    # homogeneous family of 8: 8 seeds cannot reject anything, 9 can
    assert not any(r["can_reject"] for r in design_check([8] * 8))
    assert all(r["can_reject"] for r in design_check([9] * 8))
    assert all(r["can_declare_equivalent"] for r in design_check([8] * 8))
    assert not any(r["can_declare_equivalent"] for r in design_check([7] * 8))
    # best case: 6 seeds (2/64 < 0.05) can be rejected at Holm's last step after seven 10-seed hypotheses
    mixed = design_check([6] + [10] * 7)
    assert mixed[0]["can_reject"] and not mixed[0]["can_reject_first_step"]
    # a subset of a larger family: m counts the others
    assert not design_check([9], m=20)[0]["can_reject_first_step"] and design_check([9], m=20)[0]["n_min"] == 10
    with pytest.raises(ValueError, match="smaller"):
        design_check([9, 9], m=1)
    assert "2/2^n" in DESIGN_RULE and "9 seeds" in DESIGN_RULE


def test_simulated_intervals_are_signflip_ci():
    low, high = simulated_intervals(7, 0.9, n_sim=5, seed=4)
    z = np.random.default_rng(4).standard_normal((5, 7))
    for zi, lo, hi in zip(z, low, high, strict=True):
        ci = signflip_ci(zi, 0.9)
        assert (ci["low"], ci["high"]) == pytest.approx((lo, hi), rel=1e-12)
    assert np.isinf(simulated_intervals(5, 0.95, n_sim=3)[0]).all()      # 2/32 >= 0.05


def test_mde_signflip_decreases_with_n_and_is_close_to_t():
    mdes = [mde_signflip(n, 1.0, n_sim=400, seed=1) for n in (6, 8, 10, 12)]
    assert all(a > b for a, b in zip(mdes, mdes[1:], strict=False)), mdes
    # normal data: the sign-flip test is about as powerful as t
    for n, m in zip((8, 10, 12), mdes[1:], strict=True):
        assert 0.85 < m / min_detectable_effect(n, 1.0) < 1.25, (n, m)
    assert mde_signflip(10, 2.0, n_sim=400, seed=1) == pytest.approx(2 * mdes[2], rel=1e-12)
    assert mde_signflip(10, 1.0, n_sim=400, seed=1) == mdes[2]                  # deterministic given the seed
    assert mde_signflip(10, 1.0, n_sim=400, seed=2) != mdes[2]
    assert mde_signflip(4, 1.0, n_sim=50) == math.inf                           # 2/16 >= 0.05
    assert mde_signflip(8, 1.0, alpha=0.05 / 8, n_sim=50) == math.inf          # Holm's first step at m = 8
    assert mde_signflip(8, 0.0, n_sim=50) == 0.0                                # no noise: any shift is seen


def test_mde_signflip_against_direct_simulation():
    n, n_sim, sd = 8, 200, 2.0
    m = mde_signflip(n, sd, n_sim=n_sim, seed=3)
    z = np.random.default_rng(3).standard_normal((n_sim, n))
    direct = {f: np.mean([sign_flip_p(sd * zi + m * f) < 0.05 for zi in z]) for f in (0.999, 1.001)}
    assert direct[1.001] >= 0.8 > direct[0.999]
    assert power_signflip(m * 1.001, n, sd, n_sim=n_sim, seed=3) == direct[1.001]
    assert power_signflip(0.0, 10, 1.0, n_sim=2000) <= 0.06                    # the exact test holds its level
    assert power_signflip(3.0, 10, 1.0, n_sim=200) == 1.0


def test_mde_equivalence_signflip():
    n, n_sim, sd = 8, 200, 0.5
    m = mde_equivalence_signflip(n, sd, n_sim=n_sim, seed=5)
    z = np.random.default_rng(5).standard_normal((n_sim, n))
    direct = {f: np.mean([tost_signflip(sd * zi, np.zeros(n), m * f)["equivalent"] for zi in z])
              for f in (0.999, 1.001)}
    assert direct[1.001] >= 0.8 > direct[0.999]
    margins = [mde_equivalence_signflip(k, 1.0, n_sim=300) for k in (6, 9, 12)]
    assert all(a > b for a, b in zip(margins, margins[1:], strict=False)), margins
    assert mde_equivalence_signflip(9, 1.0, true_diff=0.3, n_sim=300) > margins[1]  # a true difference needs more
    assert mde_equivalence_signflip(4, 1.0, n_sim=50) == math.inf                   # 1/16 >= 0.05


# --------------------------------------------------------------------------- the design stage (no run)


def run_design(tmp_path, repo_root, **updates):
    import subprocess
    import sys

    from tests.conftest import pinned_params
    from tests.fabricate import fabricate_tokens_meta
    pinned_params(tmp_path, **updates)
    fabricate_tokens_meta(tmp_path / "meta.json")
    return subprocess.run([sys.executable, "-m", "pipeline.design", "--params", str(tmp_path / "params.yaml"),
                           "--out", str(tmp_path / "results"), "--meta", str(tmp_path / "meta.json")],
                          cwd=repo_root, capture_output=True, text=True, timeout=300)


def test_design_stage_on_the_registered_params(tmp_path, repo_root):
    import json

    from resonator.params import load_params
    r = run_design(tmp_path, repo_root)
    assert r.returncode == 0, r.stderr
    p = load_params(tmp_path / "params.yaml")
    doc = json.loads((tmp_path / "results" / "small" / "design" / "design.json").read_text())
    rows = {row["id"]: row for row in doc["rows"]}
    assert len(rows) == 13 and list(rows) == [t["id"] for t in p.hypotheses["tests"]]
    assert {f: len(ids) for f, ids in doc["meta"]["families"].items()} == {"claims": 7, "mechanism": 5, "init": 1}
    pilot = {h["id"]: h["comparison"]["sd_diff"] for h in
             json.loads((repo_root / p.hypotheses["pilot"]).read_text())["hypotheses"]}
    bpt = 624_000 / 200_000
    for t in p.hypotheses["tests"]:
        row = rows[t["id"]]
        assert row["n"] == 10 and row["min_p"] == 2 / 1024 and row["holm_first_level"] == 0.05 / row["m"]
        assert row["margin"] == pytest.approx(math.log1p(t["margin_ppl"] / 100) / (math.log(2) * bpt))
        assert row["conservative"] == (t["id"] not in pilot)
        assert row["pilot_sd"] == (pilot[t["id"]] if t["id"] in pilot else max(pilot.values()))
        assert row["mde_below_margin"] == (row["mde"] < row["margin"])
    h0 = rows["H0"]
    assert h0["mde"] == mde_signflip(10, pilot["H0"], alpha=0.05 / 7, power=0.8, n_sim=2000,
                                     seed=p.hypotheses["bootstrap_seed"])
    assert h0["mde_equivalence"] == mde_equivalence_signflip(10, pilot["H0"], alpha=0.05 / 7, power=0.8, n_sim=2000,
                                                             seed=p.hypotheses["bootstrap_seed"])
    assert "conservative: largest pilot sd" in rows["H1c"]["pilot_source"]
    table = (tmp_path / "results" / "small" / "design" / "table_design.tex").read_text()
    assert table.count(r"\\") == 14                                  # header and 13 rows
    assert "resSmallHOneCDesignMde" in (tmp_path / "results" / "small" / "design" / "macros.tex").read_text()


def test_design_stage_refuses_three_seeds(tmp_path, repo_root):
    r = run_design(tmp_path, repo_root, **{"seeds.core": [0, 1, 2], "seeds.ablation": [0, 1, 2]})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "3 paired seeds cannot decide it" in r.stderr and "plan at least" in r.stderr
    assert not (tmp_path / "results").exists()
