"""Benchmark: training throughput and peak memory of standard, resonator-fused and resonator-naive.

    python -m pipeline.bench [--sizes small,paper] [--device cpu|cuda] [--dtype fp32|bf16] [--compile]

Writes bench/results_<device>.json and bench/results_<device>.md. Each configuration runs in a
fresh process so that peak memory is that configuration's own (CPU: peak RSS from getrusage;
CUDA: torch.cuda.max_memory_allocated). Throughput counts forward + backward (no optimizer) at
a fixed batch, median of the timed iterations after warm-up. Not a test: numbers depend on the
machine and on what else runs on it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = {
    "small": dict(vocab_size=2048, max_seq_len=64, d_model=64, n_layers=2, n_heads=2, d_ff=256, batch=8),
    "paper": dict(vocab_size=50257, max_seq_len=256, d_model=768, n_layers=12, n_heads=12, d_ff=3072, batch=8),
}
VARIANTS = {"standard": dict(kind="standard"), "resonator-fused": dict(kind="resonator", attn_impl="fused"),
            "resonator-naive": dict(kind="resonator", attn_impl="naive")}


def sync(device):
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def measure_one(size: str, variant: str, device: str, dtype: str, compile_: bool, warmup: int, iters: int) -> dict:
    import contextlib

    import torch

    from resonator.model import ModelConfig, build_model, flops_per_token
    s = dict(SIZES[size])
    batch = s.pop("batch")
    cfg = ModelConfig(**s, **VARIANTS[variant], dropout=0.0)
    model = build_model(cfg, generator=torch.Generator().manual_seed(0)).to(device)
    net = torch.compile(model) if compile_ else model
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    auto = torch.autocast("cuda", dtype=torch.bfloat16) if (dtype == "bf16" and device == "cuda") else contextlib.nullcontext()
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.max_seq_len), generator=torch.Generator().manual_seed(1)).to(device)
    times = []
    for i in range(warmup + iters):
        sync(device)
        t0 = time.perf_counter()
        with auto:
            _, loss = net(x, x)
        loss.backward()
        model.zero_grad(set_to_none=True)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    tok_s = batch * cfg.max_seq_len / sec
    out = {"size": size, "variant": variant, "batch": batch, "seq_len": cfg.max_seq_len, "step_s": sec,
           "tokens_per_s": tok_s, "flops_per_token": flops_per_token(cfg), "iters": iters}
    if device == "cuda":
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        out["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def attention_micro(device: str, iters: int = 10) -> dict:
    """B=8, S=256, 4 heads of 64, F=32: plain SDPA vs fused vs naive resonance, forward+backward."""
    import torch
    import torch.nn.functional as F

    from resonator.model import Attention, ModelConfig
    B, S, H, D, NF = 8, 256, 4, 64, 32
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, S, D, generator=g).to(device).requires_grad_() for _ in range(3))
    phase = torch.randn(B, S, NF, generator=g).to(device)
    res = {}
    for impl in ("sdpa", "fused", "naive"):
        attn = Attention(ModelConfig(kind="resonator", d_model=H * D, n_heads=H, n_phases=NF, dropout=0.0,
                                     attn_impl="naive" if impl == "naive" else "fused")).to(device)
        times = []
        for i in range(3 + iters):
            sync(device)
            t0 = time.perf_counter()
            if impl == "sdpa":
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            elif impl == "fused":
                q2, k2 = attn.fold_resonance(q, k, phase, D ** -0.5)
                y = F.scaled_dot_product_attention(q2, k2, v, is_causal=True, scale=D ** -0.5)
            else:
                y = attn.naive(q, k, v, phase, D ** -0.5, 0.0)
            y.sum().backward()
            sync(device)
            if i >= 3:
                times.append(time.perf_counter() - t0)
        res[impl] = statistics.median(times)
    return {k: {"seconds": v, "ratio_to_sdpa": v / res["sdpa"]} for k, v in res.items()}


def instrument_overhead(device: str, iters: int = 20) -> dict:
    """Forward time of a plain model, the same model wrapped with no instrument (no hook is
    installed, so this should equal plain), and wrapped with all three instruments."""
    import torch

    from resonator.instruments import (ComplexityAnalyzer, FrequencyAnalyzer, InstrumentedTransformer,
                                       ResonanceAnalyzer)
    from resonator.model import ModelConfig, build_model
    s = dict(SIZES["small"])
    batch = s.pop("batch")
    model = build_model(ModelConfig(kind="resonator", dropout=0.0, **s),
                        generator=torch.Generator().manual_seed(0)).to(device).eval()
    x = torch.randint(0, s["vocab_size"], (batch, s["max_seq_len"]), generator=torch.Generator().manual_seed(1)).to(device)
    wrapped = InstrumentedTransformer(model)

    def timeit(fn):
        ts = []
        for i in range(3 + iters):
            sync(device)
            t0 = time.perf_counter()
            with torch.no_grad():
                fn()
            sync(device)
            if i >= 3:
                ts.append(time.perf_counter() - t0)
        return statistics.median(ts)
    plain = timeit(lambda: model(x))
    bare = timeit(lambda: wrapped(x))
    for inst in (FrequencyAnalyzer(), ComplexityAnalyzer(), ResonanceAnalyzer()):
        wrapped.register_instrument(inst)
    full = timeit(lambda: wrapped(x))
    return {"plain_s": plain, "wrapped_no_instruments_s": bare, "wrapped_all_instruments_s": full,
            "no_instrument_overhead": bare / plain - 1}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="small,paper")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out", default="bench")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (H100 SXM datasheet)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # size:variant, run in a child process
    args = ap.parse_args(argv)
    import torch
    if args.one:
        size, variant = args.one.split(":")
        warm, iters = (1, 2) if (size == "paper" and args.device == "cpu") else (3, 10)
        print(json.dumps(measure_one(size, variant, args.device, args.dtype, args.compile, warm, iters)))
        return 0
    rows = []
    for size in args.sizes.split(","):
        for variant in VARIANTS:
            cmd = [sys.executable, "-m", "pipeline.bench", "--one", f"{size}:{variant}", "--device", args.device,
                   "--dtype", args.dtype] + (["--compile"] if args.compile else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr[-2000:], file=sys.stderr)
                return 1
            row = json.loads(r.stdout.strip().splitlines()[-1])
            if args.device == "cuda":
                row["mfu"] = row["tokens_per_s"] * row["flops_per_token"] / (args.peak_tflops * 1e12)
            rows.append(row)
            print(f"{size:6s} {variant:16s} {row['tokens_per_s']:10.0f} tok/s  {row['peak_mem_mb']:8.0f} MB", flush=True)
    for size in args.sizes.split(","):
        std = next(r for r in rows if r["size"] == size and r["variant"] == "standard")["tokens_per_s"]
        for r in rows:
            if r["size"] == size:
                r["relative_to_standard"] = r["tokens_per_s"] / std
    micro = attention_micro(args.device)
    inst = instrument_overhead(args.device)
    meta = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "device": args.device,
            "device_name": torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or platform.machine(),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "dtype": args.dtype,
            "compile": args.compile, "python": platform.python_version()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"results_{args.device}.json").write_text(json.dumps({"meta": meta, "models": rows, "attention": micro,
                                                                  "instruments": inst}, indent=1))
    md = [f"# Benchmark ({meta['device_name']}, torch {meta['torch']}, {meta['threads']} threads, {meta['dtype']}, {meta['date']})",
          "", "| size | variant | tokens/s | vs standard | peak memory (MB) | GFLOP/token |" + (" MFU |" if args.device == "cuda" else ""),
          "|---|---|---|---|---|---|" + ("---|" if args.device == "cuda" else "")]
    for r in rows:
        md.append(f"| {r['size']} | {r['variant']} | {r['tokens_per_s']:.0f} | {r['relative_to_standard']:.2f} | "
                  f"{r['peak_mem_mb']:.0f} | {r['flops_per_token'] / 1e9:.3f} |" + (f" {100 * r['mfu']:.1f}% |" if args.device == "cuda" else ""))
    md += ["", "Attention alone (B=8, S=256, 4 heads of 64, F=32, forward+backward):", "",
           "| implementation | seconds | × plain SDPA |", "|---|---|---|"]
    for k, v in micro.items():
        md.append(f"| {k} | {v['seconds']:.4f} | {v['ratio_to_sdpa']:.2f} |")
    md += ["", "Instrumentation overhead (small resonator, forward only):", "",
           "| model | seconds |", "|---|---|",
           f"| plain | {inst['plain_s']:.5f} |", f"| wrapped, no instrument | {inst['wrapped_no_instruments_s']:.5f} |",
           f"| wrapped, 3 instruments | {inst['wrapped_all_instruments_s']:.5f} |"]
    (out / f"results_{args.device}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
