"""Statistics stage on fabricated runs: verdicts, Holm family, exclusions, determinism, review."""
import json
import subprocess
import sys

import pytest

from reporting.latex import macro_name
from resonator.params import load_params
from tests.conftest import pinned_params
from tests.fabricate import fabricate


@pytest.fixture
def fabricated(tmp_path, repo_root):
    p = load_params(pinned_params(tmp_path))
    fabricate(tmp_path / "runs", p.profile, p.groups, p.seeds,
              diverged={("resonator_no_blend", 1)}, missing={("resonator_no_blend", 2)})
    return tmp_path, p


def run_stats(tmp_path, repo_root, out="results"):
    r = subprocess.run([sys.executable, "-m", "pipeline.stats", "--runs-root", str(tmp_path / "runs"),
                        "--out", str(tmp_path / out), "--params", str(tmp_path / "params.yaml"),
                        "--original", str(repo_root / "paper" / "original_results.yaml")],
                       cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_stats_verdicts_holm_and_exclusions(fabricated, repo_root):
    tmp_path, p = fabricated
    run_stats(tmp_path, repo_root)
    s = json.loads((tmp_path / "results" / p.profile / "stats.json").read_text())
    hyps = {h["id"]: h for h in s["hypotheses"]}
    assert set(hyps) == {h["id"] for h in p.hypotheses["tests"]}
    # the synthetic notebook baseline is 0.4 bits/byte worse: the resonator is "better" than it
    assert hyps["H0"]["verdict"] == "better"
    assert hyps["H3"]["verdict"] == "worse"                      # notebook - standard > 0
    assert hyps["H3"]["family"] == "init" and hyps["H3"]["p_adjusted"] == hyps["H3"]["comparison"]["p_permutation"]
    main = [h for h in s["hypotheses"] if h["family"] == "main" and h["comparison"]]
    raw = sorted(h["comparison"]["p_permutation"] for h in main)
    assert min(h["p_adjusted"] for h in main) == pytest.approx(min(1.0, raw[0] * len(main)))
    ex = hyps["H5c"]["excluded"]
    reasons = {e["seed"]: (e["reason"], e["runs"]) for e in ex}
    assert reasons[1] == ("resonator_no_blend: diverged (non-finite metric)",
                          {"resonator_no_blend": "diverged (non-finite metric)"})
    assert reasons[2] == ("resonator_no_blend: missing run", {"resonator_no_blend": "missing run"})
    assert set(reasons) == {1, 2}
    assert hyps["H5c"]["verdict"] == "inconclusive"              # 2 of 3 planned pairs excluded
    numbers = (tmp_path / "results" / p.profile / "tex" / "numbers.tex").read_text()
    assert "\\" + macro_name(p.profile, "H0", "Verdict") + "}{better}" in numbers


def test_stats_uses_exactly_the_planned_runs(fabricated, repo_root):
    """A run directory outside the plan (e.g. left by an opt-in 10-seed run) is listed, never counted."""
    tmp_path, p = fabricated
    run_stats(tmp_path, repo_root, "before")
    extra = tmp_path / "runs" / p.profile / "resonator_shuffled"
    import shutil
    for s in (7, 8):
        shutil.copytree(extra / "s0", extra / f"s{s}")
    out = run_stats(tmp_path, repo_root, "after")
    assert "ignored 2 run(s) outside the plan: resonator_shuffled/s7, resonator_shuffled/s8" in out
    before = json.loads((tmp_path / "before" / p.profile / "stats.json").read_text())
    after = json.loads((tmp_path / "after" / p.profile / "stats.json").read_text())
    assert before["variants"] == after["variants"] and before["hypotheses"] == after["hypotheses"]
    assert after["meta"]["ignored_runs"] == ["resonator_shuffled/s7", "resonator_shuffled/s8"]
    assert "Ignored (outside the plan in params.yaml): resonator_shuffled/s7" in \
        (tmp_path / "after" / p.profile / "summary.md").read_text()


def test_figures_are_byte_identical(fabricated, repo_root):
    tmp_path, p = fabricated
    run_stats(tmp_path, repo_root, "a")
    run_stats(tmp_path, repo_root, "b")
    for name in ("forest.pdf", "curves.pdf", "strip.pdf", "slope_standard.pdf"):
        a = (tmp_path / "a" / p.profile / "figures" / name).read_bytes()
        b = (tmp_path / "b" / p.profile / "figures" / name).read_bytes()
        assert a == b, name


def test_review_prints_table_and_verdicts(fabricated, repo_root):
    tmp_path, p = fabricated
    run_stats(tmp_path, repo_root)
    r = subprocess.run([sys.executable, "-m", "pipeline.review", "--results", str(tmp_path / "results"),
                        "--profile", p.profile], cwd=repo_root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "H1a" in r.stdout and "verdict" in r.stdout and "seed" in r.stdout
