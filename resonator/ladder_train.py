"""Running ladder runs (issue 18) with the project's training loop, unchanged.

Lengths are chained: the learning rate is constant, so a run of L2 epochs passes through
exactly the state a run of L1 < L2 epochs ends in (same data order, same dropout draws,
deterministic kernels). The longer length therefore starts from the shorter one's final
training state (ckpt/last.pt), which resonator.train resumes bit-exactly, instead of
training those steps again. The run fingerprint that decides whether a state may be resumed
leaves the length out for that reason; each length's record carries it.

The only difference from one uninterrupted run: the curve has a validation row where each
shorter length ended (validation draws no random numbers, so the weights are the same), and
the train_loss of the next row averages the steps since that row.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import shutil
from pathlib import Path

from resonator.atomic import atomic_torch_save, atomic_write_json, atomic_write_text
from resonator.inputs import read_json
from resonator.provenance import read_stamps, write_stamps

SELECTION_WINDOWS = "every validation window"   # what a tuning run's selection loss averages over


def fingerprint(profile: str, rung: str, variant: str, seed: int, mc, tc, world: int, phases: dict, meta: dict) -> dict:
    """What makes two ladder runs the same run, the training length excepted (see module doc)."""
    train = {k: v for k, v in dataclasses.asdict(tc).items() if k != "epochs"}
    return {"ladder": True, "profile": profile, "rung": rung, "variant": variant, "seed": seed, "world_size": world,
            "model": dataclasses.asdict(mc), "train": train, "phases": phases,
            "data": {k: meta[k] for k in ("vocab_size", "eot_id", "splits")}}


@functools.cache   # once per process: a tuning stage asks for every seed, ranks for every length
def code_version(module: str = "pipeline.train_rung") -> str:
    """md5 of every project file `python -m module` runs (resonator.code_deps): the code a run
    was trained by, stamped beside its provenance."""
    from resonator.code_deps import fingerprint
    return hashlib.md5(fingerprint(module).encode()).hexdigest()


def finished_record(run, config: dict, code: str, tuning: bool = False) -> dict | None:
    """The record of a length (or tuning run) trained with this exact config by this same code,
    and ended (final weights written or diverged; a tuning run: its selection loss added): such
    a run is kept, not trained again. The code matters because DVC reruns a stage when its code
    changed: keeping on the config alone would then keep results of the old code."""
    if not run.train_json.exists():
        return None
    rec = read_json(run.train_json, "delete it; the stage retrains that run")
    if rec.get("config") != _normalised(config):
        return None
    if read_stamps(run.stamps).get("train", {}).get("provenance", {}).get("code") != code:
        return None
    if tuning:
        return rec if "selection" in rec else None
    return rec if rec.get("diverged") or run.final.exists() else None


def _normalised(obj):
    import json
    return json.loads(json.dumps(obj, default=str))


def chain(prev, cur, blob: dict) -> bool:
    """Start `cur` from `prev`'s final training state unless `cur` holds a state that training
    will resume: an interrupted longer length of this same run, written by this same code. A
    finished length (final weights written) or a state of other code is not resumed by
    training, which would then start from step 0 and lose the chain. True if copied."""
    from resonator.checkpoint import STATE_FORMAT, read_checkpoint
    from resonator.params import stable_hash
    from resonator.train import code_hashes
    if cur.last.exists() and not cur.final.exists():
        with contextlib.suppress(Exception):
            state = read_checkpoint(cur.last, fmt=STATE_FORMAT)
            if state["fingerprint"] == stable_hash(blob, spaced=True) and state.get("code") == code_hashes():
                return False
    if not prev.last.exists():
        return False
    cur.ckpt.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(cur.last, read_checkpoint(prev.last, fmt=STATE_FORMAT))
    return True


def selection_loss(final_pt: Path, tokens_dir: Path, micro_batch: int, threads: int | None = None) -> dict:
    """Mean validation NLL per token of the final weights over every validation window: the
    number a tuning run is selected by (the curve's validations use a fixed subset)."""
    import torch

    from resonator.checkpoint import load_model
    from resonator.tokenizer import load_tokens
    from resonator.train import Chunks, evaluate
    if threads:
        torch.set_num_threads(threads)
    model = load_model(final_pt)
    chunks = Chunks(load_tokens(tokens_dir, "val"), model.config.max_seq_len)
    r = evaluate(model, chunks, None, micro_batch, torch.device("cpu"), contextlib.nullcontext())
    return {"val_loss": r["val_loss"], "val_tokens": r["val_tokens"], "windows": SELECTION_WINDOWS}


def finish_tuning(run, tokens_dir: Path, micro_batch: int, threads: int | None = None) -> dict:
    """Add the selection loss to a tuning run's record (inf-free: a diverged run has none)
    and remove its checkpoints: the selection needs only the record, the figure the curve."""
    rec = read_json(run.train_json, "rerun the tuning stage")
    if rec.get("diverged"):
        rec["selection"] = {"val_loss": None, "diverged": True, "windows": SELECTION_WINDOWS}
    else:
        rec["selection"] = selection_loss(run.final, tokens_dir, micro_batch, threads)
    atomic_write_json(run.train_json, rec)
    shutil.rmtree(run.ckpt, ignore_errors=True)
    return rec


def diverged_later(rec: dict, length: float) -> dict:
    """The record of a length after an earlier one diverged: the same trajectory, so diverged too."""
    return {**rec, "length": length, "diverged": True, "error": f"diverged at an earlier length: {rec.get('error')}"}


def collect(final_run, lengths: list[float], head: dict) -> dict:
    """The run's git-tracked train.json (every length's record) and curve.tsv (the longest
    length's curve, which runs through the shorter ones)."""
    records = {}
    for x in lengths:
        run = final_run.length(x)
        records[f"{x:g}"] = read_json(run.train_json, "rerun the stage") if run.train_json.exists() else None
    out = {**head, "lengths": records}
    write_stamps(final_run.stamps, "train", {f"{x:g}": read_stamps(final_run.length(x).stamps).get("train")
                                             for x in lengths})
    atomic_write_json(final_run.train_json, out)
    longest = final_run.length(lengths[-1]).curve
    if longest.exists():
        atomic_write_text(final_run.curve, longest.read_text())
    return out


def is_finite(x) -> bool:
    return x is not None and math.isfinite(x)


def phase_table_for(mc, classes_path: Path, seed: int, phases: dict):
    """The run's phase table (None for a standard model), as pipeline.train builds it."""
    from resonator.phases import run_phase_table
    from resonator.runner import load_classes
    return run_phase_table(mc, load_classes(mc, classes_path), seed, phases)
