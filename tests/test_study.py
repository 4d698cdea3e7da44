"""evals/study.py, evals/curves.py and the reporting helpers: units, pairs, per-document scores,
curves, superseded results, strict JSON, number formats and the prose of each verdict."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from evals import study
from evals.curves import curve_block, paired_curves, report_indices
from reporting import prose
from reporting.latex import latex_value
from reporting.numbers import fmt, fmt_ci, fmt_g, fmt_level, fmt_p
from resonator.errors import InputError, ProjectError

# --------------------------------------------------------------------------- registration and units


def test_require_v2_refuses_v1_options():
    ok = {"version": 2, "primary_test": "permutation"}
    study.require_v2(ok)
    with pytest.raises(ProjectError, match="design-v1 option"):
        study.require_v2(ok | {"primary_test": "t"})
    with pytest.raises(ProjectError, match="design version 2"):
        study.require_v2(ok | {"version": 1})


def test_margin_units_round_trip():
    bpt = 3.12
    m = study.margin_in_metric("lm_test/bits_per_byte", 1.0, bpt)
    assert m == pytest.approx(math.log(1.01) / (math.log(2) * bpt))
    assert study.ppl_change_pct(m, "lm_test/bits_per_byte", bpt) == pytest.approx(1.0)
    assert study.ppl_change_pct(-m, "lm_test/bits_per_byte", bpt) == pytest.approx(100 / 1.01 - 100)
    assert study.margin_in_metric("val_loss", 0.5, bpt) == pytest.approx(math.log(1.005))
    assert study.ppl_change_pct(math.inf, "val_loss", bpt) == math.inf and study.ppl_change_pct(None, "x", 1) is None
    with pytest.raises(ProjectError, match="cannot be converted"):
        study.margin_in_metric("rhyme/acc", 1.0, bpt)


def test_bytes_per_token():
    assert study.bytes_per_token({"splits": {"test": {"bytes": 300, "tokens": 100}}}, "m")["bytes_per_token"] == 3
    with pytest.raises(InputError, match="splits.test"):
        study.bytes_per_token({"splits": {}}, "meta.json")
    with pytest.raises(InputError, match="0 test tokens"):
        study.bytes_per_token({"splits": {"test": {"bytes": 3, "tokens": 0}}}, "meta.json")


def test_pilot_sd_and_conservative_default():
    pilot = {"hypotheses": [{"id": "H0", "metric": "m", "comparison": {"sd_diff": 0.01}},
                            {"id": "H5", "metric": "m", "comparison": {"sd_diff": 0.07}},
                            {"id": "H9", "metric": "other", "comparison": {"sd_diff": 9.0}},
                            {"id": "H8", "metric": "m", "comparison": None}]}
    sds = study.pilot_sds(pilot, "m")
    assert sds == {"H0": 0.01, "H5": 0.07}
    assert study.pilot_sd_for("H0", sds) == {"sd": 0.01, "source": "pilot H0", "conservative": False}
    c = study.pilot_sd_for("H1c", sds)
    assert c["sd"] == 0.07 and c["conservative"] and "largest pilot sd (H5)" in c["source"]


def test_exclusion_reason_threshold():
    two, three = [{}] * 2, [{}] * 3
    assert study.exclusion_reason(10, two, 0.2) is None                 # 20% is not more than 20%
    assert study.exclusion_reason(10, three, 0.2).startswith("3 of 10 planned pairs excluded")


# --------------------------------------------------------------------------- runs: documents, correlation, curves


def test_document_scores_average_to_the_byte_weighted_metric(tmp_path):
    ll, nbytes = np.array([-700.0, -90.0, -2500.0]), np.array([400, 50, 1500])
    items = [{"doc_id": i, "bits_per_byte": [float(a), int(b)]}
             for i, (a, b) in enumerate(zip(ll, nbytes, strict=True))]
    (tmp_path / "items.json").write_text(json.dumps({"lm_test": items}))
    ids, scores = study.document_scores(tmp_path / "items.json")
    assert ids == [0, 1, 2]
    assert scores.mean() == pytest.approx(-ll.sum() / nbytes.sum() / math.log(2))      # lm-eval's aggregate
    (tmp_path / "none.json").write_text(json.dumps({"rhyme": []}))
    assert study.document_scores(tmp_path / "none.json") is None


def test_seed_correlation():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert study.seed_correlation(x, 2 * x + 1)["r"] == pytest.approx(1.0)
    assert study.seed_correlation(x, -x)["r"] == pytest.approx(-1.0)
    assert study.seed_correlation(x[:2], x[:2])["r"] is None
    assert "constant" in study.seed_correlation(x, np.ones(4))["note"]


def write_curve(path, rows):
    path.write_text("step\ttokens\ttrain_loss\tval_loss\tval_ppl\n"
                    + "".join(f"{i}\t{t}\t\t{v}\t1\n" for i, (t, v) in enumerate(rows)))
    return path


def test_curve_block_pairs_matched_token_counts(tmp_path):
    runs = {"a": {}, "b": {}}
    for s in range(6):
        runs["a"][s] = {"curve": write_curve(tmp_path / f"a{s}.tsv",
                                             [(0, 7.0), (100, 5.0 + s), (200, 4.0), (250, 3.0)])}
        runs["b"][s] = {"curve": write_curve(tmp_path / f"b{s}.tsv", [(0, 7.0), (100, 5.0), (200, 4.5)])}
    runs["b"][5] = {"curve": None}                                      # no curve: the seed is left out
    tokens, d, used = paired_curves(runs, "a", "b", range(6))
    assert tokens.tolist() == [0, 100, 200] and used == [0, 1, 2, 3, 4]   # 250 only in a's curves
    assert d[:, 1].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and np.allclose(d[:, 2], -0.5)
    block = curve_block(runs, "a", "b", range(6), 0.95)
    assert block["series"]["min"][1] == 0.0 and block["series"]["max"][1] == 4.0
    assert [pt["tokens"] for pt in block["points"]] == [0, 100, 200] and block["points"][1]["mean"] == 2.0
    assert block["points"][1]["ci_low"] == -math.inf                   # 5 seeds: 2/32 >= 0.05, unbounded
    assert report_indices(np.array([0, 50, 100, 150, 200, 250, 300, 350, 400])) == [2, 4, 6, 8]
    assert curve_block({"a": {}, "b": {}}, "a", "b", [0])["note"] == "no pair of curves"


# --------------------------------------------------------------------------- superseded results, strict JSON


def test_superseded_reads_the_recorded_verdicts_and_checks_the_hash(tmp_path):
    doc = {"meta": {"prereg_hash": "abcdef1234567890", "verdict_rule": "v1 rule"},
           "hypotheses": [{"id": "H1", "a": "x", "b": "y", "family": "main", "verdict": "better", "p_adjusted": 0.01,
                           "comparison": {"n": 3, "mean_diff": -0.1, "ci_low": -0.2, "ci_high": 0.0}}]}
    (tmp_path / "stats.json").write_text(json.dumps(doc))
    entry = {"version": 1, "prereg_hash": "abcdef123456", "reason": "why", "results": str(tmp_path)}
    out = study.superseded(SimpleNamespace(hypotheses={"supersedes": [entry]}))
    assert out[0]["rows"][0]["verdict"] == "better" and out[0]["verdict_rule"] == "v1 rule"
    with pytest.raises(InputError, match="not the superseded version's 000000000000"):
        study.superseded(SimpleNamespace(hypotheses={"supersedes": [entry | {"prereg_hash": "000000000000"}]}))


def test_strict_json():
    obj = {"a": float("nan"), "b": [math.inf, np.float64(1.5), np.int64(2)], "c": (np.bool_(True),), 3: "x"}
    assert study.strict_json(obj) == {"a": None, "b": [None, 1.5, 2], "c": [True], "3": "x"}
    json.dumps(study.strict_json(obj), allow_nan=False)


# --------------------------------------------------------------------------- number formats


def test_number_formats():
    assert fmt(-0.01234) == "-0.0123" and fmt(0.5, 2, sign=True) == "+0.50" and fmt(None) == "n/a"
    assert fmt(math.inf) == "inf" and fmt(float("nan")) == "n/a"
    assert fmt_p(0.0004) == "<0.001" and fmt_p(0.0421) == "0.042"
    assert fmt_g(2 / 1024) == "0.002" and fmt_level(0.95) == "95" and fmt_level(1 - 0.05 / 7) == "99.29"
    assert fmt_ci(-math.inf, math.inf) == "unbounded" and fmt_ci(-0.1, 0.2) == "[-0.1000, +0.2000]"
    assert latex_value("-0.0123") == "$-$0.0123" and latex_value("< 0.0002") == "$<$ 0.0002"
    assert latex_value("[-inf, inf]") == r"[$-\infty$, $\infty$]" and latex_value("2026-11-28") == "2026-11-28"


# --------------------------------------------------------------------------- prose


def record(verdict, reason="VERDICT_RULE_V2", claimed=None, mde=0.01, obs=0.01, latex=False):
    """A minimal stats.json record and design row for the prose."""
    r = {"id": "H9", "a": "var_a", "b": "var_b", "family": "fam", "question": "Q?", "verdict": verdict,
         "verdict_reason": reason, "seeds": list(range(10)), "planned_seeds": list(range(10)), "excluded": [],
         "margin": {"ppl_pct": 1.0, "value": 0.02, "units": "bits/byte", "reason": "a reason", "claimed_ppl": claimed},
         "comparison": {"n": 10, "mean_diff": 0.001, "ci_low": -0.01, "ci_high": 0.012, "ci_level": 0.99,
                        "ci95_low": -0.008, "ci95_high": 0.01, "p_signflip": 0.5, "p_adjusted": 1.0,
                        "p_equivalence_adjusted": 0.01, "sd_diff": 0.01, "normality": None,
                        "ppl_change": {"mean": 0.2, "ci_low": -2.0, "ci_high": 2.5}},
         "mde": {"design": {"mde": mde}, "observed": {"mde": obs, "mde_ppl": 1.0}},
         "multi_bootstrap": {"note": "none"}, "seed_correlation": {"r": None}, "curve_diff": {"points": []}}
    row = {"id": "H9", "n": 10, "m": 3, "min_p": 2 / 1024, "holm_first_level": 0.05 / 3, "margin_ppl": 1.0,
           "margin": 0.02, "claimed_ppl": claimed, "pilot_sd": 0.01, "mde": mde, "mde_ppl": 1.0,
           "mde_equivalence": mde, "mde_equivalence_ppl": 1.0, "mde_below_margin": mde < 0.02,
           "mde_equivalence_below_margin": mde < 0.02, "conservative": False}
    design = {"meta": {"version": 2, "registered": "2026-01-01", "power": 0.8, "alpha": 0.05, "confidence": 0.95,
                       "bytes_per_token": 3.0, "test_bytes": 3, "test_tokens": 1, "n_sim": 10,
                       "max_excluded_fraction": 0.2, "bootstrap_resamples": 10, "families": {"fam": ["H9"]}},
              "rows": [row]}
    return r, row, prose.Style(latex, "small", prose.values_of(design, [r]))


def test_prose_equivalent_names_margin_and_claim():
    r, row, S = record("equivalent", claimed=5.0)
    text = prose.claim_item(r, row, S)
    assert "equivalent within ±1% per-token perplexity" in text
    assert "dismisses the original's claim of 5% lower perplexity" in text and "10 paired seeds" in text
    r, row, S = record("equivalent")
    assert "the original made no claim here; margin: a reason" in prose.claim_item(r, row, S)


def test_prose_inconclusive_power_caveat():
    r, row, S = record("inconclusive", mde=0.05, obs=0.01)
    text = prose.claim_item(r, row, S)
    assert "could not detect" in text and "the design MDE" in text and "not ruled out" in text
    r, row, S = record("inconclusive", mde=0.01, obs=0.01)
    assert "Both MDEs are below the margin" in prose.claim_item(r, row, S)
    r, row, S = record("inconclusive", mde=math.inf, obs=math.inf)
    assert "cannot reach its Holm level at all" in prose.claim_item(r, row, S)
    r, row, S = record("inconclusive", reason="4 of 10 planned pairs excluded (...)")
    assert "Inconclusive by the incomplete pair rule: 4 of 10" in prose.claim_item(r, row, S)
    r, row, S = record("trivially different", claimed=5.0)
    assert "too small to matter" in prose.meaning(r, S) and "smaller than the original's claim" in prose.meaning(r, S)


def test_prose_latex_uses_macros_only():
    r, row, S = record("better", claimed=5.0, latex=True)
    text = prose.claim_item(r, row, S)
    assert "\\resSmallHNineDiff{}" in text and "0.001" not in text and "\\resSmallHNineClaimedPpl{}" in text
