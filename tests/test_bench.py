"""The benchmark command: it runs end to end on a tiny size and reports every number it promises.
(It measures speed; it does not assert any, since timings depend on the machine.)"""
import json
import math

from tools import bench

TINY = dict(vocab_size=64, max_seq_len=16, d_model=16, n_layers=1, n_heads=2, d_ff=32, batch=2)


def test_instrument_overhead_reports_scalar_times():
    r = bench.instrument_overhead(TINY, "cpu", iters=1)
    for k in ("plain_s", "wrapped_no_instruments_s", "wrapped_all_instruments_s", "no_instrument_overhead"):
        assert isinstance(r[k], float) and math.isfinite(r[k]), k
    assert r["plain_s"] > 0 and r["wrapped_all_instruments_s"] > 0


def test_bench_writes_results_for_every_variant(tmp_path):
    sets = [f"t.{k}={v}" for k, v in TINY.items()]
    argv = ["--sizes", "t", "--warmup", "0", "--iters", "1", "--rounds", "1", "--skip-micro", "--out", str(tmp_path),
            "--loop-steps", "2", "--loop-rounds", "2", "--threads", "1", "--concurrency-steps", "0"]
    for s in sets:
        argv += ["--set", s]
    assert bench.main(argv) == 0
    res = json.loads((tmp_path / "results_cpu.json").read_text())
    rows = res["models"]
    assert {r["variant"] for r in rows} == set(bench.VARIANTS)
    assert all(r["tokens_per_s"] > 0 and r["peak_mem_mb"] > 0 for r in rows)
    assert all(0 < r["fraction_of_matmul_peak"] and r["achieved_flops_per_s"] > 0 for r in rows)
    assert res["meta"]["matmul_peak"]["flops_per_s"] > 0
    loop = res["loop"]
    assert len(loop["tokens_per_s"]["project"]) == len(loop["tokens_per_s"]["bare"]) == 2
    assert loop["project_over_bare"] > 0 and loop["project_over_bare_deterministic"] > 0
    assert len(loop["tokens_per_s"]["bare_deterministic"]) == 2
    md = (tmp_path / "results_cpu.md").read_text()
    assert md.count("| t |") == len(bench.VARIANTS)
    assert "Matmul peak of this machine" in md and "bare nanoGPT-style loop" in md
