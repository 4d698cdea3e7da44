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


def test_matmul_peak_measures_the_dtype_asked_for():
    assert bench.matmul_peak("cpu", "bf16", n=64, iters=1)["dtype"] == "bfloat16"
    assert bench.matmul_peak("cpu", "fp32", n=64, iters=1)["dtype"] == "float32"


def test_dtype_summary_pairs_runs_by_seed():
    from tools import bench_dtype

    def row(variant, seed, dtype, loss, speed):
        return {"variant": variant, "seed": seed, "dtype": dtype, "val_loss": loss, "tokens_per_s": speed}
    runs = [row("standard", 0, "fp32", 5.0, 100), row("standard", 0, "bf16", 5.1, 150),
            row("standard", 1, "fp32", 5.2, 100), row("standard", 1, "bf16", 5.2, 200),
            row("resonator_phonetic", 0, "fp32", 4.9, 80), row("resonator_phonetic", 0, "bf16", 4.8, 80),
            row("resonator_phonetic", 1, "fp32", 5.0, 80), row("resonator_phonetic", 1, "bf16", 5.3, 80)]
    peaks = {"fp32": {"flops_per_s": 1e11}, "bf16": {"flops_per_s": 4e11}}
    s = bench_dtype.summarise(runs, [row("standard", 0, "fp32", 0, 10), row("standard", 0, "bf16", 0, 30)], peaks)
    assert s["matmul_peak_ratio"] == 4.0
    std = s["variants"]["standard"]
    assert std["speed_ratio"] == 1.75 and std["seeds"] == [0, 1]           # median of 1.5 and 2.0
    assert [round(d, 6) for d in std["val_loss_diff"]] == [0.1, 0.0]
    assert math.isclose(std["fp32_seed_sd"], math.sqrt(0.02))
    gap = s["resonator_minus_standard"]
    assert [round(x, 6) for x in gap["fp32"]["per_seed"]] == [-0.1, -0.2]
    assert [round(x, 6) for x in gap["bf16"]["per_seed"]] == [-0.3, 0.1]
    assert s["rung"] == {"standard": {"fp32": 10, "bf16": 30}}
    meta = {"device_name": "cpu", "date": "d", "torch": "t", "seeds": [0, 1], "epochs": 0.5, "rung_steps": 3,
            "peaks": peaks}
    md = bench_dtype.report(meta, s)
    assert "| small, standard | 100 | 175 | 1.75 | +0.1000, +0.0000 |" in md and "d128 rung, standard" in md
