"""The design and stats stages on fabricated runs: known verdicts of design v2 (VERDICT_RULE_V2),
Holm within each family, exclusions, the secondary views, determinism, the reviewer's view."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.stats import VERDICTS_V2, holm_adjust
from reporting.latex import macro_name
from resonator.params import load_params
from tests.conftest import pinned_params
from tests.fabricate import fabricate, fabricate_tokens_meta

# Known answers (bits per byte, relative to `standard`; seed effects shared by every variant):
# phonetic and random are the same model up to 1e-4 noise (H2: equivalent within its 0.5% margin),
# both 0.05 better than the standard baselines (H1a-H1d: better), shuffled 0.002 worse than random
# with 1e-4 noise (H5a: a real difference far inside the 1% margin: trivially different), uniform (as random)
# drowned in noise (H6a: inconclusive, MDE above the margin), no_blend missing 3 of 10 pairs (H5c
# and H6b: inconclusive by the incomplete pair rule), the notebook baseline 0.4 worse (H0 better, H3 worse).
EFFECTS = {"resonator_phonetic": -0.05, "resonator_random": -0.05, "resonator_shuffled": -0.048,
           "resonator_uniform": -0.05}
NOISE = {"resonator_phonetic": 1e-4, "resonator_random": 1e-4, "resonator_shuffled": 1e-4, "resonator_uniform": 0.05}
EXPECTED = {"H0": "better", "H1a": "better", "H1b": "better", "H1c": "better", "H1d": "better", "H2": "equivalent",
            "H4": "worse", "H5a": "trivially different", "H5b": "worse", "H5c": "inconclusive", "H6a": "inconclusive",
            "H6b": "inconclusive", "H3": "worse"}


def run(module, tmp_path, repo_root, *args, check=True):
    r = subprocess.run([sys.executable, "-m", module, "--params", str(tmp_path / "params.yaml"), *map(str, args)],
                       cwd=repo_root, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def run_stats(tmp_path, repo_root, out="results", runs="runs"):
    """The design stage, then the stats stage, into tmp_path/out."""
    run("pipeline.design", tmp_path, repo_root, "--out", tmp_path / out, "--meta", tmp_path / "meta.json")
    return run("pipeline.stats", tmp_path, repo_root, "--runs-root", tmp_path / runs, "--out", tmp_path / out,
               "--original", repo_root / "paper" / "original_results.yaml").stdout


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from tests.conftest import ROOT
    tmp_path = tmp_path_factory.mktemp("report")
    p = load_params(pinned_params(tmp_path))
    fabricate(tmp_path / "runs", p.profile, p.groups, p.seeds, effects=EFFECTS, noise=NOISE,
              diverged={("resonator_no_blend", 1), ("resonator_no_blend", 4)}, missing={("resonator_no_blend", 2)})
    fabricate_tokens_meta(tmp_path / "meta.json")
    stdout = run_stats(tmp_path, ROOT, "a")
    run_stats(tmp_path, ROOT, "b")
    stats = json.loads((tmp_path / "a" / p.profile / "stats.json").read_text())
    return tmp_path, p, stats, stdout


def hyps(stats):
    return {h["id"]: h for h in stats["hypotheses"]}


def test_known_verdicts(study):
    _, p, stats, _ = study
    got = {h["id"]: h["verdict"] for h in stats["hypotheses"]}
    assert got == EXPECTED
    assert set(VERDICTS_V2) == set(got.values())                     # every verdict of the rule appears
    h = hyps(stats)
    assert h["H0"]["comparison"]["mean_diff"] < -10 * h["H0"]["margin"]["value"]     # far beyond the margin
    assert abs(h["H2"]["comparison"]["mean_diff"]) < h["H2"]["margin"]["value"] / 10
    assert h["H2"]["comparison"]["p_equivalence_adjusted"] < 0.05 <= h["H2"]["comparison"]["p_adjusted"]
    h5a = h["H5a"]["comparison"]
    assert h5a["p_adjusted"] < 0.05 and h5a["p_equivalence_adjusted"] < 0.05 and 0 < h5a["mean_diff"] < 0.0046


def test_margins_in_bits_per_byte_and_families(study):
    _, p, stats, _ = study
    bpt = 624_000 / 200_000                                          # the fabricated test split
    for t in p.hypotheses["tests"]:
        h = hyps(stats)[t["id"]]
        assert h["margin"]["value"] == pytest.approx(math.log1p(t["margin_ppl"] / 100) / (math.log(2) * bpt))
        assert h["margin"]["ppl_pct"] == t["margin_ppl"] and h["margin"]["units"] == "bits/byte"
        assert h["family"] == t["family"] and h["margin"]["reason"] == t["margin_reason"]
    # Holm within each family, for the primary and for the equivalence p-values
    for family in ("claims", "mechanism", "init"):
        members = [h for h in stats["hypotheses"] if h["family"] == family]
        assert all(h["comparison"]["m"] == len(members) for h in members if h["comparison"])
        raw = [h["comparison"]["p_signflip"] for h in members]
        assert [h["comparison"]["p_adjusted"] for h in members] == pytest.approx(holm_adjust(raw))
        eq = [h["comparison"]["tost"]["p_tost"] for h in members]
        assert [h["comparison"]["p_equivalence_adjusted"] for h in members] == pytest.approx(holm_adjust(eq))
    h3 = hyps(stats)["H3"]["comparison"]                             # a family of one: no adjustment
    assert h3["p_adjusted"] == h3["p_signflip"] and h3["ci_level"] == pytest.approx(0.95)


def test_both_intervals_labelled(study):
    _, p, stats, _ = study
    h0 = hyps(stats)["H0"]["comparison"]
    assert h0["ci_level"] > 0.95 and h0["ci_low"] <= h0["ci95_low"] and h0["ci95_high"] <= h0["ci_high"]
    assert h0["ci_method"] == "holm" and h0["normality"]["test"] == "Shapiro-Wilk"
    table = (study[0] / "a" / p.profile / "tex" / "table_hypotheses.tex").read_text()
    assert "Holm-level CI" in table and r"95\% CI (unadj.)" in table


def test_exclusions_and_ignored_reasons(study):
    _, p, stats, _ = study
    h5c = hyps(stats)["H5c"]
    reasons = {e["seed"]: e["reason"] for e in h5c["excluded"]}
    assert reasons == {1: "resonator_no_blend: diverged (non-finite metric)",
                       2: "resonator_no_blend: missing run", 4: "resonator_no_blend: diverged (non-finite metric)"}
    assert h5c["verdict_reason"].startswith("3 of 10 planned pairs excluded")
    assert h5c["comparison"]["n"] == 7 and h5c["comparison"]["p_adjusted"] is not None   # stays in its family


def test_mdes_multibootstrap_correlation_curves(study):
    _, p, stats, _ = study
    design = json.loads((study[0] / "a" / p.profile / "design" / "design.json").read_text())
    rows = {r["id"]: r for r in design["rows"]}
    for h in stats["hypotheses"]:
        assert h["mde"]["design"]["mde"] == rows[h["id"]]["mde"]                   # one place: design.json
        assert h["mde"]["observed"]["sd_source"].startswith("observed")
    h0, h6a = hyps(stats)["H0"], hyps(stats)["H6a"]
    assert h6a["mde"]["observed"]["mde"] > h6a["margin"]["value"]                   # drowned in noise
    mb = h0["multi_bootstrap"]                    # per-document scores average to the run's bits per byte
    assert mb["mean_diff"] == pytest.approx(h0["comparison"]["mean_diff"], rel=1e-9)
    assert mb["ci_low"] < mb["mean_diff"] < mb["ci_high"] < 0 and mb["p"] is None and mb["p_text"] == "< 0.0002"
    assert mb["p_a_better_seeds"] == 1.0 and mb["n_seeds"] == 10
    assert 0.5 < h0["seed_correlation"]["r"] <= 1 and h0["seed_correlation"]["n"] == 10
    curve = h0["curve_diff"]
    assert curve["band"] == "min-max over seeds" and [pt["tokens"] for pt in curve["points"]] == [0, 400_000, 800_000]
    assert curve["points"][-1]["mean"] == pytest.approx(1.6 * h0["comparison"]["mean_diff"], abs=1e-4)
    assert curve["points"][0]["mean"] == 0 and len(curve["series"]["tokens"]) == 3
    assert set(h0["secondary"]) == {"lm_test/word_perplexity", "rhyme/acc", "cloze/acc", "agreement/acc"}


def test_prose_names_margins_claims_and_power(study):
    tmp_path, p, stats, _ = study
    summary = (tmp_path / "a" / p.profile / "summary.md").read_text()
    claims = summary.split("## What each verdict says")[1].split("## Conclusion")[0]
    line = {ln.split("**")[1]: ln for ln in claims.splitlines() if ln.startswith("- **")}
    assert "equivalent within ±0.5% per-token perplexity" in line["H2"]
    assert "dismisses the original's claim of 1.1% lower perplexity" in line["H2"]
    assert "a real difference (significant after Holm) too small to matter" in line["H5a"]
    assert "the original made no claim here" not in line["H5a"]
    assert "could not detect" in line["H6a"] and "not ruled out" in line["H6a"]
    assert "incomplete pair rule: 3 of 10 planned pairs excluded" in line["H5c"]
    assert "10 paired seeds" in line["H0"]
    tex = (tmp_path / "a" / p.profile / "tex" / "claims.tex").read_text()
    assert "\\" + macro_name(p.profile, "H2", "MarginPpl") + "{}" in tex      # numbers are macros in LaTeX
    numbers = (tmp_path / "a" / p.profile / "tex" / "numbers.tex").read_text()
    assert "\\" + macro_name(p.profile, "H0", "Verdict") + "}{better}" in numbers
    assert "\\" + macro_name(p.profile, "H5a", "Verdict") + "}{trivially different}" in numbers


def test_superseded_v1_reported_as_decided(study):
    tmp_path, p, stats, _ = study
    from tests.conftest import ROOT
    recorded = json.loads((ROOT / "results" / "small" / "v1" / "stats.json").read_text())
    sup = stats["superseded"]
    assert [s["version"] for s in sup] == [1] and sup[0]["prereg_hash"] == "15568d0b2970"
    assert {r["id"]: r["verdict"] for r in sup[0]["rows"]} == {r["id"]: r["verdict"] for r in recorded["hypotheses"]}
    tex = (tmp_path / "a" / p.profile / "tex" / "superseded.tex").read_text()
    assert "Design version 1" in tex and "15568d0b2970" in tex and "not recomputed" in tex
    assert "### Design version 1 (pre-registration 15568d0b2970), superseded" in \
        (tmp_path / "a" / p.profile / "summary.md").read_text()


def test_two_runs_give_identical_bytes(study):
    tmp_path, p, stats, _ = study
    a, b = tmp_path / "a" / p.profile, tmp_path / "b" / p.profile
    names = sorted(str(f.relative_to(a)) for f in a.rglob("*") if f.is_file())
    assert names == sorted(str(f.relative_to(b)) for f in b.rglob("*") if f.is_file())
    assert "figures/curve_diff.pdf" in names and "design/design.json" in names
    assert "stamps.json" in names and "tex/stamps.tex" in names   # when it ran: apart from the results
    for name in names:
        if Path(name).name.startswith("stamps."):
            continue
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert "provenance" not in stats["meta"] and "Produced" not in (a / "tex" / "numbers.tex").read_text()
    stamps = json.loads((a / "stamps.json").read_text())["stats"]
    stamps_tex = (a / "tex" / "stamps.tex").read_text().replace(p.profile.title(), "Small")
    assert stamps["provenance"]["utc"] and "resSmallHardware" in stamps_tex
    # the paper prints no commit or date: a reproduction of the same numbers rebuilds the same PDF
    assert stamps["provenance"]["utc"][:10] not in stamps_tex and "Commit" not in stamps_tex
    assert (a / "figures" / "curve_diff.pdf").read_bytes().startswith(b"%PDF")


def test_stats_uses_exactly_the_planned_runs(study, repo_root):
    """A run directory outside the plan is listed, never counted."""
    tmp_path, p, before, _ = study
    shutil.copytree(tmp_path / "runs", tmp_path / "runs2")
    extra = tmp_path / "runs2" / p.profile / "resonator_shuffled"
    for s in (10, 11):
        shutil.copytree(extra / "s0", extra / f"s{s}")
    out = run_stats(tmp_path, repo_root, "after", "runs2")
    assert "ignored 2 run(s) outside the plan: resonator_shuffled/s10, resonator_shuffled/s11" in out
    after = json.loads((tmp_path / "after" / p.profile / "stats.json").read_text())
    assert before["variants"] == after["variants"] and before["hypotheses"] == after["hypotheses"]
    assert after["meta"]["ignored_runs"] == ["resonator_shuffled/s10", "resonator_shuffled/s11"]
    assert "Ignored (outside the plan in params.yaml): resonator_shuffled/s10" in \
        (tmp_path / "after" / p.profile / "summary.md").read_text()


def test_review_prints_verdicts_margins_and_mdes(study, repo_root):
    tmp_path, p, stats, _ = study
    r = subprocess.run([sys.executable, "-m", "tools.review", "--results", str(tmp_path / "a"),
                        "--profile", p.profile], cwd=repo_root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "seed" in r.stdout and "Holm-level CI" in r.stdout and "MDE des" in r.stdout and "MDE obs" in r.stdout
    lines = r.stdout.splitlines()
    for v in stats["variants"]:                     # full names, however long
        assert any(ln.split()[:1] == [v] for ln in lines), v
    h2 = next(ln for ln in lines if ln.startswith("H2 "))
    assert "equivalent" in h2 and "(±0.5%PPL)" in h2 and "10/10" in h2
    fam = next(f for f, ids in stats["meta"]["families"].items() if "H2" in ids)
    assert h2.split()[1:3] == [fam, f"({len(stats['meta']['families'][fam])})"], h2
    assert "7/10  (excluded: 3)" in next(ln for ln in r.stdout.splitlines() if ln.startswith("H5c "))


def test_stats_refuses_t_and_a_stale_design(study, repo_root):
    tmp_path, p, _, _ = study
    other = tmp_path / "t"
    other.mkdir()
    pinned_params(other, **{"hypotheses.primary_test": "t"})
    r = run("pipeline.stats", other, repo_root, "--runs-root", tmp_path / "runs", "--out", tmp_path / "a", check=False)
    assert r.returncode == 2 and "hypotheses.primary_test" in r.stderr and "design-v1 option" in r.stderr
    pinned_params(other, **{"hypotheses.alpha": 0.04})                  # another registration than design.json's
    r = run("pipeline.stats", other, repo_root, "--runs-root", tmp_path / "runs", "--out", tmp_path / "a", check=False)
    assert r.returncode == 2 and "another pre-registration" in r.stderr and "pipeline.design" in r.stderr
