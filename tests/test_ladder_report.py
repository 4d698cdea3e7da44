"""ladder_stats on fabricated ladders: a known trend is found through the whole stage, missing
rungs are reported as such, and every output is the same bytes twice."""
import json
from pathlib import Path

import pytest

from pipeline.ladder_stats import main as ladder_stats
from resonator.ladder import Ladder
from resonator.layout import LadderLayout
from resonator.params import load_params
from tests.conftest import pinned_params
from tests.fabricate_ladder import fabricate_finals, fabricate_tuning, write_tokens_meta

GRID = [5.0e-4, 1.0e-3, 2.0e-3, 4.0e-3, 8.0e-3]
SMALL_LADDER = {"ladder.hypotheses": ["H1a", "H2", "H5b"], "ladder.run": ["d64", "d256"],
                "ladder.rungs": {"d64": {"model": {"d_model": 64, "n_layers": 2, "n_heads": 2, "d_ff": 256,
                                                   "max_seq_len": 64}, "lengths": [0.5, 2.4], "tune_length": 0.5,
                                         "lr_grid": GRID},
                                 "d256": {"model": {"d_model": 256, "n_layers": 4, "n_heads": 4, "d_ff": 1024,
                                                    "max_seq_len": 128}, "lengths": [0.5], "tune_length": 0.5,
                                          "lr_grid": GRID}},
                "ladder.revisions": []}   # the repository's revisions name its own rungs


def make(d: Path, slope: float = 0.0, missing_rungs=()) -> tuple[Path, list[str]]:
    d.mkdir(parents=True, exist_ok=True)
    params = pinned_params(d, "small", **SMALL_LADDER)
    lad = Ladder(load_params(params))
    lay = LadderLayout(lad.profile, runs_base=d / "runs", results_base=d / "results")
    fabricate_tuning(lad, lay)
    fabricate_finals(lad, lay, slope=slope, missing_rungs=missing_rungs)
    meta = write_tokens_meta(d / "meta.json")
    return d, ["--params", str(params), "--runs-root", str(d / "runs"), "--meta", str(meta)]


def outputs(root: Path) -> dict[str, bytes]:
    res = root / "small" / "ladder"
    files = [res / n for n in ("ladder.json", "verdicts.json", "summary.md")]
    files += sorted((res / "tex").glob("*.tex")) + sorted((res / "figures").glob("*.pdf"))
    return {str(f.relative_to(res)): f.read_bytes() for f in files}


@pytest.fixture(scope="module")
def sloped(tmp_path_factory):
    d, args = make(tmp_path_factory.mktemp("sloped"), slope=0.02)
    for out in ("out1", "out2"):
        assert ladder_stats(args + ["--out", str(d / out)]) == 0
    return d


def test_outputs_are_deterministic(sloped):
    a, b = outputs(sloped / "out1"), outputs(sloped / "out2")
    assert set(a) >= {"ladder.json", "tex/table_verdicts.tex", "tex/table_trend.tex", "tex/stability.tex",
                      "figures/ladder.pdf", "figures/tuning.pdf"}
    assert a == b


def test_known_trend_is_found_through_the_stage(sloped):
    doc = json.loads((sloped / "out1" / "small" / "ladder" / "ladder.json").read_text())
    trends = {t["id"]: t for t in doc["trends"]}
    # resonator_phonetic gets +0.02 bits/byte per decade of parameters relative to every other variant
    h1a = trends["H1a"]["slopes"]["params"]
    assert h1a["ci_low"] < 0.02 < h1a["ci_high"] and h1a["verdict"] == "changes"
    # the Multi-Bootstrap over seeds and the runs' per-document scores, reported beside it
    assert h1a["mb_slope"] == pytest.approx(h1a["slope"], abs=1e-12)
    assert 0 < h1a["mb_low"] < h1a["slope"] < h1a["mb_high"]
    assert trends["H1a"]["multi_bootstrap"]["seeds"] == list(range(10))
    h5b = trends["H5b"]["slopes"]["params"]          # neither side is phonetic: no slope
    assert h5b["ci_low"] < 0 < h5b["ci_high"] and h5b["verdict"] != "changes"
    assert [c["label"] for c in doc["cells"]] == ["d64 e0.5", "d64 e2.4", "d256 e0.5"]
    assert all(r["comparison"]["n"] == 10 for c in doc["cells"] for r in c["analysis"]["hypotheses"])
    # every cell is decided by the main study's rule with its own design MDE
    assert {r["verdict"] for c in doc["cells"] for r in c["analysis"]["hypotheses"]} <= {
        "better", "worse", "equivalent", "trivially different", "inconclusive"}
    assert all(r["mde"]["design"]["mde"] > 0 for c in doc["cells"] for r in c["analysis"]["hypotheses"])
    # each cell's per-variant values are the ones its paired differences are taken from
    cell = next(c for c in doc["cells"] if c["label"] == "d64 e2.4")
    phon, std = (cell["variants"][v]["per_seed"] for v in ("resonator_phonetic", "standard"))
    assert cell["analysis"]["pairs"]["H1a"]["d"] == pytest.approx([phon[str(s)] - std[str(s)] for s in range(10)])
    assert cell["variants"]["standard"]["n"] == 10
    assert all(d["n"] == 10 for c in doc["cells"] for d in c["end_slope"]["variants"].values())
    assert "fell by" in (sloped / "out1" / "small" / "ladder" / "tex" / "lengths.tex").read_text()
    tables = sloped / "out1" / "small" / "ladder" / "tex"
    assert "d256 e0.5" in (tables / "table_verdicts.tex").read_text()
    assert "H1a" in (tables / "stability.tex").read_text()
    assert "so does the Multi-Bootstrap interval" in (tables / "stability.tex").read_text()
    assert "Multi-Bootstrap CI" in (tables / "table_trend.tex").read_text()
    # the abstract's sentence names the decided trend, with the side it favours
    abstract = (tables / "abstract.tex").read_text()
    assert abstract.startswith("Across a ladder of 2 model sizes") and "(10 paired seeds per cell)" in abstract
    assert "H1a moving in favour of \\texttt{standard} as model size" in abstract
    assert "H5b moving" not in abstract


def test_abstract_says_nothing_before_any_final_run():
    from reporting.ladder_prose import abstract
    doc = {"stability": {"H1a": {"pattern": "none", "verdicts": {}, "kinds": []}}, "trends": [], "rungs": {},
           "meta": {"seeds": list(range(10))}}
    assert abstract(doc, latex=True) == ""


def test_a_trend_item_agrees_with_its_number_of_terms():
    from reporting.ladder_prose import Words, _trend_items
    changes = {"verdict": "changes", "favours": "b"}
    pair = {"a": "resonator_phonetic", "b": "standard"}
    trends = [{"id": "H1a", **pair, "slopes": {"params": changes, "tokens": changes}},
              {"id": "H1b", **pair, "slopes": {"params": changes}}]
    both, one = _trend_items(trends, Words(latex=False))
    assert both.endswith("as model size and training length grow")
    assert one.endswith("as model size grows")


def test_a_rung_without_runs_is_reported_not_guessed(tmp_path):
    d, args = make(tmp_path, missing_rungs=("d256",))
    assert ladder_stats(args + ["--out", str(d / "out")]) == 0
    doc = json.loads((d / "out" / "small" / "ladder" / "ladder.json").read_text())
    d256 = next(c for c in doc["cells"] if c["rung"] == "d256")
    assert d256["n_runs"] == 0 and all(r["verdict"] == "inconclusive" for r in d256["analysis"]["hypotheses"])
    assert all("d256 e0.5" not in s["verdicts"] for s in doc["stability"].values())
    flat = json.loads((d / "out" / "small" / "ladder" / "verdicts.json").read_text())
    assert {v["verdict"] for v in flat["d256 e0.5"].values()} == {"not run"}
    assert "not run" not in {v["verdict"] for v in flat["d64 e2.4"].values()}
    tex = d / "out" / "small" / "ladder" / "tex"
    assert "--" in (tex / "table_verdicts.tex").read_text()
    # the numbers' table has no row for it (its "inconclusive" would read as a finding)
    detail = (tex / "table_detail.tex").read_text()
    assert "d64 e2.4" in detail and "d256" not in detail


def test_measured_times_add_up_the_stamps(tmp_path):
    from tools.ladder_times import main as ladder_times
    d, args = make(tmp_path / "t", missing_rungs=("d256",))
    assert ladder_times(args[:4] + ["--json", str(tmp_path / "times.json")]) == 0
    lad = Ladder(load_params(args[1]))
    rows = json.loads((tmp_path / "times.json").read_text())
    n_tune = len(lad.variants) * len(lad.rung_grid("d64")) * len(lad.tune_seeds)
    assert rows["d64"]["tuning_runs"] == n_tune and rows["d64"]["tuning_train_h"] == pytest.approx(n_tune * 36 / 3600)
    n_final = len(lad.variants) * len(lad.seeds)
    assert rows["d64"]["final_runs"] == n_final
    assert rows["d64"]["final_train_h"] == pytest.approx(n_final * 2 * 360 / 3600)   # two lengths
    assert rows["d64"]["eval_h"] == pytest.approx(n_final * 2 * 36 / 3600)
    assert rows["d256"]["final_runs"] == 0 and rows["d256"]["final_train_h"] == 0     # not run: nothing counted


def test_runs_without_their_cached_outputs_are_counted_and_warned(tmp_path, capsys):
    # a checkout whose DVC cache lacks some runs' per-document scores: the verdicts stand (they
    # read git-tracked records), the secondary analyses are partial and the stage says so
    d, args = make(tmp_path)
    lay = LadderLayout("small", runs_base=d / "runs")
    lay.final_run("d64", "standard", 0).length(0.5).items.unlink()
    lay.final_run("d64", "resonator_phonetic", 1).length(0.5).curve.unlink()
    capsys.readouterr()
    assert ladder_stats(args + ["--out", str(d / "out")]) == 0
    out = capsys.readouterr().out
    assert "warning: trained run-lengths without their per-document scores or curve" in out and "d64 e0.5: 2" in out
    doc = json.loads((d / "out" / "small" / "ladder" / "ladder.json").read_text())
    assert {c["label"]: c["n_runs_lacking_outputs"] for c in doc["cells"]} == {"d64 e0.5": 2, "d64 e2.4": 0,
                                                                               "d256 e0.5": 0}


def test_a_revision_that_added_a_length_keeps_the_trend_before_it(tmp_path):
    """A revision that added d64's 2.4 epochs: the trend over every cell decides, and the trend over
    the two cells before it (d64 e0.5, d256 e0.5) is in ladder.json, the prose and a table of its own.
    The fabricated curves fall 0.7 nats over their last half (not flat), which the lengths paragraph says."""
    revision = {"date": "2026-12-07", "change": "a length", "reason": "flatness", "added_lengths": {"d64": [2.4]}}
    d = tmp_path / "rev"
    d.mkdir()
    params = pinned_params(d, "small", **(SMALL_LADDER | {"ladder.revisions": [revision]}))
    lad = Ladder(load_params(params))
    lay = LadderLayout(lad.profile, runs_base=d / "runs", results_base=d / "results")
    fabricate_tuning(lad, lay)
    fabricate_finals(lad, lay, slope=0.02)
    meta = write_tokens_meta(d / "meta.json")
    assert ladder_stats(["--params", str(params), "--runs-root", str(d / "runs"), "--meta", str(meta),
                         "--out", str(d / "out")]) == 0
    res = d / "out" / "small" / "ladder"
    doc = json.loads((res / "ladder.json").read_text())
    (early,) = doc["earlier_trends"]
    assert early["revision"] == 1 and early["cells"] == ["d64 e0.5", "d256 e0.5"]
    h1a = next(t for t in early["trends"] if t["id"] == "H1a")
    assert h1a["n_cells"] == 2 and next(t for t in doc["trends"] if t["id"] == "H1a")["n_cells"] == 3
    assert "before revision 1 (d64 e0.5 and d256 e0.5)" in (res / "tex" / "stability.tex").read_text()
    table = (res / "tex" / "table_trend_earlier.tex").read_text()
    assert "tab:ladder-trend-earlier-1" in table and "H1a" in table
    assert "tab:ladder-trend-earlier-1" in (res / "tex" / "stability.tex").read_text()
    assert "Over the cells of earlier versions" in (res / "summary.md").read_text()
    assert all(c["end_slope"]["flat"] is False for c in doc["cells"])
    assert "it had flattened in no cell" in (res / "tex" / "lengths.tex").read_text()


def test_no_revision_no_earlier_table(sloped):
    res = sloped / "out1" / "small" / "ladder"
    assert json.loads((res / "ladder.json").read_text())["earlier_trends"] == []
    assert "begin{table}" not in (res / "tex" / "table_trend_earlier.tex").read_text()


def test_lengths_paragraph_names_flat_cells_and_partly_flat_ones():
    from reporting.ladder_prose import lengths

    def cell(label, falls):
        v = {f"v{i}": {"n": 10, "mean": x, "window_epochs": 0.25} for i, x in enumerate(falls)}
        return {"label": label, "end_slope": {"window_epochs": 0.25, "threshold": 0.01, "variants": v,
                                              "flat": all(x < 0.01 for x in falls)}}
    text = lengths({"cells": [cell("a e1", [0.02, 0.03]), cell("a e4", [0.004, 0.0108])]}, latex=False)
    assert "flattened in no cell" in text and "1 of 2 variants at a e4" in text
    text = lengths({"cells": [cell("a e1", [0.02, 0.03]), cell("a e4", [0.004, -0.001])]}, latex=False)
    assert "had flattened at a e4 and not at a e1." in text and "Some variants" not in text
