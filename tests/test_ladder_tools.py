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
    assert m["dtype"] == "fp32" and {x["dtype"] for v in m["rungs"].values() for x in v.values()} == {"fp32"}
    from tools.ladder_budget import main as budget_main
    assert budget_main(["--throughput", str(out), "--json", str(d / "budget.json")]) == 0
    b = json.loads((d / "budget.json").read_text())
    assert set(b["per_rung_hours"]) == {"r16", "r32"}
    assert b["total_hours"] == pytest.approx(sum(e["total"] for e in b["per_rung_hours"].values()))
    # a final run and its evaluation per (rung, variant, seed); a tuning stage and a selection per (rung, variant)
    assert b["eval_measured"] and b["n_stages"] == (len(Ladder(load_params(d / "params.yaml")).final_runs()) * 2
                                                    + 2 * 2 + 4)


def test_bench_trains_in_the_format_asked_for(template, tmp_path, monkeypatch):  # noqa: F811
    """--dtype reaches the training processes (their own record says so), not just the file's header."""
    d = stage_copy(template, tmp_path, "bench_bf16")
    monkeypatch.chdir(d)
    out = d / "throughput.json"
    assert bench(["--steps", "2", "--rungs", "r16", "--variants", "standard", "--no-eval", "--dtype", "bf16",
                  "--out", str(out)]) == 0
    m = json.loads(out.read_text())
    assert m["dtype"] == "bf16" and m["rungs"]["r16"]["standard"]["dtype"] == "bf16"


def test_budget_costs_a_length_that_is_not_registered(repo_root):
    """--add-length: the rung's final runs train to the added length and are evaluated there too;
    the output says which lengths were added, and a bad item stops with what to write."""
    from tools.ladder_budget import parse_added
    lad = Ladder(load_params(repo_root / "params.yaml"))
    rate = {"tokens_per_s": 10_000.0, "forward_tokens_per_s": 40_000.0, "tokens": 100_000, "wall_s": 12.0,
            "micro_batch": 16, "eval_s": 30.0}
    bench_doc = {"start_s": 3.0, "dtype": "bf16",
                 "rungs": {r: {v: dict(rate) for v in lad.variants} for r in lad.rungs}}
    meta = {"vocab_size": 2048, "splits": {"train": {"tokens": 1_608_761}, "val": {"tokens": 89_288}}}
    rung, other = lad.rungs[0], lad.rungs[-1]
    longer = max(lad.lengths(rung)) * 2
    base, what_if = budget(lad, bench_doc, meta), budget(lad, bench_doc, meta, {rung: [longer]})
    n_final = len(lad.seeds) * len(lad.variants)
    assert what_if["per_rung_hours"][rung]["eval"] - base["per_rung_hours"][rung]["eval"] \
        == pytest.approx(n_final * 30.0 / 3600)                    # one more evaluation per final run
    assert what_if["per_rung_hours"][rung]["train"] > 1.5 * base["per_rung_hours"][rung]["train"]
    assert what_if["per_rung_hours"][other] == base["per_rung_hours"][other]
    assert what_if["added_lengths"] == {rung: [longer]} and base["added_lengths"] == {}
    assert what_if["dtype"] == "bf16" and "not registered" in report(what_if) and "bf16" in report(what_if)
    assert parse_added([f"{rung}=5.3", f"{rung}=6"], lad) == {rung: [5.3, 6.0]}
    for bad in ["d999=5", f"{rung}=x", f"{rung}=-1", rung]:
        with pytest.raises(SystemExit, match="RUNG=EPOCHS"):
            parse_added([bad], lad)


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
