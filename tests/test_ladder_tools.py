"""The ladder's throughput measurement and budget calculator (tiny sizes only)."""
import json

import pytest

from resonator.ladder import Ladder
from resonator.params import load_params
from tests.test_ladder_runs import stage_copy, template  # noqa: F401  (the tiny stage fixture)
from tools.ladder_bench import main as bench
from tools.ladder_budget import budget, pieces, report, stage_seconds


def test_bench_measures_every_rung_and_the_budget_adds_up(template, tmp_path, monkeypatch):  # noqa: F811
    d = stage_copy(template, tmp_path, "bench")
    monkeypatch.chdir(d)
    out = d / "throughput.json"
    assert bench(["--steps", "3", "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert set(m["rungs"]) == {"r16", "r32"} and m["start_s"] > 0
    for variants in m["rungs"].values():
        assert set(variants) == {"standard", "resonator_phonetic"}
        for x in variants.values():
            assert x["tokens_per_s"] > 0 and x["forward_tokens_per_s"] > 0 and x["steps"] == 3
        assert variants["standard"]["eval_s"] > 0                 # the first variant's evaluation, timed
    from tools.ladder_budget import main as budget_main
    assert budget_main(["--throughput", str(out), "--json", str(d / "budget.json")]) == 0
    b = json.loads((d / "budget.json").read_text())
    assert set(b["per_rung_hours"]) == {"r16", "r32"}
    assert b["total_hours"] == pytest.approx(sum(e["total"] for e in b["per_rung_hours"].values()))
    # a final run and its evaluation per (rung, variant, seed); a tuning stage and a selection per (rung, variant)
    assert b["eval_measured"] and b["n_stages"] == (len(Ladder(load_params(d / "params.yaml")).final_runs()) * 2
                                                    + 2 * 2 + 4)


def test_budget_arithmetic_and_pieces(repo_root):
    lad = Ladder(load_params(repo_root / "params.yaml"))
    rate = {"tokens_per_s": 10_000.0, "forward_tokens_per_s": 40_000.0, "tokens": 100_000, "wall_s": 12.0,
            "micro_batch": 16, "eval_s": 30.0}
    # 100k tokens at 10k/s = 10 s of training; the other 2 s are fixed costs
    assert stage_seconds(rate, 50_000, 40_000) == pytest.approx(5 + 2 + 1)
    bench_doc = {"start_s": 3.0, "rungs": {r: {v: dict(rate) for v in lad.variants} for r in lad.rungs}}
    meta = {"vocab_size": 2048, "splits": {"train": {"tokens": 1_608_761}, "val": {"tokens": 89_288}}}
    b = budget(lad, bench_doc, meta)
    n_final = len(lad.seeds) * len(lad.variants)
    for r in lad.rungs:          # one evaluation per length, one interpreter start per run
        evals = len(lad.lengths(r)) * 30.0 + 3.0
        assert b["per_rung_hours"][r]["eval"] == pytest.approx(n_final * evals / 3600), r
    assert b["total_hours"] == pytest.approx(sum(e["total"] for e in b["per_rung_hours"].values()))
    assert all(p["hours"] <= b["piece_hours"] for p in b["pieces"])
    assert "Whole ladder" in report(b)
    assert [p["stages"] for p in pieces([{"stage": str(i), "seconds": s} for i, s in enumerate([5, 5, 11, 1])], 10)] \
        == [2, 1, 1]
