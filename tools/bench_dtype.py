"""fp32 against bf16 autocast on this CPU: matmul peak, training speed, and what bf16 does to the loss.

    python -m tools.bench_dtype [--seeds 0,1,2] [--epochs 0.5] [--rung-steps 60] [--out bench]

Every registered run of this project trains in fp32. bf16 autocast (`train.dtype: bf16`) is a
different numerical recipe, so a design could adopt it only as a new registered version; this
measures what it would buy and cost before anyone proposes that. Needs the small profile's
data (`dvc repro phases`). Writes <out>/dtype_cpu.{json,md}; about 5 minutes on 2 cores.

- Matmul peak: the best 2048^3 GEMM in fp32 and in bf16 (tools.bench.matmul_peak).
- Training: small-profile runs exactly as `dvc repro` starts them (`python -m pipeline.train`,
  the default layout of processes and threads), at `--epochs` (0.5: design v1's length), for
  `standard` and `resonator_phonetic` at each seed, fp32 and bf16 alternating, one run at a
  time. Speed: the run's own tokens/s (its stamps). Loss: the final validation loss (the
  validation split only; the test split is never read), paired by seed: bf16 - fp32 per run,
  against the spread over seeds and the resonator-standard difference in each dtype.
- The ladder's largest rung (d128): the same, capped at `--rung-steps` optimizer steps, seed 0,
  speed only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path

from resonator.cli import run_main

DTYPES = ("fp32", "bf16")
VARIANTS = ("standard", "resonator_phonetic")


def run_one(train: dict, variant: str, seed: int, dtype: str, model: dict | None = None) -> dict:
    """One small-profile run in a scratch directory, with these train (and model) keys: its final
    validation loss and tokens/s."""
    from tools.bench import finish_study_run, small_study_params, start_study_run
    raw = small_study_params(train={**train, "dtype": dtype}, model=model)
    with tempfile.TemporaryDirectory() as tmp:
        metrics, stamps = finish_study_run(start_study_run(Path(tmp), "run", raw, variant, seed))
    return {"variant": variant, "seed": seed, "dtype": metrics["dtype"], "val_loss": metrics["val_loss"],
            "steps": metrics["steps"], "tokens": metrics["tokens_seen"], "tokens_per_s": stamps["tokens_per_s"],
            "world_size": metrics["world_size"], "num_threads": metrics["num_threads"]}


def summarise(runs: list[dict], rung: list[dict], peaks: dict) -> dict:
    """Speed ratios and paired loss differences from the runs (pure: tested)."""
    def pick(rows, variant, dtype):
        return {r["seed"]: r for r in rows if r["variant"] == variant and r["dtype"] == dtype}

    out = {"matmul_peak_ratio": peaks["bf16"]["flops_per_s"] / peaks["fp32"]["flops_per_s"], "variants": {}}
    for v in sorted({r["variant"] for r in runs}):
        f, b = pick(runs, v, "fp32"), pick(runs, v, "bf16")
        seeds = sorted(set(f) & set(b))
        diffs = [b[s]["val_loss"] - f[s]["val_loss"] for s in seeds]
        fp32_losses = [f[s]["val_loss"] for s in seeds]
        out["variants"][v] = {
            "seeds": seeds,
            # the median of the per-seed ratios (runs of a seed went back to back)
            "speed_ratio": statistics.median(b[s]["tokens_per_s"] / f[s]["tokens_per_s"] for s in seeds),
            "tokens_per_s": {"fp32": statistics.median(f[s]["tokens_per_s"] for s in seeds),
                             "bf16": statistics.median(b[s]["tokens_per_s"] for s in seeds)},
            "val_loss_diff": diffs, "val_loss_diff_mean": statistics.fmean(diffs),
            "fp32_seed_sd": statistics.stdev(fp32_losses) if len(seeds) > 1 else None}
    if {"standard", "resonator_phonetic"} <= set(out["variants"]):
        gap = {}
        for d in DTYPES:
            r, s = pick(runs, "resonator_phonetic", d), pick(runs, "standard", d)
            gap[d] = [r[k]["val_loss"] - s[k]["val_loss"] for k in sorted(set(r) & set(s))]
        out["resonator_minus_standard"] = {d: {"per_seed": g, "mean": statistics.fmean(g)} for d, g in gap.items()}
    if rung:
        out["rung"] = {v: {d: next(r["tokens_per_s"] for r in rung if r["variant"] == v and r["dtype"] == d)
                           for d in DTYPES} for v in sorted({r["variant"] for r in rung})}
    return out


def report(meta: dict, s: dict) -> str:
    lines = [f"# fp32 against bf16 autocast on {meta['device_name']}", "",
             f"{meta['date']}, torch {meta['torch']}; `python -m tools.bench_dtype` "
             f"(seeds {meta['seeds']}, {meta['epochs']} epoch(s), one run at a time, default layout). "
             "Validation split only.", "",
             f"Matmul peak (2048^3): fp32 {meta['peaks']['fp32']['flops_per_s'] / 1e9:.0f} GFLOP/s, "
             f"bf16 {meta['peaks']['bf16']['flops_per_s'] / 1e9:.0f} GFLOP/s ({s['matmul_peak_ratio']:.2f}x).", "",
             "| model | tokens/s fp32 | tokens/s bf16 | bf16/fp32 | val loss bf16 - fp32 (per seed) "
             "| fp32 sd over seeds |",
             "|---|---|---|---|---|---|"]
    for v, r in s["variants"].items():
        diffs = ", ".join(f"{d:+.4f}" for d in r["val_loss_diff"])
        sd = f"{r['fp32_seed_sd']:.4f}" if r["fp32_seed_sd"] is not None else "-"
        lines.append(f"| small, {v} | {r['tokens_per_s']['fp32']:,.0f} | {r['tokens_per_s']['bf16']:,.0f} | "
                     f"{r['speed_ratio']:.2f} | {diffs} | {sd} |")
    for v, r in s.get("rung", {}).items():
        lines.append(f"| d128 rung, {v} ({meta['rung_steps']} steps) | {r['fp32']:,.0f} | {r['bf16']:,.0f} | "
                     f"{r['bf16'] / r['fp32']:.2f} | - | - |")
    if "resonator_minus_standard" in s:
        g = s["resonator_minus_standard"]
        lines += ["", "Final validation loss, resonator_phonetic - standard, per seed: " + "; ".join(
            f"{d} " + ", ".join(f"{x:+.4f}" for x in g[d]["per_seed"]) + f" (mean {g[d]['mean']:+.4f})"
            for d in DTYPES) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=float, default=0.5, help="length of the small-profile runs")
    ap.add_argument("--rung-steps", type=int, default=60, help="optimizer steps at d128 (0 skips it)")
    ap.add_argument("--out", default="bench")
    args = ap.parse_args(argv)
    import torch

    from resonator.atomic import atomic_write_json, atomic_write_text
    from tools.bench import device_name, matmul_peak, small_data, small_study_params
    if small_data() is None:
        raise SystemExit("tools.bench_dtype: the small profile's data is missing: run `dvc repro phases` first")
    seeds = [int(x) for x in args.seeds.split(",") if x]
    peaks = {d: matmul_peak("cpu", d) for d in DTYPES}
    runs = []
    for seed in seeds:
        for variant in VARIANTS:
            for dtype in DTYPES if seed % 2 == 0 else DTYPES[::-1]:   # alternate which goes first
                runs.append(run_one({"epochs": args.epochs}, variant, seed, dtype))
                r = runs[-1]
                print(f"{variant} s{seed} {dtype}: val {r['val_loss']:.4f}, {r['tokens_per_s']:,.0f} tok/s", flush=True)
    rung = []
    if args.rung_steps:
        d128 = small_study_params()["ladder"]["rungs"]["d128"]["model"]
        rung = [run_one({"max_steps": args.rung_steps}, v, 0, d, model=d128) for v in VARIANTS for d in DTYPES]
    summary = summarise(runs, rung, peaks)
    meta = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "device_name": device_name("cpu"),
            "torch": torch.__version__, "seeds": seeds, "epochs": args.epochs, "rung_steps": args.rung_steps,
            "peaks": peaks}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "dtype_cpu.json", {"meta": meta, "runs": runs, "rung": rung, "summary": summary})
    md = report(meta, summary)
    atomic_write_text(out / "dtype_cpu.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
