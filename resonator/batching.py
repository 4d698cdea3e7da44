"""How an optimizer step's sequences are split: processes x micro-batches x accumulation.

The recipe fixes the batch (sequences per optimizer step, the original's 32). Splitting
it changes only the summation order and the dropout draws, yet it is part of a run's
numerical identity, so the resolved split is written into the run's fingerprint and
train.json. Accumulation is used only where memory requires it: the micro-batch is the
largest divisor of the per-process batch whose estimated activations fit the budget.
"""
from __future__ import annotations

import dataclasses

from resonator.config import ModelConfig, TrainConfig
from resonator.errors import ProjectError
from resonator.sizes import activation_bytes_per_sequence


def resolve(tc: TrainConfig, mc: ModelConfig, world: int, where: str = "train") -> TrainConfig:
    """tc with concrete micro_batch and grad_accum for `world` processes."""
    if tc.batch is None:
        if tc.micro_batch is None or tc.grad_accum is None:
            raise ProjectError(where, "needs `batch`, or both `micro_batch` and `grad_accum`",
                               "set batch: 32 for the original's 32 sequences per step")
        return dataclasses.replace(tc, batch=tc.micro_batch * tc.grad_accum * world)
    if tc.batch % world:
        raise ProjectError(f"{where}.batch", f"{tc.batch} sequences do not split over {world} processes",
                           "choose a batch divisible by the number of processes")
    per_process = tc.batch // world
    micro = tc.micro_batch or auto_micro_batch(per_process, activation_bytes_per_sequence(mc),
                                               tc.memory_budget_mb * 2 ** 20)
    if per_process % micro:
        raise ProjectError(f"{where}.micro_batch", f"{micro} does not divide the {per_process} sequences "
                           f"each of {world} processes takes per step", "choose a divisor, or null for automatic")
    accum = world * (per_process // micro)       # train() counts micro-batches over all processes
    if tc.grad_accum is not None and tc.grad_accum != accum:
        raise ProjectError(f"{where}.grad_accum", f"is {tc.grad_accum}, but batch {tc.batch} over {world} "
                           f"process(es) of micro-batch {micro} needs {accum}", "set grad_accum: null")
    return dataclasses.replace(tc, micro_batch=micro, grad_accum=accum)


def auto_micro_batch(per_process: int, bytes_per_sequence: int, budget_bytes: float) -> int:
    """The largest divisor of per_process whose activations fit the budget (at least 1)."""
    fits = [m for m in range(1, per_process + 1) if per_process % m == 0 and m * bytes_per_sequence <= budget_bytes]
    return max(fits) if fits else 1
