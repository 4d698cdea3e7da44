"""The paper's "Does it scale?" section builds without ladder results (saying so) and with them
(figures, verdict table, stability sentences), reproducibly, next to the existing paper."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from resonator.ladder import Ladder
from resonator.params import load_params
from tests.conftest import pinned_params
from tests.fabricate import build_paper, fabricated_results
from tests.test_ladder_report import SMALL_LADDER, make

REPO_ROOT = Path(__file__).resolve().parents[1]


def text_of(pdf: Path) -> str:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def papers(tmp_path_factory):
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk not installed (./setup.sh installs it)")
    tmp = tmp_path_factory.mktemp("ladder-paper")
    params = pinned_params(tmp, "small", **SMALL_LADDER)
    results = fabricated_results(tmp, params)
    plain = text_of(build_paper(params, results, tmp / "plain.pdf"))
    # the same study with the ladder's results beside it
    shutil.copytree(results, tmp / "with-ladder")
    _, args = make(tmp / "ladder", slope=0.02)
    from pipeline.ladder_stats import main as ladder_stats
    assert ladder_stats(args + ["--out", str(tmp / "with-ladder")]) == 0
    texts = [text_of(build_paper(params, tmp / "with-ladder", tmp / f"ladder{i}.pdf")) for i in range(2)]
    return tmp, plain, texts


def test_section_builds_without_ladder_results_and_says_so(papers):
    _, plain, _ = papers
    assert "Does it scale?" in plain and "No results yet" in plain
    assert "Across a ladder" not in plain                 # the abstract claims nothing about scale
    registered = load_params(REPO_ROOT / "params.yaml").raw["ladder"]["registered"]
    assert f"registered on {registered}" in plain and "no conclusion about scale is drawn" in plain
    assert "External validity. Untested" in plain and "OpenWebText" in plain
    for ref in ("RoFormer", "Encoding word order in complex embeddings", "On the state of the art of evaluation",
                "Accounting for variance", "PolyPythias", "hitchhiker", "MultiBERTs", "Holm"):
        assert ref.lower() in plain.lower(), ref


def test_section_with_ladder_results_is_reproducible(papers):
    tmp, _, texts = papers
    assert (tmp / "ladder0.pdf").read_bytes() == (tmp / "ladder1.pdf").read_bytes()
    text = texts[0]
    assert "Does it scale?" in text and "No results yet" not in text
    assert "Stable or not." in text and "The trend test" in text
    abstract = text.split("Abstract", 1)[1].split("The claim", 1)[0]
    assert "Across a ladder of 2 model sizes" in abstract and "The registered trend test finds" in abstract
    for label in ("d64 e0.5", "d64 e2.4", "d256 e0.5"):
        assert label in text
    log = (tmp / "ladder0-build" / "main.log").read_text(errors="replace")
    assert "undefined" not in log.lower() or "Warning" not in log


def test_section_text_without_results_and_with_a_trimmed_study(tmp_path, repo_root=REPO_ROOT):
    """No LaTeX needed: the generated body says what there is, never fails the paper."""
    from reporting.ladder_paper import write_ladder
    p = load_params(pinned_params(tmp_path, "small"))
    assert write_ladder(p, tmp_path / "results", tmp_path / "gen") is False
    body = (tmp_path / "gen" / "ladder" / "body.tex").read_text()
    lad = Ladder(p)
    sizes = sorted(lad.scale_params(r, 2048) for r in lad.rungs)
    span = f"a span of {sizes[-1] / sizes[0]:.1f}x in the standard model's parameters"
    assert "No results yet" in body and "\\texttt{d128}" in body and span in body, body
    # the variants with the resonator's size span less: the phase table is the same at every rung
    spans = sorted(f"{max(ns) / min(ns):.1f}" for ns in
                   ([lad.n_params(r, v, 2048) for r in lad.rungs] for v in lad.variants if v != "standard"))
    assert f"and {spans[0]}--{spans[-1]}x for the other variants" in body, body
    trimmed = load_params(pinned_params(tmp_path, "small", **{"hypotheses.tests": p.hypotheses["tests"][:2]}))
    write_ladder(trimmed, tmp_path / "results", tmp_path / "gen")
    assert "does not fit this study" in (tmp_path / "gen" / "ladder" / "body.tex").read_text()


def _fixed_lr_inputs(p, tuned_lr: float, tuned: dict, length: float = 2.4):
    """A ladder document with one cell at the small profile's model and `length`, and the main
    study's stats, both on the primary metric (lower is better)."""
    metric = p.hypotheses["primary_metric"]
    model = {k: p.raw["profiles"]["small"]["model"][k] for k in ("d_model", "n_layers", "n_heads", "d_ff")}
    shared = p.raw["profiles"]["small"]["train"]["lr"]
    doc = {"meta": {"profile": "small", "primary_metric": metric},
           "rungs": {"d64": {"model": model}},
           "tuning": {"d64": {"standard": {"lr": tuned_lr, "tune_length": 0.5},
                              "resonator_phonetic": {"lr": shared, "tune_length": 0.5}}},
           "cells": [{"rung": "d64", "length": length, "label": f"d64 e{length:g}", "n_runs": 20,
                      "variants": {"standard": {"per_seed": tuned}},
                      "analysis": {"design": [{"id": "H1a", "metric": metric, "units": "bits/byte", "m": 4}],
                                   "hypotheses": [{"id": "H1a", "a": "resonator_phonetic", "b": "standard",
                                                   "verdict": "better", "comparison": {"mean_diff": -0.02}}]}}]}
    main = {"meta": {"families": {"claims": ["H0", "H1a", "H1b"]}},
            "variants": {"standard": {"metrics": {metric: {"per_seed": {"0": 2.15, "1": 2.16, "2": 2.12,
                                                                         "3": None}}}}},
            "hypotheses": [{"id": "H1a", "family": "claims", "verdict": "inconclusive",
                            "comparison": {"mean_diff": -0.007}}]}
    return doc, main


def test_fixed_lr_paragraph_places_the_main_study_in_the_ladder(tmp_path):
    """The Results section's study is named as its ladder cell; a variant whose tuned rate differs
    from the shared one gets both means over the seeds finished at both rates (a diverged seed,
    null in the files, left out), and the caution only when the tuned rate trains it worse."""
    from reporting.ladder_paper import fixed_lr
    p = load_params(pinned_params(tmp_path, "small"))
    assert p.raw["profiles"]["small"]["train"]["epochs"] == 2.4 and p.raw["profiles"]["small"]["train"]["lr"] == 0.002
    doc, main = _fixed_lr_inputs(p, 0.001, {"0": 2.20, "1": 2.19, "2": 2.10, "3": 2.3, "4": None})
    text = fixed_lr(p, doc, main)
    assert "the ladder's cell d64 e2.4" in text and "shared learning rate 0.002" in text, text
    assert "\\texttt{standard} there is 0.001, chosen at 0.5 epochs" in text
    assert "is 2.1633 at the tuned rate against 2.1433 at the shared rate" in text
    assert "worse at the tuned rate on 2 of the 3 seeds" in text
    assert "H1a $-0.0200$ (better, 4 tests) against $-0.0070$ (inconclusive, 3 tests)" in text
    assert "need not be the best at 2.4 epochs" in text
    better = fixed_lr(p, *_fixed_lr_inputs(p, 0.001, {"0": 2.10, "1": 2.11, "2": 2.13}))
    assert "worse at the tuned rate on 1 of the 3" in better and "need not be the best" not in better
    same = fixed_lr(p, *_fixed_lr_inputs(p, 0.002, {"0": 2.15, "1": 2.16, "2": 2.12}))
    assert "the two analyses coincide there" in same and "\\texttt{standard} there" not in same
    # a variant with its own rate but no seed at both rates is named, never counted as tuned to the shared one
    unpaired = fixed_lr(p, *_fixed_lr_inputs(p, 0.001, {"7": 2.2}))
    assert "no seed has a result at both rates yet" in unpaired and "coincide" not in unpaired
    doc_u, main_u = _fixed_lr_inputs(p, 0.001, {"0": 2.2})
    doc_u["tuning"]["d64"]["standard"] = None
    assert "has not been selected yet" in fixed_lr(p, doc_u, main_u)
    assert "No cell of the ladder" in fixed_lr(p, *_fixed_lr_inputs(p, 0.001, {"0": 2.2}, length=0.5))
    assert "No cell of the ladder" in fixed_lr(p, None, main)
    assert "has no results yet" in fixed_lr(p, doc, None)
    doc["cells"][0]["n_runs"] = 0
    assert "has no finished run yet" in fixed_lr(p, doc, main)
