"""Training loop: deterministic, resumable, paired across variants, DDP-ready.

Recipe (docs/original.md): AdamW (PyTorch defaults betas/eps), constant learning rate,
weight decay on all parameters, gradient clipping, micro-batches with gradient
accumulation, fp32 on CPU (bf16 autocast + TF32 on CUDA).

Data: the token stream is cut into non-overlapping chunks of S+1 tokens with stride
S (input = first S, targets = last S). Every epoch visits each chunk once in an
order drawn from the run's *data* generator, which depends only on the seed and the
epoch: the same seed gives every variant the same batches (a paired design).

Three generators per run, all derived from the run seed (`derive_seeds`):
init (weights), dropout (torch's global RNG, which dropout and SDPA use), data.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from resonator.atomic import atomic_torch_save, atomic_write_text
from resonator.checkpoint import STATE_FORMAT, CheckpointMismatchError, read_checkpoint, save_model  # noqa: F401
from resonator.config import TrainConfig  # noqa: F401  (re-exported)
from resonator.errors import ProjectError
from resonator.model import ModelConfig, build_model, count_params, flops_per_token
from resonator.params import stable_hash
from resonator.progress import Progress
from resonator.tokenizer import load_tokens


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


# The modules whose source decides what training computes: a training state written by
# other code is not resumed (DVC reruns a stage when they change, and keeps ckpt/).
CODE_MODULES = ("resonator.train", "resonator.model", "resonator.phases")


def code_hashes() -> dict:
    import importlib
    return {name: hashlib.sha256(Path(importlib.import_module(name).__file__).read_bytes()).hexdigest()
            for name in CODE_MODULES}


def derive_seeds(seed: int) -> dict:
    """Independent integer seeds for init, dropout and data order, from one run seed."""
    init, dropout, data = np.random.SeedSequence(seed).generate_state(3)
    return {"init": int(init), "dropout": int(dropout), "data": int(data)}


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

class Chunks:
    """Fixed-length training windows read straight from a token memmap (no corpus copy)."""

    def __init__(self, tokens: np.ndarray, seq_len: int, max_chunks: int | None = None):
        self.tokens, self.S = tokens, seq_len
        n = (len(tokens) - 1) // seq_len
        self.n = min(n, max_chunks) if max_chunks else n
        if self.n < 1:
            raise ValueError(f"corpus of {len(tokens)} tokens is shorter than one window of {seq_len + 1}")

    def batch(self, ids) -> tuple[torch.Tensor, torch.Tensor]:
        rows = np.stack([self.tokens[i * self.S: i * self.S + self.S + 1] for i in ids]).astype(np.int64)
        t = torch.from_numpy(rows)
        return t[:, :-1].contiguous(), t[:, 1:].contiguous()


def epoch_order(data_seed: int, epoch: int, n_chunks: int) -> np.ndarray:
    """Chunk order of one epoch: a function of (seed, epoch, n_chunks) only."""
    return np.random.default_rng([data_seed, epoch]).permutation(n_chunks)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model, chunks: Chunks, n_batches: int | None, micro_batch: int, device, autocast,
             rank: int = 0, world: int = 1) -> dict:
    """Token-weighted mean NLL over a fixed set of val windows (the first ones, in order).
    Also the original's metric: the mean of per-batch mean losses. With several processes
    each scores every world-th batch and the sums are combined (same windows, same batches)."""
    was_training = model.training
    model.eval()
    nll_tok, batch_means = [0.0, 0], {}
    n_windows = chunks.n if n_batches is None else min(chunks.n, n_batches * micro_batch)
    for b, start in enumerate(range(0, n_windows, micro_batch)):
        if b % world != rank:
            continue
        x, y = chunks.batch(range(start, min(start + micro_batch, n_windows)))
        x, y = x.to(device), y.to(device)
        with autocast:
            logits, _ = model(x)
        nll = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        nll_tok[0] += nll.item()
        nll_tok[1] += y.numel()
        batch_means[b] = nll.item() / y.numel()
    if world > 1:
        parts = [None] * world
        torch.distributed.all_gather_object(parts, (nll_tok, batch_means))
        nll_tok = [sum(p[0][0] for p in parts), sum(p[0][1] for p in parts)]
        batch_means = {k: v for p in parts for k, v in p[1].items()}
    total_nll, total_tok = nll_tok
    batch_means = [batch_means[b] for b in sorted(batch_means)]
    model.train(was_training)
    val_loss = total_nll / total_tok
    return {"val_loss": val_loss, "val_ppl": math.exp(val_loss),
            "val_ppl_original_metric": math.exp(sum(batch_means) / len(batch_means)),
            "val_tokens": total_tok}


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ProjectError("train.device", "is 'cuda' but no CUDA device is available", "set it to auto or cpu")
    return torch.device(name)


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def write_curve(path: Path, rows: list[dict]) -> None:
    cols = ["step", "tokens", "train_loss", "val_loss", "val_ppl"]
    lines = ["\t".join(cols)]
    for r in rows:
        lines.append("\t".join("" if r.get(c) is None else (f"{r[c]:.6f}" if isinstance(r[c], float) else str(r[c]))
                               for c in cols))
    atomic_write_text(path, "\n".join(lines) + "\n")


def why_not_resume(state: dict, expected_fp: str, current: dict, total_steps: int, code: dict) -> str | None:
    """Why a readable training state must not be resumed (None: resume it). Such a state is
    left over from another run: training starts from step 0 and overwrites it."""
    if state["fingerprint"] != expected_fp:
        old = json.loads(state.get("config_json", "{}"))
        return f"it was written for a different run config (differs in: {describe_diff(old, current)})"
    if state.get("code") != code:
        changed = [m for m in code if (state.get("code") or {}).get(m) != code[m]]
        return f"the training code changed since it was written ({', '.join(changed)})"
    if state["step"] >= total_steps:
        return f"it is the end state of a finished run ({state['step']}/{total_steps} steps)"
    return None


def describe_diff(old: dict, new: dict) -> str:
    new = json.loads(json.dumps(new, default=str))  # same normalisation as the stored copy
    diffs = []

    def walk(a, b, prefix):
        for k in sorted(set(a) | set(b)):
            x, y = a.get(k), b.get(k)
            if isinstance(x, dict) and isinstance(y, dict):
                walk(x, y, f"{prefix}{k}.")
            elif x != y:
                diffs.append(f"{prefix}{k} {x!r} != {y!r}")
    walk(old, new, "")
    return ", ".join(diffs[:5]) or "unknown fields"


def train(model_config: ModelConfig, train_config: TrainConfig, data_dir, run_dir, seed: int,
          phase_table: torch.Tensor | None = None, run_fingerprint: dict | None = None,
          max_chunks: int | None = None, callbacks=None, progress_label: str = "",
          threads: int | None = None) -> dict:
    """Train one run; resume from run_dir/ckpt/last.pt if it is an unfinished state of this
    run (same config and code), else start from step 0. Returns final metrics.

    Outputs are replaced only at the end (ckpt/final.pt, then curve.tsv), or, for a diverged
    run, curve.tsv when it diverges; only ckpt/last.pt changes while training.
    threads: CPU threads for this run (default: train_config.num_threads, else torch's default).
    A resumed run keeps the thread count it started with: the count is part of its numerics."""
    tc, mc = train_config, model_config
    run_dir = Path(run_dir)
    if tc.micro_batch is None or tc.grad_accum is None:
        from resonator.batching import resolve
        tc = resolve(tc, mc, int(os.environ.get("WORLD_SIZE", "1")))
    ckpt_dir = run_dir / "ckpt"
    rank, world = distributed()
    device = resolve_device(tc.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    if device.type == "cpu" and (threads or tc.num_threads):
        torch.set_num_threads(threads or tc.num_threads)
    # Measured: with 2 threads and 32-sequence micro-batches the resonator's backward picks a
    # nondeterministic CPU kernel (weights differ run to run); deterministic mode removes that
    # and leaves the numerics of already-deterministic paths bit-identical. warn_only: on CUDA
    # a few ops have no deterministic kernel, and a warning there beats refusing to train.
    torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda" and tc.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if tc.grad_accum % world:
        raise ValueError(f"grad_accum={tc.grad_accum} is not divisible by the {world} processes")
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if tc.dtype == "bf16" and device.type == "cuda"
                else contextlib.nullcontext())

    seeds = derive_seeds(seed)
    config_blob = run_fingerprint if run_fingerprint is not None else {
        "model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc), "seed": seed}
    fp = stable_hash(config_blob, spaced=True)

    train_chunks = Chunks(load_tokens(data_dir, "train"), mc.max_seq_len,
                          max_chunks if max_chunks is not None else tc.max_chunks)
    val_chunks = Chunks(load_tokens(data_dir, "val"), mc.max_seq_len)
    per_step = tc.micro_batch * tc.grad_accum
    steps_per_epoch = train_chunks.n // per_step
    if steps_per_epoch < 1:
        raise ValueError(f"{train_chunks.n} training windows are fewer than one optimizer step ({per_step})")
    total_steps = max(1, math.floor(tc.epochs * steps_per_epoch))
    if tc.max_steps:
        total_steps = min(total_steps, tc.max_steps)

    model = build_model(mc, phase_table, generator=torch.Generator().manual_seed(seeds["init"])).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tuple(tc.betas), eps=tc.eps,
                            weight_decay=tc.weight_decay, fused=device.type == "cuda")
    torch.manual_seed(rank_seed(seeds["dropout"], rank))
    step, tokens_seen, rows, elapsed = 0, 0, [], 0.0
    interval_losses = []   # train losses since the last validation (the curve's train_loss)

    last = ckpt_dir / "last.pt"
    code = code_hashes()
    foreign_last = False   # last.pt exists but belongs to another run (until this run overwrites it)
    state = read_checkpoint(last, fmt=STATE_FORMAT) if last.exists() else None
    why = why_not_resume(state, fp, config_blob, total_steps, code) if state is not None else None
    if why:
        state, foreign_last = None, True
        if rank == 0:
            print(f"not resuming from {last}: {why}; training from step 0", flush=True)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, tokens_seen, elapsed = state["step"], state["tokens_seen"], state["elapsed"]
        rows = json.loads(state["curve_json"])
        # resuming between two validations: the next curve row averages over the whole interval
        interval_losses = json.loads(state.get("interval_losses_json", "[]"))
        torch.set_rng_state(state["rng_cpu_ranks"][rank] if "rng_cpu_ranks" in state else state["rng_cpu"])
        if device.type == "cpu" and state.get("num_threads"):
            torch.set_num_threads(int(state["num_threads"]))
        if device.type == "cuda" and "rng_cuda" in state:
            torch.cuda.set_rng_state(state["rng_cuda"], device)
        if rank == 0:
            print(f"resumed from {last} at step {step}/{total_steps}", flush=True)

    net = model
    if tc.compile:
        net = torch.compile(net)
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    def validate():
        return evaluate(model, val_chunks, tc.val_batches, tc.micro_batch, device, autocast, rank, world)

    def save_state():
        nonlocal foreign_last
        foreign_last = False
        rng = torch.get_rng_state()
        if world > 1:  # every rank's dropout stream, so that a resumed run continues each of them
            ranks = [None] * world
            torch.distributed.all_gather_object(ranks, rng)
        if rank != 0:
            return
        state = {"format": STATE_FORMAT, "fingerprint": fp, "config_json": json.dumps(config_blob, default=str),
                 "code": code,
                 "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                 "tokens_seen": tokens_seen, "elapsed": elapsed, "curve_json": json.dumps(rows),
                 "interval_losses_json": json.dumps(interval_losses),
                 "rng_cpu": rng, "num_threads": torch.get_num_threads()}
        if world > 1:
            state["rng_cpu_ranks"] = ranks
        if device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(device)
        atomic_torch_save(last, state)

    if step == 0 and not rows:
        rows.append({"step": 0, "tokens": 0, "train_loss": None, **pick(validate())})
    # curve.tsv (git-tracked, a DVC output) is written when the run ends, finished or diverged:
    # a run that is killed or fails leaves the previous run's curve as it was.
    model.train()
    local_accum = tc.grad_accum // world
    progress = Progress(total_steps, step, per_step * mc.max_seq_len, progress_label, enabled=rank == 0)
    t0 = time.perf_counter()
    while step < total_steps:
        epoch, k = divmod(step, steps_per_epoch)
        order = epoch_order(seeds["data"], epoch, train_chunks.n)
        ids = order[k * per_step:(k + 1) * per_step]
        step_loss = 0.0
        for m in range(local_accum):
            micro = rank * local_accum + m
            x, y = train_chunks.batch(ids[micro * tc.micro_batch:(micro + 1) * tc.micro_batch])
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            sync = contextlib.nullcontext() if (world == 1 or m == local_accum - 1) else net.no_sync()
            with sync:
                with autocast:
                    _, loss = net(x, y)
                if callbacks and "on_loss" in callbacks:
                    loss = callbacks["on_loss"](step, loss)
                if not all_finite(loss, world):
                    if rank == 0:
                        # a diverged run is a result: it leaves its curve (from step 0 on) ...
                        write_curve(run_dir / "curve.tsv", rows)
                        if foreign_last:  # ... and no training state of another run
                            last.unlink(missing_ok=True)
                    raise TrainingDivergedError(
                        f"non-finite loss ({loss.item()}) at step {step} after {tokens_seen} tokens; "
                        f"the last good checkpoint is {last if last.exists() else 'none (no checkpoint yet)'}")
                (loss / local_accum).backward()
            step_loss += loss.item() / local_accum
        if world > 1:
            t = torch.tensor([step_loss], device=device)
            torch.distributed.all_reduce(t)
            step_loss = t.item() / world
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += per_step * mc.max_seq_len
        interval_losses.append(step_loss)
        progress.update(step, step_loss)
        if callbacks and "on_step" in callbacks:
            callbacks["on_step"](step)
        if step % tc.eval_interval == 0 or step == total_steps:
            elapsed += time.perf_counter() - t0
            rows.append({"step": step, "tokens": tokens_seen,
                         "train_loss": sum(interval_losses) / len(interval_losses), **pick(validate())})
            interval_losses = []
            progress.line(f"train {rows[-1]['train_loss']:.4f} val {rows[-1]['val_loss']:.4f},")
            t0 = time.perf_counter()
        if step % tc.ckpt_interval == 0 or step == total_steps:
            elapsed += time.perf_counter() - t0
            save_state()
            t0 = time.perf_counter()
    elapsed += time.perf_counter() - t0
    progress.close()

    final = validate()
    tok_s = tokens_seen / elapsed if elapsed > 0 else None
    fpt = flops_per_token(mc)
    peak = tc.peak_flops or 989e12
    metrics = {
        **final, "steps": step, "tokens_seen": tokens_seen, "epochs": step / steps_per_epoch,
        "train_windows": train_chunks.n, "wall_time_s": elapsed, "tokens_per_s": tok_s,
        "n_params": count_params(mc), "flops_per_token": fpt,
        "mfu": (fpt * tok_s / (peak * world)) if (device.type == "cuda" and tok_s) else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": tc.dtype, "world_size": world, "seeds": seeds,
        "num_threads": torch.get_num_threads() if device.type == "cpu" else None,
        "micro_batch": tc.micro_batch, "grad_accum": tc.grad_accum, "batch": per_step,
    }
    if rank == 0:
        save_model(ckpt_dir / "final.pt", model, mc,
                   extra={"step": step, "tokens_seen": tokens_seen, "val_loss": final["val_loss"]})
        write_curve(run_dir / "curve.tsv", rows)
    if world > 1:
        torch.distributed.barrier()
    return metrics


def rank_seed(seed: int, rank: int) -> int:
    """The dropout seed of a data-parallel rank (rank 0 keeps the run's own, so world size 1
    is unchanged): ranks drawing identical masks for different sequences would correlate them."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def all_finite(loss: torch.Tensor, world: int) -> bool:
    """Whether the loss is finite on every rank: all ranks must stop together, or the others
    would wait forever in the gradient all-reduce."""
    ok = torch.tensor([1.0 if bool(torch.isfinite(loss)) else 0.0], device=loss.device)
    if world > 1:
        torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
    return bool(ok.item() > 0)


def pick(d: dict) -> dict:
    return {"val_loss": d["val_loss"], "val_ppl": d["val_ppl"]}
