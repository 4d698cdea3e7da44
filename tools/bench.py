"""Benchmark: training throughput and peak memory of standard, resonator-fused and resonator-naive.

    python -m tools.bench [--sizes study,small,paper] [--out bench] [--threads N]
    python -m tools.bench --device cuda --dtype bf16 --compile [--peak-tflops 989]
    python -m tools.bench --set small.d_model=256 --set small.batch=4    # change a size

Sizes: `study` is the small profile's model as one of a run's processes trains it (params.yaml);
`small` a 1.3M-parameter model (d 128, 4 layers, vocabulary 4,096); `paper` the original's GPT-2
small. Writes <out>/results_<device>.json and <out>/results_<device>.md. Not a test: numbers depend on
the machine and on what else runs on it (the load average is recorded next to them).

What is measured
- Throughput: tokens/s of forward + backward (loss.backward(), no optimizer step), dropout 0, freed
  memory kept as training keeps it (resonator.allocator),
  fixed batch, median of the timed iterations after warm-up iterations.
- Peak memory. CUDA: torch.cuda.max_memory_allocated() (tensors only, not the allocator's
  cache). CPU: each configuration runs in a fresh process; we report the peak resident set
  size (getrusage ru_maxrss) and its increase over the same process after importing torch and
  building nothing ("delta": weights + gradients + activations + allocator overhead).
- Model FLOPs per token: resonator.sizes.flops_per_token (6 N_matmul + 12 L d S, PaLM/nanoGPT;
  the same count for the fused and naive paths). MFU (CUDA only) = tokens/s * FLOPs/token /
  peak; the default peak, 989 TFLOP/s, is the H100 SXM datasheet dense BF16 figure (pass
  --peak-tflops for other GPUs or for fp32/TF32 runs).
- Attention alone (B=8, S=256, 4 heads of 64, F=32, forward+backward w.r.t. q, k, v, lambda):
  plain causal SDPA, fused resonance (one SDPA call, v head dim 64 != q/k head dim 128),
  fused with v zero-padded to 128 (so that flash kernels, which need equal head dims, apply),
  and the naive materialised path; ratios to plain SDPA.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from resonator.cli import run_main

SIZES = {
    "small": dict(vocab_size=4096, max_seq_len=128, d_model=128, n_layers=4, n_heads=4, d_ff=512, batch=8),
    "paper": dict(vocab_size=50257, max_seq_len=256, d_model=768, n_layers=12, n_heads=12, d_ff=3072, batch=8),
}
VARIANTS = {"standard": dict(kind="standard"),
            "resonator-fused": dict(kind="resonator", attn_impl="fused"),
            "resonator-naive": dict(kind="resonator", attn_impl="naive")}


def sync(device):
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def autocast(device, dtype):
    import contextlib

    import torch
    if dtype == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def timed(fn, device, warmup, iters) -> list[float]:
    times = []
    for i in range(warmup + iters):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure_one(size: dict, variant: str, device: str, dtype: str, compile_: bool, warmup: int, iters: int) -> dict:
    import torch

    from resonator.allocator import keep_freed_memory
    from resonator.model import ModelConfig, build_model
    from resonator.sizes import count_params, flops_per_token
    keep_freed_memory()   # as training does (resonator.train.train)
    s = dict(size)
    batch = s.pop("batch")
    base_rss = rss_mb()
    cfg = ModelConfig(**s, **VARIANTS[variant], dropout=0.0)
    model = build_model(cfg, generator=torch.Generator().manual_seed(0)).to(device)
    net = torch.compile(model) if compile_ else model
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.max_seq_len),
                      generator=torch.Generator().manual_seed(1)).to(device)

    def step():
        with autocast(device, dtype):
            _, loss = net(x, x)
        loss.backward()
        model.zero_grad(set_to_none=True)

    times = timed(step, device, warmup, iters)
    sec = statistics.median(times)
    out = {"variant": variant, "batch": batch, "seq_len": cfg.max_seq_len, "n_params": count_params(cfg),
           "step_s": sec, "step_s_all": times, "tokens_per_s": batch * cfg.max_seq_len / sec,
           "flops_per_token": flops_per_token(cfg), "warmup": warmup, "iters": iters}
    if device == "cuda":
        out["peak_mem_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        out["peak_mem_mb"] = rss_mb()
        out["peak_mem_delta_mb"] = out["peak_mem_mb"] - base_rss
    return out


def attention_micro(device: str, dtype: str, warmup: int = 3, iters: int = 10) -> dict:
    """Attention alone, forward + backward; each implementation gets the same inputs."""
    import torch
    import torch.nn.functional as F

    from resonator.model import Attention, ModelConfig
    B, S, H, D, NF = 8, 256, 4, 64, 32
    scale = D ** -0.5
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, S, D, generator=g).to(device).requires_grad_() for _ in range(3))
    phase = torch.randn(B, S, NF, generator=g).to(device)
    attn = Attention(ModelConfig(kind="resonator", d_model=H * D, n_heads=H, n_phases=NF, dropout=0.0)).to(device)

    def fused():
        q2, k2 = attn.fold_resonance(q, k, phase, scale)
        return F.scaled_dot_product_attention(q2, k2, v, is_causal=True, scale=scale)

    def fused_padv():
        q2, k2 = attn.fold_resonance(q, k, phase, scale)
        v2 = F.pad(v, (0, q2.shape[-1] - D))
        return F.scaled_dot_product_attention(q2, k2, v2, is_causal=True, scale=scale)[..., :D]

    impls = {"sdpa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
             "fused": fused, "fused_padv": fused_padv,
             "naive": lambda: attn.naive(q, k, v, phase, scale, 0.0)}
    with autocast(device, dtype):
        ref = impls["naive"]().float()
    res = {}
    for name, fn in impls.items():
        def step(fn=fn):
            with autocast(device, dtype):
                y = fn()
            y.float().sum().backward()
        with torch.no_grad(), autocast(device, dtype):
            err = (fn().float() - ref).abs().max().item() if name != "sdpa" else None
        res[name] = {"seconds": statistics.median(timed(step, device, warmup, iters)), "max_abs_diff_to_naive": err}
    for r in res.values():
        r["ratio_to_sdpa"] = r["seconds"] / res["sdpa"]["seconds"]
    return res


def instrument_overhead(size: dict, device: str, iters: int = 5) -> dict:
    """Forward time of a plain model, the same model wrapped with no instrument (no hook is
    installed, so this should equal plain), and wrapped with all three instruments."""
    import torch

    from resonator.instruments import ComplexityAnalyzer, FrequencyAnalyzer, InstrumentedTransformer, ResonanceAnalyzer
    from resonator.model import ModelConfig, build_model
    s = dict(size)
    batch = s.pop("batch")
    model = build_model(ModelConfig(kind="resonator", dropout=0.0, **s),
                        generator=torch.Generator().manual_seed(0)).to(device).eval()
    x = torch.randint(0, s["vocab_size"], (batch, s["max_seq_len"]),
                      generator=torch.Generator().manual_seed(1)).to(device)
    wrapped = InstrumentedTransformer(model)

    def timeit(fn, warmup=3, n=iters):
        def run():
            with torch.no_grad():
                fn()
        return timed(run, device, warmup, n)

    # plain and bare differ by one dict lookup, far below timing noise: alternate them
    # call by call so that load drifts hit both equally, and compare medians.
    timeit(lambda: model(x)), timeit(lambda: wrapped(x))
    plain_t, bare_t = [], []
    for _ in range(4 * iters):
        plain_t += timeit(lambda: model(x), 0, 1)
        bare_t += timeit(lambda: wrapped(x), 0, 1)
    plain, bare = statistics.median(plain_t), statistics.median(bare_t)
    for inst in (FrequencyAnalyzer(), ComplexityAnalyzer(), ResonanceAnalyzer()):
        wrapped.register_instrument(inst)
    full = statistics.median(timeit(lambda: wrapped(x)))
    return {"plain_s": plain, "wrapped_no_instruments_s": bare, "wrapped_all_instruments_s": full,
            "no_instrument_overhead": bare / plain - 1}


def matmul_peak(device: str, dtype: str, n: int = 2048, iters: int = 10) -> dict:
    """This machine's dense matmul rate: the best of `iters` n x n x n GEMMs (2 n^3 FLOPs each),
    in the run's dtype (fp32: sgemm). The denominator of 'fraction of peak' below."""
    import torch
    dt_ = torch.bfloat16 if dtype == "bf16" else torch.float32
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(device, dt_)
    b = torch.randn(n, n, generator=g).to(device, dt_)
    times = timed(lambda: torch.mm(a, b), device, 2, iters)
    best = min(times)
    return {"n": n, "dtype": str(dt_).replace("torch.", ""), "best_s": best, "flops_per_s": 2 * n ** 3 / best,
            "median_flops_per_s": 2 * n ** 3 / statistics.median(times)}


def loop_job(which: str, steps: int, threads: int | None) -> dict:
    """Train the small profile's phonetic resonator for `steps` optimizer steps (one process of the
    default layout: 1 thread, micro-batch 16, 32 sequences per step), either through
    resonator.train.train (the project's loop: validation, checkpoints, progress, bookkeeping) or
    through a bare nanoGPT-style loop over the same model, recipe and batches. Tokens/s of the
    optimizer steps alone (train() excludes its validation and checkpoint writes from wall time)."""
    import dataclasses
    import tempfile

    import numpy as np
    import torch

    from resonator.model import build_model
    from resonator.params import load_params
    from resonator.train import Chunks, derive_seeds, epoch_order, train
    # One process of the default layout (2 single-threaded processes of micro-batch 16): one
    # thread, micro-batch 16 x 2 for the same 32 sequences per step.
    threads = threads or 1
    torch.set_num_threads(threads)
    p = load_params(overrides={"profile": "small"})
    vocab = p.study.profiles["small"].tokenizer.vocab_size
    mc = dataclasses.replace(p.model_config("resonator_phonetic", vocab))
    from resonator.batching import resolve
    tc = resolve(dataclasses.replace(p.train_config(), max_steps=steps, eval_interval=10 ** 6, ckpt_interval=10 ** 6,
                                     num_threads=threads, micro_batch=16, grad_accum=None), mc, world=1)
    table = torch.randn(vocab, mc.n_phases, generator=torch.Generator().manual_seed(0)) * 0.3
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_tokens(Path(tmp) / "tokens", vocab, 400_000)
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        if which == "project":
            m = train(mc, tc, data, Path(tmp) / "run", seed=0, phase_table=table)
            # page faults of the whole train() call (set-up and validations too): an upper bound
            return {"tokens_per_s": m["tokens_per_s"], "steps": m["steps"],
                    "minor_faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / steps}
        if which in ("bare_deterministic", "bare_kept"):   # the project's numerics setting, without its loop
            torch.use_deterministic_algorithms(True, warn_only=True)
        if which == "bare_kept":                            # and its allocator setting
            from resonator.allocator import keep_freed_memory
            assert keep_freed_memory(), "malloc is not glibc's: nothing to compare"
        seeds = derive_seeds(0)
        tokens = np.memmap(data / "train.bin", dtype=np.uint16, mode="r")
        chunks = Chunks(tokens, mc.max_seq_len)
        model = build_model(mc, table, generator=torch.Generator().manual_seed(seeds["init"]))
        opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tuple(tc.betas), eps=tc.eps,
                                weight_decay=tc.weight_decay)
        torch.manual_seed(seeds["dropout"])
        per_step = tc.micro_batch * tc.grad_accum
        order = epoch_order(seeds["data"], 0, chunks.n)
        model.train()
        faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        for step in range(steps):
            ids = order[step * per_step:(step + 1) * per_step]
            for k in range(tc.grad_accum):
                x, y = chunks.batch(ids[k * tc.micro_batch:(k + 1) * tc.micro_batch])
                _, loss = model(x, y)
                (loss / tc.grad_accum).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
        dt_ = time.perf_counter() - t0
        return {"tokens_per_s": steps * per_step * mc.max_seq_len / dt_, "steps": steps,
                "minor_faults_per_step": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / steps}


def synthetic_tokens(tokens_dir: Path, vocab: int, n: int) -> Path:
    """Random token files in the layout the trainer reads (the bench must not need `dvc repro`)."""
    import numpy as np

    from resonator.tokenizer import file_record, write_meta, write_tokens
    rng = np.random.default_rng(0)
    tokens_dir.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, size in (("train", n), ("val", n // 10)):
        ids = rng.integers(0, vocab, size).astype(np.uint16)
        write_tokens(tokens_dir / f"{split}.bin", ids)
        splits[split] = {"tokens": size, "documents": 1, "bytes": size}
    files = {f"{s}.bin": file_record(tokens_dir / f"{s}.bin") for s in splits}
    write_meta(tokens_dir, {"vocab_size": vocab, "eot_id": 0, "dtype": "uint16", "splits": splits, "files": files})
    return tokens_dir


def loop_overhead(steps: int, rounds: int, threads: int | None) -> dict:
    """The project's training loop against a bare loop, fresh processes, alternating."""
    kinds = ("bare", "bare_deterministic", "bare_kept", "project")
    res, faults = {k: [] for k in kinds}, {k: [] for k in kinds}
    for _ in range(rounds):
        for which in kinds:
            cmd = [sys.executable, "-m", "tools.bench", "--loop-one", json.dumps({"which": which, "steps": steps})]
            cmd += ["--threads", str(threads)] if threads else []
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr[-2000:])
            one = json.loads(r.stdout.strip().splitlines()[-1])
            res[which].append(one["tokens_per_s"])
            faults[which].append(one["minor_faults_per_step"])
    med = {k: statistics.median(v) for k, v in res.items()}
    return {"steps": steps, "rounds": rounds, "tokens_per_s": res, "median": med,
            "minor_faults_per_step": {k: statistics.median(v) for k, v in faults.items()},
            "project_over_bare": med["project"] / med["bare"],
            # the project trains in deterministic mode (README, Determinism) and keeps freed memory
            # (resonator.allocator): the ratio to the bare loop with both settings is the loop's own
            # cost; the one above also includes those choices
            "project_over_bare_deterministic": med["project"] / med["bare_deterministic"],
            "project_over_bare_kept": med["project"] / med["bare_kept"],
            "deterministic_over_bare": med["bare_deterministic"] / med["bare"],
            "kept_over_deterministic": med["bare_kept"] / med["bare_deterministic"]}


def small_data() -> Path | None:
    """The small profile's prepared data directory, or None before `dvc repro phases`."""
    from resonator.layout import Layout
    data = Path(__file__).resolve().parents[1] / Layout("small").data
    if not (data / "tokens" / "meta.json").exists() or not (data / "phases" / "classes.npy").exists():
        return None
    return data


def small_study_params(train: dict | None = None, model: dict | None = None) -> dict:
    """params.yaml with the small profile selected, no checkpoints written mid-run, and these
    keys of its train and model sections replaced: what start_study_run runs."""
    import yaml
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    raw["profile"] = "small"
    raw["profiles"]["small"]["train"].update({"ckpt_interval": 10 ** 6, **(train or {})})
    raw["profiles"]["small"]["model"].update(model or {})
    return raw


def start_study_run(tmp: Path, name: str, raw: dict, variant: str, seed: int):
    """Start one small-profile run exactly as `dvc repro` starts it (`python -m pipeline.train`,
    its processes and threads chosen by the run itself), in a scratch directory with the
    params `raw` and the prepared data linked in; (directory, process)."""
    import yaml
    root = Path(__file__).resolve().parents[1]
    d = tmp / name
    d.mkdir()
    (d / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (d / "data").mkdir()
    (d / "data" / "small").symlink_to(small_data())
    env = dict(os.environ, PYTHONPATH=str(root), RESONATOR_SLOTS_DIR=str(tmp / "slots"))
    return d, subprocess.Popen([sys.executable, "-m", "pipeline.train", "--variant", variant, "--seed", str(seed)],
                               cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_study_run(job) -> tuple[dict, dict]:
    """Wait for a run from start_study_run; (its train.json metrics, its stamps)."""
    d, proc = job
    log = proc.communicate()[0]
    if proc.returncode != 0:
        raise RuntimeError(log[-2000:])
    record = next((d / "runs" / "small").glob("*/s*/train.json"))
    stamps = json.loads((record.parent / "stamps.json").read_text())["train"]
    return json.loads(record.read_text())["metrics"], stamps


def concurrency(steps: int, variant: str = "resonator_phonetic", rounds: int = 2) -> dict | None:
    """Runs sharing the cores: one small-profile training run alone, then two at once (the same
    variant, seeds 0 and 1), `rounds` times alternating, each run exactly as `dvc repro` starts it
    (`python -m pipeline.train`, its processes and threads chosen by the run itself), capped at
    `steps` optimizer steps. Two ratios, medians over rounds: the aggregate throughput of the
    stage (tokens trained / wall time until the last run ends, start-up included: what a study
    gains) and of the training loops alone (the runs' own tokens/s summed: what sharing the
    cores costs the loop itself). Needs the small profile's data (`dvc repro phases`); returns
    None without it."""
    import tempfile

    if small_data() is None:
        return None
    raw = small_study_params(train={"max_steps": steps})
    out = {"steps": steps, "variant": variant, "rounds": rounds, "alone": [], "together": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            order = (("alone", [0]), ("together", [0, 1]))
            for kind, seeds in order if i % 2 == 0 else order[::-1]:     # drift over time cuts both ways
                t0 = time.perf_counter()
                jobs = [start_study_run(Path(tmp), f"{kind}{i}-s{s}", raw, variant, s) for s in seeds]
                done = [finish_study_run(job) for job in jobs]
                wall = time.perf_counter() - t0
                out[kind].append({"wall_s": wall, "tokens": sum(m["tokens_seen"] for m, _ in done),
                                  "loop_tokens_per_s": sum(st["tokens_per_s"] for _, st in done),
                                  "world_size": [m["world_size"] for m, _ in done],
                                  "threads": [m["num_threads"] for m, _ in done]})
                out[kind][-1]["tokens_per_s"] = out[kind][-1]["tokens"] / wall
    med = {k: {m: statistics.median(r[m] for r in out[k]) for m in ("tokens_per_s", "loop_tokens_per_s")}
           for k in ("alone", "together")}
    out["median"] = med
    out["aggregate_ratio"] = med["together"]["tokens_per_s"] / med["alone"]["tokens_per_s"]
    out["loop_ratio"] = med["together"]["loop_tokens_per_s"] / med["alone"]["loop_tokens_per_s"]
    return out


def device_name(device: str) -> str:
    import torch
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} logical CPUs)"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def study_size() -> dict:
    """The small profile's model from params.yaml, at the micro-batch each of a run's processes
    trains (batch / processes): the model the study trains, as one of its processes sees it."""
    import yaml
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    prof = raw["profiles"]["small"]
    m, t = prof["model"], prof["train"]
    return dict(vocab_size=prof["tokenizer"]["vocab_size"], batch=t["batch"] // t["processes"],
                **{k: m[k] for k in ("max_seq_len", "d_model", "n_layers", "n_heads", "d_ff")})


def parse_sizes(names: str, sets: list[str]) -> dict:
    sizes = {k: dict(v) for k, v in SIZES.items()}
    if "study" in names.split(","):
        sizes["study"] = study_size()
    for item in sets:
        try:
            key, value = item.split("=", 1)
            size, field = key.split(".", 1)
            if size not in sizes:
                sizes[size] = dict(SIZES["small"])  # a new named size starts from small
            if field not in sizes[size]:
                raise KeyError(field)
            sizes[size][field] = int(value)
        except (ValueError, KeyError) as e:
            raise SystemExit(
                f"--set {item!r}: expected SIZE.FIELD=INT with FIELD in {list(SIZES['small'])} ({e})") from None
    wanted = [n for n in names.split(",") if n]
    for n in wanted:
        if n not in sizes:
            raise SystemExit(f"--sizes: unknown size {n!r}; known: {sorted(sizes)}")
    return {n: sizes[n] for n in wanted}


def _size_schedule(name: str, args) -> tuple[int, int, int]:
    """Warm-up steps, timed steps per round and rounds for one size (the command line's, if given)."""
    slow = name == "paper" and args.device == "cpu"
    # CPU at paper size: 10-50 s per step depending on the CPU. One warm-up step (the first
    # step also pays for the allocator and kernel selection) and two timed steps in each of
    # two rounds keep the default run within a few minutes.
    warmup = args.warmup if args.warmup is not None else (1 if slow else 3)
    iters = args.iters if args.iters is not None else (2 if slow else 5)
    rounds = args.rounds if args.rounds is not None else 2
    return warmup, iters, rounds


def _measure_variants(size: dict, args, warmup: int, iters: int, rounds: int) -> dict[str, list[dict]] | None:
    """Every variant's measurements at one size, one per round, or None (its stderr printed)
    when a configuration's process failed."""
    runs = {v: [] for v in VARIANTS}
    # Variants alternate over rounds (A B C A B C), so that a neighbour's load burst on a
    # shared machine does not land on one variant only.
    for _ in range(rounds):
        for variant in VARIANTS:
            # A fresh process per configuration, so that peak memory is that configuration's own.
            job = json.dumps({"size": size, "variant": variant, "warmup": warmup, "iters": iters})
            cmd = [sys.executable, "-m", "tools.bench", "--one", job, "--device", args.device,
                   "--dtype", args.dtype]
            cmd += (["--compile"] if args.compile else []) + (["--threads", str(args.threads)] if args.threads else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr[-3000:], file=sys.stderr)
                return None
            runs[variant].append(json.loads(r.stdout.strip().splitlines()[-1]))
    return runs


def _model_row(name: str, parts: list[dict], rounds: int, peak: dict, args) -> dict:
    """One (size, variant) row of the results from its rounds' measurements."""
    row = {"size": name, **parts[0], "rounds": rounds}
    row["step_s_all"] = [t for p in parts for t in p["step_s_all"]]
    row["step_s"] = statistics.median(row["step_s_all"])
    row["tokens_per_s"] = row["batch"] * row["seq_len"] / row["step_s"]
    for key in ("peak_mem_mb", "peak_mem_delta_mb"):
        if key in row:
            row[key] = max(p[key] for p in parts)
    row["achieved_flops_per_s"] = row["tokens_per_s"] * row["flops_per_token"]
    row["fraction_of_matmul_peak"] = row["achieved_flops_per_s"] / peak["flops_per_s"]
    if args.device == "cuda":
        row["mfu"] = row["tokens_per_s"] * row["flops_per_token"] / (args.peak_tflops * 1e12)
    return row


def _add_relative_to_standard(rows: list[dict], sizes: dict) -> None:
    """Each row's throughput and FLOPs relative to the standard variant at the same size (in place)."""
    for name in sizes:
        std = next(r for r in rows if r["size"] == name and r["variant"] == "standard")
        for r in rows:
            if r["size"] == name:
                r["relative_to_standard"] = r["tokens_per_s"] / std["tokens_per_s"]
                r["flops_relative_to_standard"] = r["flops_per_token"] / std["flops_per_token"]


def _extra_measurements(args) -> tuple[dict | None, dict | None, dict | None, dict | None]:
    """The measurements beside the model table, each None where skipped: the attention micro
    benchmark, the instrument overhead, the training-loop overhead and two runs at once."""
    micro = inst = loop = None
    if args.loop_steps and args.device == "cpu":
        loop = loop_overhead(args.loop_steps, args.loop_rounds, args.threads)
        print(f"training loop: project/bare = {loop['project_over_bare']:.3f}, project/bare in deterministic mode "
              f"= {loop['project_over_bare_deterministic']:.3f}, with the allocator setting too "
              f"= {loop['project_over_bare_kept']:.3f}", flush=True)
    conc = None
    if args.concurrency_steps and args.device == "cpu":
        conc = concurrency(args.concurrency_steps)
        if conc:
            print(f"two runs at once: {conc['aggregate_ratio']:.2f}x the aggregate throughput of one (start-up "
                  f"included), {conc['loop_ratio']:.2f}x in the training loops alone", flush=True)
    if not args.skip_micro:
        micro = attention_micro(args.device, args.dtype)
        print("attention micro done", flush=True)
        try:  # another team's module: its absence must not lose the numbers above
            inst = instrument_overhead(SIZES["small"], args.device)
        except Exception as e:  # noqa: BLE001
            inst = {"error": f"{type(e).__name__}: {e}"}
    return micro, inst, loop, conc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="study,small,paper")
    ap.add_argument("--set", action="append", default=[], metavar="SIZE.FIELD=INT",
                    help="override a size's field, e.g. small.d_model=256 (repeatable)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="bf16 = autocast (CUDA or CPU)")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--warmup", type=int, default=None, help="default 3 (1 for the paper size on CPU)")
    ap.add_argument("--iters", type=int, default=None, help="default 5 per round (2 for the paper size on CPU)")
    ap.add_argument("--rounds", type=int, default=None,
                    help="fresh processes per configuration, variants alternating; default 2")
    ap.add_argument("--out", default="bench")
    ap.add_argument("--peak-tflops", type=float, default=989.0,
                    help="accelerator peak for MFU; 989 = H100 SXM dense BF16 (datasheet)")
    ap.add_argument("--skip-micro", action="store_true", help="skip the attention and instrument benchmarks")
    ap.add_argument("--loop-steps", type=int, default=120,
                    help="optimizer steps of the training-loop comparison (0 skips it)")
    ap.add_argument("--loop-rounds", type=int, default=4,
                    help="fresh processes per loop in that comparison (60 steps x 2 rounds measured 0.94-1.00)")
    ap.add_argument("--concurrency-steps", type=int, default=400,
                    help="optimizer steps of the one-run-then-two-runs measurement (0 skips it)")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # JSON {size, variant}: run one config in this process
    ap.add_argument("--loop-one", help=argparse.SUPPRESS)  # JSON {which, steps}: one loop measurement
    args = ap.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.loop_one:
        job = json.loads(args.loop_one)
        print(json.dumps(loop_job(job["which"], job["steps"], args.threads)))
        return 0
    if args.one:
        job = json.loads(args.one)
        print(json.dumps(measure_one(job["size"], job["variant"], args.device, args.dtype, args.compile,
                                     job["warmup"], job["iters"])))
        return 0

    sizes = parse_sizes(args.sizes, args.set)
    t_start = time.time()
    peak = matmul_peak(args.device, args.dtype)
    print(f"matmul peak {peak['flops_per_s'] / 1e9:.1f} GFLOP/s ({peak['dtype']}, n={peak['n']})", flush=True)
    rows = []
    for name, size in sizes.items():
        warmup, iters, rounds = _size_schedule(name, args)
        runs = _measure_variants(size, args, warmup, iters, rounds)
        if runs is None:
            return 1
        for variant, parts in runs.items():
            row = _model_row(name, parts, rounds, peak, args)
            rows.append(row)
            print(f"{name:6s} {variant:16s} {row['tokens_per_s']:10.0f} tok/s  {row['peak_mem_mb']:8.0f} MB",
                  flush=True)
    _add_relative_to_standard(rows, sizes)
    micro, inst, loop, conc = _extra_measurements(args)
    meta = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "device": args.device,
            "device_name": device_name(args.device), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "dtype": args.dtype, "compile": args.compile,
            "python": platform.python_version(), "load_average_at_end": os.getloadavg(),
            "peak_tflops_for_mfu": args.peak_tflops if args.device == "cuda" else None,
            "memory_measure": "torch.cuda.max_memory_allocated" if args.device == "cuda"
            else "getrusage ru_maxrss of a fresh process (delta: over the process after importing torch)",
            "sizes": sizes, "matmul_peak": peak, "wall_s": time.time() - t_start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from resonator.atomic import atomic_write_json, atomic_write_text
    atomic_write_json(out / f"results_{args.device}.json",
                      {"meta": meta, "models": rows, "attention": micro, "instruments": inst, "loop": loop,
                       "concurrency": conc})
    md = report(meta, rows, micro, inst, args.device, loop, conc)
    atomic_write_text(out / f"results_{args.device}.md", md)
    print(md)
    return 0


def report(meta, rows, micro, inst, device, loop=None, conc=None) -> str:
    cuda = device == "cuda"
    md = [f"# Benchmark: {meta['device_name']}",
          "",
          f"torch {meta['torch']}, {meta['threads']} threads, {meta['dtype']}"
          f"{', torch.compile' if meta['compile'] else ''}, {meta['date']}, "
          f"load average at end {', '.join(f'{x:.1f}' for x in meta['load_average_at_end'])}.",
          "Throughput = forward + backward (no optimizer), dropout 0, median of the timed steps after warm-up "
          "over all rounds (fresh processes, variants alternating). "
          f"Memory: {meta['memory_measure']}.",
          "",
          f"Matmul peak of this machine: {meta['matmul_peak']['flops_per_s'] / 1e9:,.1f} GFLOP/s "
          f"(best of {meta['matmul_peak']['n']}³ {meta['matmul_peak']['dtype']} GEMMs); "
          "'of peak' = tokens/s × model FLOPs per token (forward + backward) / that peak.",
          "",
          "| size | variant | params (M) | batch×seq | tokens/s | vs standard | GFLOP/token | FLOPs vs standard | "
          "GFLOP/s | of peak | peak memory (MB) |" + (" MFU |" if cuda else " delta (MB) |"),
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['size']} | {r['variant']} | {r['n_params'] / 1e6:.2f} | {r['batch']}×{r['seq_len']} | "
                  f"{r['tokens_per_s']:.0f} | {r['relative_to_standard']:.2f} | {r['flops_per_token'] / 1e9:.4g} | "
                  f"{r['flops_relative_to_standard']:.3f} | {r['achieved_flops_per_s'] / 1e9:.1f} | "
                  f"{100 * r['fraction_of_matmul_peak']:.1f}% | {r['peak_mem_mb']:.0f} |"
                  + (f" {100 * r['mfu']:.1f}% |" if cuda else f" {r['peak_mem_delta_mb']:.0f} |"))
    if loop:
        md += ["", "Training loop, small profile's phonetic resonator (1 thread, micro-batch 16 x 2), "
               f"{loop['steps']} optimizer steps, "
               f"{loop['rounds']} fresh processes each, alternating (median tokens/s): project loop "
               f"{loop['median']['project']:,.0f}, bare nanoGPT-style loop {loop['median']['bare']:,.0f}, the same "
               f"in deterministic mode {loop['median']['bare_deterministic']:,.0f}, and keeping freed memory "
               f"(resonator.allocator) {loop['median']['bare_kept']:,.0f}; "
               f"ratio {loop['project_over_bare']:.3f} ({loop['project_over_bare_deterministic']:.3f} against the "
               f"bare loop in deterministic mode, {loop['project_over_bare_kept']:.3f} against it with both of "
               "the project's settings). Minor page faults per optimizer step (median): "
               + ", ".join(f"{k} {v:,.0f}" for k, v in loop["minor_faults_per_step"].items())
               + " (the project's over its whole train() call, validations included)."]
    if conc:
        a, t = conc["median"]["alone"], conc["median"]["together"]
        layout = conc["alone"][0]
        md += ["", f"Runs sharing the cores (small profile, `{conc['variant']}`, {conc['steps']} optimizer steps each, "
               f"started as `dvc repro` starts them, {layout['world_size'][0]} processes × {layout['threads'][0]} "
               f"thread per run; medians over {conc['rounds']} rounds, alone and together alternating): one run "
               f"alone {a['tokens_per_s']:,.0f} tokens/s of wall time with start-up, {a['loop_tokens_per_s']:,.0f} "
               f"in its training loop; two at once {t['tokens_per_s']:,.0f} and {t['loop_tokens_per_s']:,.0f} "
               f"together: ratios {conc['aggregate_ratio']:.2f} (start-up included) and {conc['loop_ratio']:.2f} "
               "(training loops alone)."]
    if micro:
        md += ["", "Attention alone (B=8, S=256, 4 heads of 64, F=32, forward + backward):", "",
               "| implementation | ms | × plain SDPA | max abs diff to naive |", "|---|---|---|---|"]
        for k, v in micro.items():
            diff = "–" if v["max_abs_diff_to_naive"] is None else f"{v['max_abs_diff_to_naive']:.1e}"
            md.append(f"| {k} | {1e3 * v['seconds']:.2f} | {v['ratio_to_sdpa']:.2f} | {diff} |")
    if inst and "error" not in inst:
        md += ["", "Instrumentation overhead (small resonator, forward only):", "",
               "| model | ms |", "|---|---|",
               f"| plain | {1e3 * inst['plain_s']:.2f} |",
               f"| wrapped, no instrument | {1e3 * inst['wrapped_no_instruments_s']:.2f} |",
               f"| wrapped, 3 instruments | {1e3 * inst['wrapped_all_instruments_s']:.2f} |"]
    elif inst:
        md += ["", f"Instrumentation overhead: not measured ({inst['error']})."]
    return "\n".join(md) + "\n"


if __name__ == "__main__":
    sys.exit(run_main(main))
