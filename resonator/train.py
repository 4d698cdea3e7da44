"""Training loop: deterministic, resumable, paired across variants, DDP-ready.

Recipe (docs/original.md): AdamW (PyTorch defaults betas/eps), constant learning rate,
weight decay on all parameters, gradient clipping, micro-batches with gradient
accumulation, fp32 (bf16 autocast where `train.dtype` asks for it; TF32 on CUDA).

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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from resonator.allocator import keep_freed_memory
from resonator.atomic import atomic_torch_save, atomic_write_text
from resonator.checkpoint import (
    STATE_FORMAT,
    CheckpointMismatchError,  # noqa: F401  (re-exported: resume raises it)
    interned_keys,
    read_checkpoint,
    save_model,
)
from resonator.config import TrainConfig  # noqa: F401  (re-exported)
from resonator.errors import ProjectError
from resonator.model import ModelConfig, build_model
from resonator.params import stable_hash
from resonator.progress import Progress
from resonator.sizes import count_params, flops_per_token
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
# The run: set up, resume or start, step, validate, checkpoint, finish
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Hooks:
    """Ways into the loop, for tests (the stages pass none).

    on_loss(step, loss) -> loss: sees each micro-batch's loss before its backward pass and
    returns the loss to use (a test records it, or makes it NaN). `step` counts from 0.
    on_step(step): called once optimizer step `step` (from 1) is taken, before the validation
    and checkpoint that may follow it (a test interrupts the run there)."""
    on_loss: Callable[[int, torch.Tensor], torch.Tensor] | None = None
    on_step: Callable[[int], None] | None = None


def train(model_config: ModelConfig, train_config: TrainConfig, data_dir, run_dir, seed: int,
          phase_table: torch.Tensor | None = None, run_fingerprint: dict | None = None,
          max_chunks: int | None = None, hooks: Hooks | None = None, progress_label: str = "",
          threads: int | None = None) -> dict:
    """Train one run; resume from run_dir/ckpt/last.pt if it is an unfinished state of this
    run (same config and code), else start from step 0. Returns final metrics.

    Outputs are replaced only at the end (ckpt/final.pt, then curve.tsv), or, for a diverged
    run, curve.tsv when it diverges; only ckpt/last.pt changes while training.
    threads: CPU threads for this run (default: train_config.num_threads, else torch's default).
    A resumed run keeps the thread count it started with: the count is part of its numerics."""
    keep_freed_memory()
    hooks = hooks or Hooks()
    run = setup(model_config, train_config, data_dir, run_dir, seed, run_fingerprint, max_chunks, threads)
    model, opt = build(run, phase_table)
    state = resume_or_start(run, model, opt)
    net = wrap(run, model)
    if state.step == 0 and not state.rows:
        state.rows.append(curve_row(0, 0, None, validate(run, model)))
    # curve.tsv (git-tracked, a DVC output) is written when the run ends, finished or diverged:
    # a run that is killed or fails leaves the previous run's curve as it was.
    model.train()
    progress = Progress(run.total_steps, state.step, run.tokens_per_step, progress_label, enabled=run.rank == 0)
    clock = Stopwatch(state)
    while state.step < run.total_steps:
        loss = train_step(run, net, model, opt, state, hooks)
        state.advance(loss, run.tokens_per_step)
        progress.update(state.step, loss)
        if hooks.on_step:
            hooks.on_step(state.step)
        if run.ends_interval(state.step, run.tc.eval_interval):
            with clock.paused():
                log_validation(run, model, state, progress)
        if run.ends_interval(state.step, run.tc.ckpt_interval):
            with clock.paused():
                save_state(run, model, opt, state)
    clock.stop()
    progress.close()
    return finish(run, model, state)


# ---------------------------------------------------------------------------
# Set-up: what a run trains with, fixed before its first step
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Setup:
    """One run's resolved configuration, place (rank, world size, device), seeds, identity
    (fingerprint and code hashes), data and length."""
    mc: ModelConfig
    tc: TrainConfig            # micro_batch and grad_accum resolved
    run_dir: Path
    rank: int
    world: int
    device: torch.device
    autocast: contextlib.AbstractContextManager
    seeds: dict                # derive_seeds(seed)
    config_blob: dict          # what makes two runs the same run ...
    fingerprint: str           # ... and its hash: a state is resumed only by a run with the same one
    code: dict                 # code_hashes(): nor by other training code
    train_chunks: Chunks
    val_chunks: Chunks
    steps_per_epoch: int
    total_steps: int

    @property
    def per_step(self) -> int:
        """Sequences per optimizer step, over every process."""
        return self.tc.micro_batch * self.tc.grad_accum

    @property
    def tokens_per_step(self) -> int:
        return self.per_step * self.mc.max_seq_len

    @property
    def local_accum(self) -> int:
        """Micro-batches per optimizer step in this process."""
        return self.tc.grad_accum // self.world

    @property
    def last(self) -> Path:
        return self.run_dir / "ckpt" / "last.pt"

    @property
    def curve(self) -> Path:
        return self.run_dir / "curve.tsv"

    def ends_interval(self, step: int, interval: int) -> bool:
        """Whether a validation or checkpoint every `interval` steps falls after `step` (the last always does)."""
        return step % interval == 0 or step == self.total_steps


def setup(mc: ModelConfig, tc: TrainConfig, data_dir, run_dir, seed: int, run_fingerprint: dict | None,
          max_chunks: int | None, threads: int | None) -> Setup:
    """Resolve the batch split, place this process, fix the numerics, then read and check the
    data and count the steps: a bad configuration fails before any data is read."""
    if tc.micro_batch is None or tc.grad_accum is None:
        from resonator.batching import resolve
        tc = resolve(tc, mc, int(os.environ.get("WORLD_SIZE", "1")))
    rank, world, device = place(tc)
    set_numerics(tc, device, threads)
    if tc.grad_accum % world:
        raise ValueError(f"grad_accum={tc.grad_accum} is not divisible by the {world} processes")
    blob = run_fingerprint if run_fingerprint is not None else {
        "model": dataclasses.asdict(mc), "train": dataclasses.asdict(tc), "seed": seed}
    train_chunks = Chunks(load_tokens(data_dir, "train"), mc.max_seq_len,
                          max_chunks if max_chunks is not None else tc.max_chunks)
    val_chunks = Chunks(load_tokens(data_dir, "val"), mc.max_seq_len)
    steps_per_epoch, total_steps = schedule(train_chunks.n, tc)
    return Setup(mc=mc, tc=tc, run_dir=Path(run_dir), rank=rank, world=world, device=device,
                 autocast=autocast_for(tc, device), seeds=derive_seeds(seed), config_blob=blob,
                 fingerprint=stable_hash(blob, spaced=True), code=code_hashes(),
                 train_chunks=train_chunks, val_chunks=val_chunks,
                 steps_per_epoch=steps_per_epoch, total_steps=total_steps)


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


def place(tc: TrainConfig) -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process; one GPU per process under torchrun."""
    rank, world = distributed()
    device = resolve_device(tc.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
        torch.cuda.set_device(device)
    return rank, world, device


def set_numerics(tc: TrainConfig, device: torch.device, threads: int | None) -> None:
    """The settings that decide a step's bits: CPU threads, deterministic kernels, TF32."""
    if device.type == "cpu" and (threads or tc.num_threads):
        torch.set_num_threads(threads or tc.num_threads)
    # Measured: with 2 threads and 32-sequence micro-batches the resonator's backward picks a
    # nondeterministic CPU kernel (weights differ run to run); deterministic mode removes that
    # and leaves the numerics of already-deterministic paths bit-identical. warn_only: on CUDA
    # a few ops have no deterministic kernel, and a warning there beats refusing to train.
    if tc.compile:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        # The same switch without the public function's import of torch._inductor (to mirror
        # the flag into the compiler's settings, which only torch.compile reads): that import
        # cost 1.3 s of every training process's start-up (measured, cProfile).
        torch._C._set_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda" and tc.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def autocast_for(tc: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked for, on CUDA and on a CPU alike; fp32 otherwise. Fast only on a
    CPU with bf16 instructions (AVX512-BF16, AMX); tools.bench_dtype measures it."""
    if tc.dtype == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def schedule(n_windows: int, tc: TrainConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, optimizer steps in the run): whole steps only."""
    per_step = tc.micro_batch * tc.grad_accum
    steps_per_epoch = n_windows // per_step
    if steps_per_epoch < 1:
        raise ValueError(f"{n_windows} training windows are fewer than one optimizer step ({per_step})")
    total_steps = max(1, math.floor(tc.epochs * steps_per_epoch))
    if tc.max_steps:
        total_steps = min(total_steps, tc.max_steps)
    return steps_per_epoch, total_steps


def build(run: Setup, phase_table: torch.Tensor | None) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model as initialised from the run's init seed, its AdamW optimizer, and torch's
    global RNG (dropout) seeded for this process."""
    tc = run.tc
    generator = torch.Generator().manual_seed(run.seeds["init"])
    model = build_model(run.mc, phase_table, generator=generator).to(run.device)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tuple(tc.betas), eps=tc.eps,
                            weight_decay=tc.weight_decay, fused=run.device.type == "cuda")
    torch.manual_seed(rank_seed(run.seeds["dropout"], run.rank))
    return model, opt


def rank_seed(seed: int, rank: int) -> int:
    """The dropout seed of a data-parallel rank (rank 0 keeps the run's own, so world size 1
    is unchanged): ranks drawing identical masks for different sequences would correlate them."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def wrap(run: Setup, model: torch.nn.Module) -> torch.nn.Module:
    """What the steps call: the model, compiled and/or in DistributedDataParallel as configured.
    The bare model is what is clipped, validated and saved."""
    net = torch.compile(model) if run.tc.compile else model
    if run.world > 1:
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=device_ids)
    return net


# ---------------------------------------------------------------------------
# Training state: resume from ckpt/last.pt, or write it
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class TrainState:
    """Where training stands: what ckpt/last.pt holds besides weights, optimizer and RNGs."""
    step: int = 0                  # optimizer steps taken
    tokens_seen: int = 0
    # training seconds of this process (validations and checkpoint writes excluded) and the tokens
    # it started from: a stamp, kept out of ckpt/last.pt so that the state holds no wall time
    elapsed: float = 0.0
    tokens_at_start: int = 0
    rows: list[dict] = dataclasses.field(default_factory=list)             # the learning curve so far
    interval_losses: list[float] = dataclasses.field(default_factory=list)  # step losses since the last row
    foreign_last: bool = False     # ckpt/last.pt is another run's (until this run's first checkpoint)

    def advance(self, loss: float, tokens: int) -> None:
        """Count one optimizer step of `tokens` tokens and mean loss `loss`."""
        self.step += 1
        self.tokens_seen += tokens
        self.interval_losses.append(loss)


def resume_or_start(run: Setup, model: torch.nn.Module, opt: torch.optim.Optimizer) -> TrainState:
    """ckpt/last.pt restored into model, optimizer and RNGs if it is an unfinished state of this
    run (same fingerprint and code); otherwise a fresh state at step 0. An unreadable file, or
    one that is no training state, stops the run (CheckpointMismatchError)."""
    if not run.last.exists():
        return TrainState()
    saved = read_checkpoint(run.last, fmt=STATE_FORMAT)
    why = why_not_resume(saved, run.fingerprint, run.config_blob, run.total_steps, run.code)
    if why:
        if run.rank == 0:
            print(f"not resuming from {run.last}: {why}; training from step 0", flush=True)
        return TrainState(foreign_last=True)
    state = restore(run, saved, model, opt)
    if run.rank == 0:
        print(f"resumed from {run.last} at step {state.step}/{run.total_steps}", flush=True)
    return state


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


def restore(run: Setup, saved: dict, model: torch.nn.Module, opt: torch.optim.Optimizer) -> TrainState:
    """Load a training state of this run into model, optimizer, RNGs and thread count."""
    model.load_state_dict(saved["model"])
    opt.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng_cpu_ranks"][run.rank] if "rng_cpu_ranks" in saved else saved["rng_cpu"])
    if run.device.type == "cpu" and saved.get("num_threads"):
        torch.set_num_threads(int(saved["num_threads"]))
    if run.device.type == "cuda" and "rng_cuda" in saved:
        torch.cuda.set_rng_state(saved["rng_cuda"], run.device)
    return TrainState(step=saved["step"], tokens_seen=saved["tokens_seen"], tokens_at_start=saved["tokens_seen"],
                      rows=json.loads(saved["curve_json"]),
                      # resuming between two validations: the next curve row averages over the whole interval
                      interval_losses=json.loads(saved.get("interval_losses_json", "[]")))


def save_state(run: Setup, model: torch.nn.Module, opt: torch.optim.Optimizer, state: TrainState) -> None:
    """Write ckpt/last.pt (rank 0): everything a resumed run needs to continue bit for bit.
    Every rank must call it: the dropout RNG of each is gathered."""
    state.foreign_last = False
    rng = torch.get_rng_state()
    ranks = gather(rng, run.world)  # every rank's dropout stream, so that a resumed run continues each of them
    if run.rank != 0:
        return
    saved = {"format": STATE_FORMAT, "fingerprint": run.fingerprint,
             "config_json": json.dumps(run.config_blob, default=str), "code": run.code,
             "model": model.state_dict(), "optimizer": interned_keys(opt.state_dict()), "step": state.step,
             "tokens_seen": state.tokens_seen, "curve_json": json.dumps(state.rows),
             "interval_losses_json": json.dumps(state.interval_losses),
             "rng_cpu": rng, "num_threads": torch.get_num_threads()}
    if run.world > 1:
        saved["rng_cpu_ranks"] = ranks
    if run.device.type == "cuda":
        saved["rng_cuda"] = torch.cuda.get_rng_state(run.device)
    atomic_torch_save(run.last, saved)


def gather(obj, world: int) -> list | None:
    """`obj` from every rank, in rank order (None in a single process)."""
    if world == 1:
        return None
    out = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out


# ---------------------------------------------------------------------------
# One optimizer step
# ---------------------------------------------------------------------------

def train_step(run: Setup, net: torch.nn.Module, model: torch.nn.Module, opt: torch.optim.Optimizer,
               state: TrainState, hooks: Hooks) -> float:
    """Optimizer step state.step + 1: forward and backward over this process's micro-batches
    (gradients accumulated; synchronised across processes on the last one), clipping, the
    AdamW update. Returns the step's mean loss over every process."""
    step_loss = 0.0
    for m, (x, y) in enumerate(micro_batches(run, state.step)):
        last_micro = run.world == 1 or m == run.local_accum - 1
        with contextlib.nullcontext() if last_micro else net.no_sync():
            with run.autocast:
                _, loss = net(x, y)
            if hooks.on_loss:
                loss = hooks.on_loss(state.step, loss)
            stop_if_diverged(run, state, loss)
            (loss / run.local_accum).backward()
        step_loss += loss.item() / run.local_accum
    step_loss = mean_over_ranks(step_loss, run)
    if run.tc.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), run.tc.grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return step_loss


def micro_batches(run: Setup, step: int):
    """This process's micro-batches (inputs, targets) of optimizer step `step` (from 0), on its
    device. A step takes the next per_step windows of its epoch's order; rank r takes the
    r-th run of local_accum micro-batches among them."""
    tc = run.tc
    epoch, k = divmod(step, run.steps_per_epoch)
    ids = epoch_order(run.seeds["data"], epoch, run.train_chunks.n)[k * run.per_step:(k + 1) * run.per_step]
    for m in range(run.local_accum):
        micro = run.rank * run.local_accum + m
        x, y = run.train_chunks.batch(ids[micro * tc.micro_batch:(micro + 1) * tc.micro_batch])
        yield x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)


def stop_if_diverged(run: Setup, state: TrainState, loss: torch.Tensor) -> None:
    """TrainingDivergedError if the loss is not finite on some process. A diverged run is a
    result: it leaves its curve (from step 0 on), and no training state of another run."""
    if all_finite(loss, run.world):
        return
    if run.rank == 0:
        write_curve(run.curve, state.rows)
        if state.foreign_last:
            run.last.unlink(missing_ok=True)
    raise TrainingDivergedError(
        f"non-finite loss ({loss.item()}) at step {state.step} after {state.tokens_seen} tokens; "
        f"the last good checkpoint is {run.last if run.last.exists() else 'none (no checkpoint yet)'}")


def all_finite(loss: torch.Tensor, world: int) -> bool:
    """Whether the loss is finite on every rank: all ranks must stop together, or the others
    would wait forever in the gradient all-reduce."""
    ok = torch.tensor([1.0 if bool(torch.isfinite(loss)) else 0.0], device=loss.device)
    if world > 1:
        torch.distributed.all_reduce(ok, op=torch.distributed.ReduceOp.MIN)
    return bool(ok.item() > 0)


def mean_over_ranks(value: float, run: Setup) -> float:
    if run.world == 1:
        return value
    t = torch.tensor([value], device=run.device)
    torch.distributed.all_reduce(t)
    return t.item() / run.world


# ---------------------------------------------------------------------------
# Validation, timing and the run's outputs
# ---------------------------------------------------------------------------

def validate(run: Setup, model: torch.nn.Module) -> dict:
    """The curve's validation: the first val_batches micro-batches of validation windows."""
    return evaluate(model, run.val_chunks, run.tc.val_batches, run.tc.micro_batch, run.device, run.autocast,
                    run.rank, run.world)


def curve_row(step: int, tokens: int, train_loss: float | None, val: dict) -> dict:
    return {"step": step, "tokens": tokens, "train_loss": train_loss, "val_loss": val["val_loss"],
            "val_ppl": val["val_ppl"]}


def log_validation(run: Setup, model: torch.nn.Module, state: TrainState, progress: Progress) -> None:
    """Validate, add the curve row (train_loss: the mean step loss since the last row), report it."""
    train_loss = sum(state.interval_losses) / len(state.interval_losses)
    state.rows.append(curve_row(state.step, state.tokens_seen, train_loss, validate(run, model)))
    state.interval_losses = []
    progress.line(f"train {train_loss:.4f} val {state.rows[-1]['val_loss']:.4f},")


class Stopwatch:
    """Adds training time to state.elapsed: validations and checkpoint writes run paused."""

    def __init__(self, state: TrainState):
        self.state, self.t0 = state, time.perf_counter()

    def stop(self) -> None:
        self.state.elapsed += time.perf_counter() - self.t0

    @contextlib.contextmanager
    def paused(self):
        self.stop()
        yield
        self.t0 = time.perf_counter()


def write_curve(path: Path, rows: list[dict]) -> None:
    cols = ["step", "tokens", "train_loss", "val_loss", "val_ppl"]
    lines = ["\t".join(cols)]
    for r in rows:
        lines.append("\t".join("" if r.get(c) is None else (f"{r[c]:.6f}" if isinstance(r[c], float) else str(r[c]))
                               for c in cols))
    atomic_write_text(path, "\n".join(lines) + "\n")


def finish(run: Setup, model: torch.nn.Module, state: TrainState) -> dict:
    """The final validation and the run's metrics; rank 0 writes ckpt/final.pt, then curve.tsv."""
    final = validate(run, model)
    metrics = run_metrics(run, state, final)
    if run.rank == 0:
        save_model(run.run_dir / "ckpt" / "final.pt", model, run.mc,
                   extra={"step": state.step, "tokens_seen": state.tokens_seen, "val_loss": final["val_loss"]})
        write_curve(run.curve, state.rows)
    if run.world > 1:
        torch.distributed.barrier()
    return metrics


def run_metrics(run: Setup, state: TrainState, final: dict) -> dict:
    """train.json's metrics: the final validation, how far the run got, its speed and layout."""
    tc, mc, device = run.tc, run.mc, run.device
    # this process's speed: a resumed run's earlier processes left no time behind (last.pt holds none)
    tok_s = (state.tokens_seen - state.tokens_at_start) / state.elapsed if state.elapsed > 0 else None
    fpt = flops_per_token(mc)
    peak = tc.peak_flops or 989e12
    return {
        **final, "steps": state.step, "tokens_seen": state.tokens_seen, "epochs": state.step / run.steps_per_epoch,
        "train_windows": run.train_chunks.n, "wall_time_s": state.elapsed, "tokens_per_s": tok_s,
        "n_params": count_params(mc), "flops_per_token": fpt,
        "mfu": (fpt * tok_s / (peak * run.world)) if (device.type == "cuda" and tok_s) else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": tc.dtype, "world_size": run.world, "seeds": run.seeds,
        "num_threads": torch.get_num_threads() if device.type == "cpu" else None,
        "micro_batch": tc.micro_batch, "grad_accum": tc.grad_accum, "batch": run.per_step,
    }
