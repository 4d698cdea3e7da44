"""Train one run and write its record: the step the main study's and the ladder's training
stages share (pipeline.train, pipeline.train_rung).

A run takes its CPU threads from the cores free when it starts (resonator.threads) unless a
launcher started it as one rank of several. A run that diverges is a result, not a crash: its
record says so, its final weights are removed (the last good state stays in ckpt/last.pt)
and the statistics apply the registered rule for diverged runs.
"""
from __future__ import annotations

import os
from pathlib import Path

from resonator.atomic import atomic_write_json
from resonator.provenance import split_stamps, write_stamps


def load_classes(mc, path: Path):
    """The rhyme classes a resonator's phase table is built from (None for a standard model)."""
    if mc.kind != "resonator":
        return None
    import numpy as np

    from resonator.errors import InputError
    if not path.exists():
        raise InputError(path, "does not exist", "run `dvc repro phases` first")
    try:
        return np.load(path)
    except (ValueError, EOFError, OSError) as e:
        raise InputError(path, "is unreadable (truncated or corrupt)", "rebuild it: `dvc repro -f phases`") from e


def is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def train_recorded(run, mc, tc, tokens_dir: Path, seed: int, table, fingerprint: dict, record: dict,
                   label: str, cuda: bool = False) -> dict:
    """Train `run` (a resonator.layout run: dir, ckpt, final, train_json, stamps), resuming its
    state if it holds one, and write train.json and stamps.json (rank 0). `record` is the
    record's head; its stamp keys (provenance) go to stamps.json with the run's timings.
    Returns the record as written: `diverged` False with `metrics`, or True with `error`."""
    from resonator.launch import under_launcher
    from resonator.threads import run_slot, threads_for_run
    from resonator.train import TrainingDivergedError, train
    run.dir.mkdir(parents=True, exist_ok=True)
    record = dict(record)
    try:
        if under_launcher():
            metrics = train(mc, tc, tokens_dir, run.dir, seed=seed, phase_table=table, run_fingerprint=fingerprint,
                            progress_label=label, threads=int(os.environ.get("RESONATOR_THREADS", "1")))
        else:
            with run_slot() as others:
                threads = None if cuda else threads_for_run(tc.num_threads, others)
                print(f"{label}: training ({threads or 'default'} CPU threads, micro-batch {tc.micro_batch} "
                      f"x {tc.grad_accum}; {others} other run(s) going)", flush=True)
                metrics = train(mc, tc, tokens_dir, run.dir, seed=seed, phase_table=table,
                                run_fingerprint=fingerprint, progress_label=label, threads=threads)
        record.update(diverged=False, metrics=metrics)
    except TrainingDivergedError as e:
        record.update(diverged=True, error=str(e))
        if is_rank0():
            run.ckpt.mkdir(parents=True, exist_ok=True)   # a declared output, even if no state was saved
            run.final.unlink(missing_ok=True)             # an earlier run's, not this one's
    record, stamps = split_stamps(record)
    if is_rank0():
        write_stamps(run.stamps, "train", stamps)
        atomic_write_json(run.train_json, record)
    return record


def launch_ranks(module: str, argv: list[str], world: int, tc, label: str) -> int:
    """Run `python -m module argv` as `world` ranks (resonator.launch) sharing this run's
    threads; the ranks do the work (each calls train_recorded). The launcher's exit code."""
    from resonator.launch import launch
    from resonator.threads import run_slot, threads_for_run
    with run_slot() as others:
        threads = max(1, threads_for_run(tc.num_threads, others) // world)
        print(f"{label}: training as {world} processes x {threads} thread(s) (micro-batch {tc.micro_batch}, "
              f"{tc.grad_accum // world} per process per step; {others} other run(s) going)", flush=True)
        return launch(module, argv, world, threads)
